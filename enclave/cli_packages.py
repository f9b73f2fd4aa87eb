"""`enclave packages list|approve|refuse`: ops decide the researchers' package requests (:mod:`enclave.packages`)."""

from __future__ import annotations

import shutil

import click

from enclave import packages
from enclave.cli_registry import open_registry
from enclave.errors import EnclaveError
from enclave.models import PackageEcosystem, PackageRequest, PackageState


@click.group("packages")
def packages_group() -> None:
    """Researchers' package requests (made inside an enclave with `enclave-package request NAME`).

    Approving a PyPI package downloads its wheels and its dependencies' (for the image's Python,
    binary wheels only) into the project's wheelhouse: `pip install NAME` then works in that
    project's servers, and only there. Approving a CRAN package records that its Debian package
    r-cran-NAME goes into the image at the next rebuild (see the README).
    """


@packages_group.command("list")
@click.option("--project", help="Only this project's requests.")
@click.option("--state", type=click.Choice([s.value for s in PackageState]), help="Only requests in this state.")
def list_requests(project: str | None, state: str | None) -> None:
    """The requests, oldest first: id, project, state, package, who asked and why."""
    with open_registry() as (session, _):
        found = packages.requests_of(session, project, state)
        if not found:
            click.echo("no package request" + (f" in state {state}" if state else "") + (f" for project {project}" if project else ""))
        for r in found:
            asked = f"{r.name}{r.version}" + (" (CRAN)" if r.ecosystem is PackageEcosystem.cran else "")
            click.echo(f"{r.id:>4}  {r.project_slug:20} {r.state:9} {asked:30} {r.requester}: {r.reason}"
                       + (f"  [{r.decision_note}]" if r.decision_note else ""))


@packages_group.command("approve")
@click.argument("request_id", type=int)
@click.option("--note", default="", help="A note for the researcher (default: what was added).")
def approve(request_id: int, note: str) -> None:
    """Approve request REQUEST_ID: fetch its wheels (PyPI) into the project's wheelhouse, and record it."""
    with open_registry() as (session, settings):
        request = session.get(PackageRequest, request_id)
        if request is None:
            raise EnclaveError(f"no package request {request_id}", "see `enclave packages list`")
        if request.state is not PackageState.requested:
            raise EnclaveError(f"package request {request_id} is {request.state} already", "a decision is not taken twice")
        slug, eco, name, version = request.project_slug, request.ecosystem, request.name, request.version
    project_dir = settings.project_dir(slug)
    downloaded = None
    if eco is PackageEcosystem.pypi:
        click.echo(f"downloading {name}{version} and its dependencies for Python {packages.CONTAINER_PYTHON} ...")
        downloaded = packages.download_wheels(project_dir, name, version)  # outside any transaction
    try:
        with open_registry() as (session, settings):
            done = packages.approve(session, request_id, settings.actor, project_dir, note, downloaded)
            files = [f["file"] for f in done.files]
            decided = done.decision_note
    finally:
        if downloaded is not None:
            shutil.rmtree(downloaded.folder, ignore_errors=True)
    click.echo(f"package request {request_id} approved ({slug}: {name}{version}): {decided}")
    for file in files:
        click.echo(f"  {file}")


@packages_group.command("refuse")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why (the researcher sees it): e.g. what to use instead.")
def refuse(request_id: int, reason: str) -> None:
    """Refuse request REQUEST_ID with a reason."""
    with open_registry() as (session, settings):
        done = packages.refuse(session, request_id, settings.actor, reason)
        click.echo(f"package request {request_id} refused ({done.project_slug}: {done.name})")
