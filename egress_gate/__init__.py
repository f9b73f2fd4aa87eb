"""The egress gate: every output file is held, checked for disclosure risk and reviewed before release.

This package so far holds the automated disclosure checks, pure functions over files:
``check_file(path, policy, context) -> list[Finding]``.
"""

from .checks import check_file
from .context import CheckContext, load_pseudonyms
from .errors import EgressError
from .findings import Cell, Finding, Outcome, worst
from .policy import DEFAULT_POLICY, Policy

__all__ = [
    "Cell", "CheckContext", "DEFAULT_POLICY", "EgressError", "Finding", "Outcome", "Policy",
    "check_file", "load_pseudonyms", "worst",
]
