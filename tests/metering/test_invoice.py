"""Tariffs, `enclave usage` and `enclave invoice`: exact decimals, totals that are the sum of the
lines, the tariff's version on the invoice, the invoice's hash in the audit log."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from enclave.models import AuditEvent, Project
from metering.report import month_usage, price
from metering.sampler import record
from metering.tariff import RESOURCE_KEYS, TariffError, load_tariff, tariff_for

from ..conftest import REPO
from .conftest import reading

TARIFFS = REPO / "tariffs"


def test_the_shipped_tariff_prices_every_resource_for_every_organisation_type():
    tariff = load_tariff(TARIFFS / "2026-01.toml")
    assert tariff.version == "2026-01" and tariff.currency == "EUR"
    for kind in ("academic", "public", "private"):
        assert set(tariff.prices[kind]) == set(RESOURCE_KEYS)
        assert all(isinstance(p, Decimal) for p in tariff.prices[kind].values())


@pytest.mark.parametrize("change, message", [
    (('cpu_hours = "0.020"', "cpu_hours = 0.02"), "is not a string"),
    (('cpu_hours = "0.020"', 'cpu_hours = "-1"'), "is not a price"),
    (('cpu_hours = "0.020"\n', ""), "no price for cpu_hours"),
    (("[prices.private]", "[prices.privat]"), "no [prices.private]"),
    (('version = "2026-01"', 'version = "2026-02"'), "differs from the file name"),
])
def test_a_bad_tariff_is_refused_naming_the_field(tmp_path, change, message):
    text = (TARIFFS / "2026-01.toml").read_text().replace(*change, 1)
    (tmp_path / "2026-01.toml").write_text(text)
    with pytest.raises(TariffError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_tariff(tmp_path / "2026-01.toml")


def test_the_month_is_priced_with_the_newest_tariff_valid_on_its_first_day(tmp_path):
    shutil.copy(TARIFFS / "2026-01.toml", tmp_path)
    later = (TARIFFS / "2026-01.toml").read_text().replace('"2026-01"', '"2026-07"').replace("2026-01-01", "2026-07-01")
    (tmp_path / "2026-07.toml").write_text(later)
    assert tariff_for(tmp_path, date(2026, 6, 1)).version == "2026-01"
    assert tariff_for(tmp_path, date(2026, 7, 1)).version == "2026-07"
    assert tariff_for(tmp_path, date(2026, 11, 1), "2026-01").version == "2026-01"
    with pytest.raises(TariffError, match="no tariff .* applies to 2025-12"):
        tariff_for(tmp_path, date(2025, 12, 1))


def some_usage(registry) -> None:
    with registry.session() as session:
        record(session, reading("2026-11-02T10:00:00", cpu_s=0, started="2026-11-02T10:00:00"))
        record(session, reading("2026-11-02T13:20:00", cpu_s=4321.5, memory=700_000_000, started="2026-11-02T10:00:00"))
        record(session, reading("2026-11-03T09:00:00", cpu_s=77, user="carol", container="c2", started="2026-11-03T08:00:00"))
        session.scalar(select(Project).where(Project.slug == "alpha")).billing = {"organisation_type": "private",
                                                                                 "monthly_budget": "10.00"}


@pytest.mark.parametrize("kind", ["academic", "public", "private"])
def test_invoice_totals_equal_the_sum_of_the_lines_under_the_tariff(projects, kind):
    some_usage(projects)
    tariff = load_tariff(TARIFFS / "2026-01.toml")
    with projects.session() as session:
        usage = month_usage(session, "alpha", date(2026, 11, 1), today=date(2026, 12, 1))
    bill = price(usage.totals(), tariff, kind)
    assert [line.resource.key for line in bill.lines] == list(RESOURCE_KEYS)
    for line in bill.lines:
        assert line.unit_price == tariff.prices[kind][line.resource.key]
        assert line.amount == (line.quantity * line.unit_price).quantize(Decimal("0.01"))
    assert bill.total == sum(line.amount for line in bill.lines)
    cpu = next(line for line in bill.lines if line.resource.key == "cpu_hours")
    assert cpu.quantity == Decimal("1.222")  # (4321.5 + 77) s of CPU = 1.2218 h, to 3 decimals
    counts = [line for line in bill.lines if line.resource.whole]
    assert counts and all(str(line.quantity).isdigit() for line in counts)  # requests, reviews: "3", never "3.000"


@pytest.mark.slow
def test_enclave_usage_prints_a_table_csv_and_json(projects):
    some_usage(projects)
    env = {"ENCLAVE_TARIFFS_DIR": str(TARIFFS)}
    table = projects.cli("usage", "--project", "alpha", "--month", "2026-11", **env)
    assert table.returncode == 0, table.stderr
    assert "alice" in table.stdout and "carol" in table.stdout and "tariff 2026-01 (private)" in table.stdout
    as_json = json.loads(projects.cli("usage", "--project", "alpha", "--month", "2026-11", "--format", "json", **env).stdout)
    assert as_json["tariff"] == "2026-01" and as_json["organisation_type"] == "private"
    assert Decimal(as_json["total"]) == sum(Decimal(line["amount"]) for line in as_json["lines"])
    assert as_json["monthly_budget"] == "10.00"
    rows = list(csv.DictReader(io.StringIO(projects.cli("usage", "--project", "alpha", "--month", "2026-11", "--format", "csv",
                                                        **env).stdout)))
    assert [row["member"] for row in rows] == ["alice", "carol", "(project)", "total"]
    assert Decimal(rows[-1]["cost_EUR"]) == Decimal(as_json["total"])


@pytest.mark.slow
def test_enclave_usage_refuses_bad_input_with_one_line(projects):
    bad_month = projects.cli("usage", "--project", "alpha", "--month", "2026-13")
    assert bad_month.returncode == 2 and "month '2026-13' is not YYYY-MM" in bad_month.stderr
    unknown = projects.cli("usage", "--project", "nope", "--month", "2026-11")
    assert unknown.returncode == 2 and "there is no project 'nope'" in unknown.stderr


@pytest.mark.slow
def test_enclave_invoice_writes_the_document_and_records_its_hash(projects, tmp_path):
    some_usage(projects)
    out = tmp_path / "invoices" / "alpha-2026-11.html"
    done = projects.cli("invoice", "--project", "alpha", "--month", "2026-11", "--out", str(out),
                        ENCLAVE_TARIFFS_DIR=str(TARIFFS))
    assert done.returncode == 0, done.stderr
    document = out.read_bytes()
    digest = hashlib.sha256(document).hexdigest()
    assert f"sha256 {digest}" in done.stdout
    text = document.decode()
    assert "2026-01" in text and "private" in text and "<script" not in text and "http" not in text.split("<body>")[1]
    with projects.session() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "usage.invoice"))
    assert event.project == "alpha" and event.details["sha256"] == digest and event.details["tariff"] == "2026-01"
    json_total = json.loads(projects.cli("usage", "--project", "alpha", "--month", "2026-11", "--format", "json",
                                         ENCLAVE_TARIFFS_DIR=str(TARIFFS)).stdout)["total"]
    assert event.details["total"] == json_total and f">{json_total}<" in text
    assert projects.cli("audit", "verify").returncode == 0


@pytest.mark.slow
def test_a_failed_invoice_leaves_no_file(projects, tmp_path):
    out = tmp_path / "x.html"
    failed = projects.cli("invoice", "--project", "alpha", "--month", "2026-11", "--out", str(out), "--tariff", "1999-01",
                          ENCLAVE_TARIFFS_DIR=str(TARIFFS))
    assert failed.returncode == 2 and "no tariff file" in failed.stderr
    assert list(Path(tmp_path).glob("*x.html*")) == []
