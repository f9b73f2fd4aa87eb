"""The hub's login settings in one place, so the hub configuration and the login tests use the same.

``jupyterhub_config.py`` calls :func:`configure_login`; so does the browser test's smaller hub
configuration, which cannot load the full one (it needs Docker and the host firewall).
"""

from __future__ import annotations

from typing import Any

from enclave.auth.authenticator import EnclaveAuthenticator
from enclave.auth.roles import CUSTOM_SCOPES, HUB_ROLES
from enclave.auth.settings import AuthSettings
from enclave.settings import Settings


def configure_login(c: Any, settings: Settings, auth: AuthSettings) -> None:
    """Set the authenticator, its OIDC client, the session lifetime, and the steward/ops roles on ``c``."""
    c.JupyterHub.authenticator_class = EnclaveAuthenticator
    c.EnclaveAuthenticator.enclave_settings = settings
    c.EnclaveAuthenticator.oidc_issuer = auth.issuer
    c.EnclaveAuthenticator.client_id = auth.client_id
    c.EnclaveAuthenticator.client_secret = auth.client_secret
    c.EnclaveAuthenticator.oauth_callback_url = auth.callback_url
    c.EnclaveAuthenticator.username_claim = auth.username_claim
    c.EnclaveAuthenticator.totp_key = auth.totp_key
    c.EnclaveAuthenticator.totp_max_failures = auth.totp_max_failures
    c.EnclaveAuthenticator.totp_lock_minutes = auth.totp_lock_minutes
    c.EnclaveAuthenticator.logout_redirect_url = auth.logout_url
    # One login lasts session_hours: the hub cookie, and the OAuth tokens of the servers' cookies.
    c.JupyterHub.cookie_max_age_days = auth.session_days
    # cookie_options is a tornado setting, applied to every cookie the hub sets (tornado's default: 30 days).
    tornado_settings = c.JupyterHub.tornado_settings if "tornado_settings" in c.JupyterHub else {}
    c.JupyterHub.tornado_settings = {**tornado_settings, "cookie_options": {"expires_days": auth.session_days,
                                                                            "samesite": "Lax"}}
    c.JupyterHub.oauth_token_expires_in = auth.session_seconds
    c.JupyterHub.shutdown_on_logout = False  # a logout ends the session, not the running analyses
    c.JupyterHub.custom_scopes = {**c.JupyterHub.get("custom_scopes", {}), **CUSTOM_SCOPES}
    existing = c.JupyterHub.load_roles if "load_roles" in c.JupyterHub else []
    c.JupyterHub.load_roles = [*existing, *HUB_ROLES]
