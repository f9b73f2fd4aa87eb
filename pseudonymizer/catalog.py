"""The table catalog: every source column's type (from its Frictionless Table Schema) and role.

A catalog is one TOML *role file* naming, for each source table, its Table Schema JSON file and
the role of each of its columns:

- ``direct``: a direct identifier (NIR, name, address, phone, e-mail...), always dropped;
- ``linkage``: an identifier linking rows across sources, replaced by a keyed pseudonym. Columns
  of the same ``domain`` hold the same kind of identifier, so their pseudonyms join. A domain is
  declared once in ``[domains.NAME]``: ``nir = true`` when its ids derive from the NIR, and its
  ``placeholders``, the exact values that are no one (a column may declare its own). Nothing is
  guessed from digits;
- ``quasi``: a quasi-identifier, coarsened by a named ``rule`` (see :mod:`pseudonymizer.coarsening`);
- ``attribute``: kept as it is when the project is authorised to see it.

A column of the schema without a role, or a role for a column the schema lacks, is an error:
nothing is ever kept by default.

A table's *fictive flags* say which of its ids are no one, each for the columns it speaks about::

    fictive = { column = "NIR_RET", valid = ["0"], applies_to = ["NIR_ANO_17"] }
    fictive = [{ column = "BEN_CDI_NIR", valid = ["00"], applies_to = ["BEN_NIR_PSA"] }, ...]

On a newborn's PMSI stay, NIR_RET speaks about the child's NIR_ANO_17, not about the mother's
NIR_ANO_MAM on the same row. Without ``applies_to`` a flag speaks about the table's linkage columns
of NIR-derived domains. A flag's values are read in every form exports write them, in any case: a
declared ``"0"`` also matches ``False``/``N``/``non``..., a ``"1"`` ``True``/``O``/``oui``...
``no_one = [...]`` lists the codes that make an id no one (BEN_CDI_NIR: 01, 03...); for a two-valued
flag (``valid = ["0"]``) it is the other value's forms. Then any other value stops the run with an
error naming it (a flag misread must not silently cut links); without it, every value that is not
valid makes an id no one.

Source columns a table's schema lacks are refused, unless the table names them in ``extras = [...]``
(columns real exports are known to carry, e.g. DCT_FOR_AMO in ER_PRS_F) or declares (or the catalog,
as the default of its tables) ``extra = "drop"``: then they are left out, and listed.

A table whose name holds ``aa`` (two-digit year, ``T_MCOaaC``) or ``AAAA`` (four digits) describes
a family: ``T_MCO19C``, ``T_MCO22C``... are read with the same schema and roles. ``include = [...]``
reads more role files (one per product) into the same catalog.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .coarsening import RULES
from .dialect import Dialect
from .errors import PseudonymizerError

ROLES = ("direct", "linkage", "quasi", "attribute")
# What happens to an id that is no one (fictive NIR, placeholder), in the columns its flag speaks about:
# keep: pseudonymised as usual, linking as in the source (the status column and counts say so);
# null: the pseudonym is left empty; random: a pseudonym of its own, the same on every re-run;
# drop: the whole row is removed.
FICTIVE_POLICIES = ("keep", "null", "random", "drop")
# The default when a catalog sets none: people who share a fictive NIR stay apart (keep would merge
# them into one pseudonym), and each row still counts as one person's (null would leave it empty).
DEFAULT_FICTIVE_POLICY = "random"
# The forms exports write a flag's two values in (0/1, True/False, O/N for oui/non...), any case.
FLAG_FORMS = (("0", "false", "f", "n", "non", "no"), ("1", "true", "t", "o", "oui", "y", "yes"))
EXTRA_POLICIES = ("error", "drop")
# Frictionless field types we read, and the formats we know beyond "default" (ISO 8601).
TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "year", "yearmonth")
STATUS_COLUMN = "ID_STATUS"
_YEAR_TOKENS = (("AAAA", r"(?:AAAA|\d{4})"), ("aa", r"(?:aa|\d{2})"))


@dataclass(frozen=True)
class Domain:
    """A kind of identifier: pseudonyms of one domain join across tables."""

    name: str
    nir: bool = False  # derived from the NIR: a table's fictive flag decides whether it is real
    placeholders: tuple[str, ...] = ()  # exact values that are no one
    description: str = ""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    format: str
    role: str
    description: str = ""
    rule: str | None = None  # quasi only
    domain: str | None = None  # linkage only
    placeholders: tuple[str, ...] = ()  # linkage only: exact values that are no one
    note: str = ""  # why a role or an override was chosen
    nomenclature: str = ""  # the Table Schema's code list, if any


@dataclass(frozen=True)
class FictiveFlag:
    """A column whose code says whether some ids of the row are real (BEN_CDI_NIR, PMSI NIR_RET)."""

    column: str
    valid: tuple[str, ...]
    applies_to: tuple[str, ...]  # the linkage columns it speaks about
    no_one: tuple[str, ...] = ()  # the declared codes of an id that is no one; () = any value not valid

    @property
    def valid_forms(self) -> tuple[str, ...]:
        """Every way an export may write a valid value: "0" is also False, false, N, non..."""
        return _forms(self.valid)

    @property
    def no_one_forms(self) -> tuple[str, ...]:
        """Every way an export may write a value of no one: the declared codes, else for a two-valued
        flag the other value's forms ("1", True, O, oui...); () when the flag declares none."""
        if self.no_one:
            return _forms(self.no_one)
        groups = {_group(v) for v in self.valid}
        if len(groups) == 1 and None not in groups:
            (group,) = groups
            return _forms([next(other[0] for other in FLAG_FORMS if other is not group)])
        return ()

    @property
    def no_one_codes(self) -> tuple[str, ...]:
        """The values of no one as the catalog writes them: the declared codes, else the other value ("1")."""
        return self.no_one or self.no_one_forms[:1]

    @property
    def closed(self) -> bool:
        """True when every value the flag may take is known: any other one is an error."""
        return bool(self.no_one_forms)


def _group(value: str) -> tuple[str, ...] | None:
    return next((group for group in FLAG_FORMS if value.strip().lower() in group), None)


def _forms(values) -> tuple[str, ...]:
    """`values` in every form an export may write them: each case, and a 0/1 flag's other spellings."""
    forms = []
    for value in values:
        for form in (value, *(_group(value) or ())):
            forms += [form, form.lower(), form.upper(), form.capitalize()]
    return tuple(dict.fromkeys(forms))


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    source: str  # path stem under the sources folder, without .parquet / .csv
    schema_path: Path
    columns: tuple[Column, ...]
    flags: tuple[FictiveFlag, ...] = ()  # fictive flags, each scoped to its columns
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[dict, ...] = ()
    dialect: Dialect = Dialect()
    extra: str = "error"  # source columns the schema lacks: refuse, or drop (declared)
    extras: tuple[str, ...] = ()  # source columns the schema lacks that exports are known to carry: left out
    product: str = ""
    notes: tuple[str, ...] = ()  # usage notes for researchers (data dictionary)

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

    @property
    def family(self) -> re.Pattern | None:
        """For a table family (T_MCOaaC), the pattern of its members' names; else None."""
        pattern = re.escape(self.name)
        for token, years in _YEAR_TOKENS:
            pattern = pattern.replace(token, years)
        return re.compile(f"^{pattern}$") if pattern != re.escape(self.name) else None

    def describes(self, name: str) -> bool:
        return name == self.name or bool(self.family and self.family.match(name))


@dataclass(frozen=True)
class Catalog:
    path: Path
    tables: dict[str, Table] = field(default_factory=dict)
    fictive_policy: str = DEFAULT_FICTIVE_POLICY
    domains: dict[str, Domain] = field(default_factory=dict)
    status_column: bool = False

    def table(self, name: str) -> Table:
        """The table `name`, or the family describing it (T_MCO22C -> T_MCOaaC)."""
        if name in self.tables:
            return self.tables[name]
        for table in self.tables.values():
            if table.describes(name):
                return table
        raise PseudonymizerError(
            f"table {name!r} is not in the catalog {self.path}",
            f"known tables: {', '.join(sorted(self.tables))}",
        )


def read_role_file(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PseudonymizerError(f"catalog {path} does not exist", "pass the path of a role file (TOML)") from None
    except tomllib.TOMLDecodeError as exc:
        raise PseudonymizerError(f"catalog {path} is not valid TOML: {exc}", "fix the role file's syntax") from None


def load_catalog(path: str | Path, schema_dir: str | Path | None = None) -> Catalog:
    """Read a role file (and those it includes) and the Table Schemas it names; raise on any gap."""
    path = Path(path)
    spec = read_role_file(path)
    base = Path(schema_dir) if schema_dir else path.parent / spec.get("schema_dir", ".")
    policy = spec.get("fictive_policy", DEFAULT_FICTIVE_POLICY)
    if policy not in FICTIVE_POLICIES:
        raise PseudonymizerError(
            f"{path}: fictive_policy = {policy!r} is not one of {', '.join(FICTIVE_POLICIES)}",
            "keep (link as in the source, marked), null, random (deterministic, links nothing) or drop (remove the rows)",
        )
    dialect = Dialect().merged(f"{path} [dialect]", spec.get("dialect", {}))
    extra = spec.get("extra", "error")  # the tables' default; each may declare its own
    parts = [(path, spec)] + [(path.parent / inc, read_role_file(path.parent / inc)) for inc in spec.get("include", [])]
    domains: dict[str, Domain] = {}
    for part_path, part in parts:
        for name, dspec in part.get("domains", {}).items():
            if name in domains:
                raise PseudonymizerError(f"{part_path}: domain {name} is declared twice", "declare each domain once")
            domains[name] = _domain(part_path, name, dspec)
    tables: dict[str, Table] = {}
    for part_path, part in parts:
        for name, tspec in part.get("tables", {}).items():
            if name in tables:
                raise PseudonymizerError(f"{part_path}: table {name} is described twice", "describe each table once")
            tables[name] = _load_table(part_path, base, name, {"extra": extra, **tspec}, domains, dialect, part.get("product", ""))
    if not tables:
        raise PseudonymizerError(f"catalog {path} has no [tables.NAME] section", "describe at least one table")
    return Catalog(path=path, tables=tables, fictive_policy=policy, domains=domains, status_column=bool(spec.get("status_column", False)))


def _domain(path: Path, name: str, spec: dict) -> Domain:
    unknown = set(spec) - {"nir", "placeholders", "description"}
    if unknown or not isinstance(spec.get("nir"), bool):
        raise PseudonymizerError(
            f"{path} [domains.{name}]: needs nir = true or false" + (f"; unknown key(s) {', '.join(sorted(unknown))}" if unknown else ""),
            "nir = true when the ids derive from the NIR (a fictive flag applies); placeholders = [exact values that are no one]",
        )
    return Domain(name, spec["nir"], tuple(spec.get("placeholders", ())), spec.get("description", ""))


def _load_table(catalog_path: Path, schema_dir: Path, name: str, spec: dict, domains: dict[str, Domain], dialect: Dialect, product: str) -> Table:
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
    columns = tuple(_column(where, f, roles[f["name"]], domains) for f in fields)
    flags = _flags(where, spec.get("fictive"), columns, domains)
    extra = spec.get("extra", "error")
    if extra not in EXTRA_POLICIES:
        raise PseudonymizerError(f"{where}: extra = {extra!r}", "use extra = \"error\" (refuse extra source columns) or \"drop\" (ignore them)")
    if STATUS_COLUMN in schema_names:
        raise PseudonymizerError(f"{where}: the schema has a column named {STATUS_COLUMN}, the name of the id status column", "rename it in the schema")
    pk = schema.get("primaryKey", [])
    return Table(
        name=name,
        title=spec.get("title", schema.get("title", "")),
        source=spec.get("source", name),
        schema_path=schema_path,
        columns=columns,
        flags=flags,
        primary_key=tuple([pk] if isinstance(pk, str) else pk),
        foreign_keys=tuple(schema.get("foreignKeys", [])),
        dialect=dialect.merged(f"{where} dialect", spec.get("dialect", {})),
        extra=extra,
        extras=_extras(where, spec.get("extras", []), schema_names),
        product=spec.get("product", product),
        notes=tuple(spec.get("notes", ())),
    )


def _flags(where: str, spec, columns: tuple[Column, ...], domains: dict[str, Domain]) -> tuple[FictiveFlag, ...]:
    """The table's fictive flags (`fictive = {...}` or a list of them), each checked and scoped."""
    if spec is None:
        return ()
    names = [c.name for c in columns]
    linkage = [c for c in columns if c.role == "linkage"]
    flags = []
    for item in spec if isinstance(spec, list) else [spec]:
        unknown = set(item) - {"column", "valid", "no_one", "applies_to"} if isinstance(item, dict) else {"?"}
        if (unknown or not isinstance(item.get("column"), str) or not isinstance(item.get("valid"), list) or not item["valid"]
                or not isinstance(item.get("no_one", []), list)):
            raise PseudonymizerError(
                f"{where}: fictive = {item!r} is not {{ column = ..., valid = [...], no_one = [...], applies_to = [...] }}",
                'e.g. fictive = { column = "NIR_RET", valid = ["0"], applies_to = ["NIR_ANO_17"] }',
            )
        both = sorted(set(_forms(map(str, item["valid"]))) & set(_forms(map(str, item.get("no_one", [])))))
        if both:
            raise PseudonymizerError(f"{where}: the fictive flag {item['column']} lists {', '.join(both)} both as valid and as no_one",
                                     "keep each value in one list")
        if item["column"] not in names:
            raise PseudonymizerError(f"{where}: fictive column {item['column']!r} is not in the schema", "fix 'fictive'")
        if "applies_to" in item:
            applies_to = tuple(item["applies_to"])
            wrong = [n for n in applies_to if n not in {c.name for c in linkage}]
            if wrong or not applies_to:
                raise PseudonymizerError(
                    f"{where}: the fictive flag {item['column']} applies_to {', '.join(wrong) or 'nothing'}, which is not a linkage column of the table",
                    f"name the linkage columns it speaks about, among: {', '.join(c.name for c in linkage) or '(none)'}",
                )
        else:
            undeclared = sorted({c.domain for c in linkage if c.domain not in domains})
            if undeclared:
                raise PseudonymizerError(
                    f"{where}: the fictive flag {item['column']} applies to NIR-derived domains, and domain(s) {', '.join(undeclared)} are not declared",
                    "declare each in [domains.NAME] with nir = true or false, or scope the flag: applies_to = [columns]",
                )
            applies_to = tuple(c.name for c in linkage if domains[c.domain].nir)
        flags.append(FictiveFlag(item["column"], tuple(str(v) for v in item["valid"]), applies_to, tuple(str(v) for v in item.get("no_one", ()))))
    return tuple(flags)


def _extras(where: str, extras, schema_names: list[str]) -> tuple[str, ...]:
    if not isinstance(extras, list) or not all(isinstance(n, str) for n in extras):
        raise PseudonymizerError(f"{where}: extras = {extras!r} is not a list of column names", 'e.g. extras = ["DCT_FOR_AMO"]')
    clash = [n for n in extras if n in schema_names]
    if clash:
        raise PseudonymizerError(f"{where}: extras {', '.join(clash)} are in the Table Schema", "give them a role instead, and remove them from extras")
    return tuple(extras)


def _column(where: str, field_spec: dict, role_spec: str | dict, domains: dict[str, Domain]) -> Column:
    if isinstance(role_spec, str):
        role_spec = {"role": role_spec}
    name = field_spec["name"]
    role = role_spec.get("role")
    if role not in ROLES:
        raise PseudonymizerError(f"{where}: column {name} has role {role!r}", f"use one of {', '.join(ROLES)}")
    if "placeholder" in role_spec:
        raise PseudonymizerError(
            f"{where}: column {name} has a 'placeholder' pattern", "declare the exact values that are no one: placeholders = [\"XXXXXXXXXXXXXXXXX\"]"
        )
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
    fmt = role_spec.get("format", field_spec.get("format", "default")) or "default"
    if rule is not None:
        RULES[rule].check_type(where, name, ftype, fmt)
    domain = role_spec.get("domain", name) if role == "linkage" else None
    placeholders = ()
    if role == "linkage":
        default = domains[domain].placeholders if domain in domains else ()
        placeholders = tuple(role_spec.get("placeholders", default))
    return Column(
        name=name,
        type=ftype,
        format=fmt,
        role=role,
        description=field_spec.get("description", ""),
        rule=rule,
        domain=domain,
        placeholders=placeholders,
        note=role_spec.get("note", ""),
        nomenclature=field_spec.get("nomenclature", "") or "",
    )


def with_dialect(catalog: Catalog, overrides: dict, where: str = "--dialect") -> Catalog:
    """The catalog with `overrides` (one run's dialect keys) applied to every table: single values
    replace the catalog's, lists (date_formats, null_values...) add to them."""
    if not overrides:
        return catalog
    tables = {n: replace(t, dialect=t.dialect.extended(where, overrides)) for n, t in catalog.tables.items()}
    return replace(catalog, tables=tables)


def parse_dialect_options(items) -> dict:
    """`KEY=VALUE` items (`delimiter=;`, `encoding=latin-1`, `date_formats=%d/%m/%Y,%d%b%Y:%H:%M:%S`)."""
    known = {f.name: f.type for f in fields(Dialect)}
    out: dict = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in known:
            raise PseudonymizerError(f"dialect option {item!r} is not KEY=VALUE with a known key", f"keys: {', '.join(known)}")
        if key == "booleans_in_integers":
            out[key] = value.strip().lower() in ("1", "true", "yes")
        elif key in ("delimiter", "quote", "decimal", "encoding"):
            out[key] = "\t" if value == "\\t" else value
        else:
            out[key] = out.get(key, ()) + (tuple(value.split(",")) if value else ())  # repeated keys add up
    return out
