"""The public catalogue: the catalog's tables grouped into datasets, each column with what a project receives.

Built only from descriptions — the catalog's role file and Table Schemas (:mod:`pseudonymizer.catalog`)
and ``datasets.toml`` (producers, coverage, HealthDCAT-AP terms). It never opens a source file's
contents, so no data value can reach a catalogue page or export; the only thing read about a
source is its size on disk (``byte_size``), when the sources folder is known.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pseudonymizer.catalog import Catalog, Column, Table, load_catalog
from pseudonymizer.coarsening import RULES

from .errors import PortalError

DEFAULT_DATASETS = Path(__file__).resolve().parent / "datasets.toml"

RECEIVED = {
    "direct": "never: dropped from every extract",
    "linkage": "pseudonymised: a keyed pseudonym valid in this project only",
    "attribute": "kept as in the source",
}


@dataclass(frozen=True)
class Agent:
    key: str
    name: str
    homepage: str
    email: str
    publisher_type: str
    note: str
    trusted_data_holder: bool


@dataclass(frozen=True)
class ColumnEntry:
    name: str
    type: str
    description: str
    role: str
    received: str  # what a project receives, in words
    note: str

    @property
    def requestable(self) -> bool:
        return self.role != "direct"


@dataclass(frozen=True)
class Link:
    """Two tables that join: by a declared foreign key, or because their pseudonyms share a domain."""

    from_table: str
    from_columns: tuple[str, ...]
    to_table: str
    to_columns: tuple[str, ...]
    how: str


@dataclass(frozen=True)
class TableEntry:
    name: str
    title: str
    description: str
    dataset: str
    columns: tuple[ColumnEntry, ...]
    primary_key: tuple[str, ...]
    byte_size: int | None  # of the source file, when the sources folder is known

    def column(self, name: str) -> ColumnEntry:
        for column in self.columns:
            if column.name == name:
                return column
        raise PortalError(f"column {name!r} is not in table {self.name}",
                          f"known columns: {', '.join(c.name for c in self.columns)}")


@dataclass(frozen=True)
class Dataset:
    key: str
    title: str
    description: str
    producer: Agent
    tables: tuple[str, ...]
    keywords: tuple[str, ...]
    themes: tuple[str, ...]
    health_categories: tuple[str, ...]
    health_themes: tuple[str, ...]
    temporal_start: date | None


@dataclass(frozen=True)
class Catalogue:
    title: str
    description: str
    homepage: str
    language: str
    applicable_legislation: str
    publisher: Agent
    agents: dict[str, Agent]
    datasets: dict[str, Dataset]
    tables: dict[str, TableEntry]
    links: tuple[Link, ...]
    source_catalog: Catalog

    def dataset(self, key: str) -> Dataset:
        try:
            return self.datasets[key]
        except KeyError:
            raise PortalError(f"dataset {key!r} is not in the catalogue",
                              f"known datasets: {', '.join(self.datasets)}") from None

    def table(self, name: str) -> TableEntry:
        try:
            return self.tables[name]
        except KeyError:
            raise PortalError(f"table {name!r} is not in the catalogue",
                              f"known tables: {', '.join(sorted(self.tables))}") from None

    def links_of(self, table: str) -> list[Link]:
        return [link for link in self.links if table in (link.from_table, link.to_table)]


def received(column: Column) -> str:
    if column.role == "quasi":
        return f"coarsened: {RULES[column.rule].description}"
    return RECEIVED[column.role]


def load_catalogue(catalog_path: Path, datasets_path: Path = DEFAULT_DATASETS,
                   sources_dir: Path | None = None) -> Catalogue:
    """Read the catalog and the datasets file; every table must belong to exactly one dataset."""
    catalog = load_catalog(catalog_path)
    try:
        spec = tomllib.loads(datasets_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PortalError(f"datasets file {datasets_path} does not exist",
                          "set ENCLAVE_PORTAL_DATASETS to the file describing the catalog's datasets") from None
    except tomllib.TOMLDecodeError as exc:
        raise PortalError(f"datasets file {datasets_path} is not valid TOML ({exc})", "fix its syntax") from None
    where = str(datasets_path)
    agents = {key: _agent(where, key, value) for key, value in spec.get("agents", {}).items()}
    head = spec.get("catalogue", {})
    datasets = {key: _dataset(where, key, value, agents) for key, value in spec.get("datasets", {}).items()}
    owner: dict[str, str] = {}
    for dataset in datasets.values():
        for table in dataset.tables:
            if table not in catalog.tables:
                raise PortalError(f"{where}: dataset {dataset.key!r} names table {table!r}, which the catalog "
                                  f"{catalog.path} lacks", f"known tables: {', '.join(sorted(catalog.tables))}")
            if table in owner:
                raise PortalError(f"{where}: table {table} is in datasets {owner[table]!r} and {dataset.key!r}",
                                  "put each table in one dataset")
            owner[table] = dataset.key
    orphans = sorted(set(catalog.tables) - set(owner))
    if orphans:
        raise PortalError(f"{where}: table(s) {', '.join(orphans)} of the catalog belong to no dataset",
                          "add them to a dataset's tables")
    tables = {name: _table(catalog.tables[name], owner[name], sources_dir) for name in catalog.tables}
    return Catalogue(
        title=_text(where, "catalogue.title", head.get("title")),
        description=_text(where, "catalogue.description", head.get("description")),
        homepage=_optional_text(where, "catalogue.homepage", head.get("homepage")),
        language=_text(where, "catalogue.language", head.get("language")),
        applicable_legislation=_text(where, "catalogue.applicable_legislation", head.get("applicable_legislation")),
        publisher=_ref(where, "catalogue.publisher", head.get("publisher"), agents),
        agents=agents, datasets=datasets, tables=tables, links=tuple(_links(catalog)), source_catalog=catalog,
    )


def _text(where: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PortalError(f"{where}: {field} is missing or empty", f"write {field} as a non-empty string")
    return value


def _texts(where: str, field: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise PortalError(f"{where}: {field} must be a non-empty list of strings", f"write e.g. {field} = [\"...\"]")
    return tuple(value)


def _ref(where: str, field: str, key: object, agents: dict[str, Agent]) -> Agent:
    if key not in agents:
        raise PortalError(f"{where}: {field} = {key!r} is not an agent", f"known agents: {', '.join(agents)}")
    return agents[key]  # type: ignore[index]


def _optional_text(where: str, key: str, value) -> str:
    """A text that may be left out ("": the deployment's own address, known only when serving)."""
    return "" if value is None else _text(where, key, value)


def _agent(where: str, key: str, spec: dict) -> Agent:
    trusted = spec.get("trusted_data_holder")
    if not isinstance(trusted, bool):
        raise PortalError(f"{where}: agents.{key}.trusted_data_holder must be true or false", "write it unquoted")
    return Agent(key=key, name=_text(where, f"agents.{key}.name", spec.get("name")),
                 homepage=_optional_text(where, f"agents.{key}.homepage", spec.get("homepage")),
                 email=_text(where, f"agents.{key}.email", spec.get("email")),
                 publisher_type=_text(where, f"agents.{key}.publisher_type", spec.get("publisher_type")),
                 note=_text(where, f"agents.{key}.note", spec.get("note")), trusted_data_holder=trusted)


def _dataset(where: str, key: str, spec: dict, agents: dict[str, Agent]) -> Dataset:
    start = spec.get("temporal_start")
    if start is not None and not isinstance(start, date):
        raise PortalError(f"{where}: datasets.{key}.temporal_start is not a date", "write it as YYYY-MM-DD, unquoted")
    return Dataset(
        key=key, title=_text(where, f"datasets.{key}.title", spec.get("title")),
        description=_text(where, f"datasets.{key}.description", spec.get("description")),
        producer=_ref(where, f"datasets.{key}.producer", spec.get("producer"), agents),
        tables=_texts(where, f"datasets.{key}.tables", spec.get("tables")),
        keywords=_texts(where, f"datasets.{key}.keywords", spec.get("keywords")),
        themes=_texts(where, f"datasets.{key}.themes", spec.get("themes")),
        health_categories=_texts(where, f"datasets.{key}.health_categories", spec.get("health_categories")),
        health_themes=_texts(where, f"datasets.{key}.health_themes", spec.get("health_themes")),
        temporal_start=start,
    )


def _table(table: Table, dataset: str, sources_dir: Path | None) -> TableEntry:
    import json

    description = json.loads(table.schema_path.read_text(encoding="utf-8")).get("description", "")
    columns = tuple(ColumnEntry(name=c.name, type=c.type, description=c.description, role=c.role,
                                received=received(c), note=c.note) for c in table.columns)
    return TableEntry(name=table.name, title=table.title, description=description, dataset=dataset,
                      columns=columns, primary_key=table.primary_key, byte_size=_source_size(table, sources_dir))


def _source_size(table: Table, sources_dir: Path | None) -> int | None:
    if sources_dir is None:
        return None
    for suffix in (".parquet", ".csv"):
        path = sources_dir / f"{table.source}{suffix}"
        if path.is_file():
            return path.stat().st_size
    return None


def _links(catalog: Catalog) -> list[Link]:
    links = []
    for table in catalog.tables.values():
        for fk in table.foreign_keys:
            reference = fk.get("reference", {})
            target = reference.get("resource") or table.name
            if target in catalog.tables:
                links.append(Link(table.name, tuple(_listed(fk.get("fields"))), target,
                                  tuple(_listed(reference.get("fields"))), fk.get("description") or "foreign key"))
    # Linkage columns of one domain get the same pseudonyms within a project: they join too.
    by_domain: dict[str, list[tuple[str, str]]] = {}
    for table in catalog.tables.values():
        for column in table.columns:
            if column.role == "linkage":
                by_domain.setdefault(column.domain or column.name, []).append((table.name, column.name))
    declared = {(link.from_table, link.to_table) for link in links} | {(link.to_table, link.from_table) for link in links}
    for domain, members in by_domain.items():
        for i, (t1, c1) in enumerate(members):
            for t2, c2 in members[i + 1:]:
                if t1 != t2 and (t1, t2) not in declared:
                    links.append(Link(t1, (c1,), t2, (c2,), f"same pseudonyms (domain {domain})"))
    return links


def _listed(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])
