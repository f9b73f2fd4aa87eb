"""Extraction: authorised tables, columns and rows of the sources -> one project's extract folder.

    <out>/<TABLE>.parquet      pseudonymised, coarsened, only authorised columns and rows
    <out>/manifest.json        input and output hashes, row counts, drops by reason, roles, key version
    <out>/DATA_DICTIONARY.md   what each column is, for researchers

Everything is validated before the first row is read; tables are streamed batch by batch, so memory
is bounded by the batch size; the folder appears whole or not at all (see :mod:`.publish`).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from .catalog import FICTIVE_POLICIES, Catalog, Column, Table
from .coarsening import RULES, output_type
from .dictionary import write_dictionary
from .errors import PseudonymizerError
from .filters import Filter, parse_filter
from .keys import fingerprint, project_key
from .pseudonyms import Pseudonymizer, random_pseudonyms
from .publish import staging
from .reading import Source, arrow_type, check_source, find_source, iter_batches

MANIFEST_FORMAT = "enclave-extract/1"
DEFAULT_BATCH_ROWS = 1 << 18  # measured: bigger batches use more memory and are no faster


@dataclass
class TablePlan:
    table: Table
    source: Source
    output: list[Column]
    filters: list[Filter]

    @property
    def linkage(self) -> list[Column]:
        return [c for c in self.table.columns if c.role == "linkage"]

    @property
    def read(self) -> list[Column]:
        """Columns to read: the output ones and those the filters and id checks need."""
        wanted = {c.name for c in self.output} | {c.name for c in self.linkage} | {f.column for f in self.filters}
        if self.table.fictive:
            wanted.add(self.table.fictive.column)
        return [c for c in self.table.columns if c.name in wanted]

    def output_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _output_type(c)) for c in self.output])


@dataclass
class TableReport:
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"filter": 0, "fictive_id": 0, "placeholder_id": 0})
    randomised: int = 0


def _output_type(column: Column) -> pa.DataType:
    if column.role == "linkage":
        return pa.string()
    if column.role == "quasi":
        return output_type(column.rule, arrow_type(column))
    return arrow_type(column)


def parse_columns(specs: Iterable[str]) -> dict[str, list[str]]:
    """`TABLE.COLUMN` items (comma-separated allowed) -> {table: [columns]}; `TABLE.*` = all allowed."""
    chosen: dict[str, list[str]] = {}
    for spec in specs:
        for item in filter(None, (s.strip() for s in spec.split(","))):
            table, dot, column = item.partition(".")
            if not dot or not table or not column:
                raise PseudonymizerError(f"column {item!r} is not written TABLE.COLUMN", "e.g. --columns ER_PRS_F.EXE_SOI_DTD")
            chosen.setdefault(table, []).append(column)
    return chosen


@dataclass(frozen=True)
class Request:
    """What a project may see, checked against the catalog (no source read yet)."""

    tables: list[Table]
    output: dict[str, list[Column]]
    filters: dict[str, list[Filter]]


def check_request(
    catalog: Catalog,
    tables: list[str] | None = None,
    columns: dict[str, list[str]] | None = None,
    where: Iterable[str] = (),
) -> Request:
    """Every table, column and row filter of a request checked against the catalog."""
    names = list(tables) if tables else list(catalog.tables)
    columns = columns or {}
    for table in columns:
        if table not in names:
            raise PseudonymizerError(f"columns are named for table {table}, which is not among the extracted tables", "add it to the tables")
    chosen = [catalog.table(name) for name in names]
    filters = [parse_filter(w) for w in where]
    applied = {t.name: [f for f in filters if f.applies_to(t.name, t.names)] for t in chosen}
    for flt in filters:
        if flt.table is not None:
            catalog.table(flt.table).column(flt.column)  # names the unknown table or column
        hits = [t for t in chosen if flt in applied[t.name]]
        if not hits:
            raise PseudonymizerError(f"row filter {flt.text!r} applies to no extracted table", f"tables extracted: {', '.join(names)}")
        for table in hits:
            column = table.column(flt.column)
            flt.mask(column, pa.array([], arrow_type(column)))  # a value of the wrong type fails here
    output = {t.name: _authorised_columns(t, columns.get(t.name)) for t in chosen}
    return Request(tables=chosen, output=output, filters=applied)


def plan_extraction(
    catalog: Catalog,
    sources_dir: Path,
    tables: list[str] | None = None,
    columns: dict[str, list[str]] | None = None,
    where: Iterable[str] = (),
) -> list[TablePlan]:
    """Check the whole request against the catalog and the sources; read no data yet."""
    request = check_request(catalog, tables, columns, where)
    plans = []
    for table in request.tables:
        source = find_source(Path(sources_dir), table)
        check_source(source)
        plans.append(TablePlan(table, source, request.output[table.name], request.filters[table.name]))
    return plans


def _authorised_columns(table: Table, requested: list[str] | None) -> list[Column]:
    if requested is None or "*" in requested:
        return [c for c in table.columns if c.role != "direct"]
    chosen = []
    for name in requested:
        column = table.column(name)
        if column.role == "direct":
            raise PseudonymizerError(
                f"{table.name}.{name} is a direct identifier and is never extracted", "remove it from --columns"
            )
        chosen.append(column)
    order = table.names
    return sorted(set(chosen), key=lambda c: order.index(c.name))


def extract(
    catalog: Catalog,
    sources_dir: str | Path,
    project: str,
    out_dir: str | Path,
    master_key: bytes,
    key_version: int = 1,
    tables: list[str] | None = None,
    columns: dict[str, list[str]] | None = None,
    where: Iterable[str] = (),
    fictive_policy: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: bool = True,
    labels: dict[str, str] | None = None,
) -> dict:
    """Write the project's extract folder and return its manifest (also in manifest.json).

    `labels` are stored as they are in the manifest (provisioning records its request's fingerprint)."""
    policy = fictive_policy or catalog.fictive_policy
    if policy not in FICTIVE_POLICIES:
        raise PseudonymizerError(f"fictive-id policy {policy!r} is unknown", f"use one of {', '.join(FICTIVE_POLICIES)}")
    where = list(where)
    plans = plan_extraction(catalog, Path(sources_dir), tables, columns, where)
    key = project_key(master_key, project, key_version)
    manifest = {
        "format": MANIFEST_FORMAT,
        "project": project,
        "key_version": key_version,
        "key_fingerprint": fingerprint(key),
        "catalog_sha256": _sha256(catalog.path),
        "fictive_policy": policy,
        "filters": where,
        "labels": dict(labels or {}),
        "tables": {},
    }
    with staging(Path(out_dir)) as work, Pseudonymizer(key) as pseudonymizer, ThreadPoolExecutor(2) as pool:
        for plan in plans:
            source_hash = pool.submit(_sha256, plan.source.path)
            report = _extract_table(plan, work / f"{plan.table.name}.parquet", pseudonymizer, policy, batch_rows, progress, pool)
            manifest["tables"][plan.table.name] = _table_manifest(plan, report, source_hash.result(), work)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        write_dictionary(work / "DATA_DICTIONARY.md", manifest, plans)
    return manifest


def _extract_table(plan, path, pseudonymizer, policy, batch_rows, progress, pool) -> TableReport:
    report = TableReport()
    total = _row_count(plan.source)
    bar = tqdm(total=total, unit=" rows", unit_scale=True, desc=plan.table.name, disable=None if progress else True, leave=False)
    pending: Future | None = None
    with pq.ParquetWriter(path, plan.output_schema()) as writer, bar:
        for batch in iter_batches(plan.source, plan.read, batch_rows):
            report.rows_in += batch.num_rows
            out = transform(plan, batch, pseudonymizer, policy, report)
            report.rows_out += out.num_rows
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_batch, out)  # write while the next batch is read
            bar.update(batch.num_rows)
        if pending is not None:
            pending.result()
    return report


def _row_count(source: Source) -> int | None:
    return pq.ParquetFile(source.path).metadata.num_rows if source.kind == "parquet" else None


def transform(plan: TablePlan, batch: pa.RecordBatch, pseudonymizer: Pseudonymizer, policy: str, report: TableReport) -> pa.RecordBatch:
    """One batch of source rows -> the same rows as the project may see them."""
    table = plan.table
    keep = None
    for flt in plan.filters:
        mask = flt.mask(table.column(flt.column), batch.column(flt.column))
        keep = mask if keep is None else pc.and_(keep, mask)
    if keep is not None:
        passed = batch.filter(keep)
        report.dropped["filter"] += batch.num_rows - passed.num_rows
        batch = passed

    # Identifiers that are no one (fictive NIR codes, placeholders) must never link rows.
    untrusted_reasons = []
    if table.fictive:
        flag = batch.column(table.fictive.column)
        valid = pa.array(table.fictive.valid, flag.type)
        untrusted_reasons.append(("fictive_id", pc.invert(pc.fill_null(pc.is_in(flag, value_set=valid), False))))
    pseudonyms = {}
    for column in plan.linkage:
        ids = batch.column(column.name)
        if column in plan.output:
            pseudonyms[column.name], placeholder = pseudonymizer.pseudonymize(column.domain, ids, column.placeholder)
        else:
            placeholder = pc.fill_null(pc.match_substring_regex(pc.cast(ids, pa.string()), column.placeholder), False)
        untrusted_reasons.append(("placeholder_id", placeholder))

    arrays = []
    for column in plan.output:
        if column.role == "linkage":
            values = pseudonyms[column.name]
        elif column.role == "quasi":
            values = RULES[column.rule].apply(batch.column(column.name))
        else:
            values = batch.column(column.name)
        arrays.append(values)
    out = pa.RecordBatch.from_arrays(arrays, schema=plan.output_schema())
    return _untrusted_rows(out, plan, untrusted_reasons, policy, report)


def _untrusted_rows(out: pa.RecordBatch, plan: TablePlan, reasons, policy: str, report: TableReport) -> pa.RecordBatch:
    """Drop the rows whose identifiers are no one, or give each its own random pseudonyms."""
    untrusted = None
    for reason, mask in reasons:
        fresh = mask if untrusted is None else pc.and_(mask, pc.invert(untrusted))  # one reason per row
        count = pc.sum(fresh).as_py() or 0
        if count and policy == "drop":
            report.dropped[reason] += count
        untrusted = mask if untrusted is None else pc.or_(untrusted, mask)
    n_untrusted = (pc.sum(untrusted).as_py() or 0) if untrusted is not None else 0
    if not n_untrusted:
        return out
    if policy == "drop":
        return out.filter(pc.invert(untrusted))
    report.randomised += n_untrusted
    arrays = [
        pc.replace_with_mask(out.column(i), untrusted, random_pseudonyms(n_untrusted)) if c.role == "linkage" else out.column(i)
        for i, c in enumerate(plan.output)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=out.schema)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _table_manifest(plan: TablePlan, report: TableReport, source_sha256: str, work: Path) -> dict:
    out_path = work / f"{plan.table.name}.parquet"
    entry = {
        "source": {"file": plan.source.path.name, "sha256": source_sha256, "bytes": plan.source.path.stat().st_size},
        "rows_in": report.rows_in,
        "rows_out": report.rows_out,
        "rows_dropped": report.dropped,
        "rows_with_random_pseudonym": report.randomised,
        "filters": [f.text for f in plan.filters],
        "columns": [
            {
                "name": c.name,
                "role": c.role,
                "type": str(_output_type(c)),
                **({"rule": c.rule} if c.rule else {}),
                **({"domain": c.domain} if c.domain else {}),
            }
            for c in plan.output
        ],
        "dropped_columns": [c.name for c in plan.table.columns if c not in plan.output],
        "output": {"file": out_path.name, "sha256": _sha256(out_path), "bytes": out_path.stat().st_size},
    }
    return entry
