"""The hub's ``usage`` service: it samples the enclaves' counters every ``ENCLAVE_METER_INTERVAL``
seconds (:mod:`metering.sampler`, in a thread of its own) and serves the usage pages at
``/services/usage/`` to project members and operators (hub OAuth; another project's page is
"not found", as is one that does not exist).

``python -m metering.service`` (the hub runs it); ``python -m metering.service --once`` samples once
and exits, without serving.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta

from jupyterhub.services.auth import HubOAuth
from tornado import web
from tornado.httpserver import HTTPServer

from enclave.db import make_engine, session_scope
from enclave.errors import EnclaveError
from enclave.settings import Settings
from enclave.shell import service as kit, web as shell_web
from enclave.web import escaping_templates, persistent_cookie_secret

from . import access, budget
from .invoice import TEMPLATES
from .plot import daily_svg
from .report import member_costs, month_usage, parse_month, price
from .sampler import Sampler
from .tariff import RESOURCES, tariff_for

log = logging.getLogger("metering.service")


class NotFound(EnclaveError):
    """A project the viewer may not see, or that does not exist: both answer the same 404."""


STATUS = {NotFound: 404, EnclaveError: 400}


class PageHandler(kit.ServiceHandler):
    async def in_thread(self, fn, *args):
        return await kit.in_thread(STATUS, fn, *args)


class ProjectsHandler(PageHandler):
    @web.authenticated
    async def get(self):
        self.render_page("projects.html", **await self.in_thread(self.overview, self.current_user["name"]))

    def overview(self, username: str) -> dict:
        settings: Settings = self.settings["enclave_settings"]
        today = datetime.now(UTC).date()
        tariff = tariff_for(settings.tariffs_dir, today.replace(day=1))
        rows = []
        with session_scope(self.settings["engine"]) as session:
            for project in access.visible_projects(session, username):
                usage = month_usage(session, project.slug, today.replace(day=1), today)
                rows.append({"slug": project.slug, "title": project.title, "budget": usage.monthly_budget,
                             "total": price(usage.totals(), tariff, usage.organisation_type).total})
        return {"projects": rows, "month": f"{today:%Y-%m}", "currency": tariff.currency}


class ProjectHandler(PageHandler):
    @web.authenticated
    async def get(self, slug: str):
        values = await self.in_thread(self.page, self.current_user["name"], slug, self.get_argument("month", ""))
        self.render_page("project.html", **values)

    def page(self, username: str, slug: str, month_text: str) -> dict:
        settings: Settings = self.settings["enclave_settings"]
        today = datetime.now(UTC).date()
        month = parse_month(month_text) if month_text else today.replace(day=1)
        with session_scope(self.settings["engine"]) as session:
            if not access.may_see(session, username, slug):
                raise NotFound("There is no such project, or you are not one of its members.")
            usage = month_usage(session, slug, month, today)
            title = next(p.title for p in access.visible_projects(session, username) if p.slug == slug)
        tariff = tariff_for(settings.tariffs_dir, usage.month)
        bill = price(usage.totals(), tariff, usage.organisation_type)
        costs = member_costs(usage, tariff)
        current = budget.status(usage, tariff)
        warn = current is not None and not usage.complete and current.spent * 100 >= current.budget * settings.budget_warn_percent
        return {"usage": usage, "bill": bill, "title": title, "resources": RESOURCES, "plot": daily_svg(usage),
                "rows": [(who, q, costs[who]) for who, q in usage.people.items()], "month_label": f"{usage.month:%B %Y}",
                "peaks": {who: f"{b / (1 << 30):.2f} GiB" for who, b in usage.memory_peak_bytes.items()},
                "warning": current.message if warn else "",
                "previous": f"{(usage.month - timedelta(days=1)):%Y-%m}"}


def make_app(settings: Settings, engine, hub_auth: HubOAuth | None = None, **extra) -> web.Application:
    hub_auth = hub_auth or HubOAuth(cache_max_age=60)
    prefix = (os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/usage/").rstrip("/") + "/"
    routes = [(prefix, ProjectsHandler), (prefix + r"projects/([a-z][a-z0-9-]{1,38}[a-z0-9])", ProjectHandler)]
    hub_base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
    shell = extra.pop("shell", None) or shell_web.Shell("usage", "Usage and billing", lambda: session_scope(engine), hub_base)
    return kit.service_app(routes, prefix=prefix, hub_auth=hub_auth, shell=shell, jinja=escaping_templates(TEMPLATES),
                           base=PageHandler, cookie_secret=persistent_cookie_secret(settings.home / "usage"),
                           engine=engine, enclave_settings=settings, **extra)


def sample_forever(sampler: Sampler, interval: float) -> None:
    while True:
        started = time.monotonic()
        try:
            report = sampler.run_pass()
            log.debug("sampled %d containers (%d recorded), %d storage measurements", report.read, report.recorded, report.storage)
        except Exception:  # noqa: BLE001 - a failed pass is logged; the next one reads the same counters further on
            log.exception("metering pass failed")
        time.sleep(max(1.0, interval - (time.monotonic() - started)))


async def serve(settings: Settings, engine) -> None:
    server = HTTPServer(make_app(settings, engine), xheaders=True)
    server.listen(settings.usage_port, "127.0.0.1")
    log.info("usage pages on 127.0.0.1:%s", settings.usage_port)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="sample once, print what was read, and exit (no pages)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s usage %(message)s")
    settings = Settings.from_env()
    engine = make_engine(settings.db_url)
    sampler = Sampler(settings, engine, storage_every=timedelta(seconds=settings.meter_storage_interval))
    if args.once:
        report = sampler.run_pass()
        print(f"read {report.read} containers, recorded {report.recorded}, gone {report.gone}, storage {report.storage}")
        return
    threading.Thread(target=sample_forever, args=(sampler, settings.meter_interval), name="sampler", daemon=True).start()
    asyncio.run(serve(settings, engine))


if __name__ == "__main__":
    main()
