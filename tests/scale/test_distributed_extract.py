"""Distributed extraction gives the local engine's extract: the same files, byte for byte.

Golden cross-engine tests over the shared synthetic SNDS tables (CSV, the real SNDS catalog: mixed
date formats, fictive NIR codes) and over synthetic Parquet sources cut into many slices that start
inside row groups (row filters, 'random' pseudonyms keyed on source row numbers, ID_STATUS).
Dask runs on a LocalCluster of 2 worker processes, Spark in local[2] mode (one JVM for the session).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import distributed
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pseudonymizer.catalog import load_catalog
from pseudonymizer.distributed import SPARK_CONF, plan_slices
from pseudonymizer.engines import EngineSpec
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.extract import extract, plan_extraction
from pseudonymizer.reading import find_source, iter_batches, iter_range_batches

from ..conftest import run_enclave
from .conftest import SNDS_CATALOG, SNDS_TABLES, SYNTH_CATALOG

pytestmark = pytest.mark.slow
MASTER = bytes(range(32))
CASES = {  # name -> (catalog, sources fixture, extract options, slice rows)
    "snds-random-status": (SNDS_CATALOG, "snds_sources", {"tables": SNDS_TABLES, "fictive_policy": "random", "status_column": True}, None),
    "snds-drop": (SNDS_CATALOG, "snds_sources", {"tables": SNDS_TABLES, "fictive_policy": "drop"}, None),
    "synth-random-filtered": (SYNTH_CATALOG, "synth_sources", {
        "fictive_policy": "random", "status_column": True, "batch_rows": 997,
        "where": ["ER_PRS_F.EXE_SOI_DTD >= 2019-03-01", "BEN_NAI_ANN between 1940 and 1990"]}, 2991),
    "synth-null": (SYNTH_CATALOG, "synth_sources", {"fictive_policy": "null", "batch_rows": 1500}, None),
}


def files(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def multisets(out: Path) -> dict[str, Counter]:
    return {p.stem: Counter(map(lambda row: tuple(sorted(row.items())), pq.read_table(p).to_pylist())) for p in out.glob("*.parquet")}


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert len(cluster.workers) == 2
        yield cluster


@pytest.fixture(scope="module")
def local_extract(tmp_path_factory, request):
    made = {}

    def run(case: str) -> Path:
        if case not in made:
            catalog, sources, options, _ = CASES[case]
            out = tmp_path_factory.mktemp(f"local-{case}") / "extracts"
            extract(_catalog(catalog, request), request.getfixturevalue(sources), "golden", out, MASTER, progress=False, **options)
            made[case] = out
        return made[case]

    return run


def _catalog(path: Path, request):
    if path == SNDS_CATALOG:
        return load_catalog(path, schema_dir=request.getfixturevalue("snds_sources"))
    return load_catalog(path)


def _engine_extract(case: str, engine: EngineSpec, out: Path, request) -> dict:
    catalog, sources, options, slice_rows = CASES[case]
    engine = EngineSpec(engine.name, engine.workers, engine.address, slice_rows, engine.session)
    return extract(_catalog(catalog, request), request.getfixturevalue(sources), "golden", out, MASTER, progress=False, engine=engine, **options)


def _assert_same_extract(local: Path, other: Path) -> None:
    assert multisets(other) == multisets(local)  # the same rows, however they were cut
    assert files(other) == files(local)  # and the same bytes: Parquet files, manifest.json, DATA_DICTIONARY.md
    assert not any(p.name.startswith(".") for p in other.iterdir())  # no part file left in the published folder


@pytest.mark.parametrize("case", CASES)
def test_dask_gives_the_local_extract(case, dask_cluster, local_extract, tmp_path, request):
    out = tmp_path / "extracts"
    manifest = _engine_extract(case, EngineSpec("dask", address=dask_cluster.scheduler_address), out, request)
    _assert_same_extract(local_extract(case), out)
    assert manifest == json.loads((local_extract(case) / "manifest.json").read_text())
    with distributed.Client(dask_cluster) as client:  # the workers forgot the run's caches, and the key in them
        assert client.run(_resident_caches) == dict.fromkeys(dask_cluster.scheduler_info["workers"], 0)


def _resident_caches() -> int:
    from pseudonymizer import distributed as ours

    return len(ours._RESIDENT)


@pytest.mark.parametrize("case", CASES)
def test_spark_gives_the_local_extract(case, spark, local_extract, tmp_path, request):
    out = tmp_path / "extracts"
    _engine_extract(case, EngineSpec("spark", session=spark[0]), out, request)
    _assert_same_extract(local_extract(case), out)


def test_sliced_cases_really_cut_tables_inside_row_groups(synth_sources):
    """The golden test above is only as good as its slicing: many slices, most starting mid row group."""
    catalog, _, options, slice_rows = CASES["synth-random-filtered"]
    plans, _ = plan_extraction(load_catalog(catalog), synth_sources, where=options["where"])
    slices = plan_slices(plans, options["batch_rows"], slice_rows, 2)
    care = [i for i, p in enumerate(plans) if p.name == "ER_PRS_F"][0]
    starts = [s.start for s in slices if s.plan == care]
    assert len(starts) >= 8
    assert sum(start % 1234 != 0 for start in starts) >= len(starts) - 2


@pytest.mark.parametrize("batch_rows, slice_batches", [(997, 3), (1234, 1), (5000, 2), (100_000, 1)])
def test_slices_read_exactly_the_local_batches(synth_sources, batch_rows, slice_batches):
    table = load_catalog(SYNTH_CATALOG).table("ER_PRS_F")
    source = find_source(synth_sources, table)
    whole = list(iter_batches(source, table.columns, batch_rows))
    rows = sum(b.num_rows for b in whole)
    step = batch_rows * slice_batches
    sliced = []
    for start in range(0, rows, step):
        stop = start + step if start + step < rows else None
        sliced.extend(iter_range_batches(source, table.columns, batch_rows, start, stop))
    assert [b.num_rows for b in sliced] == [b.num_rows for b in whole]
    assert all(a.equals(b) for a, b in zip(sliced, whole))


def test_bad_value_fails_as_in_the_local_engine_and_writes_nothing(tmp_path, synth_sources, dask_cluster):
    """A value that does not parse, in the last slice of a source: the same error, nothing published."""
    catalog = load_catalog(SYNTH_CATALOG)
    sources = tmp_path / "sources"
    sources.mkdir()
    people = pq.read_table(synth_sources / "IR_BEN_R.parquet")
    text = pa.table({n: pc.cast(people.column(n), pa.string()) for n in people.column_names})  # as an export of strings
    years = text.column("BEN_NAI_ANN").to_pylist()
    years[2900] = "19x0"
    text = text.set_column(text.column_names.index("BEN_NAI_ANN"), "BEN_NAI_ANN", pa.array(years, pa.string()))
    pq.write_table(text, sources / "IR_BEN_R.parquet", row_group_size=700)
    errors = []
    for engine in (None, EngineSpec("dask", address=dask_cluster.scheduler_address, slice_rows=500)):
        out = tmp_path / f"out-{engine.name if engine else 'local'}"
        with pytest.raises(PseudonymizerError) as caught:
            extract(catalog, sources, "p", out, MASTER, tables=["IR_BEN_R"], batch_rows=250, progress=False, engine=engine)
        errors.append(str(caught.value))
        assert not out.exists() and not list(tmp_path.glob(f".{out.name}*"))
    assert errors[0] == errors[1] and "row 2901" in errors[0] and "19x0" in errors[0]


def test_cli_runs_each_engine_to_the_same_files(synth_sources, tmp_path):
    """`enclave pseudonymize --engine dask` (its own LocalCluster of 2 processes) = `--engine local`."""
    key = tmp_path / "master.key"
    key.write_text(MASTER.hex())
    outs = {}
    for engine in ("local", "dask"):
        outs[engine] = tmp_path / engine
        extra = ["--workers", "2"] if engine == "dask" else []
        result = run_enclave("pseudonymize", "--sources", synth_sources, "--project", "cli", "--out", outs[engine], "--tables", "IR_BEN_R,ER_PRS_F",
                             "--master-key-file", key, "--batch-rows", "2000", "--engine", engine, *extra, "--quiet", env={"ENCLAVE_MASTER_KEY": ""})
        assert result.returncode == 0, result.stderr
    assert files(outs["dask"]) == files(outs["local"])
    refused = run_enclave("pseudonymize", "--sources", synth_sources, "--project", "cli", "--out", tmp_path / "x", "--master-key-file", key,
                          "--engine", "local", "--workers", "3")
    assert refused.returncode == 2 and "takes no workers" in refused.stderr and not (tmp_path / "x").exists()


def test_spark_plans_logs_and_event_log_never_hold_the_key(spark, synth_sources, tmp_path):
    """Everything Spark wrote during an extraction (INFO log, event log, every explain mode of the
    job's plan) is searched for the project key, in hex, base64 and raw bytes."""
    import base64

    from pseudonymizer.distributed import Job, slices_frame
    from pseudonymizer.keys import project_key

    session, log, events = spark
    conf = session.sparkContext.getConf()  # ours (SPARK_CONF), but for the event log this test turns on
    assert conf.get("spark.ui.enabled") == "false" and conf.get("spark.io.encryption.enabled") == "true"
    assert SPARK_CONF["spark.eventLog.enabled"] == "false" and conf.get("spark.eventLog.enabled") == "true"
    out = tmp_path / "extracts"
    extract(load_catalog(SYNTH_CATALOG), synth_sources, "secret-project", out, MASTER, progress=False, batch_rows=5000,
            fictive_policy="random", engine=EngineSpec("spark", session=session))
    key = project_key(MASTER, "secret-project", 1)
    plans, _ = plan_extraction(load_catalog(SYNTH_CATALOG), synth_sources)
    job = Job("run", plans, plan_slices(plans, 5000, None, 2), key, "random", 5000, str(tmp_path))
    frame = slices_frame(session, job)
    plan_texts = [frame._jdf.queryExecution().toString(), frame._jdf.queryExecution().explainString(
        session._jvm.org.apache.spark.sql.execution.ExplainMode.fromString("extended"))]
    for mode in ("simple", "extended", "codegen", "cost", "formatted"):
        plan_texts.append(frame._jdf.queryExecution().explainString(session._jvm.org.apache.spark.sql.execution.ExplainMode.fromString(mode)))
    assert any("extract_slices" in text for text in plan_texts)  # the plan names the function, and that is all
    written = b"\n".join([log.read_bytes(), *(p.read_bytes() for p in events.rglob("*") if p.is_file()), *(t.encode() for t in plan_texts)])
    assert len(written) > 10_000 and b"MapInArrow" in written  # the log and the event log did record the job
    for form in (key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key), key, MASTER.hex().encode(), MASTER):
        assert form not in written
    assert key.hex() not in repr(job) and repr(key) not in repr(job)  # engines print tasks' arguments in errors


def test_a_slice_of_no_rows_or_only_null_ids_gets_nulls():
    """A worker's fresh cache meets batches the local engine's warm one rarely does: none may fail."""
    from pseudonymizer.pseudonyms import Pseudonymizer

    with Pseudonymizer(MASTER, workers=1) as fresh:
        assert fresh.pseudonymize("d", pa.array([], pa.string())).to_pylist() == []
        assert fresh.pseudonymize("d", pa.array([None, None], pa.string())).to_pylist() == [None, None]
        assert fresh.pseudonymize("d", pa.array(["a", None], pa.string())).null_count == 1


def test_parquet_parts_join_into_the_file_one_writer_writes(tmp_path, synth_sources):
    """The driver's join (pseudonymizer/parquet_concat.py): row groups copied under one footer equal
    the file one writer makes of the same batches, empty parts included; a part with a page index
    (data beside its row groups) is refused, so the caller re-encodes."""
    from pseudonymizer.parquet_concat import NotConcatenable, concat, roundtrip

    source = pq.ParquetFile(synth_sources / "ER_PRS_F.parquet")
    batches = list(source.iter_batches(batch_size=3000))
    whole = tmp_path / "whole.parquet"
    with pq.ParquetWriter(whole, source.schema_arrow) as writer:
        for batch in batches:
            writer.write_batch(batch)
    assert roundtrip(whole)
    parts = []
    for i, chunk in enumerate([batches[:2], [], batches[2:3], batches[3:]]):
        parts.append(tmp_path / f"part{i}.parquet")
        with pq.ParquetWriter(parts[-1], source.schema_arrow) as writer:
            for batch in chunk:
                writer.write_batch(batch)
    joined = tmp_path / "joined.parquet"
    with open(joined, "wb") as out:
        concat(parts, out)
    assert joined.read_bytes() == whole.read_bytes()
    indexed = tmp_path / "indexed.parquet"
    pq.write_table(pa.Table.from_batches(batches[:2]), indexed, write_page_index=True)
    with pytest.raises(NotConcatenable), open(tmp_path / "x.parquet", "wb") as out:
        concat([parts[0], indexed], out)
