"""The links each person is offered, from who they are (:class:`~enclave.shell.roles.Viewer`).

Each link is offered only to those its page answers: the rules below mirror the services' own
permission checks (``egress_gate.permissions``, ``portal.permissions``, ``metering.access``, the
hub's ``enclave-ops`` role with ``admin-ui``); ``tests/ui/test_shell_browser.py`` follows every link
as each role and fails on a 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from enclave.models import Role

from .roles import Viewer

SERVICES = ("egress", "portal", "usage")
# Which link shows what waits for a role (the landing's counts, spawner_config.landing.counts).
COUNTED = {"steward": "review", "committee": "committee", "ops": "staff"}  # the hub services with pages, at <hub base>services/<name>/


@dataclass(frozen=True)
class Link:
    key: str      # stable, for tests and ids: nav-<key>
    label: str
    href: str
    group: str    # "work" (one's own), "review" (stewards, committee), "run" (operators), "public"


def service_url(hub_base: str, service: str, path: str = "") -> str:
    """Where ``service``'s page ``path`` is, behind the hub's proxy."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    return f"{hub_base.rstrip('/')}/services/{service}/{path}"


def hub_url(hub_base: str, path: str) -> str:
    return f"{hub_base.rstrip('/')}/hub/{path}"


def links_for(viewer: Viewer, hub_base: str = "/") -> list[Link]:
    """The navigation of ``viewer``, in the order the header shows it."""
    egress = lambda p: service_url(hub_base, "egress", p)  # noqa: E731
    portal = lambda p: service_url(hub_base, "portal", p)  # noqa: E731
    links: list[Link] = []
    add = lambda key, label, href, group: links.append(Link(key, label, href, group))  # noqa: E731
    if viewer.signed_in:
        add("home", "Home", hub_url(hub_base, "home"), "work")
    if viewer.registered:
        if viewer.member:
            add("outputs", "Outputs", egress("requests"), "work")
            add("imports", "Imports", egress("imports"), "work")
        if viewer.member or viewer.has(Role.ops):
            add("usage", "Usage", service_url(hub_base, "usage"), "work")
        add("access-requests", "Access requests", portal("requests"), "work")
        if viewer.member:
            add("publish", "Publish a result", portal("publish"), "work")
        if viewer.has(Role.steward):
            add("review", "Output review", egress("queue"), "review")
            if not viewer.member:
                add("imports", "Imports", egress("imports"), "review")
        if viewer.has(Role.committee):
            add("committee", "Committee", portal("committee"), "review")
        if viewer.has(Role.steward) or viewer.has(Role.ops):
            add("security", "Security events", egress("security"), "run")
        if viewer.has(Role.ops):
            add("staff", "Staff desk", portal("staff"), "run")
            add("admin", "Hub admin", hub_url(hub_base, "admin"), "run")
    add("catalogue", "Catalogue", portal("catalogue"), "public")
    add("directory", "Projects and results", portal("directory"), "public")
    return links


def counts_by_link(role_counts: dict[str, int]) -> dict[str, int]:
    """The landing's counts per role, as the navigation shows them: per link, zeros left out."""
    return {COUNTED[role]: n for role, n in role_counts.items() if role in COUNTED and n}
