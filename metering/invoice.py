"""Invoices: one self-contained, printable HTML document per project and month, written
atomically, its SHA-256 recorded in the audit log with the tariff version and the total."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from enclave.audit import AuditAction, record
from enclave.db import after_commit
from enclave.models import Project
from enclave.web import escaping_templates

from .report import Bill, MonthUsage

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Invoice:
    number: str
    path: Path
    sha256: str
    bill: Bill


def render(usage: MonthUsage, bill: Bill, number: str, title: str, actor: str, issued: datetime) -> str:
    template = escaping_templates(TEMPLATES).get_template("invoice.html")
    return template.render(usage=usage, bill=bill, number=number, title=title, actor=actor,
                           issued=issued.strftime("%Y-%m-%d %H:%M UTC"), month_label=usage.month.strftime("%B %Y"))


def issue(session: Session, usage: MonthUsage, bill: Bill, out: Path, actor: str) -> Invoice:
    """Write the invoice to ``out`` and record it in the audit log, in ``session``'s transaction:
    the document appears at ``out`` (whole) only once that transaction commits."""
    title = session.scalar(select(Project.title).where(Project.slug == usage.project)) or ""
    number = f"{usage.project}-{usage.month:%Y%m}"
    issued = datetime.now(UTC)
    document = render(usage, bill, number, title, actor, issued).encode("utf-8")
    digest = hashlib.sha256(document).hexdigest()
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(document)
            fh.flush()
            os.fsync(fh.fileno())
        record(session, actor, AuditAction.usage_invoice, usage.project, number=number, month=f"{usage.month:%Y-%m}",
               sha256=digest, tariff=bill.tariff.version, organisation_type=bill.organisation_type, total=str(bill.total),
               currency=bill.tariff.currency, provisional=not usage.complete, file=str(out))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    # The file takes its name only once its audit event is committed; a rollback removes it.
    after_commit(session, lambda: os.replace(temporary, out))
    event.listen(session, "after_rollback", lambda _s: Path(temporary).unlink(missing_ok=True), once=True)
    return Invoice(number, out, digest, bill)
