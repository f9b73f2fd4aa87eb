"""The real-export example of docs/pseudonymizer.md, run exactly as written, on a `;`-delimited Latin-1 export.

The lines are read from docs/pseudonymizer.md (the block after its `real-export example` marker) and run by
bash in a folder laid out as the README assumes: the checkout's `.venv` and `pseudonymizer/`, the
shared data at `../shared`, the export in `export/`.
"""

from __future__ import annotations

import json
import os
import subprocess

import pyarrow.parquet as pq
import pytest

from ..conftest import REPO, SHARED_SNDS
from .snds_export import ACCENTED, SCHEMAS, mother_child_export, newborns_and_mothers

MARKER = "<!-- real-export example:"
pytestmark = pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"the shared synthetic SNDS schemas are absent ({SCHEMAS})")


def readme_block() -> str:
    text = (REPO / "docs" / "pseudonymizer.md").read_text(encoding="utf-8")
    after = text[text.index(MARKER):]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start:after.index("```", start)]


def test_the_readme_real_export_example_runs_as_written(tmp_path):
    block = readme_block()
    assert "encoding=latin-1" in block and "--nomenclatures" in block and "..." not in block
    work = tmp_path / "checkout"
    work.mkdir()
    for name in (".venv", "pseudonymizer"):
        (work / name).symlink_to(REPO / name)
    (tmp_path / "shared").symlink_to(SHARED_SNDS.parent.parent)  # ../shared/data/synthetic-snds from the checkout
    export = mother_child_export(work / "export", newborns_and_mothers())
    assert ACCENTED.encode("latin-1") in (work / "export" / "IR_BEN_R.csv").read_bytes()

    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, capture_output=True, text=True,
                          env={**os.environ, "ENCLAVE_FICTIVE_WARN_PERCENT": "5"}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 file(s) checked, 0 mismatch(es): the sources match the catalog" in done.stdout
    assert "WARNING: flag NIR_RET of T_MCO19C: 5 of 9 rows" in done.stdout  # the babies, said before extracting
    out = work / "projects" / "cardio-2025" / "extracts"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["tables"]) == ["IR_BEN_R", "T_MCO19C"] and manifest["fictive_policy"] == "random"
    stays = pq.read_table(out / "T_MCO19C.parquet").to_pylist()
    mothers = {row["NIR_ANO_17"] for source, row in zip(export.stays, stays) if not source.mother}
    assert all(row["NIR_ANO_MAM"] in mothers for source, row in zip(export.stays, stays) if source.mother)
    people = pq.read_table(out / "IR_BEN_R.parquet").to_pylist()
    assert {row["ORG_AFF_BEN"] for row in people} == {ACCENTED}  # Latin-1 read as Latin-1
