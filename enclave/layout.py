"""A project's folders on the host, the notebook user that owns them, and the extract's manifest.

One home for what provisioning writes and the spawner, the CLI and the egress gate read; it
imports nothing heavier than :mod:`json` (the hub's spawner imports it)::

    <ENCLAVE_PROJECTS_DIR>/<slug>/
        extracts/            the pseudonymised extract, read-only in containers (~/data)
            manifest.json    written by the pseudonymizer: tables, files, hashes, columns and roles
        workspace/           shared by the project's members, read-write in containers (~/work)
        .extracts-retired/   extracts taken out of reach, deleted once the audit log has their evidence
        code/repository.git  the project's bare git repository (its remote, served by the project tools)
        .code-retired/       the repository of a closed project, out of reach, kept for the record
        wheelhouse/          the wheels of the Python packages ops approved for the project (its index)
        imports/             approved imports, read-only in containers (~/imports): import-<id>/<file>, IMPORTS.md
        .import-quarantine/  imports held for scan and review (<id>/<file>), uploads in progress (.staging/)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXTRACTS = "extracts"
RETIRED_EXTRACTS = ".extracts-retired"
WORKSPACE = "workspace"
CODE = "code"
REPOSITORY = "repository.git"
RETIRED_CODE = ".code-retired"
WHEELHOUSE = "wheelhouse"
IMPORTS = "imports"
IMPORT_QUARANTINE = ".import-quarantine"
WORKSPACE_MODE = 0o2770  # the project's members share it; set-gid keeps files in the group
NOTEBOOK_UID, NOTEBOOK_GID = 1000, 100  # the researcher's user in the notebook image (jovyan:users)
EXTRACT_MANIFEST = "manifest.json"
LINKAGE_ROLE = "linkage"  # the pseudonymizer's role of a column holding keyed pseudonyms


def extracts_dir(project_dir: Path) -> Path:
    return project_dir / EXTRACTS


def workspace_dir(project_dir: Path) -> Path:
    return project_dir / WORKSPACE


def repository_dir(project_dir: Path) -> Path:
    return project_dir / CODE / REPOSITORY


def wheelhouse_dir(project_dir: Path) -> Path:
    return project_dir / WHEELHOUSE


def imports_dir(project_dir: Path) -> Path:
    return project_dir / IMPORTS


def import_quarantine_dir(project_dir: Path) -> Path:
    return project_dir / IMPORT_QUARANTINE


def read_extract_manifest(extracts: Path) -> dict[str, Any] | None:
    """The ``manifest.json`` of an extract folder; None if there is none (not provisioned)."""
    try:
        return json.loads((extracts / EXTRACT_MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def linkage_columns(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """``{parquet file name: [its linkage (pseudonym) columns]}`` of an extract, from its manifest."""
    return {entry["output"]["file"]: [c["name"] for c in entry["columns"] if c.get("role") == LINKAGE_ROLE]
            for entry in manifest["tables"].values()}
