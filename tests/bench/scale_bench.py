"""make bench (scale): the extraction engines on one table of 10 million care-sheet rows (ER_PRS_F).

Measured in this run, each in a fresh interpreter: the local engine (the baseline), Dask with 1 and
2 worker processes (LocalCluster), and Spark local[2]. A cluster's start (Dask's processes, Spark's
JVM) is timed apart from the job; Spark's first job also starts its Python workers, so it is run
twice and both are reported. Every engine's extract is checked byte-identical to the local one.
This machine has 2 cores: Dask with 2 workers shows the scaling, not a cluster's speed-up.
Written to .bench/scale.json. BENCH_PEOPLE=100000 runs a smaller size while developing.
"""

from __future__ import annotations

import json
import os
import sys

from ._measure import measure
from .pseudonymizer_bench import BENCH, REPO, sources

TABLE = "ER_PRS_F"
PEOPLE = int(os.environ.get("BENCH_PEOPLE", 1_000_000))  # ~10 care rows each

PRELUDE = """
import hashlib, json, os, sys, time
from pathlib import Path
from pseudonymizer.catalog import load_catalog
from pseudonymizer.engines import EngineSpec
from pseudonymizer.extract import extract

def run(engine, out):
    t0 = time.perf_counter()
    m = extract(load_catalog(sys.argv[1]), sys.argv[2], "bench", out, bytes(32), tables=[sys.argv[4]], progress=False, engine=engine)
    digest = hashlib.sha256((Path(out) / (sys.argv[4] + ".parquet")).read_bytes()).hexdigest()
    return {"rows": m["tables"][sys.argv[4]]["rows_in"], "seconds": time.perf_counter() - t0, "sha256": digest}
"""

LOCAL = PRELUDE + """
print(json.dumps(run(None, sys.argv[3])))
"""

DASK = PRELUDE + """
if __name__ == "__main__":
    from distributed import LocalCluster
    t0 = time.perf_counter()
    with LocalCluster(n_workers=int(sys.argv[5]), threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        start = time.perf_counter() - t0
        result = run(EngineSpec("dask", address=cluster.scheduler_address), sys.argv[3])
    print(json.dumps({**result, "start_seconds": start}))
"""

SPARK = PRELUDE + """
from pseudonymizer.distributed import spark_session
t0 = time.perf_counter()
session = spark_session(EngineSpec("spark", workers=2))
start = time.perf_counter() - t0
first = run(EngineSpec("spark", session=session), sys.argv[3])
second = run(EngineSpec("spark", session=session), sys.argv[3])
session.stop()
print(json.dumps({**second, "first_seconds": first["seconds"], "start_seconds": start, "same": first["sha256"] == second["sha256"]}))
"""


def main() -> int:
    catalog = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
    folder = sources(PEOPLE)
    out = BENCH / "out-scale"
    out.mkdir(parents=True, exist_ok=True)
    args = [str(catalog), str(folder), str(out / "extract"), TABLE]
    print(f"measuring {TABLE} of {PEOPLE:,} people: local, Dask 1 and 2 workers, Spark local[2] ...", flush=True)
    results = {"local": measure(LOCAL, *args)}
    for workers in (1, 2):
        results[f"dask_{workers}"] = measure(DASK, *args, str(workers))
    results["spark"] = measure(SPARK, *args)
    base = results["local"]
    rows = base["rows"]
    print(f"\n{rows:,} rows; times without the cluster's start; ratio = the local engine's time / this one's (above 1: faster)")
    print(f"{'engine':28} {'seconds':>8} {'rows/s':>12} {'vs local':>9} {'start s':>8} {'same bytes':>10}")
    for name, label in (("local", "local (baseline)"), ("dask_1", "dask, 1 worker"), ("dask_2", "dask, 2 workers"),
                        ("spark", "spark local[2], warm job")):
        r = results[name]
        same = "yes" if r["sha256"] == base["sha256"] else "NO"
        start = f"{r['start_seconds']:8.1f}" if "start_seconds" in r else f"{'-':>8}"
        print(f"{label:28} {r['seconds']:8.2f} {rows / r['seconds']:12,.0f} {base['seconds'] / r['seconds']:8.2f}x {start} {same:>10}")
    spark = results["spark"]
    print(f"spark's first job (starts its Python workers): {spark['first_seconds']:.2f} s; JVM start {spark['start_seconds']:.1f} s")
    scaling = results["dask_1"]["seconds"] / results["dask_2"]["seconds"]
    print(f"dask scaling from 1 to 2 workers: {scaling:.2f}x (on {os.cpu_count()} cores, the driver's join included)")
    summary = {"rows": rows, "people": PEOPLE, "dask_scaling_1_to_2": scaling, "cores": os.cpu_count(), **results}
    (BENCH / "scale.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if all(r["sha256"] == base["sha256"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
