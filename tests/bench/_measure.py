"""Run one measured step in a child process: its time (as it reports it, else wall time) and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def measure(code: str, *args: str) -> dict:
    """Run `code` (Python source reading sys.argv) in a fresh interpreter; return seconds and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed ({proc.returncode}): {code[:80]}...")
    result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, **result}
