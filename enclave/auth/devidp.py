"""A local OpenID Connect provider for development, demos and tests: ``oidc-provider-mock``.

It signs in whoever types a subject into its form (any client id and secret are accepted), so it
must only ever listen on loopback. Run it with ``python -m enclave.auth.devidp --port 9400``, then
export ``ENCLAVE_OIDC_ISSUER=http://127.0.0.1:9400`` (any ``ENCLAVE_OIDC_CLIENT_ID`` / ``_SECRET``).
Only users registered with ``enclave user add NAME --oidc-sub SUBJECT`` (or whose user name is the
subject) get past the hub.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from enclave.errors import EnclaveError

HOST = "127.0.0.1"


def command(port: int) -> list[str]:
    return [sys.executable, "-m", "oidc_provider_mock", "--host", HOST, "--port", str(port)]


@contextmanager
def running_idp(port: int, log: Path, timeout: float = 30) -> Iterator[str]:
    """Start the provider on loopback ``port``; yields its issuer URL; stops it at the end."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command(port), stdout=out, stderr=subprocess.STDOUT)
    issuer = f"http://{HOST}:{port}"
    try:
        wait_ready(issuer, process, log, timeout)
        yield issuer
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_ready(issuer: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnclaveError(f"the OIDC provider exited ({process.returncode}): {log.read_text()[-2000:]}",
                               "is oidc-provider-mock installed (pip install oidc-provider-mock)?")
        try:
            if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise EnclaveError(f"the OIDC provider did not answer at {issuer} within {timeout:.0f}s", f"see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9400, help="loopback port (default 9400)")
    args = parser.parse_args()
    print(f"OIDC provider for development on http://{HOST}:{args.port} — export "
          f"ENCLAVE_OIDC_ISSUER=http://{HOST}:{args.port}", file=sys.stderr)
    os.execv(sys.executable, command(args.port))  # the provider takes this process: one pid to stop


if __name__ == "__main__":
    main()
