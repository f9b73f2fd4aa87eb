"""The operators' provisioning commands: `enclave provision SLUG`, `enclave deprovision SLUG`."""

from __future__ import annotations

import click

from enclave.host_state import follow_state_changes
from enclave.layout import extracts_dir, workspace_dir
from enclave.settings import Settings


def _settings() -> Settings:
    """The environment's settings, with Docker and the firewall following each state change."""
    settings = Settings.from_env()
    follow_state_changes(settings)
    return settings


@click.command()
@click.argument("slug")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def provision(slug: str, quiet: bool) -> None:
    """Provision project SLUG from its manifest <ENCLAVE_PROJECTS_DIR>/SLUG.toml.

    Validates the manifest (approvals, expiry, tables and columns, members), registers the
    project and its members, pseudonymises the authorised extracts into
    <ENCLAVE_PROJECTS_DIR>/SLUG/extracts, creates the shared workspace and the project's internal
    Docker network, and records it all in the audit log. Safe to re-run: an unchanged manifest
    changes nothing; a changed one re-extracts and the audit log records the difference; a run
    that crashed is completed.
    """
    from enclave import provisioning  # pyarrow and the pseudonymizer: only the commands that need them import them

    settings = _settings()
    job = provisioning.provision(settings, slug, progress=not quiet, echo=click.echo)
    where = settings.project_dir(slug)
    click.echo(f"project {slug}: {job.outcome} — extracts in {extracts_dir(where)}, "
               f"workspace {workspace_dir(where)}, network {job.network.name if job.network else '-'}")


@click.command()
@click.argument("slug")
@click.option("--reason", required=True, help="Why: written to the audit log.")
def deprovision(slug: str, reason: str) -> None:
    """Undo provisioning of SLUG: stop its servers, remove its network, delete its extracts.

    The files' hashes and row counts are kept in the audit log as evidence; the workspace and
    the audit trail stay. The project returns to `authorised` and can be provisioned again.
    """
    from enclave import provisioning

    done = provisioning.deprovision(_settings(), slug, reason)
    _report(slug, "deprovisioned", done)


@click.command("close")
@click.argument("slug")
@click.option("--reason", required=True, help="Why: written to the audit log.")
def close(slug: str, reason: str) -> None:
    """Close SLUG for good: as deprovision, and the project can never start again."""
    from enclave import provisioning

    done = provisioning.deprovision(_settings(), slug, reason, close=True)
    _report(slug, "closed", done)


def _report(slug: str, what: str, done: dict) -> None:
    deleted = ", ".join(f"{t} ({e['rows']:,} rows, sha256 {e['sha256'][:12]}…)" for t, e in done["extracts_deleted"].items()) or "none"
    click.echo(f"project {slug} {what}: servers stopped: {', '.join(done['servers_stopped']) or 'none'}; "
               f"network removed: {'yes' if done['network_removed'] else 'there was none'}; extracts deleted: {deleted}")
    if "repository_retired" in done:
        retired = done["repository_retired"]
        click.echo(f"git repository retired to {retired['retired_to'] or '(there was none)'}: {len(retired['refs'])} branch(es)/tag(s)")


COMMANDS: list[click.Command] = [provision, deprovision]
PROJECT_COMMANDS: list[click.Command] = [close]  # replace `enclave project close`: it must also delete the extracts
