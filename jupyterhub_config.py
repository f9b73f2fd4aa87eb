"""JupyterHub configuration of the enclave: settings only; the logic is in spawner_config/ and enclave/.

Start with `jupyterhub -f jupyterhub_config.py` as root (the hub manages Docker and the host
firewall), with the ENCLAVE_* environment of enclave/settings.py and enclave/auth/settings.py:
every value below comes from there.
"""

import os
import sys

from egress_gate.service.config import VARIABLES as GATE_VARIABLES
from enclave.auth.hub import configure_login
from enclave.auth.settings import AuthSettings
from enclave.branding import Branding
from enclave.host_state import follow_state_changes
from enclave.hygiene import check_host_files
from enclave.settings import Settings, service_environment
from enclave.shell import TEMPLATES as SHELL_TEMPLATES
from portal.config import VARIABLES as PORTAL_VARIABLES, portal_port
from spawner_config.home import TEMPLATES, budget_warnings_of, landing_of, projects_of
from spawner_config.hub import check_firewall, own_address
from spawner_config.shell import shell_of, stylesheet_handler
from spawner_config.spawner import EnclaveSpawner
from spawner_config.swarm_spawner import SwarmEnclaveSpawner

c = get_config()  # noqa: F821 - provided by JupyterHub
settings = Settings.from_env()
os.umask(0o077)  # what the hub and its services write (databases, logs, quarantine) is root's alone
check_host_files(settings)  # refuses to start if a key or source is readable by others
follow_state_changes(settings)  # the hub's own state changes (a first server activates its project)

# ENCLAVE_BACKEND: servers as containers on this host (docker), or as Swarm services (swarm: the hub
# runs in a container of Dockerfile.hub, which the spawner attaches to each project's overlay; each
# node's firewall is applied there by `enclave provision`, not from inside the hub's container).
if settings.backend == "swarm":
    c.JupyterHub.spawner_class = SwarmEnclaveSpawner
else:
    check_firewall(settings)
    c.JupyterHub.spawner_class = EnclaveSpawner
c.EnclaveSpawner.enclave_settings = settings
c.EnclaveSpawner.image = settings.notebook_image
c.EnclaveSpawner.start_timeout = settings.spawn_timeout
c.EnclaveSpawner.http_timeout = settings.spawn_timeout
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 0  # one per project, each checked by the spawner
c.JupyterHub.default_server_name = ""
c.JupyterHub.default_url = "/hub/home"  # after sign-in: the user's projects, each with Start and Stop
c.JupyterHub.template_paths = [str(TEMPLATES), str(SHELL_TEMPLATES)]  # the home page lists the user's projects
# Every hub page in the shell (enclave/shell): the header, the person's navigation, the footer, the
# deployment's branding (enclave/branding.py) and the one stylesheet, at /hub/shell.css.
branding = Branding.from_env()
c.JupyterHub.template_vars = {"enclave_projects": projects_of(settings), "enclave_budget_warnings": budget_warnings_of(settings),
                              # each person's work by role (spawner_config/landing.py); the navigation's counts: shell_of
                              "enclave_landing": landing_of(settings),
                              "enclave_shell": shell_of(settings, branding)}
c.JupyterHub.extra_handlers = [stylesheet_handler(branding)]
if branding.logo:
    c.JupyterHub.logo_file = str(branding.logo)

# The proxy's public port (never reachable from containers) and the hub API, on loopback: enclave
# containers reach only what a single-user server needs of it, through the hub API gate below.
# With Swarm, the hub's container also sits on every project's overlay: the proxy listens only on the
# container's own network (published by `docker run -p`), never on the overlays.
c.JupyterHub.bind_url = f"http://{own_address()}:{settings.proxy_port}" if settings.backend == "swarm" else settings.public_url
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.hub_api_port}"
c.JupyterHub.db_url = f"sqlite:///{settings.home / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(settings.home / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(settings.home / "jupyterhub-proxy.pid")

# Login: OpenID Connect then a TOTP code, for registered users (ENCLAVE_OIDC_*, ENCLAVE_TOTP_*,
# ENCLAVE_SESSION_HOURS: see enclave/auth/settings.py).
configure_login(c, settings, AuthSettings.from_env())

# Our services get an allow-list of the environment (enclave.settings.SERVICE_VARIABLES and the
# gate's own): the registry's settings, none of the secrets, and nothing added later by default.
service_env = service_environment(os.environ, extra=GATE_VARIABLES + PORTAL_VARIABLES)

# Keeping it tidy: idle servers are culled; servers that must not run are stopped.
c.JupyterHub.services = [
    {"name": "idle-culler",
     "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={settings.idle_timeout}"]},
    {"name": "enclave-reconciler",
     "command": [sys.executable, "-m", "spawner_config.reconciler", f"--interval={settings.reconcile_interval}"],
     "environment": service_env},
]
c.JupyterHub.load_roles += [
    {"name": "idle-culler", "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
     "services": ["idle-culler"]},
    {"name": "enclave-reconciler", "scopes": ["list:users", "read:servers", "delete:servers"],
     "services": ["enclave-reconciler"]},
]

# The seal (spawner_config/seal.py): every browser request to an enclave server passes through it —
# the spawner gives its loopback address as each server's address. Its URL serves only its OAuth
# callback (/services/enclave-seal/oauth_callback): it binds each browser to a hub user, every user
# may sign in to it (the `user` role below), and only a server's owner gets through.
c.JupyterHub.services.append(
    {"name": "enclave-seal", "url": f"http://127.0.0.1:{settings.seal_port}",
     "command": [sys.executable, "-m", "spawner_config.seal", f"--port={settings.seal_port}"],
     "oauth_no_confirm": True, "environment": service_env})

# The hub API gate (spawner_config/hub_api_gate.py): the hub API's allow-list for enclave containers,
# on ENCLAVE_HUB_API_ENCLAVE_PORT at each project network's gateway (the spawners' hub_connect_url).
c.JupyterHub.services.append(
    {"name": "enclave-hub-api-gate", "command": [sys.executable, "-m", "spawner_config.hub_api_gate"],
     "environment": service_env})

# The project tools (project_tools): each project's git remote and package index, for its enclave
# servers only, on ENCLAVE_TOOLS_ENCLAVE_PORT at each project network's gateway. No URL: browsers never reach it.
c.JupyterHub.services.append(
    {"name": "enclave-tools", "command": [sys.executable, "-m", "project_tools"], "environment": service_env})

# The egress gate (egress_gate/service): pages at /services/egress/ (hub OAuth), API with hub tokens.
# Every user may reach it (the default `user` role plus access to this one service); what each may
# do there is decided by the registry (members submit, stewards outside the project review).
c.JupyterHub.services.append(
    {"name": "egress", "url": f"http://127.0.0.1:{settings.egress_port}",
     "command": [sys.executable, "-m", "egress_gate.service"], "oauth_no_confirm": True, "environment": service_env})
c.JupyterHub.load_roles += [{"name": "user", "scopes": ["self", "access:services!service=egress",
                                                      "access:services!service=enclave-seal"]}]

# The front office (portal/service): catalogue and project directory public at /services/portal/,
# access requests, committee opinions, authorisations and publishing for any registered user (hub OAuth).
c.JupyterHub.services.append(
    {"name": "portal", "url": f"http://127.0.0.1:{portal_port()}", "command": [sys.executable, "-m", "portal.service"],
     "oauth_no_confirm": True, "environment": service_env})
next(role for role in c.JupyterHub.load_roles if role["name"] == "user")["scopes"].append("access:services!service=portal")

# Usage metering (metering/service.py): samples every enclave's cgroup counters and each project's
# storage into the registry, and serves the usage pages at /services/usage/ to members and ops.
c.JupyterHub.services.append(
    {"name": "usage", "url": f"http://127.0.0.1:{settings.usage_port}", "command": [sys.executable, "-m", "metering.service"],
     "oauth_no_confirm": True, "environment": service_env})
next(role for role in c.JupyterHub.load_roles if role["name"] == "user")["scopes"].append("access:services!service=usage")
