"""The egress gate's web service: a JupyterHub service at ``/services/egress/``.

Researchers submit outputs (API with their hub token, or the web form), see their requests'
status and findings, and download released files; stewards see the queue, each request with its
findings table, previews of the held tables (flagged cells highlighted, values escaped, formula
cells neutralised) beside the anonymised version, and vote. When the last required vote approves,
the gate releases the bytes (or the anonymised version) as that steward and records the ledger hash.

Modules:

- :mod:`.config`: :class:`GateConfig`, read once from the environment (``ENCLAVE_*``, ``JUPYTERHUB_*``);
- :mod:`.gate`: :class:`Gate`, the operations (submit, decide, release, preview, download) over the
  registry, quarantine, checks, workflow and release store — no HTTP in it;
- :mod:`.preview`: tables as rows of display cells, CSV formula neutralisation;
- :mod:`.handlers` and :mod:`.app`: the tornado application (:func:`make_app`) and :func:`main`.

Run it with ``python -m egress_gate.service`` (the hub starts it: see ``jupyterhub_config.py``).
"""

from enclave.shell.service import IDENTITY_PROVIDER_SETTING

from .app import main, make_app
from .config import GateConfig
from .gate import Gate

__all__ = ["Gate", "GateConfig", "IDENTITY_PROVIDER_SETTING", "main", "make_app"]
