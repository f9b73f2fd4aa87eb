"""`enclave import submit|scan|list|show|approve|reject`: the import airlock from the host (:mod:`airlock.workflow`).

``submit`` stages each file like a browser upload, moves it into the import's quarantine, submits
and scans it (in a bounded worker, outside any transaction) and prints the findings.
``approve`` / ``reject`` record one steward's vote (``--steward``, a user with the steward role
who is not a member of the project); the last approval required publishes the files at ``~/imports``.
``scan`` runs an import's scan again (a failed background scan, or new signatures before any vote).
"""

from __future__ import annotations

from pathlib import Path

import click

from airlock import staging, workflow
from airlock.config import ScanConfig
from airlock.models import ImportState
from airlock.permissions import OPS_PREFIX
from airlock.scan_worker import scan_in_worker
from enclave.cli_registry import open_registry
from enclave.settings import Settings


def scan_request(request_id: int, actor: str) -> None:
    """Scan every file of a submitted import (outside any transaction), then record the findings."""
    config = ScanConfig.from_env()
    with open_registry() as (session, settings):
        request = workflow.get_request(session, request_id)
        project_dir = settings.project_dir(request.project_slug)
        paths = workflow.files_to_scan(session, request_id, project_dir)
    findings = {name: scan_in_worker(path, config) for name, path in paths.items()}
    with open_registry() as (session, _):
        workflow.record_scan(session, request_id, actor, findings)


@click.group("import")
def import_group() -> None:
    """Data brought into a project: held, scanned, reviewed by stewards, then read-only at ~/imports."""


@import_group.command("submit")
@click.argument("project")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--purpose", required=True, help="What the data is and what the analysis needs it for.")
@click.option("--requester", help="The member importing it (default: ops, for the whole project).")
def submit(project: str, files: tuple[Path, ...], purpose: str, requester: str | None) -> None:
    """Import FILES into PROJECT: staged, quarantined, submitted and scanned."""
    with open_registry() as (session, settings):
        who = requester or f"{OPS_PREFIX}{settings.actor}"
        request = workflow.create(session, project, who, purpose)
        request_id, project_dir = request.id, settings.project_dir(project)
    for path in files:
        token, staged = staging.stage_file(project_dir, request_id, path)
        with open_registry() as (session, _):
            workflow.add_file(session, request_id, who, staged, project_dir)
        staging.discard(project_dir, token)
    with open_registry() as (session, _):
        workflow.submit(session, request_id, who)
    click.echo(f"import {request_id} submitted ({project}: {len(files)} file(s)); scanning ...")
    scan_request(request_id, who)
    _show(request_id)


def _show(request_id: int) -> None:
    with open_registry() as (session, _):
        request = workflow.get_request(session, request_id)
        click.echo(f"import {request.id}: {request.state.words}")
        for file in request.files:
            click.echo(f"  {file.name} ({file.size} bytes, sha256 {file.sha256[:16]}...)")
            for f in file.findings:
                click.echo(f"    {f['outcome']:6} {f['check']}: {f['detail']}")


@import_group.command("scan")
@click.argument("request_id", type=int)
def rescan(request_id: int) -> None:
    """Scan import REQUEST_ID again: one whose background scan failed, or a scanned one before any vote
    (e.g. once malware signatures are installed in ENCLAVE_CLAMAV_DB)."""
    scan_request(request_id, f"{OPS_PREFIX}{Settings.from_env().actor}")
    _show(request_id)


@import_group.command("list")
@click.option("--project", help="Only this project's imports.")
@click.option("--state", type=click.Choice([s.value for s in ImportState]), help="Only imports in this state.")
def list_imports(project: str | None, state: str | None) -> None:
    """The imports, oldest first: id, project, state, files, requester and purpose."""
    with open_registry() as (session, _):
        found = workflow.requests_of(session, project, state)
        if not found:
            click.echo("no import" + (f" in state {state}" if state else "") + (f" for project {project}" if project else ""))
        for r in found:
            click.echo(f"{r.id:>4}  {r.project_slug:20} {r.state.words:16} {len(r.files)} file(s)  {r.requester}: {r.purpose}")


@import_group.command("show")
@click.argument("request_id", type=int)
def show(request_id: int) -> None:
    """One import's files and scan findings."""
    _show(request_id)


def _vote(request_id: int, steward: str, vote: str, reason: str) -> None:
    with open_registry() as (session, settings):
        request = workflow.get_request(session, request_id)
        workflow.decide(session, request_id, steward, vote, reason, settings.project_dir(request.project_slug))
        state = request.state
    click.echo(f"import {request_id}: {steward} voted {vote}; it is {state.words}")


@import_group.command("approve")
@click.argument("request_id", type=int)
@click.option("--steward", required=True, help="The steward voting (not a member of the project).")
@click.option("--reason", required=True, help="What was checked and why it may come in.")
def approve(request_id: int, steward: str, reason: str) -> None:
    """One steward's approval; the last one required publishes the files read-only at ~/imports."""
    _vote(request_id, steward, "approve", reason)


@import_group.command("reject")
@click.argument("request_id", type=int)
@click.option("--steward", required=True, help="The steward voting (not a member of the project).")
@click.option("--reason", required=True, help="Why (the requester sees it).")
def reject(request_id: int, steward: str, reason: str) -> None:
    """One steward's rejection: the import is rejected."""
    _vote(request_id, steward, "reject", reason)



