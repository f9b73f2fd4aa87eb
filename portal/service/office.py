"""The portal's operations over the registry, the catalogue and the stores — no HTTP here.

The handlers call these methods in a worker thread and turn refusals into responses:
:class:`~portal.permissions.PermissionDenied` is 403, a :class:`~portal.workflow.WorkflowError` 409,
any other :class:`~enclave.errors.EnclaveError` 400.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from typing import Any

from egress_gate.release import ReleaseStore
from enclave.db import make_engine, session_scope

from .. import authorisation, directory, permissions, workflow
from ..catalogue import Catalogue, load_catalogue
from ..config import PortalConfig
from ..models import AccessRequest, RequestState
from ..workflow import WorkflowError


class Office:
    def __init__(self, config: PortalConfig, engine=None):
        self.config = config
        self.engine = engine or make_engine(config.settings.db_url)
        self.catalogue: Catalogue = load_catalogue(config.settings.catalog, config.datasets,
                                                   config.settings.sources_dir)

    @contextmanager
    def session(self):
        with session_scope(self.engine, self.config.settings.audit_head) as session:
            yield session

    @property
    def catalog(self):
        return self.catalogue.source_catalog

    def roles(self, username: str) -> dict[str, bool]:
        with self.session() as session:
            return {"staff": permissions.is_ops(session, username),
                    "committee": permissions.is_committee(session, username)}

    # --- applicant ----------------------------------------------------------------------------

    def my_requests(self, username: str) -> list[AccessRequest]:
        with self.session() as session:
            return workflow.requests_of(session, username)

    def create(self, username: str, fields: dict[str, Any]) -> AccessRequest:
        with self.session() as session:
            return workflow.create_draft(session, username, fields, self.catalog)

    def view(self, username: str, request_id: int) -> dict[str, Any]:
        """Everything the page shows, filtered by what ``username`` may see."""
        with self.session() as session:
            request = workflow.get_request(session, request_id)
            permissions.check_user_can_view(session, username, request)
            is_applicant = username == request.applicant
            committee = permissions.is_committee(session, username)
            staff = permissions.is_ops(session, username)
            has_voted = any(o.member == username for o in request.opinions)
            return {
                "request": request,
                "is_applicant": is_applicant,
                "staff": staff,
                "committee": committee,
                "vote_refusal": permissions.vote_refusal(session, username, request) if committee else None,
                "has_voted": has_voted,
                "has_conflict": any(c.member == username for c in request.conflicts),
                "opinions": workflow.visible_opinions(request, username, staff=staff, has_voted=has_voted),
                "revision": session.scalar(_revision_of(request.id)),
                "suggested_slug": authorisation.suggested_slug(request),
                "comments": list(request.comments),
                "authorisation": request.authorisation,
            }

    def decision_document(self, username: str, request_id: int) -> tuple[str, bytes]:
        """The recorded decision document's name and bytes (checked against its hash), for a viewer of the request."""
        with self.session() as session:
            request = workflow.get_request(session, request_id)
            permissions.check_user_can_view(session, username, request)
            decision = request.authorisation
            if decision is None or not decision.document_sha256:
                raise WorkflowError(f"access request {request_id} has no recorded decision document")
            name, digest = decision.document_name, decision.document_sha256
        return name, authorisation.read_document(self.config.decisions_dir, digest)

    def edit(self, username: str, request_id: int, fields: dict[str, Any]) -> None:
        with self.session() as session:
            workflow.update_draft(session, username, workflow.get_request(session, request_id), fields, self.catalog)

    def submit(self, username: str, request_id: int) -> None:
        with self.session() as session:
            workflow.submit(session, username, workflow.get_request(session, request_id),
                            self.config.favourable_required, self.catalog)

    def withdraw(self, username: str, request_id: int, reason: str) -> None:
        with self.session() as session:
            workflow.withdraw(session, username, workflow.get_request(session, request_id), reason)

    def revise(self, username: str, request_id: int) -> AccessRequest:
        with self.session() as session:
            return workflow.revise(session, username, workflow.get_request(session, request_id), self.catalog)

    def comment(self, username: str, request_id: int, body: str) -> None:
        with self.session() as session:
            workflow.comment(session, username, workflow.get_request(session, request_id), body)

    # --- committee ----------------------------------------------------------------------------

    def queue(self, username: str) -> list[AccessRequest]:
        with self.session() as session:
            return workflow.committee_queue(session, username)

    def conflict(self, username: str, request_id: int, note: str) -> None:
        with self.session() as session:
            workflow.declare_conflict(session, username, workflow.get_request(session, request_id), note)

    def opinion(self, username: str, request_id: int, verdicts: dict[str, bool], reasons: dict[str, str]) -> None:
        with self.session() as session:
            workflow.give_opinion(session, username, workflow.get_request(session, request_id), verdicts, reasons)

    def send_back(self, username: str, request_id: int, reason: str) -> None:
        with self.session() as session:
            workflow.send_back(session, username, workflow.get_request(session, request_id), reason)

    # --- staff --------------------------------------------------------------------------------

    def staff_queue(self, username: str) -> list[AccessRequest]:
        from sqlalchemy import select
        with self.session() as session:
            permissions.check_user_is_staff(session, username)
            return list(session.scalars(select(AccessRequest).order_by(AccessRequest.id.desc())))

    def authorise(self, username: str, request_id: int, *, granted: bool, number: str, decided_on: date,
                  valid_until: date | None, document: bytes, document_name: str, slug: str) -> Any:
        with self.session() as session:
            return authorisation.record_decision(
                session, username, workflow.get_request(session, request_id), granted=granted, number=number,
                decided_on=decided_on, valid_until=valid_until, document=document, document_name=document_name,
                decisions_dir=self.config.decisions_dir, projects_dir=self.config.settings.projects_dir,
                catalog=self.catalog, slug=slug)

    # --- publication and the public directory -----------------------------------------------

    def publishable(self, username: str) -> list:
        with self.session() as session:
            return directory.publishable(session, username)

    def publish(self, username: str, egress_request_id: int, title: str, description: str,
                embargo_until: date | None) -> Any:
        releases = self.config.releases_dir
        ledger = ReleaseStore(releases).entries() if releases and releases.is_dir() else []
        with self.session() as session:
            return directory.publish(session, username, egress_request_id, title, description, embargo_until,
                                     ledger)

    def directory(self) -> list[directory.PublicProject]:
        with self.session() as session:
            return directory.public_projects(session, self.catalogue)


def _revision_of(request_id: int):
    from sqlalchemy import select
    return select(AccessRequest.id).where(AccessRequest.resubmits_id == request_id)


__all__ = ["Office", "RequestState"]
