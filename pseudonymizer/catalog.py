"""The table catalog: every source column's type (from its Frictionless Table Schema) and role.

A catalog is one TOML *role file* naming, for each source table, its Table Schema JSON file and
the role of each of its columns:

- ``direct``: a direct identifier (NIR, name, address, phone, e-mail...), always dropped;
- ``linkage``: an identifier linking rows across sources, replaced by a keyed pseudonym. Columns
  of the same ``domain`` hold the same kind of identifier, so their pseudonyms join;
- ``quasi``: a quasi-identifier, coarsened by a named ``rule`` (see :mod:`pseudonymizer.coarsening`);
- ``attribute``: kept as it is when the project is authorised to see it.

A column of the schema without a role, or a role for a column the schema lacks, is an error:
nothing is ever kept by default.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .coarsening import RULES
from .errors import PseudonymizerError

ROLES = ("direct", "linkage", "quasi", "attribute")
FICTIVE_POLICIES = ("drop", "random")
# Frictionless field types we read, and the formats we know beyond "default" (ISO 8601).
TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "year", "yearmonth")
# Placeholder identifiers ("XXXXXXXXXXXXXXXXX", "0000...", "9999...") are never real people.
DEFAULT_PLACEHOLDER = r"^(?:[Xx]+|0+|9+)$"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    format: str
    role: str
    description: str = ""
    rule: str | None = None  # quasi only
    domain: str | None = None  # linkage only
    placeholder: str = DEFAULT_PLACEHOLDER  # linkage only: regex of values that are no one
    note: str = ""  # why a role or an override was chosen


@dataclass(frozen=True)
class FictiveFlag:
    """A column whose code says whether the row's linkage ids are real (e.g. BEN_CDI_NIR)."""

    column: str
    valid: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    source: str  # path stem under the sources folder, without .parquet / .csv
    schema_path: Path
    columns: tuple[Column, ...]
    fictive: FictiveFlag | None = None
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[dict, ...] = ()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise PseudonymizerError(
            f"column {name!r} is not in table {self.name}",
            f"known columns: {', '.join(c.name for c in self.columns)}",
        )

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Catalog:
    path: Path
    tables: dict[str, Table] = field(default_factory=dict)
    fictive_policy: str = "drop"

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise PseudonymizerError(
                f"table {name!r} is not in the catalog {self.path}",
                f"known tables: {', '.join(sorted(self.tables))}",
            ) from None


def load_catalog(path: str | Path, schema_dir: str | Path | None = None) -> Catalog:
    """Read a role file and the Table Schemas it names; raise PseudonymizerError on any gap."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PseudonymizerError(f"catalog {path} does not exist", "pass the path of a role file (TOML)") from None
    except tomllib.TOMLDecodeError as exc:
        raise PseudonymizerError(f"catalog {path} is not valid TOML: {exc}", "fix the role file's syntax") from None
    base = Path(schema_dir) if schema_dir else path.parent / spec.get("schema_dir", ".")
    policy = spec.get("fictive_policy", "drop")
    if policy not in FICTIVE_POLICIES:
        raise PseudonymizerError(
            f"{path}: fictive_policy = {policy!r} is not one of {', '.join(FICTIVE_POLICIES)}",
            "use 'drop' (remove the rows) or 'random' (a unique random pseudonym per row)",
        )
    tables_spec = spec.get("tables")
    if not isinstance(tables_spec, dict) or not tables_spec:
        raise PseudonymizerError(f"catalog {path} has no [tables.NAME] section", "describe at least one table")
    tables = {name: _load_table(path, base, name, tspec) for name, tspec in tables_spec.items()}
    return Catalog(path=path, tables=tables, fictive_policy=policy)


def _load_table(catalog_path: Path, schema_dir: Path, name: str, spec: dict) -> Table:
    where = f"{catalog_path} [tables.{name}]"
    schema_path = schema_dir / spec.get("schema", f"{name}.json")
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PseudonymizerError(f"{where}: Table Schema {schema_path} does not exist", "fix 'schema' or schema_dir") from None
    except json.JSONDecodeError as exc:
        raise PseudonymizerError(f"{where}: Table Schema {schema_path} is not valid JSON ({exc})", "fix the schema file") from None
    roles = spec.get("columns", {})
    fields = schema.get("fields", [])
    schema_names = [f["name"] for f in fields]
    missing = [n for n in schema_names if n not in roles]
    if missing:
        raise PseudonymizerError(
            f"{where}: column(s) without a role: {', '.join(missing)}",
            f"give each a role ({', '.join(ROLES)}); no column is kept by default",
        )
    unknown = [n for n in roles if n not in schema_names]
    if unknown:
        raise PseudonymizerError(
            f"{where}: role given for column(s) not in {schema_path.name}: {', '.join(unknown)}",
            "remove them or fix their names",
        )
    columns = tuple(_column(where, f, roles[f["name"]]) for f in fields)
    fictive = None
    if "fictive" in spec:
        fictive = FictiveFlag(column=spec["fictive"]["column"], valid=tuple(spec["fictive"]["valid"]))
        if fictive.column not in schema_names:
            raise PseudonymizerError(f"{where}: fictive column {fictive.column!r} is not in the schema", "fix 'fictive'")
    pk = schema.get("primaryKey", [])
    return Table(
        name=name,
        title=spec.get("title", schema.get("title", "")),
        source=spec.get("source", name),
        schema_path=schema_path,
        columns=columns,
        fictive=fictive,
        primary_key=tuple([pk] if isinstance(pk, str) else pk),
        foreign_keys=tuple(schema.get("foreignKeys", [])),
    )


def _column(where: str, field_spec: dict, role_spec: str | dict) -> Column:
    if isinstance(role_spec, str):
        role_spec = {"role": role_spec}
    name = field_spec["name"]
    role = role_spec.get("role")
    if role not in ROLES:
        raise PseudonymizerError(f"{where}: column {name} has role {role!r}", f"use one of {', '.join(ROLES)}")
    ftype = role_spec.get("type", field_spec.get("type", "string"))
    if ftype not in TYPES:
        raise PseudonymizerError(
            f"{where}: column {name} has type {ftype!r}", f"supported types: {', '.join(TYPES)} (override with type = ...)"
        )
    rule = role_spec.get("rule")
    if role == "quasi" and rule not in RULES:
        raise PseudonymizerError(
            f"{where}: quasi-identifier {name} needs a rule, got {rule!r}", f"use one of {', '.join(RULES)}"
        )
    if role != "quasi" and rule is not None:
        raise PseudonymizerError(f"{where}: column {name} has a rule but role {role!r}", "rules apply to quasi columns only")
    if rule is not None:
        RULES[rule].check_type(where, name, ftype, role_spec.get("format", field_spec.get("format", "default")))
    return Column(
        name=name,
        type=ftype,
        format=role_spec.get("format", field_spec.get("format", "default")) or "default",
        role=role,
        description=field_spec.get("description", ""),
        rule=rule,
        domain=role_spec.get("domain", name) if role == "linkage" else None,
        placeholder=role_spec.get("placeholder", DEFAULT_PLACEHOLDER),
        note=role_spec.get("note", ""),
    )
