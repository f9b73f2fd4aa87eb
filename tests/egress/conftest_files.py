"""Fixtures for the submission, quarantine and release tests (imported by them; conftest.py is shared)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A project workspace with one output, and a secret beside it (outside the workspace)."""
    ws = tmp_path / "workspace"
    (ws / "outputs").mkdir(parents=True)
    (ws / "outputs" / "table.csv").write_text("region,n\nA,15\nB,20\n")
    (tmp_path / "secret.csv").write_text("nir\n1850775123456\n")
    return ws
