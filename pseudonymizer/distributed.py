"""Distributed extraction: the local engine's own code, run slice by slice on Dask or Spark workers.

A *slice* is whole batches of one source: rows [start, stop) with `start` a multiple of the batch
size. A worker reads it with :func:`.reading.iter_range_batches` (the very batches the local engine
reads), runs :func:`.extract.transform` on each with the row numbers they have in the source (so
row filters, coarsening, fictive-id policies with their deterministic 'random' pseudonyms and
ID_STATUS are the local engine's by construction, not a re-implementation), and writes the output
batches with the local engine's Parquet writer to a part file in the staging folder. The driver
then joins each table's parts, in source order, by copying their row groups under one footer
(:mod:`.parquet_concat`): the file the local engine writes, byte for byte, without decoding a
value. A CSV source is one slice: a CSV row's number is known only once the rows before it are read.

The project key (never the master key) travels to the workers inside the task (Dask) or inside the
pickled function (Spark): it is never a SQL literal, so it is in no query plan. Each worker process
keeps one pseudonym cache per run (each distinct id is hashed once per worker, not once per slice)
and forgets it, key included, when the run ends (Dask) or its next run starts (Spark, whose
executors end with the session that a run opens itself).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import shutil
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .engines import EngineSpec
from .errors import PseudonymizerError
from .extract import TablePlan, TableReport, transform
from .parquet_concat import NotConcatenable, concat
from .progress import Progress
from .pseudonyms import Pseudonymizer
from .reading import iter_range_batches

PARTS = ".parts"  # inside the staging folder: workers' output, removed before the folder is published
MIN_SLICE_BATCHES = 4  # below this, a task's start-up and its own pseudonym cache cost more than they save


@dataclass(frozen=True)
class Slice:
    plan: int  # index of the table in the run's plans
    index: int  # order within the table
    start: int
    stop: int | None  # None: to the end of the source


@dataclass
class Job:
    """What every task of one run needs; shipped to the workers once."""

    run: str
    plans: list[TablePlan]
    slices: list[Slice]
    key: bytes
    policy: str
    batch_rows: int
    parts: str

    def __repr__(self) -> str:  # engines print tasks' arguments in errors: never the key
        return f"Job({self.run}: {len(self.plans)} tables, {len(self.slices)} slices, parts={self.parts})"


def plan_slices(plans: list[TablePlan], batch_rows: int, slice_rows: int | None, parallelism: int) -> list[Slice]:
    """Each Parquet source cut in whole batches: `slice_rows` per slice, or by default about two
    slices per worker (so that a slow one is caught up), at least MIN_SLICE_BATCHES batches each."""
    slices = []
    for p, plan in enumerate(plans):
        rows = pq.ParquetFile(plan.source.path).metadata.num_rows if plan.source.kind == "parquet" else 0
        batches = math.ceil(rows / batch_rows)
        if slice_rows:
            per = max(1, math.ceil(slice_rows / batch_rows))
        else:
            per = max(MIN_SLICE_BATCHES, math.ceil(batches / (2 * parallelism)))
        if batches <= per:
            slices.append(Slice(p, 0, 0, None))
            continue
        for k, first in enumerate(range(0, batches, per)):
            stop = (first + per) * batch_rows
            slices.append(Slice(p, k, first * batch_rows, stop if stop < rows else None))
    return slices


def run_slice(job: Job, i: int) -> tuple[int, TableReport | None, tuple[str, str | None] | None]:
    """On a worker: extract slice `i` into its part file. Returns (i, report, None), or
    (i, None, (problem, hint)) for bad input, which the driver raises as the local engine would."""
    piece = job.slices[i]
    plan = job.plans[piece.plan]
    final = Path(job.parts) / f"{i:06d}.parquet"
    temp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}")
    report = TableReport()
    try:
        pseudonymizer = _resident(job)
        with plan.writer(temp) as writer:  # the local engine's writer: the same row groups
            for batch in iter_range_batches(plan.source, plan.read, job.batch_rows, piece.start, piece.stop):
                first_row = piece.start + report.rows_in
                report.rows_in += batch.num_rows
                out = transform(plan, batch, pseudonymizer, job.policy, report, first_row)
                report.rows_out += out.num_rows
                writer.write_batch(out)
        os.rename(temp, final)
    except PseudonymizerError as exc:
        return i, None, (exc.problem, exc.hint)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return i, report, None


_RESIDENT: dict[tuple[str, int], Pseudonymizer] = {}  # (run, thread) -> this worker's cache of that run


def _resident(job: Job) -> Pseudonymizer:
    """This worker thread's pseudonymizer of the run; any other run's is forgotten first (one key at most)."""
    here = (job.run, threading.get_ident())
    for other in [k for k in _RESIDENT if k[0] != job.run]:
        _RESIDENT.pop(other).close()
    if here not in _RESIDENT:
        _RESIDENT[here] = Pseudonymizer(job.key, workers=1)
    return _RESIDENT[here]


def forget(run: str) -> int:
    """On a worker: drop the run's pseudonym caches and the key they hold; how many there were."""
    mine = [k for k in _RESIDENT if k[0] == run]
    for k in mine:
        _RESIDENT.pop(k).close()
    return len(mine)


def merge_reports(total: TableReport, part: TableReport) -> None:
    """Add one slice's counts to its table's."""
    for f in fields(TableReport):
        mine, theirs = getattr(total, f.name), getattr(part, f.name)
        if f.name == "output_sha256":
            continue  # of a slice's part: the table's file is hashed when assembled
        if isinstance(mine, int):
            setattr(total, f.name, mine + theirs)
        elif f.name == "by_column":
            for column, counts in theirs.items():
                into = mine.setdefault(column, dict.fromkeys(counts, 0))
                for reason, n in counts.items():
                    into[reason] = into.get(reason, 0) + n
        else:
            for reason, n in theirs.items():
                mine[reason] = mine.get(reason, 0) + n


class _Assembler:
    """Each table's Parquet file from its slices' parts, in source order, once all have arrived: their
    row groups copied as they are under one footer (:mod:`.parquet_concat`), else re-encoded."""

    def __init__(self, plans: list[TablePlan], slices: list[Slice], work: Path, parts: Path):
        self.plans, self.slices, self.work, self.parts = plans, slices, work, parts
        self.order = [[i for i, s in enumerate(slices) if s.plan == p] for p in range(len(plans))]
        self.waiting = [len(o) for o in self.order]
        self.reports = [TableReport() for _ in plans]

    def add(self, i: int, report: TableReport) -> None:
        p = self.slices[i].plan
        merge_reports(self.reports[p], report)
        self.waiting[p] -= 1
        if not self.waiting[p]:
            self._write(p)

    def _write(self, p: int) -> None:
        parts = [self.parts / f"{i:06d}.parquet" for i in self.order[p]]
        path = self.work / f"{self.plans[p].name}.parquet"
        try:
            with open(path, "wb") as out:
                concat(parts, out)
        except NotConcatenable:  # data beside the row groups (a page index): write them again, one row group at a time
            with self.plans[p].writer(path) as writer:
                for part in parts:
                    source = pq.ParquetFile(part)
                    for k in range(source.num_row_groups):
                        writer.write_table(source.read_row_group(k))
        for part in parts:
            part.unlink()


def extract_tables(engine: EngineSpec, plans: list[TablePlan], work: Path, key: bytes, policy: str, batch_rows: int,
                   progress: bool) -> list[TableReport]:
    """Write every plan's table into `work` on the engine's workers; the reports, in plan order."""
    parts = work / PARTS
    parts.mkdir()
    runner = {"dask": dask_runner, "spark": spark_runner}[engine.name]
    try:
        with runner(engine) as (parallelism, run):
            slices = plan_slices(plans, batch_rows, engine.slice_rows, parallelism)
            job = Job(uuid.uuid4().hex, plans, slices, key, policy, batch_rows, str(parts.absolute()))
            assembler = _Assembler(plans, slices, work, parts)
            total = sum(_known_rows(plan) or 0 for plan in plans) or None
            label = f"{len(plans)} table(s) on {engine.name} ({parallelism} workers, {len(slices)} slices)"
            with Progress(label, total, enabled=progress) as meter:
                for i, report, error in run(job):
                    if error is not None:
                        raise PseudonymizerError(*error)
                    assembler.add(i, report)
                    meter.update(report.rows_in)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return assembler.reports


def _known_rows(plan: TablePlan) -> int | None:
    return pq.ParquetFile(plan.source.path).metadata.num_rows if plan.source.kind == "parquet" else None


Runner = Callable[[Job], Iterator[tuple[int, TableReport | None, tuple | None]]]


@contextlib.contextmanager
def dask_runner(engine: EngineSpec) -> Iterator[tuple[int, Runner]]:
    """A Dask client: on the scheduler at `engine.address`, else on a local cluster of worker processes
    (one thread each: the pyarrow code releases the GIL only in parts) started for this run."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise PseudonymizerError("the dask engine needs the 'distributed' package", "pip install 'dask[distributed]'") from None
    import logging

    cluster = None
    if engine.address:
        try:
            client = Client(engine.address, timeout="30s")
        except OSError as exc:
            raise PseudonymizerError(f"cannot reach the Dask scheduler at {engine.address}: {exc}",
                                     "check --address (tcp://host:8786) and that the scheduler runs") from None
    else:
        cluster = LocalCluster(n_workers=engine.local_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.WARNING)
        client = Client(cluster)
    try:
        parallelism = sum(client.nthreads().values()) or 1

        def run(job: Job):
            shared = client.scatter(job, broadcast=True)
            futures = client.map(run_slice, [shared] * len(job.slices), range(len(job.slices)), pure=False)
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                client.cancel(futures + [shared])
                client.run(forget, job.run, on_error="ignore")  # a worker lost meanwhile took the key with it

        yield parallelism, run
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# Spark's configuration for an extraction: no UI, no event log, nothing below WARN in the logs,
# local disk I/O (spills, broadcast blocks that hold the pickled task) encrypted.
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.eventLog.enabled": "false",
    "spark.io.encryption.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}


def spark_session(engine: EngineSpec, extra: dict[str, str] | None = None):
    """A SparkSession with :data:`SPARK_CONF`: on `engine.address`, else local[workers]."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise PseudonymizerError("the spark engine needs the 'pyspark' package and a Java runtime (17+)",
                                 "pip install pyspark; apt-get install openjdk-17-jre-headless") from None
    builder = SparkSession.builder.master(engine.address or f"local[{engine.local_workers}]").appName("enclave-extract")
    if not engine.address:  # local workers run this interpreter and this code (read when the JVM starts)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        root = str(Path(__file__).resolve().parent.parent)
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])
    for name, value in {**SPARK_CONF, **(extra or {})}.items():
        builder = builder.config(name, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


@contextlib.contextmanager
def spark_runner(engine: EngineSpec) -> Iterator[tuple[int, Runner]]:
    """Spark runs one slice per partition through mapInArrow; the session is ours to stop unless given."""
    session = engine.session or spark_session(engine)
    try:
        parallelism = session.sparkContext.defaultParallelism

        def run(job: Job):
            for row in slices_frame(session, job).collect():  # every partition at once (toLocalIterator runs one at a time)
                yield pickle.loads(row.result)

        yield parallelism, run
    finally:
        if engine.session is None:
            session.stop()


def slices_frame(session, job: Job):
    """A DataFrame of one row per slice (its number and pickled result), one slice per partition.

    The job (and the key in it) is in the closure of `extract_slices`, which Spark pickles into the
    task: the plan shows only the function's name."""

    def extract_slices(batches):
        for batch in batches:
            for i in batch.column(0).to_pylist():
                result = pickle.dumps(run_slice(job, i))
                yield pa.RecordBatch.from_arrays([pa.array([i], pa.int64()), pa.array([result], pa.binary())], names=["slice", "result"])

    n = len(job.slices)
    return session.range(0, n, 1, numPartitions=n).mapInArrow(extract_slices, "slice long, result binary")
