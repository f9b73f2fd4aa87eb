"""Extraction: authorised tables, columns and rows of the sources -> one project's extract folder.

    <out>/<TABLE>.parquet      pseudonymised, coarsened, only authorised columns and rows
    <out>/manifest.json        input and output hashes, row counts, ids affected and drops by reason, roles, key version
    <out>/DATA_DICTIONARY.md   what each column is, for researchers

Everything is validated before the first row is read; tables are streamed batch by batch, so memory
is bounded by the batch size; the folder appears whole or not at all (see :mod:`.publish`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .catalog import FICTIVE_POLICIES, STATUS_COLUMN, Catalog, Column, Table
from .coarsening import RULES, output_type
from .dictionary import write_dictionary
from .engines import EngineSpec
from .errors import PseudonymizerError
from .filters import Filter, parse_filter
from .flags import fictive_masks
from .keys import fingerprint, project_key
from .nomenclatures import Nomenclatures
from .progress import Progress
from .pseudonyms import PARALLEL_MIN, Pseudonymizer, row_pseudonyms
from .publish import staging
from .reading import Source, arrow_type, check_source, find_sources, iter_batches, source_columns, source_files

MANIFEST_FORMAT = "enclave-extract/2"
REASONS = ("fictive_id", "placeholder_id")  # why an id is no one
DEFAULT_BATCH_ROWS = 1 << 18  # measured: bigger batches use more memory and are no faster
DICTIONARY_LIMIT = 256 << 10  # bytes of a column chunk's dictionary before plain values (see TablePlan.writer)
JEMALLOC_DECAY_MS = 10_000  # freed pages kept this long for the next batches (see extraction_pool)


@dataclass
class TablePlan:
    table: Table
    source: Source
    output: list[Column]
    filters: list[Filter]
    status: bool = False  # add the ID_STATUS column
    extra_columns: list[str] = field(default_factory=list)  # in the source, not in the schema (extra = "drop")

    @property
    def name(self) -> str:
        """The extracted table's name: the family member's (T_MCO22C) for a family."""
        return self.source.table_name

    @property
    def linkage(self) -> list[Column]:
        return [c for c in self.table.columns if c.role == "linkage"]

    @property
    def read(self) -> list[Column]:
        """Columns to read: the output ones and those the filters and id checks need."""
        wanted = {c.name for c in self.output} | {c.name for c in self.linkage} | {f.column for f in self.filters}
        wanted |= {flag.column for flag in self.table.flags}
        return [c for c in self.table.columns if c.name in wanted]

    def writer(self, path) -> pq.ParquetWriter:
        """The Parquet writer of this table's extract, the same for every engine (byte-identical files).

        Pseudonyms are random hex: a dictionary never fits them and Snappy saves 8 % of their bytes
        for a third of the writer's time (measured on 10 M rows), so they are stored plain, and
        without min/max statistics (of random values they prune nothing). `path` may be an open
        binary file (:class:`HashingFile`).

        A column whose dictionary passes DICTIONARY_LIMIT within a row group (a batch) is mostly
        distinct values (a care-sheet number): it falls back to plain values there, as it would at
        Arrow's 1 MiB default, but after hashing a quarter as many (0.5 s of the writer's 2.6 s on
        10 M rows, and a smaller file)."""
        pseudonyms = {c.name for c in self.output if c.role == "linkage"}
        names = self.output_schema().names
        others = [n for n in names if n not in pseudonyms]
        return pq.ParquetWriter(
            path, self.output_schema(),
            use_dictionary=others,
            compression={n: "none" if n in pseudonyms else "snappy" for n in names},
            write_statistics=others,
            dictionary_pagesize_limit=DICTIONARY_LIMIT,
        )

    def output_schema(self) -> pa.Schema:
        fields = [pa.field(c.name, _output_type(c)) for c in self.output]
        if self.status:
            fields.append(pa.field(STATUS_COLUMN, pa.string()))
        return pa.schema(fields)


@dataclass
class TableReport:
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"filter": 0, **{r: 0 for r in REASONS}})
    affected: dict[str, int] = field(default_factory=lambda: {r: 0 for r in REASONS})  # rows, by reason
    by_column: dict[str, dict[str, int]] = field(default_factory=dict)  # ids, by column and reason
    randomised: int = 0
    output_sha256: str | None = None  # of the extract's file, hashed as it was written


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
    names: list[str | None]  # per table, the family member asked for (None: every member found)
    output: dict[str, list[Column]]
    filters: dict[str, list[Filter]]
    explicit: bool  # tables were named (a missing source is an error), not "all in the catalog"


def check_request(
    catalog: Catalog,
    tables: list[str] | None = None,
    columns: dict[str, list[str]] | None = None,
    where: Iterable[str] = (),
) -> Request:
    """Every table, column and row filter of a request checked against the catalog."""
    names = list(tables) if tables else list(catalog.tables)
    columns = {catalog.table(t).name: cols for t, cols in (columns or {}).items() if _known(catalog, t)}
    chosen = [catalog.table(name) for name in names]
    for table in columns:
        if table not in {t.name for t in chosen}:
            raise PseudonymizerError(f"columns are named for table {table}, which is not among the extracted tables", "add it to the tables")
    filters = [parse_filter(w) for w in where]
    applied = {t.name: [f for f in filters if f.applies_to(t.name, t.names) or (f.table and t.describes(f.table) and f.column in t.names)] for t in chosen}
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
    members = [None if name == t.name else name for name, t in zip(names, chosen)]
    return Request(tables=chosen, names=members, output=output, filters=applied, explicit=bool(tables))


def _known(catalog: Catalog, name: str) -> bool:
    catalog.table(name)  # raises naming the unknown table
    return True


def plan_extraction(
    catalog: Catalog,
    sources_dir: Path,
    tables: list[str] | None = None,
    columns: dict[str, list[str]] | None = None,
    where: Iterable[str] = (),
    status_column: bool | None = None,
) -> tuple[list[TablePlan], list[str]]:
    """Check the whole request against the catalog and the sources; read no data yet.

    Returns the plans and, when no table was named, the catalog's tables without a source file."""
    request = check_request(catalog, tables, columns, where)
    status = catalog.status_column if status_column is None else status_column
    files = source_files(Path(sources_dir))
    plans, absent = [], []
    for table, member in zip(request.tables, request.names):
        try:
            found = find_sources(Path(sources_dir), table, member, files)
        except PseudonymizerError:
            if request.explicit:
                raise
            absent.append(table.name)
            continue
        for source in found:
            check_source(source)
            flt = [f for f in request.filters[table.name] if f.table in (None, table.name, source.table_name)]
            extra = [n for n in source_columns(source) if n not in table.names]
            plans.append(TablePlan(table, source, request.output[table.name], flt, status, extra))
    if not plans:
        raise PseudonymizerError(
            f"no source file in {sources_dir} for any table of the catalog {catalog.path}",
            "check --sources (files are named <TABLE>.csv or <TABLE>.parquet, in any subfolder)",
        )
    return plans, absent


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
    status_column: bool | None = None,
    nomenclatures: str | Path | None = None,
    engine: EngineSpec | None = None,
) -> dict:
    """Write the project's extract folder and return its manifest (also in manifest.json).

    `labels` are stored as they are in the manifest (provisioning records its request's fingerprint);
    `nomenclatures` is a folder of SNDS code lists, whose labels go into the data dictionary;
    `engine` runs the tables on Dask or Spark workers (:mod:`.distributed`): the same files, byte for byte."""
    policy = fictive_policy or catalog.fictive_policy
    if policy not in FICTIVE_POLICIES:
        raise PseudonymizerError(f"fictive-id policy {policy!r} is unknown", f"use one of {', '.join(FICTIVE_POLICIES)}")
    where = list(where)
    plans, absent = plan_extraction(catalog, Path(sources_dir), tables, columns, where, status_column)
    key = project_key(master_key, project, key_version)
    manifest = {
        "format": MANIFEST_FORMAT,
        "project": project,
        "key_version": key_version,
        "key_fingerprint": fingerprint(key),
        "catalog_sha256": _sha256(catalog.path),
        "fictive_policy": policy,
        "status_column": STATUS_COLUMN if plans[0].status else None,
        "filters": where,
        "labels": dict(labels or {}),
        "tables_without_source": absent,
        "tables": {},
    }
    with extraction_allocator(), staging(Path(out_dir)) as work, ThreadPoolExecutor(2) as pool:
        source_hashes = [pool.submit(_sha256, plan.source.path) for plan in plans]
        if engine is None or engine.name == "local":
            reports = _extract_local(plans, work, key, policy, batch_rows, progress, pool)
        else:
            from .distributed import extract_tables  # Dask or Spark: imported only when asked for

            reports = extract_tables(engine, plans, work, key, policy, batch_rows, progress)
        for plan, report, source_hash in zip(plans, reports, source_hashes):
            manifest["tables"][plan.name] = _table_manifest(plan, report, source_hash.result(), work)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        write_dictionary(work / "DATA_DICTIONARY.md", manifest, plans, Nomenclatures(nomenclatures) if nomenclatures else None)
    return manifest


def _extract_local(plans, work, key, policy, batch_rows, progress, pool) -> list[TableReport]:
    large = any((_row_count(p.source) or p.source.path.stat().st_size // 64) >= PARALLEL_MIN for p in plans)  # ~64 bytes a CSV row
    with Pseudonymizer(key, eager=large) as pseudonymizer:
        return [_extract_table(plan, work / f"{plan.name}.parquet", pseudonymizer, policy, batch_rows, progress, pool) for plan in plans]


def _extract_table(plan, path, pseudonymizer, policy, batch_rows, progress, pool) -> TableReport:
    report = TableReport()
    meter = Progress(plan.name, _row_count(plan.source), enabled=progress)
    pending: Future | None = None
    with HashingFile(path) as sink, plan.writer(sink) as writer, meter:
        for batch in prefetched(iter_batches(plan.source, plan.read, batch_rows)):
            first_row = report.rows_in
            report.rows_in += batch.num_rows
            out = transform(plan, batch, pseudonymizer, policy, report, first_row)
            report.rows_out += out.num_rows
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_batch, out)  # write while the next batch is read
            meter.update(batch.num_rows)
        if pending is not None:
            pending.result()
    report.output_sha256 = sink.sha256.hexdigest()
    return report


class HashingFile(io.FileIO):
    """A file opened for writing that computes the SHA-256 of what is written to it: the manifest
    gets the extract's hash without reading the file again (hundreds of MB at the end of a run)."""

    def __init__(self, path):
        super().__init__(path, "wb")
        self.sha256 = hashlib.sha256()

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):  # a raw write may take only part
            done += super().write(view[done:])
        self.sha256.update(view)
        return done


def extraction_pool() -> pa.MemoryPool:
    """The Arrow allocator of extractions: jemalloc when this pyarrow has it, else the C library's.

    Profiled on 10 M rows: Arrow's default pool here (mimalloc) gives freed batch buffers back to
    the kernel at once, so each batch page-faults them in again: 3-5 s of system time. jemalloc
    spends 1.7 s at 730 MiB peak, malloc 0.9 s at 880 MiB (too close to the 1 GiB budget).
    jemalloc as pyarrow sets it up also purges freed pages at once (decay 0); profiled again, most
    page faults left were the Parquet reader's buffers growing into fresh pages each batch. Keeping
    freed pages for JEMALLOC_DECAY_MS (set before the pool's first use: it applies to arenas made
    after) cut system time by 0.4 s, for about 50 MiB more peak memory."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()
    pa.jemalloc_set_decay_ms(JEMALLOC_DECAY_MS)
    return pool


@contextlib.contextmanager
def extraction_allocator() -> Iterator[None]:
    """Arrow allocates from :func:`extraction_pool` during an extraction, then as before."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(extraction_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def prefetched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`batches`, the next one read in a thread while the caller transforms this one (reading
    decodes outside the GIL: on two cores, reading, transforming and writing overlap)."""
    ahead: queue.Queue = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ahead.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(done)
        except BaseException as exc:  # raised again in the caller, with its own message
            ahead.put(exc)

    reader = threading.Thread(target=read, name="extract-reader", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _row_count(source: Source) -> int | None:
    return pq.ParquetFile(source.path).metadata.num_rows if source.kind == "parquet" else None


def transform(plan: TablePlan, batch: pa.RecordBatch, pseudonymizer: Pseudonymizer, policy: str, report: TableReport, first_row: int = 0) -> pa.RecordBatch:
    """One batch of source rows (the first one at `first_row` of the source) -> the same rows as the project may see them."""
    table = plan.table
    rows = np.arange(first_row, first_row + batch.num_rows)
    keep = None
    for flt in plan.filters:
        mask = flt.mask(table.column(flt.column), batch.column(flt.column))
        keep = mask if keep is None else pc.and_(keep, mask)
    if keep is not None:
        passed = batch.filter(keep)
        report.dropped["filter"] += batch.num_rows - passed.num_rows
        batch = passed
        rows = rows[keep.to_numpy(zero_copy_only=False)]

    found = _untrusted_ids(plan, batch, report)
    if policy == "drop" and found:
        batch, rows = _drop_untrusted(batch, rows, found, report)
        found = {}
    untrusted = {name: _any(list(reasons.values())) for name, reasons in found.items()}
    arrays = []
    for column in plan.output:
        if column.role == "linkage":
            values = pseudonymizer.pseudonymize(column.domain, batch.column(column.name))
            if column.name in untrusted and policy in ("null", "random"):
                values = _replace_untrusted(values, untrusted[column.name], policy, pseudonymizer.key, column, plan.name, rows)
        elif column.role == "quasi":
            values = RULES[column.rule].apply(batch.column(column.name))
        else:
            values = batch.column(column.name)
        arrays.append(values)
    if policy == "random":
        replaced = [untrusted[c.name] for c in plan.output if c.name in untrusted]
        report.randomised += (pc.sum(_any(replaced)).as_py() or 0) if replaced else 0
    if plan.status:
        arrays.append(_status(batch.num_rows, found))
    return pa.RecordBatch.from_arrays(arrays, schema=plan.output_schema())


def _untrusted_ids(plan: TablePlan, batch: pa.RecordBatch, report: TableReport) -> dict[str, dict[str, pa.Array]]:
    """{linkage column: {reason: mask}} of the ids that are no one, counted in the report.

    A fictive flag (BEN_CDI_NIR, NIR_RET...) concerns the columns it applies to only (a newborn's
    NIR_RET says nothing of the mother's NIR_ANO_MAM); placeholders are the exact values the catalog
    declares for the column."""
    fictive = fictive_masks(plan.table, batch, plan.name)
    found: dict[str, dict[str, pa.Array]] = {}
    for column in plan.linkage:
        ids = batch.column(column.name)
        reasons = {}
        if column.name in fictive:
            reasons["fictive_id"] = pc.and_(fictive[column.name], pc.is_valid(ids))
        if column.placeholders:
            placeholders = pa.array(column.placeholders, pa.string())
            reasons["placeholder_id"] = pc.fill_null(pc.is_in(pc.cast(ids, pa.string()), value_set=placeholders), False)
        counts = report.by_column.setdefault(column.name, {r: 0 for r in REASONS})
        for reason, mask in reasons.items():
            counts[reason] += pc.sum(mask).as_py() or 0
        if reasons:
            found[column.name] = reasons
    for reason, mask in _rows_by_reason(found).items():
        report.affected[reason] += pc.sum(mask).as_py() or 0
    return found


def _rows_by_reason(found: dict[str, dict[str, pa.Array]]) -> dict[str, pa.Array]:
    masks = {}
    for reason in REASONS:
        per_column = [r[reason] for r in found.values() if reason in r]
        if per_column:
            masks[reason] = _any(per_column)
    return masks


def _any(masks: list[pa.Array]) -> pa.Array:
    result = masks[0]
    for mask in masks[1:]:
        result = pc.or_(result, mask)
    return result


def _drop_untrusted(batch: pa.RecordBatch, rows: np.ndarray, found, report: TableReport):
    """Policy drop: remove the rows holding an id that is no one, each counted under its first reason."""
    counted = None
    for reason, mask in _rows_by_reason(found).items():
        fresh = mask if counted is None else pc.and_(mask, pc.invert(counted))
        report.dropped[reason] += pc.sum(fresh).as_py() or 0
        counted = mask if counted is None else pc.or_(counted, mask)
    if counted is None:
        return batch, rows
    keep = pc.invert(counted)
    return batch.filter(keep), rows[keep.to_numpy(zero_copy_only=False)]


def _replace_untrusted(values, mask, policy, key, column, table, rows) -> pa.Array:
    if not pc.any(mask).as_py():
        return values
    if policy == "null":
        return pc.if_else(mask, pa.scalar(None, pa.string()), values)
    fresh = row_pseudonyms(key, column.domain, table, column.name, rows[mask.to_numpy(zero_copy_only=False)])
    return pc.replace_with_mask(values, mask, fresh)


def _status(n: int, found: dict[str, dict[str, pa.Array]]) -> pa.Array:
    """Per row: "ok", or which ids are no one and why, e.g. "fictive_id:BEN_NIR_PSA;placeholder_id:PFS_EXE_NUM"."""
    status = pa.array([""] * n, pa.string())
    for name, reasons in found.items():
        for reason, mask in reasons.items():
            label = pa.scalar(f";{reason}:{name}")
            status = pc.if_else(mask, pc.binary_join_element_wise(status, label, ""), status)
    status = pc.utf8_ltrim(status, characters=";")
    return pc.if_else(pc.equal(status, ""), pa.scalar("ok"), status)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _table_manifest(plan: TablePlan, report: TableReport, source_sha256: str, work: Path) -> dict:
    out_path = work / f"{plan.name}.parquet"
    entry = {
        "source": {"file": plan.source.path.name, "sha256": source_sha256, "bytes": plan.source.path.stat().st_size},
        "rows_in": report.rows_in,
        "rows_out": report.rows_out,
        "rows_dropped": report.dropped,
        "rows_with_ids_of_no_one": report.affected,
        "ids_of_no_one_by_column": {c: n for c, n in report.by_column.items() if any(n.values())},
        "rows_with_random_pseudonym": report.randomised,
        "filters": [f.text for f in plan.filters],
        "columns": [
            {
                "name": c.name,
                "role": c.role,
                "type": str(_output_type(c)),
                **({"rule": c.rule} if c.rule else {}),
                **({"domain": c.domain} if c.domain else {}),
                **({"nomenclature": c.nomenclature} if c.nomenclature not in ("", "-") else {}),
            }
            for c in plan.output
        ],
        "table": plan.table.name,
        "status_column": STATUS_COLUMN if plan.status else None,
        "dropped_columns": [c.name for c in plan.table.columns if c not in plan.output],
        "extra_source_columns_dropped": plan.extra_columns,
        "output": {"file": out_path.name, "sha256": report.output_sha256 or _sha256(out_path), "bytes": out_path.stat().st_size},
    }
    return entry
