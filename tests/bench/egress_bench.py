"""make bench (egress gate): checking a 1-million-row CSV against a 1-million-pseudonym set.

Measured as a ratio to pyarrow's read time of the same file in the same run (target <= 2x), and
the same check through the gate's budgeted worker process (one compute thread, low priority:
informative). Then every pathological file of the fuzz suite (tests/egress/hostile_files.py)
is checked in the worker; the worst must take <= 5 s.
The CSV looks like what a researcher might wrongly try to export: one row per person, with a
pseudonym column (half of them the project's), a count-like column, a label, a date and a
postcode. Written to .bench/egress.json.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ._measure import measure

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / ".bench"
ROWS = 1_000_000
PSEUDONYMS = 1_000_000
REPEATS = 3

MAKE = """
import os, sys
import numpy as np, pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
from pseudonymizer.pseudonyms import random_pseudonyms
rows, n, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(1)
project = random_pseudonyms(n)
os.makedirs(f"{folder}/extracts", exist_ok=True)
pq.write_table(pa.table({"BEN_NIR_PSA": project, "age": rng.integers(0, 100, n)}), f"{folder}/extracts/IR_BEN_R.parquet")
import json  # the manifest the gate reads the linkage columns from, as the pseudonymizer writes it
columns = [{"name": "BEN_NIR_PSA", "role": "linkage"}, {"name": "age", "role": "quasi"}]
with open(f"{folder}/extracts/manifest.json", "w") as out:
    json.dump({"tables": {"IR_BEN_R": {"columns": columns, "output": {"file": "IR_BEN_R.parquet"}}}}, out)
ids = random_pseudonyms(rows)
mine = rng.random(rows) < 0.5
ids = pa.array(np.where(mine, project.to_numpy(zero_copy_only=False)[rng.integers(0, n, rows)], ids.to_numpy(zero_copy_only=False)))
table = pa.table({
    "subject": ids,
    "nb_visits": rng.integers(0, 40, rows),
    "region": pa.array(np.array(["IDF", "ARA", "PACA", "BRE", "NOR"])[rng.integers(0, 5, rows)]),
    "visit_date": pa.array(np.datetime64("2015-01-01") + rng.integers(0, 3000, rows).astype("timedelta64[D]")),
    "postcode": pa.array(np.char.zfill(rng.integers(1000, 95999, rows).astype(str), 5)),
    "cost": rng.random(rows) * 1000,
})
pacsv.write_csv(table, f"{folder}/people.csv")
"""

READ = """
import json, sys, time
import pyarrow.csv as pacsv
t0 = time.perf_counter()
for _ in range(int(sys.argv[2])):
    table = pacsv.read_csv(sys.argv[1])
print(json.dumps({"rows": table.num_rows, "seconds": (time.perf_counter() - t0) / int(sys.argv[2])}))
"""

CHECK = """
import json, sys, time
from egress_gate import CheckContext, DEFAULT_POLICY, check_file, load_pseudonyms, worst
t0 = time.perf_counter()
context = CheckContext(pseudonyms=load_pseudonyms(sys.argv[2]))
context.pseudonym_keys  # sorted once per project, as the gate's process keeps it
load = time.perf_counter() - t0
policy = DEFAULT_POLICY.with_overrides(max_rows=10_000_000, max_size_bytes=1 << 32)
t0 = time.perf_counter()
for _ in range(int(sys.argv[3])):
    findings = check_file(sys.argv[1], policy, context)
seconds = (time.perf_counter() - t0) / int(sys.argv[3])
print(json.dumps({"seconds": seconds, "load_pseudonyms_seconds": load, "pseudonyms": len(context.pseudonyms),
                  "outcome": worst(findings).value, "failed": sorted({f.check for f in findings if f.outcome.value == "fail"})}))
"""

WORKER = """
import json, sys, time
from pathlib import Path
from egress_gate import CheckContext, DEFAULT_POLICY, load_pseudonyms
from egress_gate.check_worker import Budget, check_in_worker
context = CheckContext(pseudonyms=load_pseudonyms(sys.argv[2]))
policy = DEFAULT_POLICY.with_overrides(max_rows=10_000_000, max_size_bytes=1 << 32)
t0 = time.perf_counter()
findings = check_in_worker(Path(sys.argv[1]), policy, context, Budget(seconds=120))
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "failed": sorted({f["check"] for f in findings if f["outcome"] == "fail"})}))
"""

FUZZ = """
import json, sys, tempfile, time
from pathlib import Path
from egress_gate import CheckContext, DEFAULT_POLICY
from egress_gate.check_worker import Budget, check_in_worker
from tests.egress.hostile_files import BUILDERS, build
times = {}
with tempfile.TemporaryDirectory() as folder:
    for name in sorted(BUILDERS):
        path = build(Path(folder), name)
        t0 = time.perf_counter()
        findings = check_in_worker(path, DEFAULT_POLICY, CheckContext(), Budget(seconds=30), folder)
        times[name] = {"seconds": time.perf_counter() - t0, "bytes": path.stat().st_size,
                       "budget_exceeded": any(f["check"] == "budget" for f in findings)}
        path.unlink()
worst = max(times, key=lambda n: times[n]["seconds"])
print(json.dumps({"files": times, "worst": worst, "worst_seconds": times[worst]["seconds"]}))
"""


def main() -> int:
    folder = BENCH / "data" / "egress"
    csv = folder / "people.csv"
    marker = folder / ".complete"
    if not marker.exists():
        print(f"writing a {ROWS:,}-row CSV and a {PSEUDONYMS:,}-pseudonym extract in {folder} ...", flush=True)
        measure(MAKE, str(ROWS), str(PSEUDONYMS), str(folder))
        marker.touch()
    print(f"measuring: pyarrow read, check_file (mean of {REPEATS}) ...", flush=True)
    read = measure(READ, str(csv), str(REPEATS))
    check = measure(CHECK, str(csv), str(folder / "extracts"), str(REPEATS))
    worker = measure(WORKER, str(csv), str(folder / "extracts"))
    print("measuring: the fuzz suite's pathological files, each in the worker ...", flush=True)
    fuzz = measure(FUZZ)
    ratio = check["seconds"] / read["seconds"]
    summary = {
        "machine": {"cores": os.cpu_count()},
        "rows": ROWS, "pseudonyms": check["pseudonyms"], "csv_bytes": csv.stat().st_size,
        "results": {"pyarrow_read": read, "check_file": check, "check_in_worker": worker, "fuzz": fuzz},
        "ratio_to_pyarrow_read": ratio,
        "targets": {"ratio_to_pyarrow_read": "<= 2", "worst_fuzz_seconds": "<= 5"},
    }
    BENCH.mkdir(exist_ok=True)
    (BENCH / "egress.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'measure':<40}{'seconds':>10}{'peak RSS MiB':>14}")
    print(f"{'pyarrow read_csv (same file)':<40}{read['seconds']:>10.3f}{read['peak_rss_mib']:>14.0f}")
    print(f"{'check_file (read + every check)':<40}{check['seconds']:>10.3f}{check['peak_rss_mib']:>14.0f}")
    print(f"{'load_pseudonyms + sort (once per project)':<40}{check['load_pseudonyms_seconds']:>10.3f}")
    print(f"{'check in the budgeted worker (1 thread)':<40}{worker['seconds']:>10.3f}")
    print(f"\ncheck / read = {ratio:.2f}x (target <= 2); outcome {check['outcome']}, failed: {', '.join(check['failed'])}")
    print(f"worst pathological file: {fuzz['worst']} in {fuzz['worst_seconds']:.2f} s (target <= 5), "
          f"{len(fuzz['files'])} files")
    print(f"written to {BENCH / 'egress.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
