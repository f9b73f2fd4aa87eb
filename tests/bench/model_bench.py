"""make bench (egress gate, models): the model check's time on a small random forest.

A forest of 20 trees (depth 3, leaves of 10 rows) trained on 400 rows of 4 features, 400 rows held
out, saved with joblib: what a researcher's risk score looks like. Measured, each in a fresh
interpreter, in the same run:

- the whole check as the gate runs it (:func:`egress_gate.model_worker.check_model_in_worker`:
  a worker process, the sandbox, the libraries' import, the safe load, both attacks);
- the libraries' import alone (sacroml brings torch: the fixed cost of every model check);
- load and attacks alone (:func:`egress_gate.checks.models.check_model`, libraries imported),
  against the forest's own training time (the peer: what the researcher's fit cost).

Target: the whole check <= 30 s (the default check budget is 60 s). Written to .bench/model.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ._measure import measure

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / ".bench"
TARGET_SECONDS = 30.0

MAKE = """
import sys, time, json, joblib, numpy as np, pandas as pd
from sklearn.ensemble import RandomForestClassifier
folder = sys.argv[1]
def table(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 4))
    frame = pd.DataFrame(x, columns=["age", "bmi", "sbp", "chol"])
    frame["event"] = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=400) > 0).astype(int)
    return frame
train = table(1)
train.to_parquet(f"{folder}/train.parquet")
table(2).to_parquet(f"{folder}/holdout.parquet")
t0 = time.perf_counter()
forest = RandomForestClassifier(n_estimators=20, max_depth=3, min_samples_leaf=10, random_state=0)
forest.fit(train[["age", "bmi", "sbp", "chol"]], train["event"])
fit = time.perf_counter() - t0
joblib.dump(forest, f"{folder}/risk.joblib")
print(json.dumps({"seconds": fit}))
"""

WORKER = """
import sys, time, json
from pathlib import Path
from egress_gate.check_worker import Budget
from egress_gate.model_request import DataFile, ModelData
from egress_gate.model_worker import check_model_in_worker
from egress_gate.policy import DEFAULT_POLICY
folder = Path(sys.argv[1])
data = ModelData(*(DataFile(f"{role}.parquet", "0" * 64, "parquet", (folder / f"{role}.parquet").read_bytes())
                   for role in ("train", "holdout")), "event")
t0 = time.perf_counter()
findings = check_model_in_worker(folder / "risk.joblib", data, DEFAULT_POLICY, Budget(), folder)
seconds = time.perf_counter() - t0
attacks = next(f for f in findings if f["check"] == "model_attacks")
auc = next(r for r in attacks["report"]["rows"] if r["metric"].startswith("attack AUC"))
print(json.dumps({"seconds": seconds, "outcome": attacks["outcome"], "auc": float(auc["value"])}))
"""

IMPORT = """
import time, json
t0 = time.perf_counter()
from egress_gate.checks.models import import_libraries
import_libraries()
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""

IN_PROCESS = """
import sys, time, json
from pathlib import Path
from egress_gate.checks.models import check_model, import_libraries
from egress_gate.policy import DEFAULT_POLICY
import_libraries()
folder = Path(sys.argv[1])
data = {role: {"name": role, "sha256": "0" * 64, "type": "parquet", "data": (folder / f"{role}.parquet").read_bytes()}
        for role in ("train", "holdout")}
t0 = time.perf_counter()
check_model((folder / "risk.joblib").read_bytes(), "joblib", data["train"], data["holdout"], "event", DEFAULT_POLICY)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="model-bench-") as folder:
        fit = measure(MAKE, folder)
        print("measuring: the model check in its sandboxed worker, the libraries' import, load + attacks ...", flush=True)
        worker = measure(WORKER, folder)
        imports = measure(IMPORT)
        in_process = measure(IN_PROCESS, folder)
    summary = {"forest_fit": fit, "worker": worker, "import": imports, "load_and_attacks": in_process,
               "target_seconds": TARGET_SECONDS, "within_target": worker["seconds"] <= TARGET_SECONDS}
    BENCH.mkdir(exist_ok=True)
    (BENCH / "model.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'measure':<48}{'seconds':>10}{'peak RSS MiB':>14}")
    print(f"{'random forest fit (the peer)':<48}{fit['seconds']:>10.3f}")
    print(f"{'model check in the sandboxed worker (whole)':<48}{worker['seconds']:>10.3f}{worker['peak_rss_mib']:>14.0f}")
    print(f"{'  of which: importing sacroml, torch, sklearn':<48}{imports['seconds']:>10.3f}{imports['peak_rss_mib']:>14.0f}")
    print(f"{'  of which: safe load + both attacks':<48}{in_process['seconds']:>10.3f}")
    print(f"\nattack AUC {worker['auc']:.3f}, outcome {worker['outcome']}; whole check {worker['seconds']:.1f} s "
          f"(target <= {TARGET_SECONDS:g} s): {'ok' if summary['within_target'] else 'OVER'}")
    print(f"written to {BENCH / 'model.json'}")
    return 0 if summary["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
