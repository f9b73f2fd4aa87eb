"""Bad input: one clear line naming the problem, exit status != 0, nothing written."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ..conftest import run_enclave
from .conftest import SYNTH_CATALOG

pytestmark = pytest.mark.slow  # every test runs the `enclave` command, a process each


@pytest.fixture(scope="module")
def good_extract(tmp_path_factory, sources, master_key):
    """A good extract made once by the real command, copied into each test's workspace."""
    root = tmp_path_factory.mktemp("good-extract")
    key_file = root / "master.key"
    key_file.write_text(master_key.hex())
    out = root / "extracts"
    run_enclave("pseudonymize", "--sources", sources, "--project", "alpha", "--out", out,
                "--master-key-file", key_file, "--quiet", "--tables", "IR_BEN_R,KI_CCI_R", check=True)
    return out


@pytest.fixture
def workspace(tmp_path, sources, master_key, good_extract):
    """A writable copy of the sources, a key file, and a previous good extract to protect."""
    src = tmp_path / "sources"
    shutil.copytree(sources, src)
    key_file = tmp_path / "master.key"
    key_file.write_text(master_key.hex())
    out = tmp_path / "project" / "extracts"
    shutil.copytree(good_extract, out)
    base = ["pseudonymize", "--sources", src, "--project", "alpha", "--out", out, "--master-key-file", key_file, "--quiet"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    return {"src": src, "out": out, "base": base, "before": before, "tmp": tmp_path}


def assert_refused(result, *phrases, ws):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    after = {p.name: p.read_bytes() for p in ws["out"].iterdir()}
    assert after == ws["before"], "the previous extract changed"
    leftovers = [p.name for p in ws["out"].parent.iterdir() if p.name != "extracts"]
    assert not leftovers, f"half-written files left behind: {leftovers}"


def test_unknown_table(workspace):
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,ER_NOPE_F")
    assert_refused(r, "ER_NOPE_F", "known tables", ws=workspace)


def test_unknown_column(workspace):
    r = run_enclave(*workspace["base"], "--tables", "ER_PRS_F", "--columns", "ER_PRS_F.EXE_SOI_DTD,ER_PRS_F.NOPE")
    assert_refused(r, "NOPE", "ER_PRS_F", ws=workspace)


def test_direct_identifier_requested(workspace):
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R", "--columns", "IR_BEN_R.BEN_NOM")
    assert_refused(r, "BEN_NOM", "direct identifier", ws=workspace)


def test_column_without_role(workspace):
    catalog = workspace["tmp"] / "catalog"
    shutil.copytree(SYNTH_CATALOG.parent, catalog)
    text = (catalog / "catalog.toml").read_text()
    lines = [line for line in text.splitlines() if not line.strip().startswith("BEN_TEL")]
    assert len(lines) < len(text.splitlines())
    (catalog / "catalog.toml").write_text("\n".join(lines))
    r = run_enclave(*workspace["base"], "--catalog", catalog / "catalog.toml")
    assert_refused(r, "without a role", "BEN_TEL", ws=workspace)


def test_schema_mismatch_extra_column(workspace):
    path = workspace["src"] / "KI_CCI_R.parquet"
    table = pq.read_table(path)
    pq.write_table(table.append_column("SURPRISE", pa.array(["x"] * table.num_rows)), path)
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,KI_CCI_R")
    assert_refused(r, "schema mismatch", "SURPRISE", "KI_CCI_R", ws=workspace)


def test_schema_mismatch_wrong_type(workspace):
    path = workspace["src"] / "KI_CCI_R.parquet"
    table = pq.read_table(path)
    i = table.column_names.index("BEN_DCD_DTE")
    pq.write_table(table.set_column(i, "BEN_DCD_DTE", pa.array([1.5] * table.num_rows)), path)
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,KI_CCI_R")
    assert_refused(r, "schema mismatch", "BEN_DCD_DTE", ws=workspace)


def test_corrupt_parquet(workspace):
    path = workspace["src"] / "KI_CCI_R.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,KI_CCI_R")
    assert_refused(r, "KI_CCI_R.parquet", "corrupt", ws=workspace)


def _as_csv(workspace, table, mutate):
    parquet = workspace["src"] / f"{table}.parquet"
    frame = pq.read_table(parquet).to_pandas()
    for column in frame.columns:
        if str(frame[column].dtype).startswith("date") or frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    text = frame.to_csv(index=False)
    parquet.unlink()
    (workspace["src"] / f"{table}.csv").write_text(mutate(text))


def test_corrupt_csv(workspace):
    def break_row(text):
        lines = text.splitlines()
        lines[5] = lines[5] + ",extra,fields"
        return "\n".join(lines) + "\n"

    _as_csv(workspace, "KI_CCI_R", break_row)
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,KI_CCI_R")
    assert_refused(r, "KI_CCI_R.csv", ws=workspace)


def test_csv_source_reads_like_parquet(workspace):
    _as_csv(workspace, "KI_CCI_R", lambda text: text)
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,KI_CCI_R")
    assert r.returncode == 0, r.stderr
    # same input values, same pseudonyms and bytes
    assert (workspace["out"] / "KI_CCI_R.parquet").read_bytes() == workspace["before"]["KI_CCI_R.parquet"]


def test_unreadable_date(workspace):
    def bad_date(text):
        lines = text.splitlines()
        header = lines[0].split(",")
        col = header.index("BEN_DCD_DTE")
        fields = lines[3].split(",")
        fields[col] = "31/02/2019"
        lines[3] = ",".join(fields)
        return "\n".join(lines) + "\n"

    _as_csv(workspace, "KI_CCI_R", bad_date)
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,KI_CCI_R")
    assert_refused(r, "BEN_DCD_DTE", "row 3", "31/02/2019", "not a valid date", ws=workspace)


def test_missing_master_key(workspace):
    base = [a for a in workspace["base"]]
    i = base.index("--master-key-file")
    del base[i : i + 2]
    r = run_enclave(*base, env={"ENCLAVE_MASTER_KEY": "", "ENCLAVE_MASTER_KEY_FILE": ""})
    assert_refused(r, "no master key", "keygen", ws=workspace)


def test_weak_master_key(workspace):
    (workspace["tmp"] / "master.key").write_text("abcd")
    r = run_enclave(*workspace["base"])
    assert_refused(r, "at least 32 bytes", ws=workspace)


def test_bad_row_filter(workspace):
    r = run_enclave(*workspace["base"], "--where", "BEN_DCD_DTE >= yesterday")
    assert_refused(r, "yesterday", "BEN_DCD_DTE", ws=workspace)
    r = run_enclave(*workspace["base"], "--where", "NOPE_COL = 3")
    assert_refused(r, "NOPE_COL", "applies to no extracted table", ws=workspace)
    r = run_enclave(*workspace["base"], "--where", "BEN_DCD_DTE ~ 3")
    assert_refused(r, "cannot read the row filter", ws=workspace)


def test_failure_in_a_later_table_keeps_previous_extract(workspace):
    path = workspace["src"] / "KI_CCI_R.parquet"
    path.write_bytes(path.read_bytes()[:100])
    r = run_enclave(*workspace["base"], "--tables", "IR_BEN_R,KI_CCI_R")  # IR_BEN_R is written first, then this fails
    assert_refused(r, "KI_CCI_R", ws=workspace)
