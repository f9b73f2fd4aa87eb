"""Packages on request: a researcher asks, ops approve or refuse, approved wheels join the project's wheelhouse.

One module owns the workflow; every change writes its audit event in the same transaction.

- :func:`request_package` — a member of a project whose data is reachable asks for a PyPI or CRAN
  package, with a reason (from inside the enclave: ``enclave-package request NAME``, through the
  project tools). A second open request for the same name is refused; an approved one is
  answered "already approved".
- :func:`approve` — ops (``enclave packages approve ID``). PyPI: the wheels of the package *and
  its dependencies* are downloaded on the host for the container's Python
  (:data:`CONTAINER_PYTHON`, binary wheels only: nothing is built) into a scratch folder, then
  moved into ``<project>/wheelhouse``; the request records each file and its hash. The download
  happens before the transaction, so a failed download changes nothing. CRAN: nothing is
  downloaded (there is no R index in the enclave): approving records that the Debian package
  ``r-cran-<name>`` is to be added to the image (``images/setup/system-packages.sh``) and the
  image rebuilt — the README says so.
- :func:`refuse` — ops, with a reason the researcher sees.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from enclave.audit import AuditAction, record
from enclave.errors import EnclaveError
from enclave.layout import wheelhouse_dir
from enclave.membership import is_member
from enclave.models import DATA_REACHABLE, PackageEcosystem, PackageRequest, PackageState, Project, utcnow

# The notebook image's Python (Debian bookworm's python3, 3.11) and its platform: wheels are chosen for it.
CONTAINER_PYTHON = "3.11"
CONTAINER_ABI = "cp311"
CONTAINER_PLATFORMS = ("manylinux_2_36_x86_64", "linux_x86_64")  # glibc 2.36; pip also accepts older manylinux tags
DOWNLOAD_TIMEOUT = 600
_PYPI_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_CRAN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$")
_VERSION = re.compile(r"^(==|>=|<=|~=|>|<|!=)\s*[A-Za-z0-9.*+!-]+(\s*,\s*(==|>=|<=|~=|>|<|!=)\s*[A-Za-z0-9.*+!-]+)*$")


def normalise(name: str) -> str:
    """PEP 503's normal form of a project name: lower case, each run of ``-_.`` one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_project(filename: str) -> str:
    """The normalised project name of a wheel file (``tabulate-0.9.0-py3-none-any.whl`` -> ``tabulate``)."""
    return normalise(filename.split("-", 1)[0])


def debian_package(cran_name: str) -> str:
    """The Debian package of a CRAN package (``data.table`` -> ``r-cran-data.table``)."""
    return f"r-cran-{cran_name.lower()}"


def check_name(ecosystem: PackageEcosystem, name: str) -> str:
    """``name`` as stored (normalised for PyPI); an :class:`EnclaveError` naming it when it is not a package name."""
    name = (name or "").strip()
    if ecosystem is PackageEcosystem.pypi:
        if not _PYPI_NAME.match(name) or len(name) > 100:
            raise EnclaveError(f"{name!r} is not a PyPI package name", "use the name as on pypi.org, e.g. tabulate")
        return normalise(name)
    if not _CRAN_NAME.match(name) or len(name) > 100:
        raise EnclaveError(f"{name!r} is not a CRAN package name", "use the name as on CRAN, e.g. data.table")
    return name


def check_version(version: str) -> str:
    version = (version or "").strip()
    if version and not _VERSION.match(version):
        raise EnclaveError(f"version {version!r} is not a version specifier", "use e.g. ==0.9.0 or >=0.9, or none for the newest")
    return version


# --- researchers -------------------------------------------------------------------------------


def request_package(session: Session, slug: str, username: str, ecosystem: str, name: str, reason: str,
                    version: str = "") -> PackageRequest:
    """Record a member's request (see the module's docstring); the existing one if already asked or approved."""
    try:
        eco = PackageEcosystem(ecosystem or "pypi")
    except ValueError:
        raise EnclaveError(f"unknown package ecosystem {ecosystem!r}", "use pypi or cran") from None
    name, version = check_name(eco, name), check_version(version)
    if not (reason or "").strip():
        raise EnclaveError("a package request needs a reason", "say what the package is for in your analysis")
    project = session.scalar(select(Project).where(Project.slug == slug))
    if project is None or project.state not in DATA_REACHABLE:
        raise EnclaveError(f"project {slug!r} is not open: packages are asked for in a provisioned or active project")
    if not is_member(session, username, slug):
        raise EnclaveError(f"{username} is not a member of project {slug}")
    existing = session.scalar(select(PackageRequest).where(
        PackageRequest.project_slug == slug, PackageRequest.ecosystem == eco, PackageRequest.name == name,
        PackageRequest.state.in_([PackageState.requested, PackageState.approved])))
    if existing is not None:
        return existing
    request = PackageRequest(project_slug=slug, requester=username, ecosystem=eco, name=name, version=version,
                             reason=reason.strip(), state=PackageState.requested, decision_note="", files=[])
    session.add(request)
    session.flush()
    record(session, username, AuditAction.package_request, slug, request=request.id, ecosystem=eco, name=name,
           version=version, reason=request.reason)
    return request


def requests_of(session: Session, slug: str | None = None, state: str | None = None) -> list[PackageRequest]:
    query = select(PackageRequest).order_by(PackageRequest.id)
    if slug:
        query = query.where(PackageRequest.project_slug == slug)
    if state:
        query = query.where(PackageRequest.state == PackageState(state))
    return list(session.scalars(query))


def approved_names(session: Session, slug: str) -> set[str]:
    """The PyPI names approved for a project (dependencies fetched with them are in the wheelhouse too)."""
    return set(session.scalars(select(PackageRequest.name).where(
        PackageRequest.project_slug == slug, PackageRequest.ecosystem == PackageEcosystem.pypi,
        PackageRequest.state == PackageState.approved)))


# --- ops -------------------------------------------------------------------------------------


def _open_request(session: Session, request_id: int) -> PackageRequest:
    request = session.get(PackageRequest, request_id)
    if request is None:
        raise EnclaveError(f"no package request {request_id}", "see `enclave packages list`")
    if request.state is not PackageState.requested:
        raise EnclaveError(f"package request {request_id} is {request.state} already", "a decision is not taken twice")
    return request


@dataclass(frozen=True)
class Downloaded:
    folder: Path  # scratch folder beside the wheelhouse; moved in by :func:`approve`
    files: list[dict[str, object]]


def download_wheels(project_dir: Path, name: str, version: str = "") -> Downloaded:
    """Download the wheels of ``name`` and its dependencies for the container's Python into a scratch
    folder beside the project's wheelhouse (nothing is moved into the wheelhouse here)."""
    wheelhouse = wheelhouse_dir(project_dir)
    wheelhouse.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".wheelhouse-incoming-", dir=project_dir))
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-cache-dir",
               "--only-binary=:all:", "--python-version", CONTAINER_PYTHON, "--implementation", "cp",
               "--abi", CONTAINER_ABI, "--abi", "abi3", "--abi", "none",
               *[arg for platform in CONTAINER_PLATFORMS for arg in ("--platform", platform)],
               "--dest", str(scratch), f"{name}{version}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT,
                              env={**os.environ, "PIP_NO_INPUT": "1"})
    except subprocess.TimeoutExpired:
        shutil.rmtree(scratch, ignore_errors=True)
        raise EnclaveError(f"downloading {name}{version} took more than {DOWNLOAD_TIMEOUT} s: nothing was approved",
                           "check that the package index is reachable from this host, then approve again") from None
    wheels = sorted(scratch.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        shutil.rmtree(scratch, ignore_errors=True)
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise EnclaveError(f"pip could not download wheels of {name}{version} for Python {CONTAINER_PYTHON}: "
                           f"{' '.join(detail) or 'no wheel'}; nothing was approved",
                           "only packages published as wheels can be approved (nothing is built on the host); "
                           "refuse the request with that reason, or name a version that has wheels")
    files = [{"file": w.name, "project": wheel_project(w.name), "sha256": hashlib.sha256(w.read_bytes()).hexdigest(),
              "size": w.stat().st_size} for w in wheels]
    return Downloaded(scratch, files)


def approve(session: Session, request_id: int, actor: str, project_dir: Path, note: str = "",
            downloaded: Downloaded | None = None) -> PackageRequest:
    """Approve request ``request_id``: its wheels (``downloaded``, PyPI) join the project's wheelhouse."""
    request = _open_request(session, request_id)
    files: list[dict[str, object]] = []
    if request.ecosystem is PackageEcosystem.pypi:
        if downloaded is None:
            raise EnclaveError(f"package request {request_id}: no wheels were downloaded", "use `enclave packages approve`")
        wheelhouse = wheelhouse_dir(project_dir)
        wheelhouse.mkdir(mode=0o700, parents=True, exist_ok=True)
        for entry in downloaded.files:
            os.replace(downloaded.folder / str(entry["file"]), wheelhouse / str(entry["file"]))
        files = downloaded.files
        note = note or f"{len(files)} wheel(s) in the project's index"
    else:
        note = note or (f"to be installed with the image: Debian package {debian_package(request.name)} "
                        "(images/setup/system-packages.sh, then make images)")
    request.state, request.decided_by, request.decided_at = PackageState.approved, actor, utcnow()
    request.decision_note, request.files = note, files
    record(session, actor, AuditAction.package_approve, request.project_slug, request=request.id,
           ecosystem=request.ecosystem, name=request.name, version=request.version, note=note, files=files)
    return request


def refuse(session: Session, request_id: int, actor: str, reason: str) -> PackageRequest:
    request = _open_request(session, request_id)
    if not (reason or "").strip():
        raise EnclaveError("a refusal needs a reason", "the researcher reads it: say why, and what to use instead")
    request.state, request.decided_by, request.decided_at = PackageState.refused, actor, utcnow()
    request.decision_note = reason.strip()
    record(session, actor, AuditAction.package_refuse, request.project_slug, request=request.id,
           ecosystem=request.ecosystem, name=request.name, reason=request.decision_note)
    return request


def request_json(request: PackageRequest) -> dict[str, object]:
    return {"id": request.id, "project": request.project_slug, "requester": request.requester,
            "ecosystem": str(request.ecosystem), "name": request.name, "version": request.version,
            "reason": request.reason, "state": str(request.state), "decided_by": request.decided_by,
            "note": request.decision_note, "files": [f["file"] for f in request.files or []],
            "created_at": request.created_at.isoformat() if request.created_at else None}
