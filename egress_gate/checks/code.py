"""Code leaving the enclave (a request of kind "code": a patch of the project's repository).

Code can carry data: a pseudonym pasted into a test, a NIR in a comment, a column of numbers
typed in as a literal. A patch is read as text by :func:`~.identifiers.check_text` (pseudonyms of
the project and NIRs fail, e-mail addresses fail) and, here, for long numeric literals: a run of
:data:`LONG_DIGITS` digits or more outside a hexadecimal word is not usually code — a steward
looks at each (``review``), with its line. Long runs of encoded bytes (base64, hex, byte lists, a
git binary patch: :func:`~.encoded.check_encoded`) fail: a patch holding an extract in base64 is data.
"""

from __future__ import annotations

import re

from ..context import CheckContext
from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ._base import finding, passed
from .encoded import check_encoded
from .identifiers import check_text

LONG_DIGITS = 9  # an identifier-length number (a NIR has 13 or 15 digits; a commune or postcode 5)
LONG_NUMBER = re.compile(rf"(?<![0-9A-Za-z_.])[0-9]{{{LONG_DIGITS},}}(?![0-9A-Za-z_])")
# git's own lines in a patch: commit ids and index lines are hexadecimal, never data
_GIT_LINE = re.compile(r"^(commit [0-9a-f]{40}|index [0-9a-f]+\.\.[0-9a-f]+.*|From [0-9a-f]{40} .*)$")


def check_numeric_literals(text: str, policy: Policy, part: str | None = None) -> list[Finding]:
    cells = []
    for number, line in enumerate(text.splitlines()):
        if _GIT_LINE.match(line):
            continue
        cells += [Cell(number, None, m.group(0)) for m in LONG_NUMBER.finditer(line)]
    if cells:
        return [finding("numeric_literals", Outcome.REVIEW, f"{len(cells)} long numeric literal(s) ({LONG_DIGITS}+ digits) "
                        "in the code: a steward checks none is data", policy, cells[: policy.max_cells_listed], len(cells), part)]
    return [passed("numeric_literals", f"no numeric literal of {LONG_DIGITS} digits or more", policy, part)]


def check_code(text: str, policy: Policy, context: CheckContext) -> list[Finding]:
    return check_text(text, policy, context) + check_numeric_literals(text, policy) + check_encoded(text, policy)
