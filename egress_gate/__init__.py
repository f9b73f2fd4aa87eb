"""The egress gate: every output file is held, checked for disclosure risk and reviewed before release.

The package's top level exports the automated disclosure checks, pure functions over files
(``check_file(path, policy, context) -> list[Finding]``); the rest is in its modules: safe
submission into a quarantine (``submission``, ``quarantine``), the request workflow and its state
table (``workflow``, ``permissions``, ``models``), the anonymiser (``anonymise``), the release ledger
(``release``) and the web service stewards and researchers use (``service``).
"""

from .checks import check_file
from .context import CheckContext, load_declared, load_pseudonyms
from .errors import EgressError
from .findings import Cell, Finding, Outcome, worst
from .policy import DEFAULT_POLICY, Policy

__all__ = [
    "Cell", "CheckContext", "DEFAULT_POLICY", "EgressError", "Finding", "Outcome", "Policy",
    "check_file", "load_declared", "load_pseudonyms", "worst",
]
