"""Run :func:`airlock.scan.scan_file` in a separate process under a budget, as the gate runs its checks.

Same reasons and the same limits as :mod:`egress_gate.check_worker` (whose ``_limit_self`` it
uses, so one place says how a worker is held): a wall-clock limit (the parent kills the worker),
CPU and address-space limits, no core dump, low priority. A worker that runs out of budget or
crashes gives one failing ``budget`` finding naming the family that was running: never a pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from egress_gate.check_worker import _limit_self, _worker_env
from egress_gate.findings import Outcome

from .config import ScanConfig
from .scan import finding, scan_file


def scan_in_worker(path: Path, config: ScanConfig, work_dir: Path | None = None) -> list[dict]:
    """The findings of scanning ``path``, in a worker held to ``config``'s budget."""
    job = Path(tempfile.mkdtemp(prefix="import-scan-", dir=work_dir))
    try:
        (job / "job.json").write_text(json.dumps({"path": str(Path(path).absolute()), "config": config.to_dict()}))
        with open(job / "stderr", "wb") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "airlock.scan_worker", str(job)],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                       close_fds=True, cwd=job, env=_worker_env())
            try:
                code = process.wait(timeout=config.seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return [_out_of_budget(job, f"ran out of its time budget ({config.seconds:g} s, "
                                            "ENCLAVE_IMPORT_SCAN_SECONDS)")]
        result = job / "findings.json"
        if code == 0 and result.is_file():
            return json.loads(result.read_text())
        tail = (job / "stderr").read_bytes()[-300:].decode("utf-8", "replace").strip().splitlines()
        return [_out_of_budget(job, f"stopped (exit status {code}: {tail[-1][:200] if tail else 'no message'})")]
    finally:
        shutil.rmtree(job, ignore_errors=True)


def _out_of_budget(job: Path, why: str) -> dict:
    try:
        running = (job / "progress").read_text().strip()
    except OSError:
        running = "start-up"
    return finding("budget", Outcome.FAIL, f"the {running} scan {why}: the file cannot be cleared; split it or "
                   "ask ops to raise the budget")


def _run(job: Path) -> int:
    spec = json.loads((job / "job.json").read_text())
    config = ScanConfig.from_dict(spec["config"])
    # The CPU limit is the wall-clock budget: clamscan, a child, gets its own count of the same.
    _limit_self(config.seconds, config.memory_bytes)
    progress = job / "progress"
    findings = scan_file(Path(spec["path"]), config, progress.write_text)
    tmp = job / "findings.json.tmp"
    tmp.write_text(json.dumps(findings))
    tmp.rename(job / "findings.json")
    return 0


if __name__ == "__main__":
    sys.exit(_run(Path(sys.argv[1])))
