"""A project's usage over one month, per member and per day, and its price under a tariff.

Quantities are exact decimals computed from the registry's integers (microseconds, milliseconds,
byte-seconds, bytes); priced lines round the quantity to 3 decimals (whole units for counts) and the amount to the cent
(half up), and the total is the sum of the lines' amounts: the invoice can be checked by hand.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from egress_gate.models import EgressDecision, EgressRequest
from enclave.errors import EnclaveError
from enclave.models import Project, default_billing

from .models import StorageDay, UsageDay
from .tariff import RESOURCE_KEYS, RESOURCES, Resource, Tariff

GIB = Decimal(1 << 30)
QUANTITY = Decimal("0.001")
WHOLE = Decimal("1")
CENT = Decimal("0.01")
PROJECT_WIDE = "(project)"  # the row of what is not one member's: storage, reviews by stewards
STORAGE = {"workspace": "workspace_gib_days", "extracts": "extract_gib_days"}


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the month's first day."""
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise EnclaveError(f"month {text!r} is not YYYY-MM", "write e.g. --month 2026-11") from None


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _zero() -> dict[str, Decimal]:
    return dict.fromkeys(RESOURCE_KEYS, Decimal(0))


@dataclass
class MonthUsage:
    project: str
    month: date                 # first day
    through: date               # last day counted (today, for the month under way)
    organisation_type: str
    monthly_budget: Decimal | None
    people: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # member (or PROJECT_WIDE) -> resource -> quantity
    daily: dict[date, dict[str, dict[str, Decimal]]] = field(default_factory=dict)  # day -> member -> cpu/server hours
    memory_peak_bytes: dict[str, int] = field(default_factory=dict)

    def totals(self) -> dict[str, Decimal]:
        totals = _zero()
        for quantities in self.people.values():
            for key, value in quantities.items():
                totals[key] += value
        return totals

    @property
    def complete(self) -> bool:
        return self.through >= month_end(self.month)


def month_usage(session: Session, slug: str, month: date, today: date | None = None) -> MonthUsage:
    """What project ``slug`` used in ``month`` (up to ``today`` for the month under way)."""
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None:
        raise EnclaveError(f"there is no project {slug!r}", "see `enclave list`")
    today = today or datetime.now(UTC).date()
    first, last = month.replace(day=1), min(month_end(month), today)
    if last < first:
        raise EnclaveError(f"{month:%Y-%m} has not started yet", "give a month up to the current one")
    billing = {**default_billing(), **(project.billing or {})}
    budget = billing.get("monthly_budget")
    usage = MonthUsage(slug, first, last, billing["organisation_type"], Decimal(budget) if budget else None)
    people: dict[str, dict[str, Decimal]] = defaultdict(_zero)
    for row in session.scalars(select(UsageDay).where(UsageDay.project == slug, UsageDay.day >= first, UsageDay.day <= last)):
        q = people[row.username]
        cpu, server = Decimal(row.cpu_usec) / 3_600_000_000, Decimal(row.wall_ms) / 3_600_000
        q["cpu_hours"] += cpu
        q["server_hours"] += server
        q["memory_used_gib_hours"] += Decimal(row.memory_used_byte_s) / GIB / 3600
        q["memory_limit_gib_hours"] += Decimal(row.memory_limit_byte_s) / GIB / 3600
        usage.daily.setdefault(row.day, {})[row.username] = {"cpu_hours": cpu, "server_hours": server}
        usage.memory_peak_bytes[row.username] = max(usage.memory_peak_bytes.get(row.username, 0), row.memory_peak_bytes)
    requests = session.execute(
        select(EgressRequest.requester, func.count()).where(EgressRequest.project_slug == slug, *_within(EgressRequest.created_at, first, last))
        .group_by(EgressRequest.requester)).all()
    for requester, count in requests:
        people[requester]["egress_requests"] += count
    reviews = session.scalar(select(func.count()).select_from(EgressDecision).join(EgressRequest)
                             .where(EgressRequest.project_slug == slug, *_within(EgressDecision.at, first, last)))
    wide = people[PROJECT_WIDE]
    wide["egress_reviews"] += reviews or 0
    for kind, key in STORAGE.items():
        wide[key] += sum(storage_by_day(session, slug, kind, first, last).values(), Decimal(0)) / GIB
    usage.people = dict(sorted(people.items(), key=lambda item: (item[0] == PROJECT_WIDE, item[0])))
    return usage


def _within(column, first: date, last: date) -> tuple:
    start = datetime.combine(first, datetime.min.time(), UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    return column >= start, column < end


def storage_by_day(session: Session, slug: str, kind: str, first: date, last: date) -> dict[date, int]:
    """Bytes stored on each day of [first, last] that lies between two measurements: a day the
    sampler missed (the hub was down) keeps the previous measurement; no day after the last one."""
    previous = session.scalar(select(StorageDay.bytes).where(StorageDay.project == slug, StorageDay.kind == kind,
                                                             StorageDay.day < first).order_by(StorageDay.day.desc()).limit(1))
    rows = dict(session.execute(select(StorageDay.day, StorageDay.bytes).where(
        StorageDay.project == slug, StorageDay.kind == kind, StorageDay.day >= first, StorageDay.day <= last)).all())
    if not rows and previous is None:
        return {}
    through = max(rows) if rows else first - timedelta(days=1)
    days, carried, day = {}, previous, first
    while day <= through:
        carried = rows.get(day, carried)
        if carried is not None:
            days[day] = carried
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Line:
    resource: Resource
    quantity: Decimal    # rounded to 3 decimals: what the line shows
    unit_price: Decimal
    amount: Decimal      # quantity × unit price, to the cent


@dataclass(frozen=True)
class Bill:
    tariff: Tariff
    organisation_type: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def price(quantities: dict[str, Decimal], tariff: Tariff, organisation_type: str) -> Bill:
    lines = []
    for resource in RESOURCES:
        quantity = quantities.get(resource.key, Decimal(0)).quantize(WHOLE if resource.whole else QUANTITY, ROUND_HALF_UP)
        unit = tariff.price(organisation_type, resource.key)
        lines.append(Line(resource, quantity, unit, (quantity * unit).quantize(CENT, ROUND_HALF_UP)))
    return Bill(tariff, organisation_type, tuple(lines))


def member_costs(usage: MonthUsage, tariff: Tariff) -> dict[str, Decimal]:
    """Each member's (and the project-wide row's) share of the bill, priced line by line."""
    return {who: price(quantities, tariff, usage.organisation_type).total for who, quantities in usage.people.items()}
