"""The operators' login commands: ``enclave user reset-totp NAME`` (a lost or compromised phone)."""

from __future__ import annotations

import click

from enclave.cli_registry import open_registry
from enclave.registry import get_user


@click.command("reset-totp")
@click.argument("username")
@click.option("--reason", default="", help="Why (lost phone, suspected compromise…): written to the audit log.")
def reset_totp(username: str, reason: str) -> None:
    """Forget USERNAME's TOTP second factor: they set up a new one at their next sign-in."""
    from enclave.auth import totp  # here, not at the top: every `enclave` command would pay for its imports

    with open_registry() as (session, settings):
        user = get_user(session, username)
        had = totp.reset(session, settings.actor, user, reason)
    click.echo(f"second factor of {username} reset: they enrol again at their next sign-in"
               if had else f"{username} had no second factor; nothing to reset (audited anyway)")


def attach(main: click.Group) -> None:
    """Add the login commands to ``enclave user`` (called once by :mod:`enclave.cli`)."""
    user_group = main.commands["user"]
    assert isinstance(user_group, click.Group)
    user_group.add_command(reset_totp)
