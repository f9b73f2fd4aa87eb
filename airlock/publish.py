"""An approved import, published: its files read-only under ``<project>/imports/import-<id>/``
(``~/imports`` in the project's servers, a read-only bind mount) and listed in ``IMPORTS.md``,
the imports' data dictionary beside them.

Files are hard-linked from the quarantine (same filesystem: no copy of a large file, and the
reviewed bytes are the published bytes) into a hidden folder renamed into place when complete;
the dictionary is written to a temporary name and renamed. A reader sees all or nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.layout import import_quarantine_dir, imports_dir

from .models import ImportRequest, ImportState, ImportVote

DICTIONARY = "IMPORTS.md"


def folder_name(request: ImportRequest) -> str:
    return f"import-{request.id}"


def ensure_imports_dir(project_dir: Path) -> Path:
    """The project's imports folder (made readable by the container's user, writable by none of them)."""
    folder = imports_dir(project_dir)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    return folder


def publish(session: Session, request: ImportRequest, project_dir: Path) -> list[dict]:
    """Publish ``request``'s files and rewrite the dictionary; what was published (names, hashes)."""
    root = ensure_imports_dir(project_dir)
    source = import_quarantine_dir(project_dir) / str(request.id)
    final = root / folder_name(request)
    work = root / f".{folder_name(request)}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o755)
    for file in request.files:
        os.link(source / file.name, work / file.name)
        os.chmod(work / file.name, 0o444)
    os.chmod(work, 0o555)
    os.rename(work, final)
    write_dictionary(session, project_dir, also=request)
    return [{"file": f"{folder_name(request)}/{f.name}", "sha256": f.sha256, "size": f.size} for f in request.files]


def write_dictionary(session: Session, project_dir: Path, also: ImportRequest | None = None) -> Path:
    """``IMPORTS.md``: every approved import of the project, its purpose, files, hashes and stewards."""
    slug = project_dir.name
    approved = list(session.scalars(select(ImportRequest).where(
        ImportRequest.project_slug == slug, ImportRequest.state == ImportState.approved).order_by(ImportRequest.id)))
    if also is not None and also not in approved:
        approved.append(also)
    lines = [f"# Imports — project `{slug}`", "",
             "Data brought into the project through the import airlock: scanned, then approved by stewards.", ""]
    for request in approved:
        stewards = ", ".join(d.steward for d in request.decisions if d.vote is ImportVote.approve)
        lines += [f"## {folder_name(request)}", "", f"- purpose: {request.purpose}",
                  f"- requested by: {request.requester}, on {request.created_at:%Y-%m-%d}",
                  f"- approved by: {stewards}", "", "| file | bytes | sha256 |", "|---|---|---|"]
        lines += [f"| {f.name} | {f.size} | `{f.sha256}` |" for f in request.files]
        lines.append("")
    path = imports_dir(project_dir) / DICTIONARY
    tmp = path.with_name(f".{DICTIONARY}.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)
    return path
