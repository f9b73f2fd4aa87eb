"""Check one model file in a sandboxed worker process, under the checks' budget.

The only place a model file is loaded. The worker reads its job (the model's bytes, the training
and held-out rows' bytes) while it still can, shuts itself in (:func:`egress_gate.sandbox.enter`:
no network, read-only filesystem, own PID namespace, no capabilities), applies the budget's limits
(:func:`egress_gate.check_worker._limit_self`), and only then imports the model libraries and
parses anything. Its findings come back on its standard output (it can write nowhere else); the
parent kills its whole process group when the wall-clock budget is spent. A worker that cannot
enter the sandbox loads nothing and answers one failing ``sandbox`` finding.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .check_worker import Budget, _limit_self, _looks_like_memory, _worker_env
from .findings import Finding, Outcome
from .model_request import DataFile, ModelData
from .policy import Policy
from .tables import file_type

MAX_ANSWER = 4 * 1024 ** 2  # bytes of findings read back: a report is a few kB


def check_model_in_worker(path: Path | str, data: ModelData, policy: Policy, budget: Budget,
                          work_dir: Path | str | None = None) -> list[dict]:
    """The findings (as dicts) of the model file at ``path``, attacked with ``data``, in a sandboxed worker."""
    job = Path(tempfile.mkdtemp(prefix="model-", dir=work_dir))
    try:
        write_job(job, Path(path), data, policy, budget)
        started = time.monotonic()
        with open(job / "stderr", "wb") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "egress_gate.model_worker", str(job)],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, close_fds=True,
                                       cwd=job, env=_worker_env(), start_new_session=True)
            try:
                out, _ = process.communicate(timeout=budget.seconds)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                return [_failed(policy, f"ran out of its time budget ({budget.seconds:g} s)")]
        tail = (job / "stderr").read_bytes()[-600:].decode("utf-8", "replace").strip().splitlines()
        if process.returncode == 0:
            try:
                answer = json.loads(out[:MAX_ANSWER])
                if isinstance(answer, list) and all(isinstance(f, dict) for f in answer):
                    return answer
            except ValueError:
                pass
        why = (f"ran out of its memory budget ({budget.memory_bytes // 2 ** 20} MB)" if _looks_like_memory(tail)
               else f"stopped after {time.monotonic() - started:.1f} s (exit status {process.returncode}: "
                    f"{tail[-1][:200] if tail else 'no message'})")
        return [_failed(policy, why)]
    finally:
        shutil.rmtree(job, ignore_errors=True)


def write_job(job: Path, path: Path, data: ModelData, policy: Policy, budget: Budget) -> None:
    """The worker's job: what to load and attack, with which policy and budget."""
    (job / "job.json").write_text(json.dumps({
        "model": str(path.absolute()), "kind": file_type(path), "target": data.target,
        "policy": {"version": policy.version, **policy.values()},
        "budget": {"seconds": budget.seconds, "memory_bytes": budget.memory_bytes},
        "data": {role: {"name": f.name, "sha256": f.sha256, "type": f.type, "path": str(_written(job, role, f))}
                 for role, f in (("training", data.training), ("holdout", data.holdout))}}))


def _written(job: Path, role: str, f: DataFile) -> Path:
    path = job / f"{role}.{f.type}"
    path.write_bytes(f.data)
    return path


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _failed(policy: Policy, why: str) -> dict:
    return Finding("budget", Outcome.FAIL, f"the model check {why}: the model cannot be cleared automatically",
                   policy.record()).to_dict()


def _run(job: Path) -> int:
    """The worker's side: read everything, enter the sandbox, then load and attack."""
    answer = os.fdopen(os.dup(1), "w")  # the findings' channel; what libraries print goes to stderr
    os.dup2(2, 1)
    os.environ.update(MPLCONFIGDIR="/tmp", MPLBACKEND="Agg")  # sacroml imports matplotlib; /tmp is the sandbox's
    spec = json.loads((job / "job.json").read_text())
    model = Path(spec["model"]).read_bytes()
    data = {role: {**d, "data": Path(d["path"]).read_bytes()} for role, d in spec["data"].items()}
    values = spec["policy"]
    values["allowed_types"] = tuple(values["allowed_types"])
    policy = Policy(**values)
    from .sandbox import SandboxError, enter

    try:
        enter()
    except SandboxError as exc:
        findings = [Finding("sandbox", Outcome.FAIL, f"the model was not loaded: its sandbox could not be set up ({exc})",
                            policy.record()).to_dict()]
    else:
        findings = _check(model, spec, data, policy)
    answer.write(json.dumps(findings))
    answer.flush()
    return 0


def _check(model: bytes, spec: dict, data: dict, policy: Policy) -> list[dict]:
    from .checks.models import check_model, import_libraries

    try:
        import_libraries()  # before the limits: mapping torch's libraries alone takes a good part of them
    except ImportError as exc:
        return [Finding("model_tools", Outcome.FAIL, f"the gate cannot attack models here ({exc}): the model was not "
                        "checked; ops: install the gate with its [models] extra (make install)", policy.record()).to_dict()]
    _limit_self(spec["budget"]["seconds"], spec["budget"]["memory_bytes"])
    try:
        return [f.to_dict() for f in check_model(model, spec["kind"], data["training"], data["holdout"], spec["target"], policy)]
    except MemoryError:
        return [_failed(policy, f"ran out of its memory budget ({spec['budget']['memory_bytes'] // 2 ** 20} MB)")]


if __name__ == "__main__":
    sys.exit(_run(Path(sys.argv[1])))
