"""The hub pages between the identity provider and the hub: pending login, TOTP enrolment and check.

The OIDC callback ends in a *pending* login (:mod:`enclave.auth.pending`), not a hub cookie: until
the TOTP page accepts a code, the browser holds only a random handle that no hub page, API or
server accepts. Pages are the hub's own Jinja templates (autoescaped) and forms carry the hub's
``_xsrf`` token, which the hub checks on every POST.
"""

from __future__ import annotations

import base64
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import qrcode
import qrcode.image.svg
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, Template
from jupyterhub.handlers.base import BaseHandler
from oauthenticator.oauth2 import OAuthCallbackHandler, OAuthLogoutHandler
from tornado import web

from enclave.auth import totp
from enclave.auth.identity import UnknownIdentity
from enclave.registry import get_user

if TYPE_CHECKING:
    from enclave.auth.authenticator import EnclaveAuthenticator
    from enclave.auth.pending import PendingLogin

TEMPLATES = Path(__file__).resolve().parent / "templates"
PENDING_COOKIE = "enclave-pending-login"


class _EnclavePage:
    """Mixin: our templates first, then the hub's (``page.html``), sharing the hub's environment.

    Pages end with ``self.finish(...)``, never ``await self.finish(...)``: JupyterHub's
    ``BaseHandler.finish`` returns None, not tornado's Future."""

    settings: dict[str, Any]

    def get_template(self, name: str, sync: bool = False) -> Template:
        key = "enclave_jinja2_env_sync" if sync else "enclave_jinja2_env"
        if key not in self.settings:
            hub_env: Environment = self.settings["jinja2_env_sync" if sync else "jinja2_env"]
            self.settings[key] = hub_env.overlay(loader=ChoiceLoader([FileSystemLoader(TEMPLATES), hub_env.loader]))
        return cast(Environment, self.settings[key]).get_template(name)


class OidcCallbackHandler(_EnclavePage, OAuthCallbackHandler):
    """The identity provider's redirect: check who it is, then wait for the second factor."""

    async def get(self) -> None:
        self.check_arguments()
        authenticator = cast("EnclaveAuthenticator", self.authenticator)
        try:
            auth_model = await authenticator.get_authenticated_user(self, None)
        except UnknownIdentity as exc:
            self.set_status(403)
            self.finish(await self.render_template(
                "enclave_message.html", title="Access refused", kind="refused", identity=exc.identity))
            return
        if auth_model is None:
            raise web.HTTPError(403, "Your account may not sign in here. Ask an Enclave operator.")
        handle = authenticator.pending.add(auth_model, self.get_next_url())
        self._set_cookie(PENDING_COOKIE, handle, encrypted=True, path=self.hub.base_url)
        self.redirect(authenticator.totp_url(self.hub.base_url))


class TotpHandler(_EnclavePage, BaseHandler):
    """``/hub/login/totp``: enrol (QR code + secret) or enter a code; sets the hub cookie on success."""

    @property
    def _authenticator(self) -> EnclaveAuthenticator:
        return cast("EnclaveAuthenticator", self.authenticator)

    def _pending(self) -> tuple[str, PendingLogin] | None:
        raw = self.get_secure_cookie(PENDING_COOKIE, max_age_days=1)
        handle = raw.decode("ascii", "replace") if raw else ""
        login = self._authenticator.pending.get(handle)
        return (handle, login) if login is not None else None

    async def get(self) -> None:
        pending = self._pending()
        if pending is None:
            await self._expired()
            return
        await self._render_step(pending[1])

    async def post(self) -> None:
        pending = self._pending()
        if pending is None:
            await self._expired()
            return
        handle, login = pending
        code = self.get_body_argument("code", "")
        with self._authenticator.registry() as session:
            user = get_user(session, login.username)
            verdict = totp.verify(session, self._authenticator.box, user, code, limits=self._authenticator.totp_limits)
        if verdict.accepted:
            self._authenticator.pending.discard(handle)
            self.clear_cookie(PENDING_COOKIE, path=self.hub.base_url)
            hub_user = await self.auth_to_user(login.auth_model)
            self.set_login_cookie(hub_user)
            self.log.info("User logged in (OIDC + TOTP): %s", hub_user.name)
            self.redirect(login.next_url or self.get_next_url(hub_user))
            return
        if verdict.outcome is totp.Outcome.locked:
            self._authenticator.pending.discard(handle)
            self.clear_cookie(PENDING_COOKIE, path=self.hub.base_url)
            await self._locked(verdict.locked_until)
            return
        error = ("This code was already used. Wait for the next code and enter it."
                 if verdict.outcome is totp.Outcome.replayed else "This code is not right.")
        self.set_status(400)
        await self._render_step(login, error=f"{error} {verdict.failures_left} attempts left before the "
                                f"second factor is locked for {self._authenticator.totp_limits.lock_minutes:g} minutes.")

    async def _render_step(self, login: PendingLogin, error: str = "") -> None:
        with self._authenticator.registry() as session:
            user = get_user(session, login.username)
            state = totp.state(session, user)
            secret = totp.start_enrolment(session, self._authenticator.box, user) \
                if state is totp.State.not_enrolled else ""
            until = totp.locked_until(session, user) if state is totp.State.locked else None
        if state is totp.State.locked:
            await self._locked(until)
            return
        namespace: dict[str, Any] = {"title": "Second factor", "username": login.username, "error": error,
                                     "enrolling": bool(secret), "action": self.request.path}
        if secret:
            uri = totp.provisioning_uri(secret, login.username, self._authenticator.totp_issuer)
            namespace.update(secret=secret, qr_data_uri=qr_svg_data_uri(uri), title="Set up your second factor")
        self.finish(await self.render_template("enclave_totp.html", **namespace))

    async def _locked(self, until: Any) -> None:
        self.set_status(403)
        when = until.astimezone(UTC).strftime("%H:%M UTC") if until is not None else "in a few minutes"
        self.finish(await self.render_template("enclave_message.html", title="Second factor locked",
                                               kind="locked", until=when))

    async def _expired(self) -> None:
        self.set_status(403)
        minutes = int(self._authenticator.pending_login_seconds // 60)
        self.finish(await self.render_template("enclave_message.html", title="Sign-in expired",
                                               kind="expired", minutes=minutes))


class LogoutHandler(OAuthLogoutHandler):
    """Logout also forgets a pending login; the hub clears its cookie and the session's server tokens."""

    async def handle_logout(self) -> None:
        await super().handle_logout()
        self.clear_cookie(PENDING_COOKIE, path=self.hub.base_url)


def qr_svg_data_uri(text: str) -> str:
    """A QR code of ``text`` as an SVG ``data:`` URI: an ``<img>`` needs no script and no escaping."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=12, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode("ascii")

