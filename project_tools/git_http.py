"""git's smart HTTP for one project's repository: ``git http-backend`` run as a CGI program.

The caller has already been bound to its project (:mod:`enclave.enclave_origin`); here the
repository root is that project's ``code/`` folder, whatever the URL asks, and only the paths of
the smart protocol are passed on (no "dumb" file reads: ``GIT_HTTP_EXPORT_ALL`` with a
``PATH_INFO`` limited to :data:`SMART_PATHS`).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from enclave.layout import REPOSITORY

SMART_PATHS = re.compile(r"^(info/refs|git-upload-pack|git-receive-pack)$")
TIMEOUT = 600


@dataclass
class CgiAnswer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def run_backend(code_dir: Path, path: str, method: str, query: str, headers: dict[str, str], body: bytes,
                user: str, address: str) -> CgiAnswer:
    """Answer one smart-HTTP request for the repository in ``code_dir`` (``path`` is what follows ``.git/``)."""
    if not SMART_PATHS.match(path):
        return CgiAnswer(404, [("Content-Type", "text/plain")], b"only git's smart HTTP protocol is served here\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(code_dir), "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(code_dir),
        "PATH_INFO": f"/{REPOSITORY}/{path}", "REQUEST_METHOD": method, "QUERY_STRING": query,
        "CONTENT_TYPE": headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": user, "REMOTE_ADDR": address, "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = headers["Content-Encoding"]
    if headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = headers["Git-Protocol"]
    done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=TIMEOUT)
    return parse_cgi(done.stdout, done.returncode, done.stderr)


def parse_cgi(output: bytes, returncode: int = 0, stderr: bytes = b"") -> CgiAnswer:
    head, sep, body = output.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = output.partition(b"\n\n")
    if not sep:
        message = stderr.decode(errors="replace").strip()[-500:] or f"git http-backend exited {returncode}"
        return CgiAnswer(500, [("Content-Type", "text/plain")], f"git http-backend failed: {message}\n".encode())
    answer = CgiAnswer(200, body=body)
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            answer.status = int(value.strip().split(" ", 1)[0])
        elif name.strip():
            answer.headers.append((name.strip(), value.strip()))
    return answer
