"""The hub's authenticator: OpenID Connect (GenericOAuthenticator), then TOTP, for registered users.

``authenticate`` (OIDC, inherited) only proves who the browser is at the identity provider. The
callback then does *not* log the user in: :class:`enclave.auth.handlers.OidcCallbackHandler` keeps
the result as a pending login and sends the browser to the TOTP page, which sets the hub cookie
only after a good code. The registry decides who may enter and with which hub groups.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import requests
from jupyterhub.utils import url_path_join
from oauthenticator.generic import GenericOAuthenticator
from sqlalchemy import Engine, select
from traitlets import Float, Instance, Int, Unicode, default

from enclave.audit import AuditAction, record
from enclave.auth import roles, totp
from enclave.auth.handlers import LogoutHandler, OidcCallbackHandler, TotpHandler
from enclave.auth.identity import UnknownIdentity, find_registered
from enclave.auth.pending import PendingLogins
from enclave.db import check_schema, make_engine, session_scope
from enclave.errors import EnclaveError
from enclave.models import User
from enclave.settings import Settings

TOTP_PATH = "/login/totp"


class EnclaveAuthenticator(GenericOAuthenticator):
    """OIDC login, a mandatory TOTP second step, and registry-driven access and groups."""

    callback_handler = OidcCallbackHandler
    logout_handler = LogoutHandler

    enclave_settings = Instance(Settings, allow_none=True, config=True,
                                help="The registry's settings (Settings.from_env()): who may log in, and their roles.")
    oidc_issuer = Unicode("", config=True, help="The OIDC issuer URL. Endpoints not set explicitly "
                          "(authorize_url, token_url, userdata_url) are read from its "
                          "/.well-known/openid-configuration on first use.")
    totp_key = Unicode("", config=True, help="Fernet key encrypting TOTP secrets in the registry "
                       "(from ENCLAVE_TOTP_KEY).")
    totp_issuer = Unicode("Enclave", config=True, help="The name authenticator apps show next to the code.")
    totp_max_failures = Int(totp.DEFAULT_LIMITS.max_failures, config=True,
                            help="Wrong codes in a row that lock the second factor (ENCLAVE_TOTP_MAX_FAILURES).")
    totp_lock_minutes = Float(totp.DEFAULT_LIMITS.lock_minutes, config=True,
                              help="How long a locked second factor refuses every code (ENCLAVE_TOTP_LOCK_MINUTES).")
    pending_login_seconds = Float(300, config=True, help="How long a login that passed OIDC may wait for its "
                                  "TOTP code before the user must sign in again.")

    @default("login_service")
    def _login_service_default(self) -> str:
        return "the Enclave identity provider"

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True  # hub groups follow the registry's roles at each login

    @default("scope")
    def _scope_default(self) -> list[str]:
        return ["openid", "profile", "email"]

    @default("authorize_url")
    def _authorize_url_from_discovery(self) -> str:
        return str(self._discovery["authorization_endpoint"])

    @default("token_url")
    def _token_url_from_discovery(self) -> str:
        return str(self._discovery["token_endpoint"])

    @default("userdata_url")
    def _userdata_url_from_discovery(self) -> str:
        return str(self._discovery["userinfo_endpoint"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.enclave_settings is None:
            raise EnclaveError("EnclaveAuthenticator.enclave_settings is not set",
                               "set c.EnclaveAuthenticator.enclave_settings = Settings.from_env() in the hub config")
        if not self.totp_key:
            raise EnclaveError("environment variable ENCLAVE_TOTP_KEY is not set",
                               "export ENCLAVE_TOTP_KEY=<a Fernet key> and start the hub again")
        self.box = totp.SecretBox(self.totp_key)
        self.totp_limits = totp.Limits(self.totp_max_failures, self.totp_lock_minutes)
        self.pending = PendingLogins(self.pending_login_seconds)
        check_schema(self.engine)  # fail at start-up, not at the first login

    @cached_property
    def engine(self) -> Engine:
        assert self.enclave_settings is not None
        return make_engine(self.enclave_settings.db_url)

    def registry(self) -> Any:
        """A registry session whose audit events anchor to the configured head file."""
        assert self.enclave_settings is not None
        return session_scope(self.engine, self.enclave_settings.audit_head)

    @cached_property
    def _discovery(self) -> dict[str, Any]:
        if not self.oidc_issuer:
            raise EnclaveError("no OIDC endpoints configured", "set ENCLAVE_OIDC_ISSUER (issuer discovery) or "
                               "the authorize_url, token_url and userdata_url of EnclaveAuthenticator")
        url = self.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=10)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise EnclaveError(f"cannot read the OIDC discovery document {url} ({exc})",
                               "check ENCLAVE_OIDC_ISSUER and that the identity provider is running") from None
        return document

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [*super().get_handlers(app), (TOTP_PATH, TotpHandler)]

    def totp_url(self, hub_base_url: str) -> str:
        return url_path_join(hub_base_url, TOTP_PATH.lstrip("/"))

    # --- who may enter --------------------------------------------------------------------

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Replace the identity provider's name by the registry's user, or refuse an unknown identity."""
        user_info = auth_model["auth_state"][self.user_auth_state_key]
        identity = str(self.user_info_to_username(user_info))
        with self.registry() as session:
            user = find_registered(session, identity)
            if user is None:
                record(session, f"oidc:{identity}"[:200], AuditAction.auth_refused, identity=identity,
                       reason="not registered")
        if user is None:
            raise UnknownIdentity(identity)
        auth_model["name"] = user.username
        auth_model["admin"] = False  # nobody administers the hub through login; ops get a scoped role
        auth_model["auth_state"]["enclave_groups"] = roles.hub_groups(user.roles)
        return auth_model

    async def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        return set(auth_state.get("enclave_groups", []))

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None) -> bool:
        """Only users in the registry (``update_auth_model`` has already refused the others)."""
        with self.registry() as session:
            return session.scalar(select(User.id).where(User.username == username)) is not None

