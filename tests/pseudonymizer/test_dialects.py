"""CSV dialects: the same SNDS sample written as real exports write it gives the same extract, and
`enclave catalog check` reports every mismatch of a folder in one run, with the lines that fix them.

Reads the shared synthetic SNDS (skipped when absent) and writes only under tmp_path: the sample
is copied into one flat folder, as an export delivers it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil

import pyarrow.parquet as pq
import pytest

from pseudonymizer.catalog import load_catalog, with_dialect
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.extract import extract

from ..conftest import REPO, SHARED_SNDS, run_enclave

SCHEMAS = SHARED_SNDS / "schemas"
CATALOG = REPO / "pseudonymizer" / "catalogs" / "snds" / "catalog.toml"
TABLES = ["IR_BEN_R", "ER_PRS_F", "T_MCOaaC", "KI_CCI_R", "T_MCOaaB"]
ACCENTED = "Hôpital-Éloïse"  # a value whose bytes differ between UTF-8 and Latin-1

pytestmark = pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"the shared synthetic SNDS folder is absent ({SHARED_SNDS})")


def read_sample() -> dict[str, tuple[list[str], list[list[str]], dict]]:
    """{table: (header, rows, Table Schema)} of the shared CSVs, with one accented value."""
    catalog = load_catalog(CATALOG, schema_dir=SCHEMAS)
    sample = {}
    for name in TABLES:
        table = catalog.table(name)
        with open(table.schema_path.with_suffix(".csv"), encoding="utf-8", newline="") as fh:
            header, *rows = list(csv.reader(fh))
        sample[name] = (header, rows, json.loads(table.schema_path.read_text(encoding="utf-8")))
    header, rows, _ = sample["IR_BEN_R"]
    rows[0][header.index("ORG_AFF_BEN")] = ACCENTED
    return sample


def _sas(text: str) -> str:
    """ISO date -> SAS datetime, upper-case month: 1959-12-06 -> 06DEC1959:00:00:00."""
    return dt.date.fromisoformat(text).strftime("%d%b%Y:00:00:00").upper()


def strict_catalog(tmp_path):
    """The shipped catalog, refusing extra source columns (its tables' default is extra = "drop")."""
    folder = tmp_path / "strict-catalog"
    shutil.copytree(CATALOG.parent, folder)
    root = folder / "catalog.toml"
    root.write_text(root.read_text(encoding="utf-8").replace('\nextra = "drop"\n', '\nextra = "error"\n'), encoding="utf-8")
    return root


def rewrite(sample, folder, delimiter=",", encoding="utf-8", bom=False, sas=False, lower=False):
    """Write the sample as one flat export folder in the given dialect."""
    folder.mkdir(parents=True)
    for name, (header, rows, schema) in sample.items():
        types = {f["name"]: (f["type"], f.get("format", "default")) for f in schema["fields"]}
        out_rows = []
        for row in rows:
            row = list(row)
            if sas:
                for i, column in enumerate(header):
                    kind, fmt = types[column]
                    if not row[i]:
                        row[i] = "   "  # whitespace-only is a missing value
                    elif kind == "date" and fmt == "default":
                        row[i] = _sas(row[i]) if i % 2 else dt.date.fromisoformat(row[i]).strftime("%d/%m/%Y")
                    elif kind == "integer" and _flags(rows, i):
                        row[i] = {"1": "True", "0": "False"}[row[i]]
                    elif kind == "integer" and i % 3 == 0:
                        row[i] += ".0"  # a float-typed export's integers
            out_rows.append(row)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n" if sas else "\n")
        writer.writerow(header)
        writer.writerows(out_rows)
        data = buffer.getvalue().encode(encoding)
        (folder / f"{name.lower() if lower else name}.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return folder


def _flags(rows, i) -> bool:
    values = {row[i] for row in rows if row[i]}
    return bool(values) and values <= {"0", "1"}


VARIANTS = {
    "semicolon": ({"delimiter": ";"}, {"delimiter": ";"}),
    "latin1": ({"encoding": "latin-1"}, {"encoding": "latin-1"}),
    "bom": ({"bom": True}, {}),
    "sas_dates_blanks_flags": ({"sas": True}, {}),
    "all_at_once": ({"delimiter": ";", "encoding": "cp1252", "sas": True, "lower": True}, {"delimiter": ";", "encoding": "cp1252"}),
}


@pytest.fixture(scope="module")
def sample():
    return read_sample()


@pytest.fixture(scope="module")
def base_extract(sample, tmp_path_factory, master_key):
    folder = rewrite(sample, tmp_path_factory.mktemp("base") / "export")
    out = folder.parent / "extract"
    extract(load_catalog(CATALOG, schema_dir=SCHEMAS), folder, "alpha", out, master_key, tables=TABLES, progress=False)
    return out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_dialect_variants_give_identical_extracts(sample, base_extract, tmp_path, master_key, variant):
    write, dialect = VARIANTS[variant]
    folder = rewrite(sample, tmp_path / "export", **write)
    written = folder / ("ir_ben_r.csv" if write.get("lower") else "IR_BEN_R.csv")
    assert written.read_bytes() != (base_extract.parent / "export" / "IR_BEN_R.csv").read_bytes()
    catalog = with_dialect(load_catalog(CATALOG, schema_dir=SCHEMAS), dialect)
    out = tmp_path / "extract"
    extract(catalog, folder, "alpha", out, master_key, tables=TABLES, progress=False)
    for name in TABLES:
        got, want = pq.read_table(out / f"{name}.parquet"), pq.read_table(base_extract / f"{name}.parquet")
        assert got.equals(want), f"{variant}: {name} differs"
        assert (out / f"{name}.parquet").read_bytes() == (base_extract / f"{name}.parquet").read_bytes()
    assert ACCENTED in pq.read_table(out / "IR_BEN_R.parquet").column("ORG_AFF_BEN").to_pylist()


def test_cli_dialect_options_read_a_semicolon_latin1_export(sample, base_extract, tmp_path, master_key):
    folder = rewrite(sample, tmp_path / "export", delimiter=";", encoding="latin-1", sas=True)
    key = tmp_path / "master.key"
    key.write_text(master_key.hex())
    out = tmp_path / "extract"
    run_enclave(
        "pseudonymize", "--catalog", CATALOG, "--schemas", SCHEMAS, "--sources", folder, "--project", "alpha",
        "--tables", ",".join(TABLES), "--out", out, "--master-key-file", key, "--quiet",
        "--dialect", "delimiter=;", "--dialect", "encoding=latin-1", check=True,
    )
    for name in TABLES:
        assert (out / f"{name}.parquet").read_bytes() == (base_extract / f"{name}.parquet").read_bytes(), name


def test_undeclared_dialects_fail_with_what_to_declare(sample, tmp_path, master_key):
    catalog = load_catalog(CATALOG, schema_dir=SCHEMAS)
    semicolon = rewrite(sample, tmp_path / "semicolon", delimiter=";")
    with pytest.raises(PseudonymizerError) as err:
        extract(catalog, semicolon, "alpha", tmp_path / "out1", master_key, tables=["IR_BEN_R"], progress=False)
    assert "the delimiter is not ','" in str(err.value) and "--dialect 'delimiter=;'" in str(err.value)
    assert len(str(err.value)) < 600
    latin1 = rewrite(sample, tmp_path / "latin1", encoding="latin-1")
    with pytest.raises(PseudonymizerError, match=r'IR_BEN_R.csv.*declare its encoding \(dialect = \{ encoding = "latin-1" \}\)'):
        extract(catalog, latin1, "alpha", tmp_path / "out2", master_key, tables=["IR_BEN_R"], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin1", "semicolon"]  # nothing written, no lock


def test_catalog_check_reports_every_mismatch_in_one_run(sample, tmp_path):
    folder = rewrite(sample, tmp_path / "export")
    # IR_BEN_R: semicolons; KI_CCI_R: Latin-1; ER_PRS_F: two columns real exports have and the schema lacks
    # (declared extras of the shipped catalog) and one nobody declared;
    # T_MCOaaB: a letter in an integer column; T_MCOaaC: dates written YYYYMMDD.
    text = (folder / "IR_BEN_R.csv").read_text(encoding="utf-8")
    (folder / "IR_BEN_R.csv").write_text("\n".join(";".join(r) for r in csv.reader(io.StringIO(text))) + "\n", encoding="utf-8")
    ki = (folder / "KI_CCI_R.csv").read_text(encoding="utf-8").splitlines()
    ki[1] = ki[1].replace(ki[1].split(",")[0], "Zoé", 1)
    (folder / "KI_CCI_R.csv").write_bytes(("\n".join(ki) + "\n").encode("latin-1"))
    header, rows, _ = sample["ER_PRS_F"]
    with open(folder / "ER_PRS_F.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header + ["PRS_PPU_SEC", "DCT_FOR_AMO", "PRS_NEW_COL"])
        writer.writerows(row + ["1", "2", "3"] for row in rows)
    header, rows, _ = sample["T_MCOaaB"]
    column = header.index("SEJ_NBJ")
    rows = [list(r) for r in rows]
    rows[3][column] = "12j"
    with open(folder / "T_MCOaaB.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    header, rows, _ = sample["T_MCOaaC"]
    rows = [list(r) for r in rows]
    for row in rows:
        for i, name in enumerate(header):
            if name == "EXE_SOI_DTD":
                row[i] = dt.datetime.strptime(row[i], "%d%b%Y:%H:%M:%S").strftime("%Y%m%d %H:%M:%S")
    with open(folder / "T_MCOaaC.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])

    shipped = run_enclave("catalog", "check", "--catalog", CATALOG, "--schemas", SCHEMAS, "--sources", folder)
    assert "4 file(s) checked" not in shipped.stdout and "4 mismatch(es)" in shipped.stdout  # extra columns: declared drop
    assert "note: ER_PRS_F: extra column(s) the catalog declares (extras), left out: PRS_PPU_SEC, DCT_FOR_AMO" in shipped.stdout
    assert 'note: ER_PRS_F: column(s) not in the Table Schema, left out as declared (extra = "drop"): PRS_NEW_COL' in shipped.stdout
    result = run_enclave("catalog", "check", "--catalog", strict_catalog(tmp_path), "--schemas", SCHEMAS, "--sources", folder)
    out = result.stdout
    assert result.returncode == 1, result.stderr
    assert "5 file(s) checked, 5 mismatch(es)" in out, out
    assert "delimited by ';'" in out and "[tables.IR_BEN_R]\ndialect = { delimiter = \";\" }" in out
    assert "the file is latin-1" in out and "[tables.KI_CCI_R]\ndialect = { encoding = \"latin-1\" }" in out
    assert "column(s) not in the Table Schema: PRS_NEW_COL" in out  # the declared extras are not mismatches
    assert '[tables.ER_PRS_F]\nextras = ["PRS_PPU_SEC", "DCT_FOR_AMO", "PRS_NEW_COL"]' in out
    assert "column SEJ_NBJ (integer): 1 value(s) do not parse, e.g. '12j'" in out
    assert re.search(r'\[tables.T_MCOaaB.columns\]\nSEJ_NBJ = \{ role = "attribute", type = "string" \}', out)
    assert "column EXE_SOI_DTD (datetime %d%b%Y:%H:%M:%S): 10 value(s) do not parse" in out
    assert "[tables.T_MCOaaC]\ndialect = { datetime_formats = [" in out


def test_extra_columns_dropped_when_declared(sample, tmp_path, master_key):
    folder = rewrite(sample, tmp_path / "export")
    header, rows, _ = sample["ER_PRS_F"]
    with open(folder / "ER_PRS_F.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header + ["DCT_FOR_AMO", "PRS_NEW_COL"], *[r + ["True", "7"] for r in rows]])
    strict = strict_catalog(tmp_path)
    # DCT_FOR_AMO is a declared extra (extras = [...] in [tables.ER_PRS_F]): only the undeclared column stops the run,
    # and the message gives the role-file line that fixes it.
    expected = r'unexpected column\(s\) PRS_NEW_COL.*declare them in \[tables.ER_PRS_F\]: extras = \["PRS_PPU_SEC", "DCT_FOR_AMO", "PRS_NEW_COL"\]'
    with pytest.raises(PseudonymizerError, match=expected):
        extract(load_catalog(strict, schema_dir=SCHEMAS), folder, "alpha", tmp_path / "out", master_key, tables=["ER_PRS_F"], progress=False)
    dcir = strict.parent / "dcir.toml"
    dcir.write_text(dcir.read_text(encoding="utf-8").replace('extras = ["PRS_PPU_SEC", "DCT_FOR_AMO"]', 'extras = ["PRS_PPU_SEC", "DCT_FOR_AMO", "PRS_NEW_COL"]', 1), encoding="utf-8")
    table = load_catalog(strict, schema_dir=SCHEMAS).table
    assert table("ER_PRS_F").extra == "error" and "PRS_NEW_COL" in table("ER_PRS_F").extras
    manifest = extract(load_catalog(strict, schema_dir=SCHEMAS), folder, "alpha", tmp_path / "out", master_key, tables=["ER_PRS_F"], progress=False)
    assert manifest["tables"]["ER_PRS_F"]["extra_source_columns_dropped"] == ["DCT_FOR_AMO", "PRS_NEW_COL"]
    assert not {"DCT_FOR_AMO", "PRS_NEW_COL"} & set(pq.read_table(tmp_path / "out" / "ER_PRS_F.parquet").column_names)
    dictionary = (tmp_path / "out" / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert "`DCT_FOR_AMO` (in the source file, not in the Table Schema: a known extra of this export" in dictionary
