"""Host hygiene: what the platform keeps on the host — the identifying sources, the keys, the
registry and hub databases, the quarantine — is root's alone, and the hub refuses to start, naming
the file, when a key or a source is readable by others."""

from __future__ import annotations

import stat

import pytest

from enclave.errors import EnclaveError
from enclave.hygiene import check_host_files, exposed


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_running_platform_keeps_its_state_private(sealed):
    settings = sealed.settings()
    for path in (settings.home / "registry.db", settings.home / "jupyterhub.sqlite",
                 settings.home / "jupyterhub_cookie_secret", settings.audit_config.key_file,
                 settings.audit_config.anchors):
        assert path.exists() and mode(path) & 0o077 == 0, (path, oct(mode(path)))
    for folder in (settings.home / "egress",):
        if folder.exists():
            assert not exposed(folder), exposed(folder)[:3]


def test_the_hub_refuses_an_exposed_key_or_source_and_tightens_its_own_state(tmp_path):
    from enclave.settings import Settings

    home, sources, key = tmp_path / "var", tmp_path / "sources", tmp_path / "master.key"
    home.mkdir()
    sources.mkdir(mode=0o700)
    (sources / "IR_BEN_R.parquet").write_bytes(b"identifying")
    (sources / "IR_BEN_R.parquet").chmod(0o600)
    key.write_text("00" * 32)
    key.chmod(0o600)
    (home / "registry.db").write_bytes(b"")
    (home / "registry.db").chmod(0o644)
    env = {"ENCLAVE_HOME": str(home), "ENCLAVE_SOURCES_DIR": str(sources), "ENCLAVE_MASTER_KEY_FILE": str(key)}
    settings = Settings.from_env(env)

    check_host_files(settings, env)  # all private but the database, which the hub tightens itself
    assert mode(home / "registry.db") == 0o600

    key.chmod(0o644)
    with pytest.raises(EnclaveError) as refused:
        check_host_files(settings, env)
    assert str(key) in str(refused.value) and "chmod" in refused.value.hint
    key.chmod(0o600)

    (sources / "IR_BEN_R.parquet").chmod(0o640)
    with pytest.raises(EnclaveError) as refused:
        check_host_files(settings, env)
    assert "IR_BEN_R.parquet" in str(refused.value)
