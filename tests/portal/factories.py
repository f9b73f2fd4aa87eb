"""Plain functions that put the front office in a given situation through the real workflow (audited).

The cast: applicants ``ada`` and ``ben`` (researchers), committee members ``cleo``, ``cyril`` and
``cora``, staff ``otto`` (ops), and ``nina``, registered and in nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from enclave.models import Role
from portal import authorisation, workflow
from portal.models import AccessRequest, RequestState
from pseudonymizer.catalog import Catalog

from ..registry.factories import create_user

USERS = {"ada": [Role.researcher], "ben": [Role.researcher], "cleo": [Role.committee], "cyril": [Role.committee],
         "cora": [Role.committee], "otto": [Role.ops], "nina": [Role.researcher]}
GOOD = {"relevance": True, "adequacy": True, "methodology": True}
REASONS = {"relevance": "a real public-health question", "adequacy": "only the tables needed",
           "methodology": "a sound cohort design"}


def create_cast(session: Session) -> None:
    for name, roles in USERS.items():
        create_user(session, name, *roles)


def fields(title: str = "Readmissions after a heart attack", **changes) -> dict:
    base = {
        "title": title,
        "summary": "How often are patients readmitted within a year of a myocardial infarction?",
        "purpose": "health_information",
        "methodology": "Retrospective cohort of stays with an I21 main diagnosis, 2019-2024.",
        "holder_organisation": "Université de Lyon",
        "duration_months": "36",
        "team": [{"name": "Ada Lovelace", "role": "PI", "organisation": "Université de Lyon", "username": "ada",
                  "public": True},
                 {"name": "Secret Statistician", "role": "analyst", "organisation": "Lab X", "username": "",
                  "public": False}],
        "data": {"tables": ["IR_BEN_R", "T_MCOaaB", "T_MCOaaC"], "columns": [],
                 "where": ["T_MCOaaB.SEJ_NBJ >= 1"],
                 "period": {"column": "T_MCOaaC.EXE_SOI_DTD", "start": "2019-01-01", "end": "2024-12-31"}},
    }
    return {**base, **changes}


def request_at_state(session: Session, catalog: Catalog, state: RequestState, applicant: str = "ada",
                     favourable_required: int = 2, tmp: Path | None = None, **changes) -> AccessRequest:
    """A request of ``applicant`` moved to ``state`` by the real workflow (authorised needs ``tmp``)."""
    request = workflow.create_draft(session, applicant, fields(**changes), catalog)
    if state is RequestState.draft:
        return request
    if state is RequestState.withdrawn:
        workflow.withdraw(session, applicant, request, "changed my mind")
        return request
    workflow.submit(session, applicant, request, favourable_required, catalog)
    if state is RequestState.submitted:
        return request
    if state is RequestState.changes_requested:
        workflow.send_back(session, "cleo", request, "narrow the period")
        return request
    verdict = GOOD if state is not RequestState.rejected else {**GOOD, "adequacy": False}
    for member in ("cleo", "cyril"):
        workflow.give_opinion(session, member, request, verdict, REASONS)
    if state in (RequestState.approved, RequestState.rejected):
        return request
    assert tmp is not None, "an authorised request writes a manifest: pass tmp"
    authorisation.record_decision(
        session, "otto", request, granted=state is RequestState.authorised, number=f"DR-{request.id}",
        decided_on=date.today(), valid_until=date.today() + timedelta(days=730), document=b"%PDF-1.4 decision",
        document_name="decision.pdf", decisions_dir=tmp / "decisions", projects_dir=tmp / "projects",
        catalog=catalog, slug=f"study-{request.id}")
    return request
