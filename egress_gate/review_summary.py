"""What a request page says first: what failed, why, and what the researcher can do about it.

The page opens with this summary, then the details (every file, its provenance and code, its
findings with the passing ones folded). The advice per check is written once here
(:data:`ADVICE`); a check without advice gets the general one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import EgressRequest, RequestState
from .workflow import missing_context

GENERAL_ADVICE = "change the output so this check passes, or explain in your answer why it is safe as it is"
ADVICE = {
    "small_counts": "aggregate categories, or suppress the counts under the threshold (and enough others that they "
                    "cannot be worked out from the totals)",
    "implied_counts": "give the percentages with a denominator large enough, or round them, so no small count "
                      "can be worked back",
    "rounding": "round the counts to the base the policy expects",
    "dominance": "merge cells in which one or two contributors make most of the total",
    "row_level": "release aggregates, not rows about individuals",
    "pseudonyms": "remove the pseudonyms: they are project keys and never leave",
    "nir": "remove the identifiers",
    "contact_details": "remove the names, addresses, phone numbers and e-mail addresses",
    "identifier_names": "drop the identifying columns",
    "dates": "coarsen the dates (month or year)",
    "places": "coarsen the places (department or region)",
    "differencing": "align the categories with the earlier release, or merge them, so differences reveal no small group",
    "formulas": "save values, not formulas",
    "embedded_data": "remove the data embedded in the file (attachments, hidden sheets, metadata)",
    "code": "remove data and identifiers from the code",
}
NEXT_STEP = {
    RequestState.submitted: "Waiting for a steward to open it.",
    RequestState.under_review: "Stewards are reviewing it; each decision appears below as soon as it is made. "
                               "You can replace a file by a new version (the votes already cast are then cancelled).",
    RequestState.changes_requested: "Answer the stewards' comments and resubmit a new version (below).",
    RequestState.approved: "Approved: it is being released.",
    RequestState.rejected: "Rejected: it cannot be released. Read the stewards' reasons below.",
    RequestState.released: "Released: the files can be downloaded.",
    RequestState.withdrawn: "Withdrawn by its requester.",
}


@dataclass
class Problem:
    file: str
    check: str
    outcome: str  # fail or review
    message: str
    advice: str


@dataclass
class Summary:
    headline: str
    next_step: str
    problems: list[Problem] = field(default_factory=list)
    missing_context: dict[str, list[str]] = field(default_factory=dict)  # file -> fields in words
    missing_provenance: dict[str, str] = field(default_factory=dict)  # file -> why (the provenance's note)


def summarise(request: EgressRequest) -> Summary:
    problems = [Problem(f.name, str(x.get("check")), str(x.get("outcome")), str(x.get("message") or ""),
                        ADVICE.get(str(x.get("check")), GENERAL_ADVICE))
                for f in request.files for x in f.findings or [] if x.get("outcome") in ("fail", "review")]
    problems.sort(key=lambda p: (p.outcome != "fail", p.file, p.check))
    failing = sum(p.outcome == "fail" for p in problems)
    review = len(problems) - failing
    if failing:
        headline = f"{failing} check(s) failed" + (f" and {review} need a steward's judgement" if review else "")
    elif review:
        headline = f"No check failed; {review} need a steward's judgement"
    else:
        headline = "Every automated check passed"
    return Summary(
        headline=headline, next_step=NEXT_STEP[request.state], problems=problems,
        missing_context={f.name: m for f in request.files if (m := missing_context(f))},
        missing_provenance={f.name: str((f.provenance or {}).get("note") or "no provenance recorded")
                            for f in request.files if (f.provenance or {}).get("status") != "found"},
    )


def passed_and_other(findings: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(passing findings, the others): the page folds the passing ones."""
    return ([x for x in findings or [] if x.get("outcome") == "pass"],
            [x for x in findings or [] if x.get("outcome") != "pass"])
