"""make bench (pseudonymizer): our extraction against the copy limit and a naive pandas baseline.

All figures come from this one run on this machine: 10 million care-sheet rows for 1 million
people (ER_PRS_F), and the peak RSS at two input sizes. Written to .bench/pseudonymizer.json.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ._measure import measure

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / ".bench"
TABLE = "ER_PRS_F"
SIZES = {"large": 1_000_000, "small": 250_000}  # people; ~10 care rows each
NAIVE_ROWS = 1_000_000

SYNTH = """
import sys
from pathlib import Path
from pseudonymizer.synth import generate
generate(Path(sys.argv[1]), people=int(sys.argv[2]), seed=1, progress=False)
"""

OURS = """
import json, os, sys, time
from pseudonymizer.catalog import load_catalog
from pseudonymizer.extract import extract
t0 = time.perf_counter()
cat = load_catalog(sys.argv[1])
m = extract(cat, sys.argv[2], "bench", sys.argv[3], os.urandom(32), tables=[sys.argv[4]], progress=False)
print(json.dumps({"rows": m["tables"][sys.argv[4]]["rows_in"], "seconds": time.perf_counter() - t0}))
"""

COPY = """
import json, sys, time
import pyarrow.parquet as pq
from pseudonymizer.catalog import load_catalog
from pseudonymizer.extract import DEFAULT_BATCH_ROWS
t0 = time.perf_counter()
table = load_catalog(sys.argv[1]).table(sys.argv[4])
columns = [c.name for c in table.columns if c.role != "direct"]
src = pq.ParquetFile(f"{sys.argv[2]}/{sys.argv[4]}.parquet")
rows = 0
with pq.ParquetWriter(sys.argv[3], src.schema_arrow) as writer:
    for batch in src.iter_batches(batch_size=DEFAULT_BATCH_ROWS, columns=columns):
        writer.write_batch(batch)
        rows += batch.num_rows
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0}))
"""

NAIVE = """
# The same job done the naive way: pandas, one Python call per row (drop fictive ids, HMAC the
# linkage ids, coarsen ages), on a slice of the same input.
import hashlib, hmac, json, os, sys, time
import pandas as pd
import pyarrow.parquet as pq
from pseudonymizer.catalog import load_catalog
t0 = time.perf_counter()
table = load_catalog(sys.argv[1]).table(sys.argv[4])
columns = [c for c in table.columns if c.role != "direct"]
src = pq.ParquetFile(f"{sys.argv[2]}/{sys.argv[4]}.parquet")
frame = next(src.iter_batches(batch_size=int(sys.argv[5]), columns=[c.name for c in columns])).to_pandas()
key = os.urandom(32)

def row_out(row):
    out = []
    for c, value in zip(columns, row):
        if c.role == "linkage":
            value = hmac.new(key, (c.domain + "\\0" + value).encode(), hashlib.sha256).hexdigest()[:32]
        elif c.rule == "age_band5":
            value = "90+" if value >= 90 else f"{value // 5 * 5}-{value // 5 * 5 + 4}"
        out.append(value)
    return out

kept = frame[frame[table.fictive.column].isin(table.fictive.valid)]
result = pd.DataFrame([row_out(row) for row in kept.itertuples(index=False)], columns=[c.name for c in columns])
result.to_parquet(sys.argv[3])
print(json.dumps({"rows": len(frame), "seconds": time.perf_counter() - t0}))
"""


def sources(people: int) -> Path:
    folder = BENCH / "data" / f"people-{people}"
    marker = folder / ".complete"
    if not marker.exists():
        print(f"generating synthetic sources for {people:,} people in {folder} ...", flush=True)
        measure(SYNTH, str(folder), str(people))
        marker.touch()
    return folder


def main() -> int:
    catalog = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
    out = BENCH / "out"
    out.mkdir(parents=True, exist_ok=True)
    large, small = sources(SIZES["large"]), sources(SIZES["small"])
    results = {}
    print("measuring: copy limit, ours (large), ours (small), naive pandas per-row hmac ...", flush=True)
    results["copy"] = measure(COPY, str(catalog), str(large), str(out / "copy.parquet"), TABLE)
    results["ours"] = measure(OURS, str(catalog), str(large), str(out / "ours"), TABLE)
    results["ours_small"] = measure(OURS, str(catalog), str(small), str(out / "ours-small"), TABLE)
    results["naive"] = measure(NAIVE, str(catalog), str(large), str(out / "naive.parquet"), TABLE, str(NAIVE_ROWS))
    for r in results.values():
        r["rows_per_s"] = r["rows"] / r["seconds"]
    ours = results["ours"]["rows_per_s"]
    summary = {
        "machine": {"cores": os.cpu_count()},
        "table": TABLE,
        "results": results,
        "ratio_to_copy_limit": ours / results["copy"]["rows_per_s"],
        "ratio_to_naive": ours / results["naive"]["rows_per_s"],
        "targets": {"ratio_to_copy_limit": ">= 0.5", "ratio_to_naive": ">= 8", "peak_rss_mib": "< 1024 at both sizes"},
    }
    (BENCH / "pseudonymizer.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'measure':<34}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak RSS MiB':>14}")
    for name, label in (("copy", "copy limit (pyarrow read+write)"), ("ours", "ours, 10M rows"), ("ours_small", "ours, 2.5M rows"),
                        ("naive", "naive pandas per-row hmac")):
        r = results[name]
        print(f"{label:<34}{r['rows']:>12,}{r['seconds']:>10.2f}{r['rows_per_s']:>14,.0f}{r['peak_rss_mib']:>14.0f}")
    print(f"\nours / copy limit = {summary['ratio_to_copy_limit']:.2f}x (target >= 0.5)")
    print(f"ours / naive      = {summary['ratio_to_naive']:.1f}x (target >= 8)")
    print(f"written to {BENCH / 'pseudonymizer.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
