"""Versioned tariffs: ``tariffs/<version>.toml``, the price of one unit of each resource per
organisation type, read as exact decimals.

A month is priced with the newest tariff whose ``valid_from`` is on or before the month's first
day (or one named explicitly); the invoice names its version. Tariff files are never edited once
an invoice names them: a new price is a new file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from enclave.errors import EnclaveError
from enclave.models import OrganisationType


@dataclass(frozen=True)
class Resource:
    key: str
    label: str
    unit: str
    whole: bool = False  # counted in whole units (requests, reviews): shown and priced without decimals

    def shown(self, quantity) -> str:
        """``quantity`` as people read it: whole units for counts, three decimals otherwise."""
        return f"{quantity:.0f}" if self.whole else f"{quantity:.3f}"


RESOURCES = (
    Resource("cpu_hours", "CPU time", "CPU-hour"),
    Resource("memory_limit_gib_hours", "memory reserved (limit)", "GiB-hour"),
    Resource("memory_used_gib_hours", "memory used", "GiB-hour"),
    Resource("server_hours", "server running time", "hour"),
    Resource("workspace_gib_days", "workspace storage", "GiB-day"),
    Resource("extract_gib_days", "extract storage", "GiB-day"),
    Resource("egress_requests", "egress requests", "request", whole=True),
    Resource("egress_reviews", "egress reviews", "review", whole=True),
)
RESOURCE_KEYS = tuple(r.key for r in RESOURCES)


@dataclass(frozen=True)
class Tariff:
    version: str
    valid_from: date
    currency: str
    prices: dict[str, dict[str, Decimal]]  # organisation type -> resource -> price of one unit
    path: Path

    def price(self, organisation_type: str, resource: str) -> Decimal:
        return self.prices[organisation_type][resource]


class TariffError(EnclaveError):
    """A tariff file that cannot be used, or no tariff for a month."""


def load_tariff(path: Path) -> Tariff:
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TariffError(f"no tariff file {path}", "list the tariffs with `ls tariffs/`") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TariffError(f"{path}: not valid TOML ({exc})", "fix the syntax") from None
    for name, kind in (("version", str), ("valid_from", date), ("currency", str), ("prices", dict)):
        if not isinstance(spec.get(name), kind):
            raise TariffError(f"{path}: {name} is missing or not a {kind.__name__}", "see tariffs/2026-01.toml")
    if spec["version"] != path.stem:
        raise TariffError(f"{path}: version {spec['version']!r} differs from the file name", f"name the file {spec['version']}.toml")
    prices: dict[str, dict[str, Decimal]] = {}
    for kind in OrganisationType:
        table = spec["prices"].get(kind.value)
        if not isinstance(table, dict):
            raise TariffError(f"{path}: no [prices.{kind.value}]", "give a price list for every organisation type")
        missing = [key for key in RESOURCE_KEYS if key not in table]
        unknown = sorted(set(table) - set(RESOURCE_KEYS))
        if missing or unknown:
            what = f"no price for {', '.join(missing)}" if missing else f"unknown resource {unknown[0]}"
            raise TariffError(f"{path}: [prices.{kind.value}]: {what}", f"price exactly: {', '.join(RESOURCE_KEYS)}")
        prices[kind.value] = {key: _price(path, kind.value, key, table[key]) for key in RESOURCE_KEYS}
    return Tariff(spec["version"], spec["valid_from"], spec["currency"], prices, path)


def _price(path: Path, kind: str, key: str, value: object) -> Decimal:
    if not isinstance(value, str):
        raise TariffError(f"{path}: prices.{kind}.{key} = {value!r} is not a string", f'write it quoted, e.g. {key} = "0.020"')
    try:
        price = Decimal(value)
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price < 0:
        raise TariffError(f"{path}: prices.{kind}.{key} = {value!r} is not a price", 'write e.g. "0.020"')
    return price


def tariff_for(folder: Path, month: date, version: str | None = None) -> Tariff:
    """The tariff named ``version``, else the newest valid on the month's first day."""
    if version is not None:
        return load_tariff(folder / f"{version}.toml")
    tariffs = [load_tariff(path) for path in sorted(folder.glob("*.toml"))]
    valid = [t for t in tariffs if t.valid_from <= month.replace(day=1)]
    if not valid:
        raise TariffError(f"no tariff in {folder} applies to {month:%Y-%m}",
                          "add a tariff file whose valid_from is on or before the month's first day")
    return max(valid, key=lambda t: t.valid_from)
