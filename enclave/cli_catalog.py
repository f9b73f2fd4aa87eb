"""`enclave catalog ...`: propose a catalog from Table Schemas, check sources against a catalog."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from enclave.settings import DEFAULT_CATALOG

DIALECT_HELP = (
    "A dialect key for every table, repeatable: delimiter=';', encoding=latin-1, decimal=',', booleans_in_integers=true "
    "replace the catalog's value; list keys (null_values=NA,., true_values, false_values, date_formats=%d/%m/%Y, "
    "datetime_formats=%d/%m/%Y %H:%M) ADD to the catalog's list, whose values stay accepted."
)


@click.group()
def catalog():
    """Propose a catalog for a folder of Table Schemas (init); check source files against one (check)."""


@catalog.command()
@click.option("--schemas", "schemas_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path), help="Folder of SNDS Table Schemas (*.json, in any subfolder).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write catalog.toml and one role file per product into.")
@click.option("--force", is_flag=True, help="Overwrite role files already in --out.")
def init(schemas_dir: Path, out_dir: Path, force: bool):
    """Propose roles for every column of every table, from rules and the schemas' foreign keys.

    Known linkage ids become pseudonyms (with their domain), direct identifiers are dropped,
    quasi-identifiers coarsened; year-suffixed tables (T_MCO19C...) are described once (T_MCOaaC).
    Proposals no rule settled are marked REVIEW: a human decides them before the catalog is used.
    """
    from pseudonymizer.catalog_init import propose, write_catalog
    from pseudonymizer.errors import PseudonymizerError

    if out_dir.exists() and any(out_dir.glob("*.toml")) and not force:
        raise PseudonymizerError(f"{out_dir} already holds role files", "pick an empty --out, or pass --force to overwrite them")
    counts = write_catalog(propose(schemas_dir), out_dir, schemas_dir.resolve())
    click.echo(f"{counts['tables']} tables, {counts['columns']} columns in {counts['files']} role files under {out_dir}")
    click.echo(f"{counts['review']} proposal(s) marked REVIEW" + (": grep REVIEW, decide each, remove the mark" if counts["review"] else ""))


@catalog.command()
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CATALOG, show_default="the synthetic catalog", help="Role file (TOML).")
@click.option("--schemas", "schema_dir", type=click.Path(file_okay=False, path_type=Path), help="Folder of the Table Schema files, if not the catalog's schema_dir.")
@click.option("--sources", "sources_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path), help="Folder of the source files (<TABLE>.csv or .parquet, any subfolder).")
@click.option("--tables", "tables", multiple=True, help="Tables to check, comma-separated or repeated (default: every catalog table with a source file).")
@click.option("--dialect", "dialect", multiple=True, help=DIALECT_HELP)
def check(catalog_path, schema_dir, sources_dir, tables, dialect):
    """Read every source file once and report ALL mismatches with the catalog, and the role-file lines that fix them.

    Checks the encoding and delimiter, the columns against each Table Schema, and every value
    against its column's type and format. Exit status 1 when anything does not match. Reports the
    share of rows each fictive flag makes "no one", with a warning past ENCLAVE_FICTIVE_WARN_PERCENT.
    """
    from enclave.settings import Settings
    from pseudonymizer.catalog import load_catalog, parse_dialect_options, with_dialect
    from pseudonymizer.checking import check_sources, render

    warn_share = Settings.from_env().fictive_warn_percent / 100
    cat = with_dialect(load_catalog(catalog_path, schema_dir), parse_dialect_options(dialect))
    names = [t.strip() for spec in tables for t in spec.split(",") if t.strip()] or None
    report = check_sources(cat, sources_dir, names, warn_share=warn_share)
    click.echo(render(report))
    if report.findings:
        sys.exit(1)
