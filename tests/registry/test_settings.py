"""Settings: read once from the environment, defaults relative to the working folder, fail fast."""

from __future__ import annotations

import dataclasses
import getpass

import pytest

from enclave.errors import EnclaveError
from enclave.settings import DEFAULT_CATALOG, Settings, require


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings == Settings(
        home=tmp_path / "var", db_url=f"sqlite:///{tmp_path / 'var' / 'registry.db'}",
        projects_dir=tmp_path / "projects", sources_dir=None, catalog=DEFAULT_CATALOG,
        audit_head=tmp_path / "var" / "audit.head", actor=getpass.getuser(),
    )
    assert DEFAULT_CATALOG.is_file()
    assert settings.project_dir("cohort-a") == tmp_path / "projects" / "cohort-a"


def test_every_variable_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({
        "ENCLAVE_HOME": "state", "ENCLAVE_DB_URL": "postgresql+psycopg://enclave@db/registry",
        "ENCLAVE_PROJECTS_DIR": "/srv/projects", "ENCLAVE_SOURCES_DIR": "/srv/sources",
        "ENCLAVE_CATALOG": "catalog.toml", "ENCLAVE_AUDIT_HEAD": "/anchor/audit.head", "ENCLAVE_ACTOR": "olga",
    })
    assert settings.home == tmp_path / "state"
    assert settings.db_url == "postgresql+psycopg://enclave@db/registry"
    assert (str(settings.projects_dir), str(settings.sources_dir)) == ("/srv/projects", "/srv/sources")
    assert settings.catalog == tmp_path / "catalog.toml"
    assert str(settings.audit_head) == "/anchor/audit.head"
    assert settings.actor == "olga"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.actor = "mallory"  # type: ignore[misc]


def test_bad_database_url_fails_fast_naming_the_variable():
    with pytest.raises(EnclaveError, match="ENCLAVE_DB_URL is not a database URL"):
        Settings.from_env({"ENCLAVE_DB_URL": "not a url"})


def test_require_names_the_missing_variable():
    assert require("ENCLAVE_X", {"ENCLAVE_X": "1"}) == "1"
    for environ in ({}, {"ENCLAVE_X": ""}):
        with pytest.raises(EnclaveError, match="environment variable ENCLAVE_X is not set — export ENCLAVE_X="):
            require("ENCLAVE_X", environ)
    with pytest.raises(EnclaveError, match="ENCLAVE_SOURCES_DIR is not set"):
        Settings.from_env({}).require_sources_dir()
    assert str(Settings.from_env({"ENCLAVE_SOURCES_DIR": "/srv/s"}).require_sources_dir()) == "/srv/s"
