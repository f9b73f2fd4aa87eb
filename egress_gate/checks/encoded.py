"""Long runs of encoded bytes in text (base64, hex, byte lists, other dense encodings): data, not
prose or code. The same judgement the seal makes on what reaches a browser
(:mod:`enclave.encoded_text`), so a text cut there does not leave here either."""

from __future__ import annotations

import bisect

from enclave.encoded_text import encoded_runs

from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ._base import finding, passed

GIT_BINARY_PATCH = "GIT binary patch"  # git's base85 lines, 66 characters each: bytes, whatever they hold


def check_encoded(text: str, policy: Policy, part: str | None = None) -> list[Finding]:
    """A failing finding naming the line and kind of each long encoded run (and each binary patch) in ``text``."""
    newlines = [i for i, c in enumerate(text) if c == "\n"] if "\n" in text else []

    def line(offset: int) -> int:
        return bisect.bisect_left(newlines, offset)

    cells = [Cell(line(r.start), None, f"{r.kind}, {r.end - r.start:,} characters") for r in encoded_runs(text)]
    start = text.find(GIT_BINARY_PATCH)
    while start >= 0:
        cells.append(Cell(line(start), None, "a binary patch (base85)"))
        start = text.find(GIT_BINARY_PATCH, start + 1)
    if cells:
        return [finding("encoded_runs", Outcome.FAIL,
                        f"{len(cells)} long run(s) of encoded bytes (base64, hex, a binary patch or another dense encoding): "
                        "data, not prose or code", policy, cells[: policy.max_cells_listed], len(cells), part)]
    return [passed("encoded_runs", "no long run of encoded bytes", policy, part)]
