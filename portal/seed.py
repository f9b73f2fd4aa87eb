"""``python -m portal.seed``: one access request at each stage of the front office, for ``make demo``.

Run after the demo's users exist (``alice``, ``bob``, the committee ``claire``, ``hugo``, ``ines``,
ops ``oscar``). Every request goes through the real workflow (audited); a second run finds the
requests by title and adds nothing. The authorised request's manifest is generated in
``ENCLAVE_PROJECTS_DIR`` and left unprovisioned: ``make provision PROJECT=demo-readmissions`` does it.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from sqlalchemy import select

from enclave.errors import EnclaveError

from . import authorisation, workflow
from .config import PortalConfig
from .models import AccessRequest
from .service.office import Office

GOOD = {"relevance": True, "adequacy": True, "methodology": True}
REASONS = {"relevance": "A question of public interest, answerable with these data.",
           "adequacy": "Only the tables and period the question needs.",
           "methodology": "A sound retrospective cohort design."}
TEAM = [{"name": "Alice Martin", "role": "principal investigator", "organisation": "CHU de Lyon", "username": "alice",
         "public": True},
        {"name": "Bob Durand", "role": "statistician", "organisation": "CHU de Lyon", "username": "bob",
         "public": False}]


def _fields(title: str, summary: str, tables: list[str], period: tuple[str, str] | None = None) -> dict:
    return {"title": title, "summary": summary, "purpose": "health_information",
            "methodology": "Retrospective cohort from the hospital discharges, linked to reimbursed care.",
            "holder_organisation": "CHU de Lyon", "duration_months": "36", "team": TEAM,
            "data": {"tables": tables, "columns": [], "where": [],
                     "period": {"column": "T_MCOaaC.EXE_SOI_DTD" if "T_MCOaaC" in tables else "ER_PRS_F.EXE_SOI_DTD",
                                "start": period[0], "end": period[1]}
                     if period else None}}


STAGES = [
    ("draft", "Antibiotic use in nursing homes (draft)", ["IR_BEN_R", "ER_PRS_F"]),
    ("submitted", "Falls among the over-80s after a hospital stay", ["IR_BEN_R", "T_MCOaaB", "T_MCOaaC"]),
    ("changes_requested", "Diabetes complications by department", ["IR_BEN_R", "ER_PRS_F", "T_MCOaaB", "T_MCOaaC"]),
    ("approved", "Heart failure and outpatient follow-up", ["IR_BEN_R", "ER_PRS_F", "T_MCOaaC"]),
    ("rejected", "Every reimbursed act of every beneficiary", ["IR_BEN_R", "ER_PRS_F", "T_MCOaaB", "T_MCOaaC"]),
    ("authorised", "Readmissions within a year of a heart attack", ["IR_BEN_R", "T_MCOaaB", "T_MCOaaC"]),
]


def seed(office: Office, applicant: str = "alice", committee: tuple[str, str, str] = ("claire", "hugo", "ines"),
         staff: str = "oscar") -> list[tuple[str, int]]:
    made = []
    for stage, title, tables in STAGES:
        with office.session() as s:
            if s.scalar(select(AccessRequest.id).where(AccessRequest.title == title)) is not None:
                continue
            summary = f"{title}: how often, for whom, and what could be done about it."
            request = workflow.create_draft(s, applicant, _fields(title, summary, tables, ("2019-01-01", "2024-12-31")),
                                            office.catalog)
            workflow.comment(s, applicant, request, "Could the staff check that these tables are enough?")
            workflow.comment(s, staff, request, "Yes; add the period so that the committee sees it is bounded.")
            if stage != "draft":
                workflow.submit(s, applicant, request, office.config.favourable_required, office.catalog)
            if stage == "submitted":
                workflow.declare_conflict(s, committee[2], request, "works in the applicant's department")
            if stage == "changes_requested":
                workflow.send_back(s, committee[0], request, "Narrow the request: the care sheets are not needed.")
            if stage in ("approved", "authorised"):
                for member in committee[:2]:
                    workflow.give_opinion(s, member, request, GOOD, REASONS)
            if stage == "rejected":
                for member in committee[:2]:
                    workflow.give_opinion(s, member, request, {**GOOD, "adequacy": False},
                                          {**REASONS, "adequacy": "Far more data than any question needs."})
            if stage == "authorised":
                authorisation.record_decision(
                    s, staff, request, granted=True, number="DR-2026-131", decided_on=date.today(),
                    valid_until=date.today() + timedelta(days=3 * 365),
                    document=b"Demo decision DR-2026-131: authorisation of the study (not a real document).\n",
                    document_name="DR-2026-131.txt", decisions_dir=office.config.decisions_dir,
                    projects_dir=office.config.settings.projects_dir, catalog=office.catalog,
                    slug="demo-readmissions")
            made.append((stage, request.id))
    return made


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portal.seed", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    try:
        made = seed(Office(PortalConfig.from_env()))
    except EnclaveError as exc:
        raise SystemExit(f"error: {exc}") from None
    for stage, request_id in made:
        print(f"access request {request_id}: {stage}")
    if not made:
        print("front-office requests already seeded")


if __name__ == "__main__":
    main()
