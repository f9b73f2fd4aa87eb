"""The hub's home page lists the user's projects (from the registry), each with its server and what
is left today of the user's output budget there (what the seal lets through to the browser), and
warns the team of a project whose spending this month neared its budget."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Callable

from enclave import membership
from enclave.db import make_engine, session_scope
from enclave.models import DATA_REACHABLE
from enclave.output_budgets import budget_limits, spent_today
from enclave.settings import Settings
from enclave.suspension import is_suspended

TEMPLATES = Path(__file__).resolve().parent / "templates"


def projects_of(settings: Settings) -> Callable[[Any], list[dict]]:
    """A ``template_vars`` value: called by the hub with the current user, returns their projects."""
    engine = make_engine(settings.db_url)

    def projects(user: Any) -> list[dict]:
        if user is None:
            return []
        today = date.today()
        with session_scope(engine) as session:
            rows = membership.projects_of(session, user.name)
            suspended = {p.slug for p in rows if is_suspended(session, user.name, p.slug)}
            spent = spent_today(session, user.name, datetime.now(UTC))
            return [
                {
                    **output_budget(spent.get(p.slug, 0), budget_limits(dict(p.resources or {}))["day"]),
                    "slug": p.slug,
                    "title": p.title,
                    "state": str(p.state),
                    "expires_on": p.expires_on.isoformat(),
                    "days_left": (p.expires_on - today).days,
                    "suspended": p.slug in suspended,  # this member's access, not the project
                    "runnable": p.state in DATA_REACHABLE and p.expires_on >= today and p.slug not in suspended,
                    "running": bool(getattr(user.spawners.get(p.slug), "active", False)),
                }
                for p in rows
            ]

    return projects


def output_budget(spent: int, limit: int) -> dict:
    """The day's output budget of one project, as the home page shows it (information KB, rounded)."""
    return {"output_used_kb": round(spent / 1000), "output_left_kb": round(max(0, limit - spent) / 1000),
            "output_limit_kb": round(limit / 1000), "output_used_percent": min(100, round(100 * spent / limit)) if limit else 100}


def budget_warnings_of(settings: Settings) -> Callable[[Any], list[str]]:
    """A ``template_vars`` value: the budget warnings of the user's projects (``metering.budget``)."""
    from metering.budget import warnings_for

    engine = make_engine(settings.db_url)

    def warnings(user: Any) -> list[str]:
        if user is None:
            return []
        try:
            with session_scope(engine) as session:
                slugs = membership.project_slugs_of(session, user.name)
                return [w.message for w in warnings_for(session, settings, slugs)]
        except Exception:  # noqa: BLE001 - a metering fault must not take the home page down
            logging.getLogger("enclave.home").exception("budget warnings for %s", user.name)
            return []

    return warnings


def landing_of(settings: Settings) -> Callable[[Any], dict]:
    """A ``template_vars`` value: the user's work by role (:mod:`spawner_config.landing`) for the home page,
    ``{"sections": [...], "problem": str}``; a fault reading one service's tables is logged and named on the page."""
    from .landing import landing

    engine = make_engine(settings.db_url)

    def work(user: Any) -> dict:
        if user is None:
            return {"sections": [], "problem": ""}
        try:
            with session_scope(engine) as session:
                return {"sections": landing(session, user.name), "problem": ""}
        except Exception:  # noqa: BLE001 - the projects and their servers must still show
            logging.getLogger("enclave.home").exception("landing for %s", user.name)
            return {"sections": [], "problem": "Your requests and review lists could not be read just now; "
                                               "the operators have the error in the hub's log."}

    return work
