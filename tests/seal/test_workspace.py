"""The shared workspace is a filesystem of its own: writing past the project's quota fails inside
the enclave with ENOSPC and the host's disk is untouched beyond it; ``~/work`` is mounted nosuid and
nodev (nothing set-uid or device-like made there means anything)."""

from __future__ import annotations

import json
import shutil

from ..enclave.platform import slug

QUOTA = 32 * 1024 * 1024  # the tight project's workspace_quota

FILL = r"""
import errno, json, os
written, error = 0, None
try:
    with open("/home/jovyan/work/filler.bin", "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(64):                      # 64 MiB: twice the quota
            f.write(chunk); f.flush(); os.fsync(f.fileno()); written += len(chunk)
except OSError as e:
    error = errno.errorcode.get(e.errno, str(e.errno))
flags = next(line.split()[5] for line in open("/proc/self/mountinfo") if line.split()[4] == "/home/jovyan/work")
os.remove("/home/jovyan/work/filler.bin")
print(json.dumps({"written": written, "error": error, "flags": flags}))
"""


def test_writing_past_the_quota_fails_inside_and_spares_the_host(sealed, bob):
    container = bob.start("tight")
    project_dir = sealed.settings().project_dir(slug("tight"))
    before = shutil.disk_usage(project_dir).free
    result = container.exec_run(["python3", "-c", FILL], user="1000:100")
    assert result.exit_code == 0, result.output.decode()
    seen = json.loads(result.output.decode().strip().splitlines()[-1])
    assert seen["error"] == "ENOSPC", seen
    assert seen["written"] <= QUOTA, seen
    assert {"nosuid", "nodev"} <= set(seen["flags"].split(",")), seen
    # The host lost at most the quota (the image is sparse), whatever was attempted inside.
    assert before - shutil.disk_usage(project_dir).free < QUOTA + 8 * 1024 * 1024
    assert (project_dir / "workspace.img").stat().st_size == QUOTA
