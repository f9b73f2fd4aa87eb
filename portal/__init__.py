"""The front office: public catalogue and project directory, access requests, committee, authorisation.

- :mod:`.catalogue`: the catalog's tables grouped into datasets, each column with what a project receives;
- :mod:`.dcat`: the catalogue in HealthDCAT-AP (Turtle, JSON-LD);
- :mod:`.models`: the registry tables of requests, comments, opinions, conflicts, authorisations, publications;
- :mod:`.workflow`: the access request's life (one transition table), the committee's rules;
- :mod:`.authorisation`: recording the authority's decision and generating the project manifest;
- :mod:`.directory`: the public directory of projects and their published results;
- :mod:`.service`: the hub service at ``/services/portal/``.
"""
