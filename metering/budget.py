"""A project's spending so far this month against its monthly budget: the team's warning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from enclave.settings import Settings

from .report import MonthUsage, price
from .tariff import Tariff, tariff_for


@dataclass(frozen=True)
class BudgetStatus:
    slug: str
    spent: Decimal
    budget: Decimal
    currency: str

    @property
    def percent(self) -> int:
        return int(self.spent * 100 / self.budget)

    @property
    def message(self) -> str:
        return (f"Project {self.slug} has used {self.spent} {self.currency} of its monthly budget of "
                f"{self.budget} {self.currency} ({self.percent} %) this month.")


def status(usage: MonthUsage, tariff: Tariff) -> BudgetStatus | None:
    if usage.monthly_budget is None:
        return None
    spent = price(usage.totals(), tariff, usage.organisation_type).total
    return BudgetStatus(usage.project, spent, usage.monthly_budget, tariff.currency)


def warnings_for(session: Session, settings: Settings, slugs: list[str], today: date | None = None) -> list[BudgetStatus]:
    """The projects among ``slugs`` whose spending this month reached ``budget_warn_percent`` of their budget."""
    from .report import month_usage

    today = today or datetime.now(UTC).date()
    month = today.replace(day=1)
    tariff = tariff_for(settings.tariffs_dir, month)
    found = []
    for slug in slugs:
        current = status(month_usage(session, slug, month, today), tariff)
        if current is not None and current.spent * 100 >= current.budget * settings.budget_warn_percent:
            found.append(current)
    return found
