"""Resumable uploads into a project's import quarantine: chunks at offsets, nothing half-written visible.

An upload lives in ``<project>/.import-quarantine/.staging/<token>/`` (``meta.json`` and
``data.part``) until its last byte arrives; :func:`complete` then checks the size, hashes the
bytes and hands back the staged file, which :func:`airlock.workflow.add_file` moves into the
import's folder with one ``rename`` (same filesystem: atomic). A reader of the import's folder
or of the registry never sees part of a file.

A chunk must start where the stored bytes end (:func:`offset` says where): after a dropped
connection the client asks and sends the rest. A chunk that overlaps is cut to what is new, a
chunk past the end is refused, so replaying a chunk is harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from enclave.errors import EnclaveError
from enclave.layout import import_quarantine_dir

STAGING = ".staging"
MAX_FILE_BYTES = 64 * 2 ** 30
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,200}$")
HASH_BLOCK = 4 << 20


class UploadError(EnclaveError):
    """An upload cannot go on as asked (wrong offset, unknown token, size mismatch)."""


@dataclass(frozen=True)
class Staged:
    path: Path
    name: str
    size: int
    sha256: str
    request_id: int


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name) or ".." in name:
        raise UploadError(f"{name!r} is not a file name an import may have",
                          "use letters, digits, dots, dashes, underscores and spaces, no folder")
    return name


def staging_dir(project_dir: Path) -> Path:
    return import_quarantine_dir(project_dir) / STAGING


def _folder(project_dir: Path, token: str) -> Path:
    if not _TOKEN.match(token or ""):
        raise UploadError(f"{token!r} is not an upload token")
    folder = staging_dir(project_dir) / token
    if not (folder / "meta.json").is_file():
        raise UploadError(f"no upload {token} in progress", "start the upload again")
    return folder


def begin(project_dir: Path, request_id: int, name: str, size: int) -> str:
    """Open an upload of ``size`` bytes named ``name`` for import ``request_id``; its token."""
    name = check_name(name)
    if not 0 <= size <= MAX_FILE_BYTES:
        raise UploadError(f"{name}: {size} bytes is not a size an import file may have",
                          f"at most {MAX_FILE_BYTES // 2 ** 30} GiB per file")
    token = secrets.token_urlsafe(24)
    folder = staging_dir(project_dir) / token
    folder.mkdir(parents=True, mode=0o700)
    (folder / "data.part").touch(mode=0o600)
    (folder / "meta.json").write_text(json.dumps({"request": request_id, "name": name, "size": size}))
    return token


def meta(project_dir: Path, token: str) -> dict:
    return json.loads((_folder(project_dir, token) / "meta.json").read_text())


def offset(project_dir: Path, token: str) -> int:
    """How many bytes of the upload are stored: where the next chunk must start."""
    return (_folder(project_dir, token) / "data.part").stat().st_size


def append(project_dir: Path, token: str, at: int, chunks) -> int:
    """Write ``chunks`` (an iterable of bytes) from offset ``at``; the new offset."""
    folder = _folder(project_dir, token)
    size = json.loads((folder / "meta.json").read_text())["size"]
    part = folder / "data.part"
    stored = part.stat().st_size
    if at > stored:
        raise UploadError(f"a chunk at offset {at} would leave a gap: {stored} bytes are stored",
                          f"resume from offset {stored}")
    with open(part, "r+b") as fh:
        fh.seek(stored)
        position = at
        for chunk in chunks:
            skip = max(0, min(len(chunk), stored - position))  # the part already stored (a replayed chunk)
            position += len(chunk)
            new = chunk[skip:]
            if not new:
                continue
            if fh.tell() + len(new) > size:
                raise UploadError(f"the upload would exceed its declared size ({size} bytes)")
            fh.write(new)
        fh.flush()
        os.fsync(fh.fileno())
        return fh.tell()


def complete(project_dir: Path, token: str) -> Staged:
    """The finished upload, hashed; refused until every byte is there."""
    folder = _folder(project_dir, token)
    info = json.loads((folder / "meta.json").read_text())
    part = folder / "data.part"
    stored = part.stat().st_size
    if stored != info["size"]:
        raise UploadError(f"upload {info['name']} has {stored} of its {info['size']} bytes",
                          f"send the rest from offset {stored}")
    digest = hashlib.sha256()
    with open(part, "rb") as fh:
        while block := fh.read(HASH_BLOCK):
            digest.update(block)
    return Staged(part, info["name"], stored, digest.hexdigest(), info["request"])


def discard(project_dir: Path, token: str) -> None:
    shutil.rmtree(_folder(project_dir, token), ignore_errors=True)


def stage_file(project_dir: Path, request_id: int, source: Path, block: int = 8 << 20) -> tuple[str, Staged]:
    """A host file staged the same way (``enclave import submit``): ``(token, staged)``."""
    token = begin(project_dir, request_id, source.name, source.stat().st_size)
    with open(source, "rb") as fh:
        append(project_dir, token, 0, iter(lambda: fh.read(block), b""))
    return token, complete(project_dir, token)
