"""The `enclave` command line: one entry point for operators."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from enclave.cli_auth import attach as attach_auth_commands
from enclave.cli_provision import COMMANDS as PROVISION_COMMANDS, PROJECT_COMMANDS
from enclave.cli_registry import COMMANDS as REGISTRY_COMMANDS, project as project_group
from enclave.errors import EnclaveError
from enclave.settings import DEFAULT_CATALOG
from pseudonymizer.errors import PseudonymizerError


class EnclaveGroup(click.Group):
    """Turns every input error into one line on stderr and exit status 2, with nothing written."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (PseudonymizerError, EnclaveError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=EnclaveGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Enclave: secure analysis spaces for pseudonymised health data.

    Generate synthetic sources (synth), turn sources into a project's pseudonymised extract
    (pseudonymize), or make a master key (keygen). Keep the registry: its database (db), users
    (user), projects (list, show, project, expire), audit log (audit) and lifecycle (lifecycle).
    Settings come from ENCLAVE_* environment variables (see enclave/settings.py).
    """


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the Parquet tables into (created if needed).")
@click.option("--people", default=10_000, show_default=True, type=click.IntRange(min=1), help="Number of beneficiaries.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed: the same seed gives byte-identical files.")
@click.option("--care-rows-per-person", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="Mean number of care-sheet (ER_PRS_F) rows per person.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def synth(out_dir: Path, people: int, seed: int, care_rows_per_person: float, quiet: bool):
    """Generate SNDS-like *identifying* source tables (IR_BEN_R, ER_PRS_F, T_MCOaaB, T_MCOaaC, KI_CCI_R).

    The tables hold fake NIRs, names, addresses, phones and e-mails: they are test input for the
    pseudonymizer, and never belong in an enclave.
    """
    from pseudonymizer.synth import generate

    counts = generate(out_dir, people=people, seed=seed, care_rows_per_person=care_rows_per_person, progress=not quiet)
    for table, rows in counts.items():
        click.echo(f"{table:10} {rows:>12,} rows  {out_dir / (table + '.parquet')}")


@main.command()
@click.option("--catalog", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CATALOG, show_default="the synthetic catalog",
              help="Role file (TOML) naming each table's Table Schema and each column's role.")
@click.option("--schemas", "schema_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the Table Schema files, if not the catalog's schema_dir.")
@click.option("--sources", "sources_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the identifying source tables (<TABLE>.parquet or .csv).")
@click.option("--project", required=True, help="Project slug: each project gets its own pseudonyms.")
@click.option("--tables", "tables", multiple=True, help="Authorised tables, comma-separated or repeated (default: all in the catalog).")
@click.option("--columns", "columns", multiple=True,
              help="Authorised columns as TABLE.COLUMN (or TABLE.*), comma-separated or repeated; a table not named gets all its non-direct columns.")
@click.option("--where", "where", multiple=True,
              help="Row filter, repeatable: '[TABLE.]COLUMN OP VALUE' (OP: = != < <= > >=) or '[TABLE.]COLUMN between A and B'.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Extract folder; replaced atomically when the run succeeds.")
@click.option("--key-version", default=1, show_default=True, type=click.IntRange(min=1),
              help="Pseudonym key version (a new version gives new pseudonyms).")
@click.option("--master-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the master secret (default: $ENCLAVE_MASTER_KEY_FILE, else $ENCLAVE_MASTER_KEY).")
@click.option("--fictive-policy", type=click.Choice(["drop", "random"]),
              help="Rows whose id is fictive or a placeholder: drop them, or give each a unique random pseudonym "
                   "(default: the catalog's, else drop).")
@click.option("--batch-rows", default=1 << 18, show_default=True, type=click.IntRange(min=1), help="Rows per record batch: bounds memory.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def pseudonymize(catalog, schema_dir, sources_dir, project, tables, columns, where, out_dir, key_version, master_key_file,
                 fictive_policy, batch_rows, quiet):
    """Write a project's pseudonymised extract: Parquet tables, manifest.json, DATA_DICTIONARY.md.

    Direct identifiers are dropped, linkage ids become keyed pseudonyms of this project, and
    quasi-identifiers are coarsened, as the catalog says. Nothing is written unless the whole run
    succeeds.
    """
    from pseudonymizer.catalog import load_catalog
    from pseudonymizer.extract import extract, parse_columns
    from pseudonymizer.keys import load_master_key

    master = load_master_key(master_key_file)
    cat = load_catalog(catalog, schema_dir)
    table_list = [t.strip() for spec in tables for t in spec.split(",") if t.strip()] or None
    manifest = extract(
        cat, sources_dir, project, out_dir, master,
        key_version=key_version, tables=table_list, columns=parse_columns(columns), where=where,
        fictive_policy=fictive_policy, batch_rows=batch_rows, progress=not quiet,
    )
    for name, entry in manifest["tables"].items():
        dropped = sum(entry["rows_dropped"].values())
        click.echo(f"{name:10} {entry['rows_in']:>12,} rows in  {entry['rows_out']:>12,} out  {dropped:>10,} dropped  "
                   f"({len(entry['columns'])} columns)")
    click.echo(f"extract of project {project} written to {out_dir} (manifest.json, DATA_DICTIONARY.md)")


@main.command()
def keygen():
    """Print a new random master secret (hex). Keep it out of every enclave."""
    from pseudonymizer.keys import new_master_key

    click.echo(new_master_key())


for _command in REGISTRY_COMMANDS + PROVISION_COMMANDS:
    main.add_command(_command)
for _command in PROJECT_COMMANDS:
    project_group.add_command(_command)
attach_auth_commands(main)  # enclave user reset-totp


if __name__ == "__main__":
    main()
