"""JupyterHub configuration of the enclave: settings only; the logic is in spawner_config/ and enclave/.

Start with `jupyterhub -f jupyterhub_config.py` as root (the hub manages Docker and the host
firewall), with the ENCLAVE_* environment of enclave/settings.py.
"""

import os
import sys

from enclave.auth.hub import configure_login
from enclave.auth.settings import AuthSettings
from enclave.settings import Settings
from portal.config import portal_port
from spawner_config.home import TEMPLATES, projects_of
from spawner_config.hub import check_firewall
from spawner_config.spawner import EnclaveSpawner

c = get_config()  # noqa: F821 - provided by JupyterHub
settings = Settings.from_env()
check_firewall(settings)

c.JupyterHub.spawner_class = EnclaveSpawner
c.EnclaveSpawner.enclave_settings = settings
c.EnclaveSpawner.image = os.environ.get("ENCLAVE_NOTEBOOK_IMAGE", "enclave/notebook:latest")
c.EnclaveSpawner.start_timeout = 120
c.EnclaveSpawner.http_timeout = 90
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 0  # one per project, each checked by the spawner
c.JupyterHub.default_server_name = ""
c.JupyterHub.template_paths = [str(TEMPLATES)]  # the home page lists the user's projects
c.JupyterHub.template_vars = {"enclave_projects": projects_of(settings)}

# The proxy's public port and the hub API are the two host ports containers may reach (firewall).
c.JupyterHub.bind_url = os.environ.get("ENCLAVE_PUBLIC_URL", f"http://0.0.0.0:{settings.proxy_port}")
c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{settings.hub_api_port}"
c.JupyterHub.db_url = f"sqlite:///{settings.home / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(settings.home / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(settings.home / "jupyterhub-proxy.pid")

# Login: OpenID Connect then a TOTP code, for registered users (ENCLAVE_OIDC_*, ENCLAVE_TOTP_KEY,
# ENCLAVE_SESSION_HOURS: see enclave/auth/settings.py).
configure_login(c, settings, AuthSettings.from_env())

# Our services get the registry's settings, none of the secrets (master key, TOTP key, OIDC client secret).
service_environment = {k: v for k, v in os.environ.items() if k.startswith("ENCLAVE_")
                       and not k.startswith(("ENCLAVE_MASTER_KEY", "ENCLAVE_TOTP_KEY", "ENCLAVE_OIDC_CLIENT_SECRET"))}

# Keeping it tidy: idle servers are culled; servers that must not run are stopped.
c.JupyterHub.services = [
    {"name": "idle-culler", "command": [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=3600"]},
    {"name": "enclave-reconciler", "command": [sys.executable, "-m", "spawner_config.reconciler", "--interval=60"],
     "environment": service_environment},
]
c.JupyterHub.load_roles += [
    {"name": "idle-culler", "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
     "services": ["idle-culler"]},
    {"name": "enclave-reconciler", "scopes": ["list:users", "read:servers", "delete:servers"],
     "services": ["enclave-reconciler"]},
]

# The egress gate (egress_gate/service): pages at /services/egress/ (hub OAuth), API with hub tokens.
# Every user may reach it (the default `user` role plus access to this one service); what each may
# do there is decided by the registry (members submit, stewards outside the project review).
c.JupyterHub.services.append(
    {"name": "egress", "url": f"http://127.0.0.1:{settings.egress_port}", "command": [sys.executable, "-m", "egress_gate.service"],
     "oauth_no_confirm": True, "environment": service_environment})
c.JupyterHub.load_roles += [{"name": "user", "scopes": ["self", "access:services!service=egress"]}]

# The front office (portal/service): catalogue and project directory public at /services/portal/,
# access requests, committee opinions, authorisations and publishing for any registered user (hub OAuth).
c.JupyterHub.services.append(
    {"name": "portal", "url": f"http://127.0.0.1:{portal_port()}", "command": [sys.executable, "-m", "portal.service"],
     "oauth_no_confirm": True, "environment": service_environment})
next(role for role in c.JupyterHub.load_roles if role["name"] == "user")["scopes"].append("access:services!service=portal")
