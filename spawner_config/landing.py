"""What the hub's home page shows each person as their work, by role: one section per role they hold.

- a researcher (or anyone with a project or a request): their requests — exports in the egress
  gate, access requests in the portal, imports in the airlock — each with its state in words;
- a steward: the review inbox (exports and imports they may review), oldest first;
- a committee member: the access requests on which they may still give an opinion, oldest first;
- ops: the authority's decisions to record, the package requests to decide, the week's security
  events and the suspensions in force, and this month's usage per project.

The lists come from the owners' read functions (``egress_gate.workflow``, ``portal.workflow``,
``airlock.workflow``, ``enclave.packages``, ``enclave.alarms``, ``metering``): no query is written
here. Links are paths under the hub's ``/services/``; the template puts the prefix in front.
:func:`counts` gives the numbers waiting for the person, per role, for the navigation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock import workflow as imports
from airlock.models import ImportState
from egress_gate import workflow as exports
from egress_gate.models import RequestState as ExportState
from enclave import alarms, packages, suspension
from enclave.membership import has_projects
from enclave.models import Project, Role
from enclave.roles import roles_of
from portal import workflow as access
from portal.models import RequestState as AccessState

SECURITY_WINDOW = timedelta(days=7)  # the security events ops see on their landing
SECURITY_SHOWN = 10

# The states in which a researcher's own request waits for them, not for someone else, and what to do.
EXPORT_ACTION = {ExportState.changes_requested: "answer the stewards and resubmit"}
ACCESS_ACTION = {AccessState.draft: "complete it and submit it to the committee",
                 AccessState.changes_requested: "revise it as the committee asks"}
IMPORT_ACTION = {ImportState.draft: "add its files and submit it"}


@dataclass(frozen=True)
class Item:
    """One line of a section: what it is, its state in words, since when, and where to act on it."""

    kind: str           # "export", "import", "access request", "package", "security event", "usage"
    label: str
    state: str = ""
    since: date | None = None
    link: str = ""      # a path under /services/, or "" (ops act on the host: see ``how``)
    how: str = ""       # the command, when there is no page
    todo: str = ""      # what the person is to do with it, in words ("" when it waits for someone else)
    anchor: str = ""    # the element's id on the landing page

    @property
    def yours_to_act(self) -> bool:
        return bool(self.todo or self.how)

    @property
    def days_waiting(self) -> int | None:
        return (datetime.now(UTC).date() - self.since).days if self.since else None


@dataclass
class Section:
    """One role's part of the landing page: a heading, a count in words, its items, its full list."""

    key: str            # researcher, steward, committee, ops-authorisations, ops-packages, ops-security, ops-usage
    role: Role
    title: str
    items: list[Item] = field(default_factory=list)
    waiting: int = 0    # how many wait for this person (the count shown, and in the navigation)
    summary: str = ""
    empty: str = ""
    link: str = ""      # the full list, under /services/
    link_text: str = ""


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment else None


def researcher_section(session: Session, username: str) -> Section:
    items = [Item("export", f"export {r.id} ({r.project_slug}): {len(r.files)} file{'s' if len(r.files) != 1 else ''}",
                  r.state.words, _day(r.created_at), f"egress/requests/{r.id}", todo=EXPORT_ACTION.get(r.state, ""),
                  anchor=f"export-{r.id}")
             for r in exports.requests_of(session, username)]
    items += [Item("access request", f"access request {r.id}: {r.title or '(untitled draft)'}", r.state.words,
                   _day(r.submitted_at or r.created_at), f"portal/requests/{r.id}", todo=ACCESS_ACTION.get(r.state, ""),
                   anchor=f"access-{r.id}")
              for r in access.requests_of(session, username)]
    items += [Item("import", f"import {r.id} ({r.project_slug}): {r.purpose[:80]}", r.state.words, _day(r.created_at),
                   f"egress/imports#import-{r.id}", todo=IMPORT_ACTION.get(r.state, ""), anchor=f"import-{r.id}")
              for r in imports.requests_by(session, username)]
    waiting = sum(item.yours_to_act for item in items)
    summary = (_plural(waiting, "of your requests awaits you", "of your requests await you") if waiting
               else _plural(len(items), "request", "requests") + ", none waiting for you" if items else "no request yet")
    return Section("researcher", Role.researcher, "Your requests", items, waiting, summary,
                   empty="You have no export, access request or import yet.", link="portal/requests/new",
                   link_text="Apply for access to data")


def steward_section(session: Session, username: str) -> Section:
    items = [Item("export", f"export {r.id} ({r.project_slug}) by {r.requester}", r.state.words, _day(r.created_at),
                  f"egress/requests/{r.id}", todo="review it", anchor=f"review-export-{r.id}")
             for r in exports.review_queue(session, username)]
    items += [Item("import", f"import {r.id} ({r.project_slug}) by {r.requester}", r.state.words, _day(r.created_at),
                   f"egress/imports#import-{r.id}", todo="review it", anchor=f"review-import-{r.id}")
              for r in imports.review_queue(session, username)]
    items.sort(key=lambda item: (item.since or date.max, item.anchor))
    return Section("steward", Role.steward, "Review inbox", items, len(items),
                   _plural(len(items), "request awaits your review", "requests await your review"),
                   empty="Nothing awaits your review.", link="egress/queue", link_text="The review queue")


def committee_section(session: Session, username: str) -> Section:
    items = [Item("access request", f"access request {r.id}: {r.title} (by {r.applicant})", r.state.words,
                  _day(r.submitted_at), f"portal/requests/{r.id}", todo="give your opinion (or declare a conflict)",
                  anchor=f"judge-{r.id}")
             for r in access.to_judge(session, username)]
    return Section("committee", Role.committee, "Requests to judge", items, len(items),
                   _plural(len(items), "request awaits your opinion", "requests await your opinion"),
                   empty="No request awaits your opinion.", link="portal/committee", link_text="The committee's list")


def ops_sections(session: Session, now: datetime | None = None, with_usage: bool = True) -> list[Section]:
    now = now or datetime.now(UTC)
    to_record = [Item("access request", f"access request {r.id}: {r.title} (by {r.applicant})", r.state.words,
                      _day(r.decided_at), f"portal/requests/{r.id}", todo="record the authority's decision",
                      anchor=f"authorise-{r.id}")
                 for r in access.to_authorise(session)]
    asked = [Item("package", f"{p.ecosystem} {p.name}{p.version or ''} for {p.project_slug} (by {p.requester}): {p.reason[:80]}",
                  "requested", _day(p.created_at), how=f"enclave packages approve {p.id}   or   enclave packages refuse {p.id} --reason ...",
                  anchor=f"package-{p.id}")
             for p in packages.requests_of(session, state="requested")]
    suspended = suspension.current_suspensions(session)
    events = alarms.security_events(session, since=now - SECURITY_WINDOW, limit=SECURITY_SHOWN)
    security = [Item("suspension", f"{s.username} suspended from {s.project_slug}: {s.reason}", "suspended",
                     _day(s.suspended_at), "egress/security", how=suspension.LIFT_COMMAND.format(slug=s.project_slug, username=s.username),
                     anchor=f"suspension-{s.id}")
                for s in suspended]
    security += [Item("security event", f"{e.user} in {e.project or 'no project'}: {e.summary or e.kind}",
                      e.kind.replace("_", " "), _day(e.at), "egress/security", anchor=f"event-{e.seq}")
                 for e in events]
    return [
        Section("ops-authorisations", Role.ops, "Authorisations to record", to_record, len(to_record),
                _plural(len(to_record), "approved request awaits the authority's decision",
                        "approved requests await the authority's decision"),
                empty="No approved request awaits the authority's decision.", link="portal/staff",
                link_text="All access requests"),
        Section("ops-packages", Role.ops, "Package requests", asked, len(asked),
                _plural(len(asked), "package request to decide", "package requests to decide"),
                empty="No package request to decide.", link="", link_text=""),
        Section("ops-security", Role.ops, "Security events", security, len(suspended),
                f"{_plural(len(suspended), 'suspension', 'suspensions')} in force, "
                f"{_plural(len(events), 'event', 'events')} in the last {SECURITY_WINDOW.days} days",
                empty=f"No security event in the last {SECURITY_WINDOW.days} days, no suspension in force.",
                link="egress/security", link_text="All security events"),
        *([usage_section(session, now.date())] if with_usage else []),
    ]


def usage_section(session: Session, today: date) -> Section:
    """This month's server hours of each project, as the usage pages count them."""
    from metering.report import month_usage

    items = []
    for project in session.scalars(select(Project).order_by(Project.slug)):
        usage = month_usage(session, project.slug, today.replace(day=1), today)
        hours = sum((q["server_hours"] for q in usage.people.values()), start=0)
        items.append(Item("usage", f"{project.slug}: {hours:.1f} server hours this month", str(project.state),
                          link=f"usage/projects/{project.slug}", anchor=f"usage-{project.slug}"))
    return Section("ops-usage", Role.ops, "Usage", items, 0, _plural(len(items), "project", "projects"),
                   empty="No project yet.", link="usage/", link_text="Usage and billing")


def landing(session: Session, username: str, with_usage: bool = True) -> list[Section]:
    """The sections of ``username``'s landing page, one per role they hold (researchers first);
    ``with_usage=False`` leaves out ops' usage (no count waits there)."""
    roles = roles_of(session, username)
    sections: list[Section] = []
    mine = researcher_section(session, username)
    if Role.researcher in roles or mine.items or has_projects(session, username):
        sections.append(mine)
    if Role.steward in roles:
        sections.append(steward_section(session, username))
    if Role.committee in roles:
        sections.append(committee_section(session, username))
    if Role.ops in roles:
        sections.extend(ops_sections(session, with_usage=with_usage))
    return sections


def counts(session: Session, username: str) -> dict[str, int]:
    """How many things wait for ``username``, per role they hold — what the navigation shows beside each
    link (``researcher``: their own requests awaiting them; ``steward``: reviews; ``committee``: opinions;
    ``ops``: authorisations to record, package requests and suspensions in force)."""
    totals: dict[str, int] = {}
    for section in landing(session, username, with_usage=False):
        totals[section.role.value] = totals.get(section.role.value, 0) + section.waiting
    return totals
