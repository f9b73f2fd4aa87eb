"""Synthetic identifying sources, generated once per test session."""

from __future__ import annotations

import pytest

from pseudonymizer.catalog import load_catalog
from pseudonymizer.extract import extract
from pseudonymizer.synth import generate

from ..conftest import REPO

SYNTH_CATALOG = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
PEOPLE = 3000


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(SYNTH_CATALOG)


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    out = tmp_path_factory.mktemp("sources")
    generate(out, people=PEOPLE, seed=7, progress=False)
    return out


@pytest.fixture(scope="session")
def extract_of(tmp_path_factory, catalog, sources, master_key):
    """extract_of(project, **options) -> (out_dir, manifest); each distinct call runs once."""
    made = {}

    def make(project: str, **options):
        key = (project, tuple(sorted((k, repr(v)) for k, v in options.items())))
        if key not in made:
            out = tmp_path_factory.mktemp(f"extract-{project}") / "extracts"
            manifest = extract(catalog, sources, project, out, master_key, progress=False, **options)
            made[key] = (out, manifest)
        return made[key]

    return make


@pytest.fixture(scope="session")
def master_key_file(tmp_path_factory, master_key):
    path = tmp_path_factory.mktemp("pseudonymizer-key") / "master.key"
    path.write_text(master_key.hex() + "\n", encoding="ascii")
    path.chmod(0o600)
    return path
