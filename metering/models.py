"""The registry's metering tables: the last counter reading of each container instance, usage per
project, member and day, and storage per project and day.

Projects and users are named by slug and user name, not foreign keys: usage outlives a project's
deletion from the registry as audit events do, and is what its invoices were made from.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from enclave.models import Base, UtcDateTime

STORAGE_KINDS = ("workspace", "extracts")


class UsageCounter(Base):
    """The newest cumulative reading of one container instance (its id and start time: a container
    restarted under the same id starts its counters again at zero).

    Usage is the difference between a reading and this row, added to :class:`UsageDay` in the same
    transaction that moves this row forward: a sampler that restarts reads the row back and bills
    from there, so nothing is counted twice and nothing between two samples is lost.
    """

    __tablename__ = "usage_counters"

    container_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    project: Mapped[str] = mapped_column(String(40), index=True)
    username: Mapped[str] = mapped_column(String(64))
    read_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cpu_usec: Mapped[int] = mapped_column(BigInteger)          # cumulative CPU time since the container started
    memory_bytes: Mapped[int] = mapped_column(BigInteger)      # memory in use at read_at
    memory_limit_bytes: Mapped[int] = mapped_column(BigInteger)


class UsageDay(Base):
    """What one member's server of one project used on one (UTC) day."""

    __tablename__ = "usage_days"

    project: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    cpu_usec: Mapped[int] = mapped_column(BigInteger, default=0)
    wall_ms: Mapped[int] = mapped_column(BigInteger, default=0)               # server running time
    memory_used_byte_s: Mapped[int] = mapped_column(BigInteger, default=0)    # integral of memory in use
    memory_limit_byte_s: Mapped[int] = mapped_column(BigInteger, default=0)   # integral of the memory limit
    memory_peak_bytes: Mapped[int] = mapped_column(BigInteger, default=0)     # largest reading of the day


class StorageDay(Base):
    """A project's stored bytes of one kind (``workspace`` or ``extracts``) on one day: the largest
    of the day's measurements (sum of the files' sizes)."""

    __tablename__ = "storage_days"

    project: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
