"""Stops servers that should no longer run: suspended, expired or closed projects, removed or suspended members.

Runs as a JupyterHub service (``python -m spawner_config.reconciler``), with the hub's API URL
and its token in the environment, every ``--interval`` seconds; ``--once`` for one pass. Expired
projects are suspended first (as ``enclave expire`` does), and so are members whose seal alarms
repeat (``ENCLAVE_ALARM_HITS`` within ``ENCLAVE_ALARM_WINDOW``, :mod:`enclave.alarms`): their
servers stop the same pass, and stay refused until ops lift the suspension.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import date, datetime, timedelta

import requests

from enclave import alarms, lifecycle
from enclave.audit import AuditAction, record
from enclave.db import make_engine, session_scope
from enclave.host_state import follow_state_changes
from enclave.models import utcnow
from enclave.settings import Settings
from spawner_config.access import may_run

log = logging.getLogger("enclave.reconciler")


class Hub:
    def __init__(self, api_url: str, token: str):
        self.api_url, self.session = api_url.rstrip("/"), requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def servers(self) -> list[tuple[str, str]]:
        """(user, server name) of every running or starting named server."""
        users = self.session.get(f"{self.api_url}/users", params={"state": "active"}, timeout=30)
        users.raise_for_status()
        return [(u["name"], name) for u in users.json() for name in u.get("servers", {}) if name]

    def stop(self, user: str, server: str) -> None:
        self.session.delete(f"{self.api_url}/users/{user}/servers/{server}", timeout=60).raise_for_status()


def reconcile(settings: Settings, engine, hub: Hub, today: date | None = None,
              now: datetime | None = None) -> list[tuple[str, str, str]]:
    """One pass; returns (user, server, why) of each server stopped."""
    today, now = today or date.today(), now or utcnow()
    with session_scope(engine, settings.audit_head) as session:
        for project in lifecycle.suspend_expired(session, "reconciler", today):
            log.info("suspended %s: authorisation expired on %s", project.slug, project.expires_on)
    with session_scope(engine, settings.audit_head) as session:
        window = timedelta(seconds=settings.alarm_window)
        for suspended in alarms.suspend_offenders(session, "reconciler", settings.alarm_hits, window, now):
            log.warning("suspended %s in %s: %s", suspended.username, suspended.project_slug, suspended.reason)
    stopped = []
    for user, server in hub.servers():
        with session_scope(engine, settings.audit_head) as session:
            why = may_run(session, user, server, today)
        if why:
            hub.stop(user, server)
            with session_scope(engine, settings.audit_head) as session:
                record(session, "reconciler", AuditAction.server_stop, server, username=user, reason=why)
            log.info("stopped %s/%s: %s", user, server, why)
            stopped.append((user, server, why))
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, help="seconds between passes (default: ENCLAVE_RECONCILE_INTERVAL, 60)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s reconciler %(message)s")
    settings = Settings.from_env()
    follow_state_changes(settings)  # an expired project loses its network and firewall opening
    engine = make_engine(settings.db_url)
    hub = Hub(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    while True:
        try:
            reconcile(settings, engine, hub)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next one tries again
            log.exception("reconcile pass failed")
        if args.once:
            return
        time.sleep(args.interval or settings.reconcile_interval)


if __name__ == "__main__":
    main()
