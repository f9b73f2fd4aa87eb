"""Provisioning picks its engine from the project manifest ([extraction]); the extract is the same."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from enclave import provisioning
from enclave.manifest import ManifestError, load_manifest
from enclave.models import AuditEvent
from enclave.settings import DEFAULT_CATALOG, Settings
from pseudonymizer.catalog import load_catalog
from pseudonymizer.engines import EngineSpec
from pseudonymizer.extract import extract

from ..registry.factories import create_user
from ..registry.provisioning_support import USERS, write_manifest

SLUG = "scale-study"
MASTER = bytes(range(32, 64))


@pytest.mark.parametrize("changes, field, fragment", [
    ({"extraction.engine": "ray"}, "extraction.engine", "'ray' is not an engine"),
    ({"extraction.workers": 2}, "extraction.workers", "the local engine takes none"),
    ({"extraction.engine": "dask", "extraction.workers": 0}, "extraction.workers", "0 is below 1"),
    ({"extraction.engine": "dask", "extraction.worker": 2}, "extraction.worker", "unknown field"),
])
def test_a_bad_extraction_setting_names_its_field(tmp_path, changes, field, fragment):
    path = write_manifest(tmp_path, SLUG, changes)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, load_catalog(DEFAULT_CATALOG), set(USERS))
    assert str(caught.value).startswith(f"{path}: {field}: ") and fragment in str(caught.value)


def test_the_engine_is_read_and_defaults_to_local(tmp_path):
    catalog = load_catalog(DEFAULT_CATALOG)
    assert load_manifest(write_manifest(tmp_path, SLUG), catalog, set(USERS)).extraction == EngineSpec()
    spark = write_manifest(tmp_path, SLUG, {"extraction.engine": "spark", "extraction.address": "spark://master:7077"})
    assert load_manifest(spark, catalog, set(USERS)).extraction == EngineSpec("spark", None, "spark://master:7077")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_provisioning_extracts_on_dask_what_the_local_engine_writes(registry, synth_sources, tmp_path, monkeypatch):
    """The provisioning steps up to the extract (the network step needs Docker: not here), with
    engine = "dask" in the manifest: the published extract is the local engine's, and the audit says dask."""
    with registry.session() as session:
        for name in USERS:
            create_user(session, name)
    write_manifest(registry.projects_dir, SLUG, {"extraction.engine": "dask", "extraction.workers": 2,
                                                 "data.where": ["ER_PRS_F.EXE_SOI_DTD >= 2019-06-01"]})
    monkeypatch.setenv("ENCLAVE_MASTER_KEY", MASTER.hex())
    settings = Settings.from_env(registry.env(ENCLAVE_SOURCES_DIR=str(synth_sources), ENCLAVE_CATALOG=str(DEFAULT_CATALOG)))
    job = provisioning.Job(settings=settings, slug=SLUG, engine=registry.engine, progress=False)
    for name, _, step in provisioning.STEPS:
        if name in ("validate", "register", "extract"):
            step(job)
    made = settings.project_dir(SLUG) / "extracts"
    data = job.manifest.data
    local = tmp_path / "local"
    extract(load_catalog(DEFAULT_CATALOG), synth_sources, SLUG, local, MASTER, key_version=1, tables=data["tables"],
            columns=data["columns"], where=data["where"], progress=False, labels={"request_fingerprint": job.fingerprint})
    for name in sorted(p.name for p in local.iterdir()):
        assert (made / name).read_bytes() == (local / name).read_bytes(), name
    with registry.session() as session:
        details = session.scalar(select(AuditEvent.details).where(AuditEvent.action == "project.extract"))
    assert details["engine"] == "dask" and json.loads((made / "manifest.json").read_text())["project"] == SLUG
