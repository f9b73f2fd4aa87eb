"""Settings: read once from the environment, defaults relative to the working folder, fail fast."""

from __future__ import annotations

import dataclasses
import getpass

import pytest

from enclave.errors import EnclaveError
from enclave.settings import DEFAULT_CATALOG, Settings, require, service_environment


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings == Settings(
        home=tmp_path / "var", db_url=f"sqlite:///{tmp_path / 'var' / 'registry.db'}",
        projects_dir=tmp_path / "projects", sources_dir=None, catalog=DEFAULT_CATALOG,
        audit_head=tmp_path / "var" / "audit.head", actor=getpass.getuser(), public_url="http://0.0.0.0:8000",
    )
    assert (settings.notebook_image, settings.idle_timeout, settings.reconcile_interval, settings.spawn_timeout) == \
        ("enclave/notebook:latest", 3600, 60, 120)
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


def test_the_hub_settings_are_read_and_checked():
    settings = Settings.from_env({"ENCLAVE_PROXY_PORT": "8443", "ENCLAVE_NOTEBOOK_IMAGE": "enclave/notebook:2026.11",
                                  "ENCLAVE_IDLE_TIMEOUT": "600", "ENCLAVE_RECONCILE_INTERVAL": "5",
                                  "ENCLAVE_SPAWN_TIMEOUT": "300"})
    assert settings.public_url == "http://0.0.0.0:8443"
    assert (settings.notebook_image, settings.idle_timeout, settings.reconcile_interval, settings.spawn_timeout) == \
        ("enclave/notebook:2026.11", 600, 5, 300)
    assert Settings.from_env({"ENCLAVE_PUBLIC_URL": "https://enclave.example.org"}).public_url == \
        "https://enclave.example.org"
    with pytest.raises(EnclaveError, match="ENCLAVE_IDLE_TIMEOUT='1h' is not a number of seconds"):
        Settings.from_env({"ENCLAVE_IDLE_TIMEOUT": "1h"})


def test_services_get_an_allow_list_of_the_environment():
    environ = {"ENCLAVE_HOME": "/var/lib/enclave", "ENCLAVE_DB_URL": "postgresql+psycopg://enclave@db/registry",
               "ENCLAVE_EGRESS_DIR": "/srv/egress", "ENCLAVE_MASTER_KEY_FILE": "/etc/enclave/master.key",
               "ENCLAVE_TOTP_KEY": "k", "ENCLAVE_OIDC_CLIENT_SECRET": "s", "ENCLAVE_SOURCES_DIR": "/srv/sources",
               "ENCLAVE_NEW_API_SECRET": "added later, by someone else", "PATH": "/usr/bin"}
    assert service_environment(environ, extra=("ENCLAVE_EGRESS_DIR",)) == {
        "ENCLAVE_HOME": "/var/lib/enclave", "ENCLAVE_DB_URL": "postgresql+psycopg://enclave@db/registry",
        "ENCLAVE_EGRESS_DIR": "/srv/egress"}


def test_the_backend_is_docker_or_swarm_and_reaches_the_services():
    assert Settings.from_env({}).backend == "docker"
    assert Settings.from_env({"ENCLAVE_BACKEND": "swarm"}).backend == "swarm"
    with pytest.raises(EnclaveError, match="ENCLAVE_BACKEND='nomad' is not a backend — use one of docker, swarm"):
        Settings.from_env({"ENCLAVE_BACKEND": "nomad"})
    assert service_environment({"ENCLAVE_BACKEND": "swarm"}) == {"ENCLAVE_BACKEND": "swarm"}  # the seal needs it


def test_each_notebook_image_choice_has_a_tag_and_an_unknown_one_names_the_choices():
    from enclave.models import NOTEBOOK_IMAGES

    default = Settings.from_env({})
    assert set(default.notebook_images) == set(NOTEBOOK_IMAGES), "every choice a manifest may make has an image"
    assert default.notebook_image_for(None) == default.notebook_image_for("slim") == "enclave/notebook:latest"
    assert default.notebook_image_for("stack") == "enclave/notebook-stack:latest"
    custom = Settings.from_env({"ENCLAVE_NOTEBOOK_IMAGE": "site/nb:1", "ENCLAVE_NOTEBOOK_STACK_IMAGE": "site/nb-stack:1"})
    assert (custom.notebook_image_for("slim"), custom.notebook_image_for("stack")) == ("site/nb:1", "site/nb-stack:1")
    assert "ENCLAVE_NOTEBOOK_STACK_IMAGE" in service_environment({"ENCLAVE_NOTEBOOK_STACK_IMAGE": "x"})
    with pytest.raises(EnclaveError, match="'full' is not one of this platform's images — set \\[resources\\] image to one of: slim, stack"):
        default.notebook_image_for("full")
