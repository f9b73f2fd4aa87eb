"""Run :func:`~egress_gate.checks.check_file` on one file in a separate process, under a budget.

Why a process: a hostile file must not be able to stall the gate (invariant 9). A check that
loops, or a reader that balloons, is stopped from outside: the worker has a wall-clock limit
(the parent kills it), a CPU limit and an address-space limit (``setrlimit``, so an allocation
past it fails inside the worker). Whatever happens, the answer is a list of findings: a worker
that ran out of budget, crashed or answered nonsense gives one ``fail`` finding naming the check
that was running (``budget``), never a pass and never a hang.

The job travels through a private folder: ``job.json`` (file, policy, project, earlier releases),
``pseudonyms.arrow`` (the project's pseudonym set, Arrow IPC), and back ``findings.json``; the
worker writes the name of each check it starts into ``progress``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .column_types import Declaration
from .context import CheckContext
from .findings import Finding, Outcome
from .policy import Policy


@dataclass(frozen=True)
class Budget:
    """What one file's checks may use: wall-clock seconds and bytes of address space."""

    seconds: float = 60.0
    memory_bytes: int = 2 * 1024 ** 3

    @classmethod
    def from_env(cls, environ=None) -> "Budget":
        env = os.environ if environ is None else environ
        seconds = env.get("ENCLAVE_EGRESS_CHECK_SECONDS") or str(cls.seconds)
        memory = env.get("ENCLAVE_EGRESS_CHECK_MEMORY_MB") or str(cls.memory_bytes // 2 ** 20)
        try:
            budget = cls(float(seconds), int(memory) * 2 ** 20)
        except ValueError:
            budget = None
        if budget is None or budget.seconds <= 0 or budget.memory_bytes <= 0:
            from .errors import EgressError
            raise EgressError(f"ENCLAVE_EGRESS_CHECK_SECONDS={seconds!r} / ENCLAVE_EGRESS_CHECK_MEMORY_MB={memory!r} "
                              "are not positive numbers", "e.g. 60 and 3072")
        return budget


def check_in_worker(path: Path | str, policy: Policy, context: CheckContext, budget: Budget,
                    work_dir: Path | str | None = None) -> list[dict]:
    """The findings (as dicts) of checking ``path`` in a worker process held to ``budget``."""
    job = Path(tempfile.mkdtemp(prefix="check-", dir=work_dir))
    try:
        _write_job(job, Path(path), policy, context, budget)
        started = time.monotonic()
        with open(job / "stderr", "wb") as stderr:
            # The worker applies its limits to itself first thing (no preexec_fn: the gate is threaded).
            process = subprocess.Popen([sys.executable, "-m", "egress_gate.check_worker", str(job)],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                       close_fds=True, cwd=job, env=_worker_env())
            try:
                code = process.wait(timeout=budget.seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return [_out_of_budget(job, policy, f"ran out of its time budget ({budget.seconds:g} s)")]
        result = job / "findings.json"
        if code == 0 and result.is_file():
            return json.loads(result.read_text())
        elapsed = time.monotonic() - started
        tail = (job / "stderr").read_bytes()[-400:].decode("utf-8", "replace").strip().splitlines()
        why = (f"ran out of its memory budget ({budget.memory_bytes // 2 ** 20} MB)" if _looks_like_memory(tail)
               else f"stopped after {elapsed:.1f} s (exit status {code}: {tail[-1][:200] if tail else 'no message'})")
        return [_out_of_budget(job, policy, why)]
    finally:
        shutil.rmtree(job, ignore_errors=True)


def _worker_env() -> dict[str, str]:
    """A bare environment (no hub token, no database URL: the worker needs neither), with this very
    copy of the package first on the path and one compute thread (a check may take one core)."""
    here = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    kept = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    return {**kept, "PYTHONPATH": here + (os.pathsep + path if path else ""), "OMP_NUM_THREADS": "1"}


def _write_job(job: Path, path: Path, policy: Policy, context: CheckContext, budget: Budget) -> None:
    values = dataclasses.asdict(policy)
    values["allowed_types"] = list(policy.allowed_types)
    (job / "job.json").write_text(json.dumps({
        "path": str(path.absolute()), "policy": values, "project": context.project,
        "budget": {"seconds": budget.seconds, "memory_bytes": budget.memory_bytes},
        "releases": [str(p) for p in context.releases],
        "declared": {name: d.to_dict() for name, d in context.declared.items()}}))
    pseudonyms = pa.table({"p": context.pseudonyms.cast(pa.string())})
    with pa.OSFile(str(job / "pseudonyms.arrow"), "wb") as sink, pa.ipc.new_file(sink, pseudonyms.schema) as writer:
        writer.write_table(pseudonyms)


def _limit_self(seconds: float, memory_bytes: int) -> None:
    """In the worker, before the file is opened: memory, CPU time, no core dump, low priority."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    cpu = int(seconds) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(10)  # the hub, the CLI and logins come first


def _looks_like_memory(tail: list[str]) -> bool:
    text = " ".join(tail).lower()
    return any(word in text for word in ("memoryerror", "out of memory", "bad_alloc", "cannot allocate"))


def _out_of_budget(job: Path, policy: Policy, why: str) -> dict:
    try:
        running = (job / "progress").read_text().strip()
    except OSError:
        running = ""
    what = f"the {running} check" if running else "the checks (starting up)"
    return Finding("budget", Outcome.FAIL,
                   f"{what} {why}: the file cannot be cleared automatically; "
                   "simplify or split it and submit again", policy.record(), (), 0, None).to_dict()


def _run(job: Path) -> int:
    """The worker's side: read the job, check the file, write the findings."""
    from .checks import check_file  # imported here: the parent need not load every check

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    spec = json.loads((job / "job.json").read_text())
    _limit_self(spec["budget"]["seconds"], spec["budget"]["memory_bytes"])
    values = spec["policy"]
    values["allowed_types"] = tuple(values["allowed_types"])
    policy = Policy(**values)
    with pa.memory_map(str(job / "pseudonyms.arrow")) as source:
        pseudonyms = pa.ipc.open_file(source).read_all().column(0).combine_chunks()
    context = CheckContext(pseudonyms=pseudonyms, releases=tuple(Path(p) for p in spec["releases"]),
                           project=spec["project"],
                           declared={n: Declaration.from_dict(d) for n, d in spec.get("declared", {}).items()})
    progress = job / "progress"

    def on_check(name: str) -> None:
        progress.write_text(name)

    try:
        findings = [f.to_dict() for f in check_file(spec["path"], policy, context, on_check)]
    except MemoryError:
        name = progress.read_text() if progress.exists() else "start-up"
        findings = [Finding("budget", Outcome.FAIL, f"the {name} check ran out of its memory budget: the file "
                            "cannot be cleared automatically; simplify or split it and submit again",
                            policy.record()).to_dict()]
    tmp = job / "findings.json.tmp"
    tmp.write_text(json.dumps(findings))
    tmp.rename(job / "findings.json")
    return 0


if __name__ == "__main__":
    sys.exit(_run(Path(sys.argv[1])))
