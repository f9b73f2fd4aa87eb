"""The project tools: each project's git remote and its package index, for its enclave servers only.

A hub-managed service (``enclave-tools`` in ``jupyterhub_config.py``) listening on
``ENCLAVE_TOOLS_ENCLAVE_PORT``, which the host firewall opens at each project network's gateway
(:attr:`enclave.settings.Settings.firewall_ports`). Every request is bound to the enclave server
that sent it (:mod:`enclave.enclave_origin`: its address on its own project's network and that
container's own token), so a server reaches its own project's repository and index and nothing
else; the host network and other projects are refused.

- ``/git/<slug>.git`` — the project's bare repository (:mod:`enclave.code_repository`) over git's
  smart HTTP: ``git http-backend`` run as CGI (:mod:`.git_http`).
- ``/simple/`` — a PEP 503 index of the project's wheelhouse (:mod:`.index`): the packages ops
  approved and their dependencies; ``/wheels/<file>`` serves the files.
- ``/api/packages`` — the project's package requests (GET) and a new one (POST), for
  ``enclave-package`` inside the container (:mod:`enclave.packages`).
"""
