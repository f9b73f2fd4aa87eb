"""Atomic publication: a reader sees the old extract or the new one, never a mix."""

from __future__ import annotations

import pytest

from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.publish import staging


def test_new_folder_appears_whole(tmp_path):
    out = tmp_path / "extracts"
    with staging(out) as work:
        (work / "a.parquet").write_text("new")
        assert not out.exists()
    assert (out / "a.parquet").read_text() == "new"


def test_replacement_swaps_whole_folder(tmp_path):
    out = tmp_path / "extracts"
    out.mkdir()
    (out / "old.parquet").write_text("old")
    with staging(out) as work:
        (work / "new.parquet").write_text("new")
        assert (out / "old.parquet").exists()
    assert sorted(p.name for p in out.iterdir()) == ["new.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extracts"]


def test_failure_leaves_previous_folder(tmp_path):
    out = tmp_path / "extracts"
    out.mkdir()
    (out / "old.parquet").write_text("old")
    with pytest.raises(RuntimeError):
        with staging(out) as work:
            (work / "half.parquet").write_text("half")
            raise RuntimeError("crash")
    assert sorted(p.name for p in out.iterdir()) == ["old.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extracts"]


def test_stale_partial_from_a_crash_is_cleared(tmp_path):
    out = tmp_path / "extracts"
    stale = tmp_path / ".extracts.partial-deadbeef"
    stale.mkdir()
    (stale / "x").write_text("half")
    with staging(out) as work:
        (work / "a").write_text("ok")
    assert not stale.exists()


def test_two_runs_cannot_publish_the_same_folder(tmp_path):
    out = tmp_path / "extracts"
    with staging(out):
        with pytest.raises(PseudonymizerError, match="another run"):
            with staging(out):
                pass
