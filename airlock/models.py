"""The import airlock's tables: requests, their quarantined files (with scan findings), stewards' votes.

They share the registry's :class:`enclave.models.Base` and Alembic history
(``enclave/migrations/versions/0013_imports.py``). States change only through
:mod:`airlock.workflow`, which writes the audit event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from enclave.models import Base, UtcDateTime, _enum, utcnow


class ImportState(StrEnum):
    """Where an import is; the allowed moves are :data:`airlock.workflow.TRANSITIONS`."""

    draft = "draft"
    submitted = "submitted"
    scanned = "scanned"
    in_review = "in_review"
    approved = "approved"
    rejected = "rejected"
    blocked = "blocked"

    @property
    def words(self) -> str:
        return STATE_WORDS[self]


STATE_WORDS = {  # the one place a state's name in words is written
    ImportState.draft: "draft",
    ImportState.submitted: "submitted",
    ImportState.scanned: "scanned",
    ImportState.in_review: "in review",
    ImportState.approved: "approved",
    ImportState.rejected: "rejected",
    ImportState.blocked: "blocked by scan",
}


class ImportVote(StrEnum):
    approve = "approve"
    reject = "reject"


class ImportRequest(Base):
    """One import: files brought in together, with their purpose."""

    __tablename__ = "import_requests"
    __table_args__ = (
        CheckConstraint("length(trim(purpose)) > 0", name="import_purpose_not_empty"),
        CheckConstraint("stewards_required >= 1", name="import_stewards_required_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_slug: Mapped[str] = mapped_column(ForeignKey("projects.slug"), index=True)
    requester: Mapped[str] = mapped_column(String(200))  # a member's username, or the operator (ops:...)
    purpose: Mapped[str] = mapped_column(Text)
    state: Mapped[ImportState] = mapped_column(_enum(ImportState, "import_state"), default=ImportState.draft)
    stewards_required: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    files: Mapped[list[ImportFile]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                   lazy="selectin", order_by="ImportFile.name")
    decisions: Mapped[list[ImportDecision]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                           lazy="selectin", order_by="ImportDecision.id")


class ImportFile(Base):
    """One quarantined file: its hash and size when complete, and the scan's findings."""

    __tablename__ = "import_files"
    __table_args__ = (UniqueConstraint("request_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("import_requests.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    request: Mapped[ImportRequest] = relationship(back_populates="files")


class ImportDecision(Base):
    """One steward's vote on an import, with its written reason; one per steward and import."""

    __tablename__ = "import_decisions"
    __table_args__ = (
        UniqueConstraint("request_id", "steward"),
        CheckConstraint("length(trim(reason)) > 0", name="import_reason_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("import_requests.id", ondelete="CASCADE"))
    steward: Mapped[str] = mapped_column(ForeignKey("users.username"))
    vote: Mapped[ImportVote] = mapped_column(_enum(ImportVote, "import_vote"))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    request: Mapped[ImportRequest] = relationship(back_populates="decisions")
