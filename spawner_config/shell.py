"""The shell on the hub's own pages (home, login, TOTP, admin, errors): the same header, navigation
and footer as the services' (:mod:`enclave.shell`), given to the hub's templates as the
``enclave_shell`` template variable, and the stylesheet served at ``/hub/shell.css``."""

from __future__ import annotations

from typing import Any, Callable

from enclave.branding import Branding
from enclave.db import make_engine, session_scope
from enclave.settings import Settings
from enclave.shell.navigation import hub_url, links_for
from enclave.shell.roles import Viewer, viewer_of
from enclave.shell.web import ShellCssHandler, ShellPage


def hub_page(viewer: Viewer, branding: Branding, hub_base: str = "/") -> ShellPage:
    return ShellPage(brand=branding, links=links_for(viewer, hub_base), username=viewer.username, current=None,
                     css_url=hub_url(hub_base, "shell.css"), hub_base=hub_base,
                     service_home=hub_url(hub_base, "home"), service_title="Your home page")


def shell_of(settings: Settings, branding: Branding, hub_base: str = "/") -> Callable[[Any], ShellPage]:
    """A ``template_vars`` value: called by the hub with the current user (or None), their shell."""
    engine = make_engine(settings.db_url)

    def shell(user: Any) -> ShellPage:
        name = getattr(user, "name", None)
        with session_scope(engine) as session:
            return hub_page(viewer_of(session, name), branding, hub_base)

    return shell


def stylesheet_handler(branding: Branding) -> tuple:
    """For ``c.JupyterHub.extra_handlers``: ``/hub/shell.css``, the services' stylesheet."""
    return (r"/shell\.css", ShellCssHandler, {"branding": branding})
