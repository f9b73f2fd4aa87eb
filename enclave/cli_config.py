"""`enclave config`: the configuration reference, generated from :mod:`enclave.configuration`."""

from __future__ import annotations

import sys

import click

from enclave.configuration import REFERENCE, disagreements, reference


@click.group("config")
def config_group():
    """Enclave's settings (ENCLAVE_* environment variables)."""


@config_group.command("reference")
@click.option("--write", is_flag=True, help=f"Write it to {REFERENCE.name} in docs/ instead of printing it.")
@click.option("--check", is_flag=True, help="Exit 1 when docs/configuration.md differs from the generated reference, or the code reads a setting it does not list.")
def reference_command(write: bool, check: bool):
    """Every setting with its default and meaning, as Markdown (docs/configuration.md)."""
    text = reference()
    if check:
        problems = disagreements()
        if not REFERENCE.exists() or REFERENCE.read_text(encoding="utf-8") != text:
            problems.append(f"{REFERENCE} is out of date: run `enclave config reference --write`")
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            sys.exit(1)
        click.echo(f"{REFERENCE} is up to date and lists every setting the code reads")
    elif write:
        REFERENCE.write_text(text, encoding="utf-8")
        click.echo(f"wrote {REFERENCE}")
    else:
        click.echo(text, nl=False)
