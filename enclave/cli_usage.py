"""The operators' usage commands: ``enclave usage`` (a month of a project's usage, per member, with
its cost) and ``enclave invoice`` (the month's invoice document, recorded in the audit log).

Usage is what the hub's ``usage`` service metered (``metering/``); prices come from the versioned
tariff files in ``$ENCLAVE_TARIFFS_DIR`` (default ``tariffs/``).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import click

from enclave.cli_registry import open_registry

MONTH_HELP = "The month, as YYYY-MM (default: the current month, so far)."
TARIFF_HELP = "Price with this tariff version (a file tariffs/VERSION.toml); default: the newest valid on the month's first day."
EXACT = Decimal("0.000001")  # what csv and json show of a member's quantities (the bill's lines: 3 decimals)
SHORT = {"cpu_hours": "CPU-h", "memory_limit_gib_hours": "mem-limit GiB-h", "memory_used_gib_hours": "mem-used GiB-h",
         "server_hours": "server-h", "workspace_gib_days": "workspace GiB-d", "extract_gib_days": "extracts GiB-d",
         "egress_requests": "egress req", "egress_reviews": "reviews"}


def _month(text: str | None):
    from metering.report import parse_month

    return parse_month(text) if text else datetime.now(UTC).date().replace(day=1)


def _usage_and_bill(session, settings, slug: str, month_text: str | None, tariff_version: str | None):
    from metering.report import month_usage, price
    from metering.tariff import tariff_for

    usage = month_usage(session, slug, _month(month_text))
    tariff = tariff_for(settings.tariffs_dir, usage.month, tariff_version)
    return usage, tariff, price(usage.totals(), tariff, usage.organisation_type)


@click.command("usage")
@click.option("--project", "slug", required=True, help="The project's slug.")
@click.option("--month", "month_text", help=MONTH_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table for reading; csv or json for other tools (exact decimals, as strings in JSON).")
@click.option("--tariff", "tariff_version", help=TARIFF_HELP)
def usage_command(slug: str, month_text: str | None, fmt: str, tariff_version: str | None) -> None:
    """A project's usage in one month, per member, with its cost under the tariff.

    Resources: CPU time, memory reserved (the limit) and used, server running time (from the
    containers' kernel counters), workspace and extract storage (GiB-days), egress requests (per
    requester) and reviews. The "(project)" row holds what is no one member's: storage and reviews.
    """
    from metering.report import member_costs

    with open_registry() as (session, settings):
        usage, tariff, bill = _usage_and_bill(session, settings, slug, month_text, tariff_version)
    costs = member_costs(usage, tariff)
    rows = [(who, quantities, costs[who]) for who, quantities in usage.people.items()]
    if fmt == "json":
        click.echo(json.dumps(_as_json(usage, bill, rows), indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["member", *SHORT, f"cost_{tariff.currency}"])
        for who, quantities, cost in rows:
            writer.writerow([who, *(quantities[k].quantize(EXACT) for k in SHORT), cost])
        writer.writerow(["total", *(line.quantity for line in bill.lines), bill.total])
    else:
        _table(usage, bill, rows)


def _as_json(usage, bill, rows) -> dict:
    def plain(quantities: dict[str, Decimal]) -> dict[str, str]:
        return {key: str(value.quantize(EXACT)) for key, value in quantities.items()}

    return {"project": usage.project, "month": f"{usage.month:%Y-%m}", "through": usage.through.isoformat(),
            "complete": usage.complete, "organisation_type": usage.organisation_type, "tariff": bill.tariff.version,
            "currency": bill.tariff.currency, "members": {who: {**plain(q), "cost": str(cost)} for who, q, cost in rows},
            "lines": [{"resource": line.resource.key, "quantity": str(line.quantity), "unit": line.resource.unit,
                       "unit_price": str(line.unit_price), "amount": str(line.amount)} for line in bill.lines],
            "total": str(bill.total),
            "monthly_budget": str(usage.monthly_budget) if usage.monthly_budget is not None else None}


def _table(usage, bill, rows) -> None:
    header = ["member", *SHORT.values(), f"cost {bill.tariff.currency}"]
    from metering.tariff import RESOURCES

    resource = {r.key: r for r in RESOURCES}
    body = [[who, *(resource[k].shown(quantities[k]) for k in SHORT), f"{cost}"] for who, quantities, cost in rows]
    body.append(["total", *(f"{line.quantity}" for line in bill.lines), f"{bill.total}"])
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
    for n, row in enumerate([header, *body]):
        click.echo("  ".join(str(cell).ljust(w) if i == 0 else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0 or n == len(body) - 1:
            click.echo("  ".join("-" * w for w in widths))
    so_far = "" if usage.complete else f" (so far, through {usage.through})"
    click.echo(f"project {usage.project}, {usage.month:%Y-%m}{so_far}: tariff {bill.tariff.version} "
               f"({usage.organisation_type}), total {bill.total} {bill.tariff.currency}"
               + (f" of a monthly budget of {usage.monthly_budget}" if usage.monthly_budget is not None else ""))


@click.command("invoice")
@click.option("--project", "slug", required=True, help="The project's slug.")
@click.option("--month", "month_text", required=True, help="The month, as YYYY-MM.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the invoice (HTML, self-contained and printable); default invoice-SLUG-YYYY-MM.html here.")
@click.option("--tariff", "tariff_version", help=TARIFF_HELP)
def invoice_command(slug: str, month_text: str, out: Path | None, tariff_version: str | None) -> None:
    """Write a project's invoice for one month: a line per resource, the tariff's version, the
    total; its SHA-256 is recorded in the audit log (action usage.invoice)."""
    from metering.invoice import issue

    with open_registry() as (session, settings):
        usage, _tariff, bill = _usage_and_bill(session, settings, slug, month_text, tariff_version)
        invoice = issue(session, usage, bill, out or Path(f"invoice-{slug}-{usage.month:%Y-%m}.html"), settings.actor)
    provisional = "" if usage.complete else " (provisional: the month is not over)"
    click.echo(f"invoice {invoice.number}{provisional}: {bill.total} {bill.tariff.currency} under tariff {bill.tariff.version}")
    click.echo(f"written to {invoice.path}")
    click.echo(f"sha256 {invoice.sha256} (recorded in the audit log)")


COMMANDS = [usage_command, invoice_command]
