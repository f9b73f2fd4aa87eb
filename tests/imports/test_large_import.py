"""A 2 GiB import through the gate's upload API (a real tornado server), its connection dropped mid-chunk.

The table is generated chunk by chunk (16 MiB, the largest chunk the gate takes). At 1.25 GiB the
client's TCP connection is closed half-way through a chunk's body; the client asks the gate where
to resume and sends the rest. While incomplete, nothing of the file is an import: the API lists no
file, the import's quarantine folder does not exist, and the project's ``imports`` folder (what its
servers see) holds nothing; only the upload's own ``data.part`` exists, in the hidden staging
folder. Complete, it is scanned in full, then published only when two stewards have approved.
The time of the whole (upload, drop, resume, hash, scan) is printed.
"""

from __future__ import annotations

import hashlib
import socket
import time
from urllib.parse import urlparse

import pytest

from airlock import staging
from enclave.layout import import_quarantine_dir, imports_dir

from ..egress.service_fixtures import PREFIX
from ..egress.workflow_fixtures import SLUG
from .test_service import wait_for_state

pytestmark = pytest.mark.slow

GIB, CHUNK, ROW = 2 ** 30, 16 << 20, 32
HEADER = b"pseudonym,age_band,amount_cents\n"  # 32 bytes: every line is, so 2 GiB is a whole number of lines


def _chunk(first: bool) -> bytes:
    rows = b"".join(b"%016x,%5s,%08d\n" % (n * 2654435761 % 2 ** 64, b"40-49" if n % 3 else b"60-69", n % 10 ** 8)
                    for n in range(CHUNK // ROW))
    assert len(HEADER) == ROW and len(rows) == CHUNK
    return HEADER + rows[ROW:] if first else rows


def drop_mid_chunk(url: str, path: str, token: str, body: bytes) -> None:
    """Send a PUT's headers and half its body, then close the connection (the line drops)."""
    where = urlparse(url)
    with socket.create_connection((where.hostname, where.port)) as conn:
        conn.sendall(f"PUT {path} HTTP/1.1\r\nHost: {where.netloc}\r\nAuthorization: token {token}\r\n"
                     f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
        conn.sendall(body[: len(body) // 2])


def test_a_2_gib_import_resumed_after_the_connection_drops(gate_server):
    server = gate_server
    project_dir = server.gate.config.settings.project_dir(SLUG)
    first, rest = _chunk(True), _chunk(False)
    size, drop_at = 2 * GIB, 80 * CHUNK  # the drop: in the 81st chunk, at 1.25 GiB
    started = time.monotonic()
    import_id = server.api("remi", "POST", "imports", json={"project": SLUG, "purpose": "the cohort's care lines"}).json()["id"]
    token = server.api("remi", "POST", f"imports/{import_id}/uploads", json={"name": "care_lines.csv", "size": size}).json()["token"]
    digest = hashlib.sha256()
    offset = 0
    while offset < drop_at:
        body = first if offset == 0 else rest
        answer = server.api("remi", "PUT", f"imports/{import_id}/uploads/{token}?offset={offset}", data=body)
        assert answer.status_code == 200, answer.text
        digest.update(body)
        offset = answer.json()["offset"]
    drop_mid_chunk(server.url, f"{PREFIX}api/imports/{import_id}/uploads/{token}?offset={offset}", server.tokens["remi"], rest)

    # The client comes back: where to resume? Nothing half-written is visible anywhere meanwhile.
    resume = server.api("remi", "GET", f"imports/{import_id}/uploads/{token}").json()["offset"]
    assert resume == drop_at, resume  # the cut chunk was not stored
    assert server.api("remi", "GET", f"imports/{import_id}").json()["files"] == []
    assert not (import_quarantine_dir(project_dir) / str(import_id)).exists()
    assert not imports_dir(project_dir).exists() or not any(imports_dir(project_dir).iterdir())
    part = staging.staging_dir(project_dir) / token / "data.part"
    assert part.stat().st_size == drop_at  # the only partial bytes: the upload's own file, in the hidden staging folder
    early = server.api("remi", "POST", f"imports/{import_id}/uploads/{token}/complete")
    assert early.status_code == 400 and f"send the rest from offset {drop_at}" in early.json()["error"]

    offset = resume
    while offset < size:
        answer = server.api("remi", "PUT", f"imports/{import_id}/uploads/{token}?offset={offset}", data=rest)
        assert answer.status_code == 200, answer.text
        digest.update(rest)
        offset = answer.json()["offset"]
    uploaded = time.monotonic() - started
    done = server.api("remi", "POST", f"imports/{import_id}/uploads/{token}/complete")
    assert done.status_code == 200, done.text
    assert done.json()["size"] == size and done.json()["sha256"] == digest.hexdigest()
    assert not (staging.staging_dir(project_dir) / token).exists()  # moved by one rename, the staging folder gone
    assert server.api("remi", "POST", f"imports/{import_id}/submit").status_code == 200
    state = wait_for_state(server, "remi", import_id, ("scanned", "blocked"), timeout=900)
    scanned = time.monotonic() - started
    assert state["state"] == "scanned", state
    assert not imports_dir(project_dir).exists() or not any(imports_dir(project_dir).iterdir())  # not before approval
    for steward in ("sven", "stella"):
        answer = server.form_post(steward, f"imports/{import_id}/decision",
                                  {"vote": "approve", "reason": "pseudonymised care lines"}, from_page="imports")
        assert answer.status_code == 302, answer.text
    published = imports_dir(project_dir) / f"import-{import_id}" / "care_lines.csv"
    assert published.stat().st_size == size
    print(f"\n2 GiB import through the gate's API with a dropped connection: uploaded and resumed in {uploaded:.1f} s, "
          f"hashed and scanned by {scanned:.1f} s")
