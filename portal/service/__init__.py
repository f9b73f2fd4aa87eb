"""The front office's web service: a JupyterHub service at ``/services/portal/``.

Public pages (no login): the catalogue (a page per dataset and table; Turtle and JSON-LD exports)
and the directory of projects with their published results. Signed-in pages (the hub's OAuth):
access requests (drafts, comments, submission, revision), the committee's queue and opinions, the
staff's recording of authorisations, and publishing released results.

- :mod:`.office`: :class:`Office`, the operations over the registry (no HTTP in it);
- :mod:`.handlers` and :mod:`.app`: the tornado application (:func:`make_app`) and :func:`main`.

Run it with ``python -m portal.service`` (the hub starts it: see ``jupyterhub_config.py``).
"""

from enclave.shell.service import IDENTITY_PROVIDER_SETTING

from .app import main, make_app
from .office import Office

__all__ = ["IDENTITY_PROVIDER_SETTING", "Office", "main", "make_app"]
