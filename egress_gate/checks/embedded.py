"""Identifiers in what a file carries besides its cells (metadata, comments, chunks, trailing bytes).

:func:`egress_gate.embedded.embedded` finds the hidden texts and structural problems; each text
goes through the free-text identifier checks, and only what they find is reported, naming where.
"""

from __future__ import annotations

from pathlib import Path

from ..context import CheckContext
from ..embedded import embedded
from ..findings import Finding, Outcome
from ..policy import Policy
from ._base import finding, passed
from .identifiers import check_text


def check_embedded(path: Path, policy: Policy, context: CheckContext) -> list[Finding]:
    found = embedded(path)
    out = [finding(p.check, Outcome(p.outcome), p.message, policy) for p in found.problems]
    for where, text in found.texts:
        out += [f for f in check_text(text, policy, context, part=where) if f.outcome is not Outcome.PASS]
    if not any(f.outcome is Outcome.FAIL for f in out):
        places = ", ".join(w for w, _ in found.texts[:5]) + (" ..." if len(found.texts) > 5 else "")
        out.append(passed("embedded_text", "no identifier in the file's metadata, comments or other hidden text"
                          + (f" (checked: {places})" if places else ""), policy))
    return out
