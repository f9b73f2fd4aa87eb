"""What the provisioning tests share: manifests written from dicts, one project on a test registry
driven through the real `enclave` command, and snapshots of what provisioning leaves behind.

Provisioning runs in subprocesses, as operators run it (the `enclave` command registers the
Docker and firewall hook of :mod:`enclave.host_state`; this test process registers none).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
from docker.errors import NotFound
from sqlalchemy import select

from enclave.models import AuditEvent, Membership, Project, User
from enclave.settings import DEFAULT_CATALOG

from ..conftest import REPO, run_enclave

if TYPE_CHECKING:
    from ..registry_database import Registry

USERS = ("alice", "bob", "carol")
PROJECT_LABEL = "enclave.project"
EXTRACT_TABLES = ("IR_BEN_R", "ER_PRS_F", "T_MCOaaB", "T_MCOaaC", "KI_CCI_R")
DELETE = object()  # a manifest change that removes the field


def manifest_spec(slug: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid manifest (as the TOML's dict) for ``slug``, with dotted-path ``changes`` applied."""
    spec: dict[str, Any] = {
        "slug": slug,
        "title": "Cardiovascular events after a hospital stay",
        "purpose": "health_information",
        "principal_investigator": "alice",
        "members": ["alice", "bob"],
        "approvals": {
            "committee_reference": "CESREES-2026-0142",
            "committee_date": date(2026, 3, 2),
            "cnil_reference": "DR-2026-088",
            "cnil_date": date(2026, 4, 15),
            "expires_on": date.today() + timedelta(days=400),
        },
        "data": {
            "tables": list(EXTRACT_TABLES),
            "columns": [],
            "where": ["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01"],
            "key_version": 1,
        },
        "egress": {"small_cell_threshold": 10, "stewards_required": 2},
        "resources": {"mem_limit": "2G", "cpu_limit": 1.0, "pids_limit": 256},
    }
    for path, value in (changes or {}).items():
        *parents, leaf = path.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = copy.deepcopy(value)
    return spec


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_text(spec: dict[str, Any]) -> str:
    lines = [f"{key} = {_toml_value(value)}" for key, value in spec.items() if not isinstance(value, dict)]
    for key, table in spec.items():
        if isinstance(table, dict):
            lines += ["", f"[{key}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def write_manifest(projects_dir: Path, slug: str, changes: dict[str, Any] | None = None,
                   file_stem: str | None = None) -> Path:
    path = projects_dir / f"{file_stem or slug}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml_text(manifest_spec(slug, changes)), encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extract_status(extracts: Path) -> str:
    """"absent", or "complete" if every file its manifest.json lists is there with the recorded
    sha256 and nothing else is; any other folder fails the test (a half-written extract)."""
    if not extracts.exists():
        return "absent"
    manifest = json.loads((extracts / "manifest.json").read_text(encoding="utf-8"))
    listed = {entry["output"]["file"]: entry["output"]["sha256"] for entry in manifest["tables"].values()}
    present = sorted(p.name for p in extracts.iterdir())
    assert present == sorted([*listed, "manifest.json", "DATA_DICTIONARY.md"]), f"{extracts} holds {present}"
    for name, digest in listed.items():
        assert sha256(extracts / name) == digest, f"{extracts / name} is not the file its manifest records"
    return "complete"


def remove_project_docker_objects(engine: docker.DockerClient, slug: str) -> None:
    """Every container and network labelled with the project (test clean-up, whatever happened)."""
    for container in engine.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={slug}"}):
        container.remove(force=True)
    for network in engine.networks.list(filters={"label": f"{PROJECT_LABEL}={slug}"}):
        try:
            network.remove()
        except NotFound:
            pass


@dataclass
class EnclaveProject:
    """Project ``slug`` on a test registry: its manifest, its folders, the CLI with the right env."""

    registry: Registry
    slug: str
    sources: Path
    master_key_file: Path
    docker: docker.DockerClient

    # --- inputs and commands -------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.registry.projects_dir / f"{self.slug}.toml"

    def write_manifest(self, changes: dict[str, Any] | None = None) -> Path:
        return write_manifest(self.registry.projects_dir, self.slug, changes)

    def env(self) -> dict[str, str]:
        return self.registry.env(ENCLAVE_SOURCES_DIR=str(self.sources),
                                 ENCLAVE_MASTER_KEY_FILE=str(self.master_key_file),
                                 ENCLAVE_AUDIT_HEAD=str(self.registry.audit_head),
                                 ENCLAVE_CATALOG=str(DEFAULT_CATALOG))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run_enclave(*args, env=self.env())

    def provision(self, expect: int = 0) -> subprocess.CompletedProcess:
        result = self.cli("provision", self.slug, "--quiet")
        assert result.returncode == expect, (f"enclave provision exited {result.returncode}, not {expect}:\n"
                                             f"{result.stdout}{result.stderr}")
        return result

    def python(self, script: str, *args: str) -> subprocess.CompletedProcess:
        """``python -c script args...`` with this project's environment (a crash-injected provisioning)."""
        return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                              env={**os.environ, **self.env()}, cwd=REPO, timeout=300)

    # --- what exists -----------------------------------------------------------------------------

    @property
    def project_dir(self) -> Path:
        return self.registry.projects_dir / self.slug

    @property
    def extracts(self) -> Path:
        return self.project_dir / "extracts"

    @property
    def workspace(self) -> Path:
        return self.project_dir / "workspace"

    def row(self) -> dict[str, Any] | None:
        """The project's registry row, every column, as the database returns it."""
        with self.registry.engine.connect() as connection:
            query = select(Project.__table__).where(Project.slug == self.slug)
            found = connection.execute(query).mappings().one_or_none()
        return dict(found) if found is not None else None

    def state(self) -> str | None:
        row = self.row()
        return None if row is None else str(row["state"])

    def members(self) -> list[tuple[str, str]]:
        with self.registry.engine.connect() as connection:
            rows = connection.execute(
                select(User.username, Membership.role).join(Membership, Membership.user_id == User.id)
                .join(Project, Project.id == Membership.project_id).where(Project.slug == self.slug)
            ).all()
        return sorted((username, str(role)) for username, role in rows)

    def events(self, after: int = 0, any_project: bool = False) -> list[AuditEvent]:
        """The project's audit events (every event, with ``any_project``) after seq ``after``, oldest first."""
        query = select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)
        if not any_project:
            query = query.where(AuditEvent.project == self.slug)
        with self.registry.session() as session:
            return list(session.scalars(query))

    def last_seq(self) -> int:
        with self.registry.engine.connect() as connection:
            return connection.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)).scalar() or 0

    def network(self) -> dict[str, Any] | None:
        """``docker network inspect enclave-<slug>``, or None."""
        try:
            return self.docker.networks.get(f"enclave-{self.slug}").attrs
        except NotFound:
            return None

    def extract_files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.extracts.iterdir())} if self.extracts.exists() else {}

    def end_state(self) -> dict[str, Any]:
        """Everything provisioning leaves behind, minus ids and timestamps: equal for equal inputs."""
        row = self.row()
        if row is not None:
            for volatile in ("id", "principal_investigator_id", "created_at", "updated_at"):
                del row[volatile]
        network = self.network()
        workspace = self.workspace
        return {
            "project": row,
            "members": self.members(),
            "project_dir": sorted(p.name for p in self.project_dir.iterdir()) if self.project_dir.exists() else None,
            "extracts": {name: hashlib.sha256(data).hexdigest() for name, data in self.extract_files().items()},
            "workspace": (stat.filemode(workspace.stat().st_mode), sorted(os.listdir(workspace)))
            if workspace.exists() else None,
            "network": None if network is None else {
                key: network[key] for key in ("Name", "Driver", "Internal", "Labels", "Options", "Containers")},
        }
