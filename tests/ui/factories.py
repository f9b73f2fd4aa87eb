"""Plain functions that give each role some work on a real registry, through the owners' real workflows (audited).

The cast, one per role, with the egress tests' project ``cohort-a`` (``remi`` the requester, ``mona`` and
``max`` members, ``max`` also a steward; stewards from outside ``sven``, ``stella``, ``sam``) and the
front office's applicants and committee (``ada``, ``ben``; ``cleo``, ``cyril``, ``cora``; staff ``otto``):

- ``remi`` has an export sent back for changes, an export under review, an import scanned, a package asked for,
  and a draft access request;
- ``sven`` (steward) has those two exports' successors and the import to review;
- ``cleo`` (committee) has one request to judge (she judged another already);
- ``otto`` (ops) has an approved request to record, ``remi``'s package request, a suspension and an alarm;
- ``nina`` is registered, with no project and no request.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from airlock import workflow as imports
from egress_gate import workflow as exports
from egress_gate.models import RequestState as ExportState
from enclave import packages, suspension
from enclave.audit import record
from enclave.audit_actions import AuditAction
from enclave.db import make_engine, session_scope
from enclave.models import Role
from portal.models import RequestState as AccessState
from pseudonymizer.catalog import load_catalog

from ..egress.workflow_fixtures import MEMBER, REQUESTER, SLUG, STEWARDS, a_file, create_request_at_state, setup_project
from ..imports.factories import clean_findings, create_submitted
from ..portal import factories as office
from ..registry.factories import create_user

SYNTH_CATALOG = Path(__file__).resolve().parents[2] / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
# The files of workflow_fixtures.submit: their bytes, as a_file() hashes them.
HELD_BYTES = {"table1.csv": b"age,n\n40-49,120\n", "figure.png": b"\x89PNG fake"}
HELD_FILES = tuple(HELD_BYTES)
STEWARD, COMMITTEE, OPS, NOBODY = STEWARDS[0], "cleo", "otto", "nina"
RESEARCHER = REQUESTER
# A person holding several roles: a committee member who is also a steward and an operator.
MANY_ROLES = "mia"


@dataclass
class Registry:
    """A migrated SQLite registry of one test (a copy of the session's template) and its audit anchor."""

    engine: Engine
    home: Path

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine, self.home / "audit.head") as session:
            yield session


@contextmanager
def sqlite_registry(template: Path, folder: Path) -> Iterator[Registry]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, folder / "registry.db")
    engine = make_engine(f"sqlite:///{folder / 'registry.db'}")
    try:
        yield Registry(engine, folder)
    finally:
        engine.dispose()


def create_cast(session: Session) -> None:
    setup_project(session)
    office.create_cast(session)
    create_user(session, MANY_ROLES, Role.committee, Role.steward, Role.ops)


def give_everyone_work(session: Session, tmp: Path) -> dict[str, int]:
    """The situation of the module's docstring; returns the ids the tests look for."""
    create_cast(session)
    sent_back = create_request_at_state(session, ExportState.changes_requested)
    waiting = create_request_at_state(session, ExportState.submitted)
    project_dir = tmp / "projects" / SLUG
    project_dir.mkdir(parents=True, exist_ok=True)
    source = tmp / "labels.csv"
    source.write_text("code,label\nI21,Acute myocardial infarction\n")
    imported = create_submitted(session, project_dir, [source])
    imports.record_scan(session, imported.id, REQUESTER, clean_findings(imported))
    package = packages.request_package(session, SLUG, REQUESTER, "pypi", "tabulate", "tables for the paper")
    catalog = load_catalog(SYNTH_CATALOG)
    draft = office.request_at_state(session, catalog, AccessState.draft, applicant=REQUESTER, title="Heart failure follow-up")
    judged = office.request_at_state(session, catalog, AccessState.submitted, applicant="ada", title="Judged already")
    from portal import workflow as access
    access.give_opinion(session, COMMITTEE, judged, office.GOOD, office.REASONS)
    to_judge = office.request_at_state(session, catalog, AccessState.submitted, applicant="ben", title="Stroke outcomes")
    approved = office.request_at_state(session, catalog, AccessState.approved, applicant="ada", title="Diabetes care")
    suspended = suspension.suspend(session, "seal", SLUG, MEMBER, "5 alarms in 10 minutes")
    record(session, MEMBER, AuditAction.seal_alarm, SLUG, kind="bulk_output", reason="encoded data in a notebook")
    return {"sent_back": sent_back.id, "waiting": waiting.id, "import": imported.id, "package": package.id,
            "draft": draft.id, "judged": judged.id, "to_judge": to_judge.id, "approved": approved.id,
            "suspension": suspended.id}


def hold_in_quarantine(quarantine: Path, scratch: Path) -> None:
    """The bytes of the exports' files in the gate's quarantine, where the gate reads what stewards review
    (the workflow records a file's hash; the gate's submission snapshots the bytes)."""
    from egress_gate.quarantine import Quarantine

    scratch.mkdir(parents=True, exist_ok=True)
    store = Quarantine(quarantine)
    for name in HELD_FILES:
        held = a_file(name, HELD_BYTES[name])
        path = scratch / name
        path.write_bytes(HELD_BYTES[name])
        assert store.snapshot(path)[0] == held.sha256, name


def withdraw_export(session: Session, request_id: int) -> None:
    exports.withdraw(session, request_id, REQUESTER)


@contextmanager
def platform_with_work(root: Path, image: str) -> Iterator[tuple]:
    """A real platform (registry, hub, proxy, gate, portal, usage, OIDC provider) with no provisioned project,
    its registry put in the situation of :func:`give_everyone_work`; yields ``(platform, ids)``."""
    from ..enclave.platform import running_platform

    with running_platform(root, image, {}) as platform:
        settings = platform.settings()
        engine = make_engine(settings.db_url)
        try:
            with session_scope(engine, settings.audit_head) as session:
                ids = give_everyone_work(session, root / "work")
        finally:
            engine.dispose()
        hold_in_quarantine(settings.home / "egress" / "quarantine", root / "held")
        yield platform, ids
