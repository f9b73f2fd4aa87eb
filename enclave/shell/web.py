"""What a hub service's tornado handlers mix in to draw the shell: :class:`ShellHandler` renders
pages and error pages (the reason, and the way back) with the person's navigation;
:class:`ShellCssHandler` serves the one stylesheet; :func:`shell_routes` and :class:`NotFoundHandler`
give each service the same routes and the same 404."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.orm import Session
from tornado import web
from tornado.ioloop import IOLoop

from enclave.branding import Branding

from . import STYLESHEET
from .navigation import Link, hub_url, links_for, service_url
from .roles import Viewer, viewer_of

TITLES = {400: "This cannot be done as asked", 403: "Not for you", 404: "Not found", 405: "Not here",
          409: "Not now", 413: "Too large", 500: "Something went wrong on our side"}


@dataclass(frozen=True)
class Shell:
    """A service's shell settings (the application setting ``shell``)."""

    service: str                      # its name under /services/ (enclave.shell.navigation.SERVICES)
    title: str                        # what its way-back link says, e.g. "Outputs: the egress gate"
    session: Callable[[], AbstractContextManager[Session]]  # a registry session, to read the viewer's roles
    hub_base: str = "/"
    branding: Branding = field(default_factory=Branding.from_env)


@dataclass(frozen=True)
class ShellPage:
    """What the shell templates read (``shell`` in every page)."""

    brand: Branding
    links: list[Link]
    username: str | None
    current: str | None
    css_url: str
    hub_base: str
    service_home: str
    service_title: str
    counts: dict[str, int] = field(default_factory=dict)  # link key -> things waiting there (navigation.COUNTED)

    @property
    def home_url(self) -> str:
        return hub_url(self.hub_base, "home")

    @property
    def logout_url(self) -> str:
        return hub_url(self.hub_base, "logout")

    @property
    def login_url(self) -> str:
        return hub_url(self.hub_base, "login")

    @property
    def logo_url(self) -> str:
        return hub_url(self.hub_base, "logo")


@dataclass(frozen=True)
class ErrorPage:
    status: int
    message: str
    back: str | None = None

    @property
    def title(self) -> str:
        return TITLES.get(self.status, "Error")


def current_link(links: list[Link], path: str) -> str | None:
    """The key of the link the page at ``path`` belongs to: the longest link path it starts with."""
    best = max((link for link in links if path == urlparse(link.href).path or path.startswith(urlparse(link.href).path.rstrip("/") + "/")),
               key=lambda link: len(link.href), default=None)
    return best.key if best else None


def shell_page(shell: Shell, viewer: Viewer, path: str) -> ShellPage:
    links = links_for(viewer, shell.hub_base)
    return ShellPage(brand=shell.branding, links=links, username=viewer.username, current=current_link(links, path),
                     css_url=service_url(shell.hub_base, shell.service, "shell.css"), hub_base=shell.hub_base,
                     service_home=service_url(shell.hub_base, shell.service), service_title=shell.title)


class ShellHandler(web.RequestHandler):
    """Mixed into a service's base handler (before ``web.RequestHandler``). The service's own
    ``render_page`` passes :meth:`shell_values`; errors render ``shell/error.html``."""

    _viewer: Viewer | None = None

    @property
    def shell(self) -> Shell:
        return self.settings["shell"]

    def shell_username(self) -> str | None:
        """The signed-in user's name, or None; never raises (an error page must render when identity failed)."""
        try:
            user = self.current_user
        except Exception:  # noqa: BLE001 - the identity lookup is what may have failed
            return None
        return user["name"] if isinstance(user, dict) else None

    def _read_viewer(self, username: str | None) -> Viewer:
        with self.shell.session() as session:
            return viewer_of(session, username)

    async def load_viewer(self) -> Viewer:
        """The signed-in person (roles, projects), read once per request off the event loop."""
        if self._viewer is None:
            self._viewer = await IOLoop.current().run_in_executor(None, self._read_viewer, self.shell_username())
        return self._viewer

    @property
    def viewer(self) -> Viewer:
        if self._viewer is None:
            username = self.shell_username()
            try:
                self._viewer = self._read_viewer(username)
            except Exception:  # noqa: BLE001 - a registry fault must not hide the page's own error
                self._viewer = Viewer(username)
        return self._viewer

    def shell_values(self) -> dict[str, Any]:
        return {"shell": shell_page(self.shell, self.viewer, self.request.path)}

    def back_url(self) -> str | None:
        """The page the person came from, when it is on this site and not this very page."""
        referer = self.request.headers.get("Referer", "")
        parsed = urlparse(referer)
        if not referer or parsed.netloc != self.request.host or parsed.path == self.request.path:
            return None
        return parsed.path + (f"?{parsed.query}" if parsed.query else "")

    def render_error_page(self, status: int, message: str) -> None:
        page = self.settings["jinja"].get_template("shell/error.html").render(
            error=ErrorPage(status, message, self.back_url()), **self.error_values(), **self.shell_values())
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)

    def error_values(self) -> dict[str, Any]:
        """What the service's base template needs besides the shell (its prefix...)."""
        return {"prefix": self.settings.get("prefix", ""), "user": self.shell_username()}


class NotFoundHandler(ShellHandler):
    """Any path a service does not serve: 404, in the shell. Mixed with the service's own base handler."""

    async def prepare(self):
        raise web.HTTPError(404, f"there is no page at {self.request.path}")


class ShellCssHandler(web.RequestHandler):
    """The one stylesheet (``shell.css``), with the deployment's colour; served by the hub and each service."""

    def initialize(self, branding: Branding | None = None):
        self.branding = branding or self.settings["shell"].branding

    def get(self):
        self.set_header("Content-Type", "text/css; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-cache")
        self.finish(self.branding.css() + STYLESHEET.read_text())


def shell_routes(prefix: str) -> list[tuple]:
    return [(prefix + "shell.css", ShellCssHandler)]
