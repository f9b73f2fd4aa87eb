"""Provisioning from the shipped SNDS catalog: `enclave provision` reads a real-shaped export
(`;` Latin-1, SAS dates, newborns) with the dialect and policies of the project's manifest.

The manifest checks are pure; the provisioning run needs Docker (the project network, the
firewall): run it under the shared lock, `flock /tmp/enclave-docker.lock ...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest

from enclave.manifest import ManifestError, load_manifest
from pseudonymizer.catalog import load_catalog

from ..registry.conftest import docker_engine, new_slug  # noqa: F401  (fixtures)
from ..registry.provisioning_support import DELETE, EnclaveProject, extract_status, manifest_spec, toml_text
from .snds_export import CATALOG, SCHEMAS, SHARED_SNDS, mother_child_export, newborns_and_mothers

pytestmark = pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"the shared synthetic SNDS schemas are absent ({SCHEMAS})")
EXPORT_DIALECT = '{ delimiter = ";", encoding = "latin-1", date_formats = ["%d.%m.%Y"] }'
USERS = {"alice", "bob", "carol"}


def snds_manifest(slug: str, pseudonymisation: str) -> str:
    changes = {"data.tables": ["IR_BEN_R", "T_MCO19C"], "data.where": DELETE,
               "approvals.expires_on": date.today() + timedelta(days=400)}
    return toml_text(manifest_spec(slug, changes)) + "\n[pseudonymisation]\n" + pseudonymisation + "\n"


def write(tmp_path, slug: str, pseudonymisation: str):
    path = tmp_path / f"{slug}.toml"
    path.write_text(snds_manifest(slug, pseudonymisation), encoding="utf-8")
    return path


def test_the_manifest_chooses_dialect_and_policies(tmp_path):
    catalog = load_catalog(CATALOG, SCHEMAS)
    path = write(tmp_path, "snds-one", f'fictive_policy = "null"\nstatus_column = false\ndialect = {EXPORT_DIALECT}')
    manifest = load_manifest(path, catalog, USERS)
    chosen = manifest.pseudonymisation
    assert (chosen.fictive_policy, chosen.status_column) == ("null", False)
    table = chosen.catalog(catalog).table("T_MCO19C")
    assert (table.dialect.delimiter, table.dialect.encoding) == (";", "latin-1")
    assert table.dialect.date_formats[-1] == "%d.%m.%Y" and "%d%b%Y:%H:%M:%S" in table.dialect.date_formats  # added


@pytest.mark.parametrize("body, field, hint", [
    ('fictive_policy = "merge"', "pseudonymisation.fictive_policy: 'merge' is not a policy", "use one of: keep, null, random, drop"),
    ("status_column = 1", "pseudonymisation.status_column: 1 is not a bool", "write pseudonymisation.status_column as a bool"),
    ('dialect = "latin-1"', "pseudonymisation.dialect: 'latin-1' is not a dict", "dialect = { delimiter"),
    ('dialect = { delimeter = ";" }', "pseudonymisation.dialect.delimeter: unknown dialect key", "known keys: booleans_in_integers"),
    ('dialect = { encoding = "ebcdic" }', "pseudonymisation.dialect: dialect encoding = 'ebcdic' is not supported", "utf-8, latin-1, cp1252"),
    ('dialect = { date_formats = "%d/%m/%Y" }', "pseudonymisation.dialect.date_formats: '%d/%m/%Y' is not a list of strings", 'date_formats = ["%d/%m/%Y"]'),
    ('dialect = { delimiter = ";;" }', "pseudonymisation.dialect: dialect delimiter = ';;' is not one character", 'delimiter = ";"'),
    ('fictive = "drop"', "pseudonymisation.fictive: unknown field", "known fields of [pseudonymisation]"),
])
def test_bad_pseudonymisation_fields_are_refused_naming_file_and_field(tmp_path, body, field, hint):
    path = write(tmp_path, "snds-bad", body)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, load_catalog(CATALOG, SCHEMAS), USERS)
    message = str(caught.value)
    assert str(path) in message and field in message and hint in message, message


@dataclass
class SndsProject(EnclaveProject):
    """A project provisioned from the shipped SNDS catalog."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "ENCLAVE_CATALOG": str(CATALOG), "ENCLAVE_SCHEMAS_DIR": str(SCHEMAS),
                "ENCLAVE_NOMENCLATURES_DIR": str(SHARED_SNDS / "nomenclatures")}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_provision_from_the_shipped_catalog(registry, docker_engine, new_slug, master_key_file, tmp_path):  # noqa: F811
    from ..registry.factories import create_user

    with registry.session() as session:
        for username in sorted(USERS):
            create_user(session, username)
    export = mother_child_export(tmp_path / "export", newborns_and_mothers())
    project = SndsProject(registry, new_slug("snds"), export.folder, master_key_file, docker_engine)
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)

    # Without the export's dialect, the Latin-1 ';' files are refused with the line that fixes them.
    project.manifest_path.write_text(snds_manifest(project.slug, "status_column = true"), encoding="utf-8")
    refused = project.provision(expect=2)
    assert "IR_BEN_R.csv" in refused.stderr and "delimiter" in refused.stderr and extract_status(project.extracts) == "absent"

    project.manifest_path.write_text(snds_manifest(project.slug, f"status_column = true\ndialect = {EXPORT_DIALECT}"), encoding="utf-8")
    project.provision()
    assert extract_status(project.extracts) == "complete"
    manifest = json.loads((project.extracts / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["tables"]) == ["IR_BEN_R", "T_MCO19C"]
    assert manifest["fictive_policy"] == "random" and manifest["status_column"] == "ID_STATUS"  # the catalog's default
    stays = pq.read_table(project.extracts / "T_MCO19C.parquet").to_pylist()
    mothers = {row["NIR_ANO_17"] for source, row in zip(export.stays, stays) if not source.mother}
    babies = [row for source, row in zip(export.stays, stays) if source.mother]
    assert all(b["NIR_ANO_MAM"] in mothers for b in babies) and len({b["NIR_ANO_17"] for b in babies}) == len(babies)
    dictionary = (project.extracts / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert "codes (" in dictionary  # nomenclature labels from ENCLAVE_NOMENCLATURES_DIR

    # The manifest's policy is part of the request: changing it re-extracts.
    project.manifest_path.write_text(snds_manifest(project.slug, f'fictive_policy = "keep"\ndialect = {EXPORT_DIALECT}'), encoding="utf-8")
    project.provision()
    again = json.loads((project.extracts / "manifest.json").read_text(encoding="utf-8"))
    assert again["fictive_policy"] == "keep" and again["labels"] != manifest["labels"]
    stays = pq.read_table(project.extracts / "T_MCO19C.parquet").to_pylist()
    assert len({row["NIR_ANO_17"] for source, row in zip(export.stays, stays) if source.mother}) == 1
