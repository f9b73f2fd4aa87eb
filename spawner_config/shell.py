"""The shell on the hub's own pages (home, login, TOTP, admin, errors): the same header, navigation
and footer as the services' (:mod:`enclave.shell`), given to the hub's templates as the
``enclave_shell`` template variable, and the stylesheet served at ``/hub/shell.css``."""

from __future__ import annotations

import logging
from typing import Any, Callable

from enclave.branding import Branding
from enclave.db import make_engine, session_scope
from enclave.settings import Settings
from enclave.shell.navigation import counts_by_link, hub_url, links_for
from enclave.shell.roles import Viewer, viewer_of
from enclave.shell.web import ShellCssHandler, ShellPage


def hub_page(viewer: Viewer, branding: Branding, hub_base: str = "/", counts: dict[str, int] | None = None) -> ShellPage:
    return ShellPage(brand=branding, links=links_for(viewer, hub_base), username=viewer.username, current=None,
                     css_url=hub_url(hub_base, "shell.css"), hub_base=hub_base,
                     service_home=hub_url(hub_base, "home"), service_title="Your home page",
                     counts=counts_by_link(counts or {}))


def shell_of(settings: Settings, branding: Branding, hub_base: str = "/") -> Callable[[Any], ShellPage]:
    """A ``template_vars`` value: called by the hub with the current user (or None), their shell."""
    engine = make_engine(settings.db_url)

    def shell(user: Any) -> ShellPage:
        name = getattr(user, "name", None)
        with session_scope(engine) as session:  # one registry session a page: who is viewing, what waits for them
            viewer = viewer_of(session, name)
            waiting = _waiting(session, name) if viewer.registered else None
        return hub_page(viewer, branding, hub_base, waiting)

    return shell


def _waiting(session, username: str) -> dict[str, int]:
    """What waits for ``username`` per role (the landing's counts); a fault there must not take a page down."""
    from .landing import counts

    try:
        return counts(session, username)
    except Exception:  # noqa: BLE001
        logging.getLogger("enclave.shell").exception("navigation counts for %s", username)
        session.rollback()
        return {}


def stylesheet_handler(branding: Branding) -> tuple:
    """For ``c.JupyterHub.extra_handlers``: ``/hub/shell.css``, the services' stylesheet."""
    return (r"/shell\.css", ShellCssHandler, {"branding": branding})
