"""The `enclave` command line: one entry point for operators."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.exc import OperationalError

from enclave.cli_audit import attach as attach_audit_commands
from enclave.cli_auth import attach as attach_auth_commands
from enclave.cli_catalog import DIALECT_HELP, catalog as catalog_group
from enclave.cli_config import config_group
from enclave.cli_imports import import_group
from enclave.cli_k8s import k8s as k8s_group
from enclave.cli_packages import packages_group
from enclave.cli_provision import COMMANDS as PROVISION_COMMANDS, PROJECT_COMMANDS
from enclave.cli_registry import COMMANDS as REGISTRY_COMMANDS, project as project_group
from enclave.cli_security import attach as attach_security_commands
from enclave.cli_usage import COMMANDS as USAGE_COMMANDS
from enclave.db import is_busy
from enclave.errors import EnclaveError
from enclave.settings import DEFAULT_CATALOG
from pseudonymizer.engines import ADDRESS_HELP, ENGINES
from pseudonymizer.errors import PseudonymizerError


class EnclaveGroup(click.Group):
    """Turns every input error into one line on stderr and exit status 2, with nothing written."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (PseudonymizerError, EnclaveError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except OperationalError as exc:
            if not is_busy(exc):
                raise
            click.echo("error: the registry database is busy (another process holds its write lock for longer "
                       "than the busy timeout); nothing was changed: try again in a moment", err=True)
            sys.exit(3)


@click.group(cls=EnclaveGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Enclave: secure analysis spaces for pseudonymised health data.

    Generate synthetic sources (synth), propose or check a catalog (catalog init, catalog check),
    turn sources into a project's pseudonymised extract (pseudonymize), or make a master key (keygen). Keep the registry: its database (db), users
    (user), projects (list, show, project, expire), members' access (member suspend, lift), audit log (audit,
    audit alarms for security events) and lifecycle (lifecycle); decide researchers' package requests (packages);
    see what a project used and invoice it (usage, invoice). Render a project's Kubernetes profile (k8s render).
    Settings come from ENCLAVE_* environment variables (`enclave config reference`, docs/configuration.md).
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
@click.option("--columns", "columns", multiple=True, help="Authorised columns as TABLE.COLUMN (or TABLE.*), comma-separated or repeated; a table not named gets all its non-direct columns.")
@click.option("--where", "where", multiple=True, help="Row filter, repeatable: '[TABLE.]COLUMN OP VALUE' (OP: = != < <= > >=) or '[TABLE.]COLUMN between A and B'.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Extract folder; replaced atomically when the run succeeds.")
@click.option("--key-version", default=1, show_default=True, type=click.IntRange(min=1), help="Pseudonym key version (a new version gives new pseudonyms).")
@click.option("--master-key-file", type=click.Path(dir_okay=False, path_type=Path), help="File holding the master secret (default: $ENCLAVE_MASTER_KEY_FILE, else $ENCLAVE_MASTER_KEY).")
@click.option("--fictive-policy", type=click.Choice(["keep", "null", "random", "drop"]), help="Ids that are no one (a fictive flag's code, in the columns the flag applies to; declared placeholders): keep (link as in the source: people sharing a fictive NIR merge), null, random (a pseudonym of their own, the same on re-runs: keeps people apart) or drop (remove the row). Default: the catalog's, else random.")
@click.option("--status-column/--no-status-column", default=None, help="Add an ID_STATUS column: 'ok', or which ids of the row are no one and why (default: the catalog's status_column).")
@click.option("--dialect", "dialect", multiple=True, help=DIALECT_HELP)
@click.option("--nomenclatures", type=click.Path(file_okay=False, exists=True, path_type=Path), help="Folder of SNDS nomenclatures (code lists): their labels go into the data dictionary.")
@click.option("--batch-rows", default=1 << 18, show_default=True, type=click.IntRange(min=1), help="Rows per record batch: bounds memory.")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="Where the work runs: this process (local), Dask workers or Spark executors. Every engine writes the same files, byte for byte.")
@click.option("--workers", type=click.IntRange(min=1), help="dask/spark without --address: worker processes started for this run (default 2).")
@click.option("--address", help="An existing cluster: " + ADDRESS_HELP + ".")
@click.option("--quiet", is_flag=True, help="No progress bars or progress lines.")
def pseudonymize(catalog, schema_dir, sources_dir, project, tables, columns, where, out_dir, key_version, master_key_file, fictive_policy, status_column, dialect, nomenclatures, batch_rows, engine, workers, address, quiet):
    """Write a project's pseudonymised extract: Parquet tables, manifest.json, DATA_DICTIONARY.md.

    Direct identifiers are dropped, linkage ids become keyed pseudonyms of this project, and
    quasi-identifiers are coarsened, as the catalog says. Nothing is written unless the whole run
    succeeds. Without --tables, every catalog table that has a source file is extracted. Run
    `enclave catalog check` first on new sources: it lists every mismatch at once. With --engine
    dask or spark, the sources and --out must be on a filesystem every worker reaches.
    """
    from pseudonymizer.catalog import load_catalog, parse_dialect_options, with_dialect
    from pseudonymizer.engines import EngineSpec
    from pseudonymizer.extract import extract, parse_columns
    from pseudonymizer.keys import load_master_key

    master = load_master_key(master_key_file)
    cat = with_dialect(load_catalog(catalog, schema_dir), parse_dialect_options(dialect))
    table_list = [t.strip() for spec in tables for t in spec.split(",") if t.strip()] or None
    manifest = extract(
        cat, sources_dir, project, out_dir, master,
        key_version=key_version, tables=table_list, columns=parse_columns(columns), where=where,
        fictive_policy=fictive_policy, batch_rows=batch_rows, progress=not quiet,
        status_column=status_column, nomenclatures=nomenclatures, engine=EngineSpec(engine, workers, address),
    )
    width = max(len(n) for n in manifest["tables"])
    for name, entry in manifest["tables"].items():
        dropped = sum(entry["rows_dropped"].values())
        affected = ", ".join(f"{n:,} {r}" for r, n in entry["rows_with_ids_of_no_one"].items() if n)
        click.echo(
            f"{name:{width}} {entry['rows_in']:>12,} rows in  {entry['rows_out']:>12,} out  {dropped:>10,} dropped  ({len(entry['columns'])} columns)"
            + (f"  rows with ids of no one ({manifest['fictive_policy']}): {affected}" if affected else "")
        )
    if manifest["tables_without_source"]:
        click.echo(f"{len(manifest['tables_without_source'])} catalog table(s) had no source file and were skipped (see manifest.json)")
    click.echo(f"extract of project {project} written to {out_dir} (manifest.json, DATA_DICTIONARY.md)")


@main.command()
def keygen():
    """Print a new random master secret (hex). Keep it out of every enclave."""
    from pseudonymizer.keys import new_master_key

    click.echo(new_master_key())


for _command in REGISTRY_COMMANDS + PROVISION_COMMANDS + USAGE_COMMANDS:
    main.add_command(_command)
for _command in PROJECT_COMMANDS:
    project_group.add_command(_command)
attach_auth_commands(main)  # enclave user reset-totp
attach_security_commands(main)  # enclave member suspend|lift|suspended, enclave audit alarms
attach_audit_commands(main)  # enclave audit export|purge|report|rotate-key
main.add_command(catalog_group)
main.add_command(k8s_group)
main.add_command(config_group)  # enclave config reference
main.add_command(packages_group)  # enclave packages list|approve|refuse
main.add_command(import_group)  # enclave import submit|scan|list|show|approve|reject


if __name__ == "__main__":
    main()
