"""The front office's tables: access requests, their comments, committee conflicts and opinions,
the authority's decisions, and the results a project team published.

They share the registry's database and :class:`enclave.models.Base` (one schema, one Alembic
history: ``enclave/migrations/versions/0005_front_office.py``). Import this module before
comparing ``Base.metadata`` with the database. States change only through :mod:`portal.workflow`,
which writes the audit event in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypedDict

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from enclave.models import Base, Purpose, UtcDateTime, _enum, utcnow


class RequestState(StrEnum):
    """Where an access request is; the allowed moves are in :data:`portal.workflow.TRANSITIONS`."""

    draft = "draft"
    submitted = "submitted"
    changes_requested = "changes_requested"
    approved = "approved"          # by the committee: the authority decides next
    rejected = "rejected"          # by the committee
    authorised = "authorised"      # by the authority: the project manifest exists
    refused = "refused"            # by the authority
    withdrawn = "withdrawn"

    @property
    def words(self) -> str:
        """The state as people read it (the hub's landing page)."""
        return STATE_WORDS[self]


STATE_WORDS = {  # the one place a state's name in words is written
    RequestState.draft: "draft",
    RequestState.submitted: "with the committee",
    RequestState.changes_requested: "changes requested",
    RequestState.approved: "approved by the committee, awaiting the authority's decision",
    RequestState.rejected: "rejected by the committee",
    RequestState.authorised: "authorised",
    RequestState.refused: "refused by the authority",
    RequestState.withdrawn: "withdrawn",
}


class TeamMember(TypedDict):
    name: str
    role: str
    organisation: str
    username: str          # a registered user who will work in the enclave, or "" (named only)
    public: bool           # consented to be named in the public directory


class Period(TypedDict):
    column: str            # TABLE.COLUMN, a date column
    start: str             # YYYY-MM-DD or ""
    end: str


class RequestedData(TypedDict):
    """The data asked for, in the manifests' vocabulary (see :class:`enclave.models.DataRequest`)."""

    tables: list[str]
    columns: list[str]     # TABLE.COLUMN; a table with none named gets all its allowed columns
    where: list[str]       # row filters, as in manifests
    period: Period | None


def empty_data() -> RequestedData:
    return {"tables": [], "columns": [], "where": [], "period": None}


class AccessRequest(Base):
    """One application to use data for a study: written by its applicant, judged by the committee,
    authorised (or not) by the authority. ``resubmits_id`` links a revision to the request that was
    sent back for changes (at most one revision each)."""

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    state: Mapped[RequestState] = mapped_column(_enum(RequestState, "access_request_state"),
                                                default=RequestState.draft)
    title: Mapped[str] = mapped_column(String(300), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[Purpose | None] = mapped_column(_enum(Purpose, "access_request_purpose"))
    methodology: Mapped[str] = mapped_column(Text, default="")
    holder_organisation: Mapped[str] = mapped_column(String(300), default="")
    team: Mapped[list[TeamMember]] = mapped_column(JSON, default=list)
    duration_months: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[RequestedData] = mapped_column(JSON, default=empty_data)
    favourable_required: Mapped[int | None] = mapped_column(Integer)  # fixed at submission
    resubmits_id: Mapped[int | None] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the committee's outcome

    comments: Mapped[list[RequestComment]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                          lazy="selectin", order_by="RequestComment.id")
    opinions: Mapped[list[CommitteeOpinion]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                            lazy="selectin", order_by="CommitteeOpinion.id")
    conflicts: Mapped[list[CommitteeConflict]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                              lazy="selectin", order_by="CommitteeConflict.id")
    authorisation: Mapped[Authorisation | None] = relationship(back_populates="request", lazy="selectin")


class RequestComment(Base):
    """A message between the applicant and the platform's staff (the accompaniment) or the committee."""

    __tablename__ = "access_request_comments"
    __table_args__ = (CheckConstraint("length(trim(body)) > 0", name="body_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(ForeignKey("users.username"))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="comments")


class CommitteeConflict(Base):
    """A committee member's declared conflict of interest: they cannot vote on this request."""

    __tablename__ = "access_request_conflicts"
    __table_args__ = (UniqueConstraint("request_id", "member"),
                      CheckConstraint("length(trim(note)) > 0", name="note_not_empty"))

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id", ondelete="CASCADE"))
    member: Mapped[str] = mapped_column(ForeignKey("users.username"))
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="conflicts")


CRITERIA = ("relevance", "adequacy", "methodology")
"""The committee's three questions: is the purpose relevant and of public interest; are the data
asked for adequate to it (no more than needed); is the methodology sound."""


class CommitteeOpinion(Base):
    """One member's opinion on a request: each criterion met or not, each with its reason."""

    __tablename__ = "access_request_opinions"
    __table_args__ = (
        UniqueConstraint("request_id", "member"),
        *(CheckConstraint(f"length(trim({c}_reason)) > 0", name=f"{c}_reason_not_empty") for c in CRITERIA),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id", ondelete="CASCADE"))
    member: Mapped[str] = mapped_column(ForeignKey("users.username"))
    relevance: Mapped[bool] = mapped_column(Boolean)
    relevance_reason: Mapped[str] = mapped_column(Text)
    adequacy: Mapped[bool] = mapped_column(Boolean)
    adequacy_reason: Mapped[str] = mapped_column(Text)
    methodology: Mapped[bool] = mapped_column(Boolean)
    methodology_reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="opinions")

    @property
    def favourable(self) -> bool:
        return self.relevance and self.adequacy and self.methodology


class Authorisation(Base):
    """The authority's decision on an approved request; for an authorisation, the project it made."""

    __tablename__ = "access_authorisations"
    __table_args__ = (CheckConstraint("valid_until IS NULL OR valid_until > decided_on", name="valid_after_decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    number: Mapped[str] = mapped_column(String(100))
    decided_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    document_name: Mapped[str] = mapped_column(String(255))
    document_sha256: Mapped[str] = mapped_column(String(64))
    project_slug: Mapped[str | None] = mapped_column(String(40), unique=True)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="authorisation")


class PublishedResult(Base):
    """A released egress output that the project team chose to show in the public directory."""

    __tablename__ = "published_results"
    __table_args__ = (CheckConstraint("length(trim(title)) > 0", name="title_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    egress_request_id: Mapped[int] = mapped_column(ForeignKey("egress_requests.id"), unique=True)
    project_slug: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    embargo_until: Mapped[date | None] = mapped_column(Date)
    ledger_hash: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"name", "sha256", "size"}]
    published_by: Mapped[str] = mapped_column(ForeignKey("users.username"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
