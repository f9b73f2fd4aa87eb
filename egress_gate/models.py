"""The egress gate's tables: requests, their snapshotted files, stewards' decisions and releases.

They share the registry's database and :class:`enclave.models.Base` (one schema, one Alembic
history: ``enclave/migrations/versions/0003_egress.py``, ``0004_egress_overrides.py``,
``0006_package_requests.py``, ``0011_egress_provenance.py``, ``0012_model_requests.py``), but live here because ``enclave`` knows
nothing of the gate. Import this module before comparing ``Base.metadata`` with the database.

States change only through :mod:`egress_gate.workflow`, which writes the audit event in the same
transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from enclave.models import Base, UtcDateTime, _enum, utcnow


class RequestState(StrEnum):
    """Where an egress request is; the allowed moves are in :data:`egress_gate.workflow.TRANSITIONS`."""

    submitted = "submitted"
    under_review = "under_review"
    approved = "approved"
    changes_requested = "changes_requested"
    rejected = "rejected"
    released = "released"
    withdrawn = "withdrawn"

    @property
    def words(self) -> str:
        """The state as people read it (pages, the JSON API's ``state_words``, enclave-export)."""
        return STATE_WORDS[self]


STATE_WORDS = {  # the one place a state's name in words is written
    RequestState.submitted: "submitted",
    RequestState.under_review: "under review",
    RequestState.approved: "approved",
    RequestState.changes_requested: "changes requested",
    RequestState.rejected: "rejected",
    RequestState.released: "released",
    RequestState.withdrawn: "withdrawn",
}


class RequestKind(StrEnum):
    """What a request carries: output files, or code (a patch of the project's repository,
    made by ``enclave-export code``), checked for embedded data like any text, or trained models
    (scikit-learn, Keras), attacked against the training data the researcher names
    (:mod:`egress_gate.model_worker`)."""

    files = "files"
    code = "code"
    model = "model"


class Vote(StrEnum):
    approve = "approve"
    request_changes = "request_changes"
    reject = "reject"


class EgressRequest(Base):
    """One submission: files snapshotted together, with the researcher's justification.

    ``stewards_required`` is copied from the project's egress policy at submission, so changing
    the policy does not change how many votes a request already under review needs.
    ``resubmits_id`` links a resubmission to the request whose changes it answers (at most one).
    """

    __tablename__ = "egress_requests"
    __table_args__ = (
        CheckConstraint("length(trim(justification)) > 0", name="justification_not_empty"),
        CheckConstraint("stewards_required >= 1", name="stewards_required_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_slug: Mapped[str] = mapped_column(ForeignKey("projects.slug"), index=True)
    requester: Mapped[str] = mapped_column(ForeignKey("users.username"))
    justification: Mapped[str] = mapped_column(Text)
    kind: Mapped[RequestKind] = mapped_column(_enum(RequestKind, "egress_request_kind"), default=RequestKind.files,
                                              server_default=RequestKind.files.value)
    state: Mapped[RequestState] = mapped_column(_enum(RequestState, "egress_request_state"),
                                                default=RequestState.submitted)
    policy_version: Mapped[str] = mapped_column(String(64))
    stewards_required: Mapped[int] = mapped_column(Integer)
    resubmits_id: Mapped[int | None] = mapped_column(ForeignKey("egress_requests.id"), unique=True)
    # A resubmission's answer to the stewards' comments on the request it resubmits.
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    files: Mapped[list[EgressFile]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                   lazy="selectin", order_by="EgressFile.name")
    decisions: Mapped[list[EgressDecision]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                           lazy="selectin", order_by="EgressDecision.id")
    release: Mapped[EgressRelease | None] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                         lazy="selectin")


class EgressFile(Base):
    """One file of a request: the snapshotted bytes' hash and size, and the automated findings.

    ``provenance`` (:mod:`egress_gate.provenance`): the commit of the project's repository and the
    notebook or script that produced the file, as found on the gate's side, or why none was.
    ``context``: the researcher's ``{"what", "population", "controls"}`` for the file."""

    __tablename__ = "egress_files"
    __table_args__ = (UniqueConstraint("request_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("egress_requests.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    request: Mapped[EgressRequest] = relationship(back_populates="files")


class EgressDecision(Base):
    """One steward's vote on a request, with its written reason; one per steward and request."""

    __tablename__ = "egress_decisions"
    __table_args__ = (
        UniqueConstraint("request_id", "steward"),
        CheckConstraint("length(trim(reason)) > 0", name="reason_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("egress_requests.id", ondelete="CASCADE"))
    steward: Mapped[str] = mapped_column(ForeignKey("users.username"))
    vote: Mapped[Vote] = mapped_column(_enum(Vote, "egress_vote"))
    reason: Mapped[str] = mapped_column(Text)
    release_anonymised: Mapped[bool] = mapped_column(Boolean, default=False)
    # An approval of a request with failing findings: [{"file", "check", "part", "reason"}], one per finding.
    overrides: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    request: Mapped[EgressRequest] = relationship(back_populates="decisions")


class EgressRelease(Base):
    """A request's release: when, by whom, and the hash of its entry in the release ledger."""

    __tablename__ = "egress_releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("egress_requests.id", ondelete="CASCADE"), unique=True)
    released_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ledger_hash: Mapped[str] = mapped_column(String(64))

    request: Mapped[EgressRequest] = relationship(back_populates="release")
