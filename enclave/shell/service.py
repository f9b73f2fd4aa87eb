"""The service kit: what every hub service (egress gate, portal, usage) builds its pages on, written once.

- :class:`ServiceHandler`: the base handler — the hub's OAuth login (only people, never services), the
  shell around each page, the security headers, pages rendered from the service's Jinja2 templates with
  autoescaping and the XSRF token, errors as JSON on an API handler and as the shell's error page
  elsewhere;
- :class:`Refused` and :func:`refusing`: a workflow's refusal (a permission, a state, a bad input)
  becomes an HTTP status through the service's own table of exception classes;
- :func:`service_app`: the tornado application with the routes every service has (the stylesheet, the
  OAuth callback, the shell's 404) and the settings the handlers read.

A test replaces only the hub's lookup of who holds a token: the :data:`IDENTITY_PROVIDER_SETTING`
application setting, an object with ``get_user(handler) -> dict | None``. Nothing else is stubbed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed
from tornado import web
from tornado.ioloop import IOLoop

from .web import NotFoundHandler, Shell, ShellHandler, shell_routes

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
IDENTITY_PROVIDER_SETTING = "identity_provider"


class Refused(Exception):
    """An answer with ``status`` and a message the person can act on."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def refusing(statuses: Mapping[type[Exception], int], fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, its exceptions listed in ``statuses`` turned into :class:`Refused` (the
    first class that matches, in the table's order: put subclasses first)."""
    try:
        return fn(*args, **kwargs)
    except tuple(statuses) as exc:
        status = next(code for cls, code in statuses.items() if isinstance(exc, cls))
        raise Refused(status, str(exc)) from None


async def in_thread(statuses: Mapping[type[Exception], int], fn: Callable, *args, **kwargs):
    """:func:`refusing`, off the event loop (the registry and the files are read in blocking calls)."""
    return await IOLoop.current().run_in_executor(None, lambda: refusing(statuses, fn, *args, **kwargs))


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    def initialize(self):
        self.hub_auth = self.settings["hub_auth"]


class ServiceHandler(HubOAuthenticated, ShellHandler):
    """A service's base handler. ``api`` handlers answer JSON errors and skip the shell's viewer."""

    api = False
    csp = CSP

    def initialize(self):
        self.hub_auth = self.settings["hub_auth"]

    async def prepare(self):
        if not self.api:
            await self.load_viewer()  # the shell's navigation, read off the event loop

    def get_current_user(self):
        """The hub user holding this request's cookie or token (a service has no registry identity: None)."""
        provider = self.settings.get(IDENTITY_PROVIDER_SETTING)
        if provider is None:
            model = super().get_current_user()
        else:
            if hasattr(self, "_hub_auth_user_cache"):
                return self._hub_auth_user_cache
            model = provider.get_user(self)
            try:
                model = self.check_hub_user(model) if model else None
            except UserNotAllowed:
                model = None
            self._hub_auth_user_cache = model
        if model and model.get("kind", "user") != "user":
            return None
        return model

    @property
    def username(self) -> str:
        return self.current_user["name"]

    def set_default_headers(self):
        self.set_header("Content-Security-Policy", self.csp)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    def url(self, path: str = "") -> str:
        return self.settings["prefix"] + path

    def page_values(self) -> dict[str, Any]:
        """What this service's templates read on every page, besides the kit's (override to add)."""
        return {}

    def render_page(self, template: str, **values: Any) -> None:
        xsrf = self.xsrf_token
        values = {**self.page_values(), **values}
        page = self.settings["jinja"].get_template(template).render(
            user=self.current_user and self.current_user["name"], prefix=self.settings["prefix"],
            hub_base=self.settings.get("hub_base", "/"), login_url=self.get_login_url(), quote=quote,
            xsrf_token=xsrf.decode() if isinstance(xsrf, bytes) else xsrf, **self.shell_values(), **values)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)

    def error_message(self, status_code: int, exc: BaseException | None) -> str:
        if isinstance(exc, Refused):
            return exc.message
        return exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else self._reason

    def write_error(self, status_code: int, **kwargs) -> None:
        message = self.error_message(status_code, kwargs.get("exc_info", (None, None))[1])
        if self.api:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"status": status_code, "error": message}))
            return
        self.render_error_page(status_code, message)

    def _handle_request_exception(self, e):
        if isinstance(e, Refused):
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


def service_app(routes: list[tuple], *, prefix: str, hub_auth: HubOAuth, shell: Shell, jinja, cookie_secret: bytes,
                base: type[ServiceHandler] | None, identity_provider=None, **settings) -> web.Application:
    """A service's application: its ``routes`` after the kit's own (the stylesheet, the OAuth callback) and
    before the shell's 404 (a :class:`NotFoundHandler` on the service's ``base`` handler). With ``base``
    None, an application of ``routes`` alone (an API for machines: no pages, tornado's own 404)."""
    pages = []
    if base is not None:
        pages = [*shell_routes(prefix), (prefix + "oauth_callback", OAuthCallbackHandler)]
        settings["default_handler_class"] = type(f"{base.__name__}NotFound", (NotFoundHandler, base),
                                                 {"__doc__": "Any path the service does not serve: 404, in the shell."})
    return web.Application(
        [*pages, *routes], prefix=prefix, hub_auth=hub_auth, shell=shell, jinja=jinja, cookie_secret=cookie_secret,
        hub_base=shell.hub_base, xsrf_cookies=True, login_url=hub_auth.login_url,
        **{IDENTITY_PROVIDER_SETTING: identity_provider}, **settings,
    )
