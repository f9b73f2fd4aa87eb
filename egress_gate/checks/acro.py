"""Read an ACRO `results.json` (the output-checking tool's record of a session) into findings.

Each ACRO output becomes one finding with ACRO's own status (pass / review / fail), its summary,
the researcher's comments and exception request; the cells ACRO flagged (threshold, p-ratio,
nk-rule, …, given as [row, column] positions) are listed.
"""

from __future__ import annotations

from ..findings import Cell, Finding, Outcome
from ..policy import Policy
from ._base import finding

STATUSES = {"pass": Outcome.PASS, "review": Outcome.REVIEW, "fail": Outcome.FAIL}


def is_acro_results(data) -> bool:
    return (isinstance(data, dict) and isinstance(data.get("results"), dict) and data["results"]
            and all(isinstance(v, dict) and "status" in v for v in data["results"].values()))


def acro_findings(data: dict, policy: Policy) -> list[Finding]:
    out = []
    for uid, output in data["results"].items():
        status = str(output.get("status", "")).lower()
        outcome = STATUSES.get(status, Outcome.REVIEW)
        parts = [f"ACRO {data.get('version', '')} says {status or 'nothing'} for {uid}".replace("  ", " ")]
        if output.get("type"):
            parts.append(f"({output['type']}{': ' + str(output['command']) if output.get('command') else ''})")
        if output.get("summary"):
            parts.append(f"— {output['summary']}")
        if output.get("comments"):
            parts.append("; comments: " + " | ".join(map(str, output["comments"])))
        if output.get("exception"):
            parts.append(f"; exception requested: {output['exception']}")
        cells = _flagged_cells(output)
        out.append(finding("acro", outcome, " ".join(parts), policy, cells[: policy.max_cells_listed], len(cells), part=str(uid)))
    return out


def _flagged_cells(output: dict) -> list[Cell]:
    cells = []
    for file in output.get("files") or []:
        sdc = (file or {}).get("sdc") or {}
        for rule, positions in (sdc.get("cells") or {}).items():
            for pos in positions or []:
                if isinstance(pos, (list, tuple)) and len(pos) == 2:
                    cells.append(Cell(int(pos[0]), str(pos[1]), f"{rule} ({file.get('name', '')})"))
    return cells
