"""The synthetic identifying sources: determinism, NIR validity, consistency across tables, traps."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pseudonymizer import synth
from pseudonymizer.catalog import load_catalog
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.synth import generate

CATALOG_DIR = Path(synth.__file__).parent / "catalogs" / "synthetic"
PEOPLE = 4000
CARE = 6.0
TABLES = ("IR_BEN_R", "ER_PRS_F", "T_MCOaaB", "T_MCOaaC", "KI_CCI_R")
FICTIVE_CODES = {"01", "03", "04", "05", "06", "08", "09", "11"}
PLACEHOLDER = "X" * 17
TYPE_OF = {  # written out here, independently of the code under test
    "string": pa.string(),
    "integer": pa.int64(),
    "year": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    counts = generate(out, people=PEOPLE, seed=11, care_rows_per_person=CARE, progress=False)
    return out, counts


@pytest.fixture(scope="module")
def frames(made):
    out, _ = made
    return {t: pq.read_table(out / f"{t}.parquet").to_pandas() for t in TABLES}


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, capsys):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, people=700, seed=5, care_rows_per_person=4, progress=True)  # progress only draws bars
    assert "ER_PRS_F" in capsys.readouterr().err
    generate(b, people=700, seed=5, care_rows_per_person=4, progress=False)
    generate(c, people=700, seed=6, care_rows_per_person=4, progress=False)
    first, second, other = _bytes(a), _bytes(b), _bytes(c)
    assert sorted(first) == [f"{t}.parquet" for t in sorted(TABLES)]
    assert first == second
    for name in first:
        assert first[name] != other[name], name


def test_chunks_are_deterministic_and_continuous(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "CHUNK_ROWS", 1000)
    counts = generate(tmp_path / "a", people=500, seed=3, care_rows_per_person=7.3, progress=False)
    generate(tmp_path / "b", people=500, seed=3, care_rows_per_person=7.3, progress=False)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    meta = pq.read_metadata(tmp_path / "a" / "ER_PRS_F.parquet")
    assert counts["ER_PRS_F"] == meta.num_rows == 3650 and meta.num_row_groups == 4
    sheets = pq.read_table(tmp_path / "a" / "ER_PRS_F.parquet", columns=["DCT_ORD_NUM"]).column(0).to_numpy()
    assert len(np.unique(sheets)) == len(sheets)


def test_row_counts_match_the_files(made, frames):
    out, counts = made
    assert set(counts) == set(TABLES)
    for table in TABLES:
        assert counts[table] == pq.read_metadata(out / f"{table}.parquet").num_rows, table
    assert counts["IR_BEN_R"] == PEOPLE
    assert counts["ER_PRS_F"] == round(PEOPLE * CARE)
    assert counts["T_MCOaaB"] == counts["T_MCOaaC"] == round(0.15 * PEOPLE)
    assert counts["KI_CCI_R"] == frames["IR_BEN_R"]["BEN_DCD_DTE"].notna().sum()
    assert 0.02 < counts["KI_CCI_R"] / PEOPLE < 0.08  # about 5% die
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)  # no temp file left


def test_parquet_types_match_the_table_schemas(made):
    out, _ = made
    for table in TABLES:
        schema = json.loads((CATALOG_DIR / "schemas" / f"{table}.json").read_text(encoding="utf-8"))
        declared = [(f["name"], TYPE_OF[f["type"]]) for f in schema["fields"]]
        written = pq.read_schema(out / f"{table}.parquet")
        assert [(f.name, f.type) for f in written] == declared, table
        assert schema["name"] == table


def test_catalog_loads_and_gives_every_column_a_role():
    catalog = load_catalog(CATALOG_DIR / "catalog.toml")
    assert list(catalog.tables) == list(TABLES)
    for name, table in catalog.tables.items():
        assert table.names == synth.SCHEMAS[name].names
        assert table.source == name
    ben = catalog.table("IR_BEN_R")
    for col in ("BEN_NIR", "BEN_PRN", "BEN_NOM", "BEN_ADR", "BEN_TEL", "BEN_MEL", "BEN_COM_LIB"):
        assert ben.column(col).role == "direct", col
    assert [(f.column, f.valid) for f in ben.flags] == [("BEN_CDI_NIR", ("00",))]
    assert [f.column for f in catalog.table("ER_PRS_F").flags] == ["BEN_CDI_NIR"]
    assert [f.column for f in catalog.table("T_MCOaaC").flags] == ["NIR_RET"]
    assert catalog.table("T_MCOaaC").column("NIR_ANO_17").domain == "BEN_NIR_PSA"
    assert ben.column("BEN_NAI_DTE").rule == "month"
    assert catalog.table("ER_PRS_F").column("BEN_AMA_COD").rule == "age_band5"


def test_every_nir_is_valid_and_consistent(frames):
    ben = frames["IR_BEN_R"]
    nir = ben["BEN_NIR"]
    assert nir.str.fullmatch(r"[12]\d{14}").all()
    assert nir.is_unique
    n13 = nir.str[:13].astype("int64")
    assert (nir.str[13:].astype("int64") == 97 - n13 % 97).all()
    assert (nir.str[0].astype("int64") == ben["BEN_SEX_COD"]).all()
    birth = pd.to_datetime(ben["BEN_NAI_DTE"])
    assert (nir.str[1:3].astype("int64") == birth.dt.year % 100).all()
    assert (nir.str[3:5].astype("int64") == birth.dt.month).all()
    assert (ben["BEN_NAI_ANN"] == birth.dt.year).all()
    assert birth.min() >= pd.Timestamp("1920-01-01") and birth.max() <= pd.Timestamp("2023-12-31")
    dept = nir.str[5:7].astype("int64")
    assert dept.between(1, 95).all() and not (dept == 20).any()  # metropolitan, no Corsica
    assert nir.str[7:10].astype("int64").between(1, 999).all() and nir.str[10:13].astype("int64").between(1, 999).all()


def test_identifiers_and_contacts_look_right(frames):
    ben = frames["IR_BEN_R"]
    for col in ("BEN_NIR_PSA", "BEN_NIR_ANO", "BEN_IDT_ANO"):
        assert ben[col].str.fullmatch(r"[A-Za-z0-9]{17}").all(), col
    assert ben["BEN_IDT_ANO"].is_unique and ben["BEN_NIR_ANO"].is_unique
    assert ben["BEN_TEL"].str.fullmatch(r"0[67]\d{8}").all() and ben["BEN_TEL"].is_unique
    assert ben["BEN_MEL"].str.fullmatch(r"[a-z-]+\.[a-z-]+\d*@[a-z]+\.[a-z]+").all()
    assert ben["BEN_ADR"].str.fullmatch(r"\d+ (rue|avenue|boulevard|place|impasse|chemin|allée) .+").all()
    assert ben["BEN_CP"].str.fullmatch(r"\d{5}").all() and ben["BEN_RES_COM"].str.fullmatch(r"\d{5}").all()
    assert (ben["BEN_CP"].str[:2] == ben["BEN_RES_COM"].str[:2]).all()
    assert ben["BEN_PRN"].nunique() > 50 and ben["BEN_NOM"].nunique() > 80
    assert ben["BEN_RNG_GEM"].isin([1, 2]).all() and (ben["BEN_RNG_GEM"] == 2).sum() > 0
    assert ben["BEN_DCD_DTE"].isna().mean() > 0.9


def test_fictive_people_share_a_few_psa_values(frames):
    ben = frames["IR_BEN_R"]
    fictive = ben["BEN_CDI_NIR"] != "00"
    assert ben["BEN_CDI_NIR"][fictive].isin(FICTIVE_CODES).all()
    assert 10 < fictive.sum() < 0.03 * PEOPLE
    shared = ben.loc[fictive, "BEN_NIR_PSA"]
    assert shared.nunique() <= 5 and shared.nunique() < len(shared)  # a naive hash merges them
    assert not ben.loc[~fictive, "BEN_NIR_PSA"].isin(set(shared)).any()
    assert ben.loc[fictive, "BEN_IDT_ANO"].is_unique
    # for real NIRs, (BEN_NIR_PSA, BEN_RNG_GEM) keys one person; twins share BEN_NIR_PSA
    real = ben[~fictive]
    assert not real.duplicated(["BEN_NIR_PSA", "BEN_RNG_GEM"]).any()
    twins = real[real["BEN_RNG_GEM"] == 2]
    siblings = real[real["BEN_RNG_GEM"] == 1].set_index("BEN_NIR_PSA")
    assert twins["BEN_NIR_PSA"].isin(siblings.index).all()
    pair = siblings.loc[twins["BEN_NIR_PSA"]]
    assert (pair["BEN_NAI_DTE"].to_numpy() == twins["BEN_NAI_DTE"].to_numpy()).all()
    assert (pair["BEN_SEX_COD"].to_numpy() == twins["BEN_SEX_COD"].to_numpy()).all()


def test_foreign_keys_resolve(frames):
    ben, care, stays, link, deaths = (frames[t] for t in TABLES)
    people = ben[["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_CDI_NIR"]].drop_duplicates(["BEN_NIR_PSA", "BEN_RNG_GEM"])
    joined = care.merge(people, on=["BEN_NIR_PSA", "BEN_RNG_GEM"], how="left", suffixes=("", "_ben"), indicator=True)
    assert (joined["_merge"] == "both").all()
    fictive_psa = set(ben.loc[ben["BEN_CDI_NIR"] != "00", "BEN_NIR_PSA"])
    assert ((care["BEN_CDI_NIR"] != "00") == care["BEN_NIR_PSA"].isin(fictive_psa)).all()
    real = joined["BEN_CDI_NIR"] == "00"
    assert (joined.loc[real, "BEN_CDI_NIR"] == joined.loc[real, "BEN_CDI_NIR_ben"]).all()
    assert (care["BEN_CDI_NIR"] != "00").any()

    valid = link["NIR_RET"] == "0"
    assert link["NIR_RET"].isin(["0", "1"]).all() and 0.003 < (~valid).mean() < 0.06
    assert link.loc[valid, "NIR_ANO_17"].isin(set(ben["BEN_NIR_PSA"])).all()
    real_psa = set(ben.loc[ben["BEN_CDI_NIR"] == "00", "BEN_NIR_PSA"])
    assert link.loc[valid, "NIR_ANO_17"].isin(real_psa).all()  # a valid link is never a fictive NIR
    assert (link.loc[~valid, "NIR_ANO_17"] == PLACEHOLDER).all()
    for stays_table in (stays, link):
        assert not stays_table.duplicated(["ETA_NUM", "RSA_NUM"]).any()
        assert stays_table["ETA_NUM"].str.fullmatch(r"\d{9}").all()
    keys = stays.merge(link, on=["ETA_NUM", "RSA_NUM"], how="outer", indicator=True)
    assert (keys["_merge"] == "both").all()
    assert 50 < stays["ETA_NUM"].nunique() and link["ETA_NUM"].nunique() == stays["ETA_NUM"].nunique()

    dead = ben[ben["BEN_DCD_DTE"].notna()].set_index("BEN_IDT_ANO")
    assert deaths["BEN_IDT_ANO"].is_unique and set(deaths["BEN_IDT_ANO"]) == set(dead.index)
    matched = dead.loc[deaths["BEN_IDT_ANO"]]
    assert (matched["BEN_DCD_DTE"].to_numpy() == deaths["BEN_DCD_DTE"].to_numpy()).all()
    assert (matched["BEN_NAI_ANN"].to_numpy() == deaths["BEN_NAI_ANN"].to_numpy()).all()
    assert (deaths["DCD_COM_COD"].str[:2].to_numpy() == matched["BEN_RES_COM"].str[:2].to_numpy()).all()


def _age(birth: pd.Series, at: pd.Series) -> pd.Series:
    b, a = pd.to_datetime(birth), pd.to_datetime(at)
    before = (a.dt.month * 100 + a.dt.day) < (b.dt.month * 100 + b.dt.day)
    return a.dt.year - b.dt.year - before.astype("int64")


def test_care_sheets_are_consistent_with_the_person(frames):
    ben, care = frames["IR_BEN_R"], frames["ER_PRS_F"]
    real = ben[ben["BEN_CDI_NIR"] == "00"]
    rows = care.merge(real, on=["BEN_NIR_PSA", "BEN_RNG_GEM"], how="inner", suffixes=("", "_ben"))
    assert len(rows) == (care["BEN_CDI_NIR"] == "00").sum()
    start, flux = pd.to_datetime(rows["EXE_SOI_DTD"]), pd.to_datetime(rows["FLX_DIS_DTD"])
    assert start.min() >= pd.Timestamp("2015-01-01") and start.max() <= pd.Timestamp("2023-12-31")
    assert (start >= pd.to_datetime(rows["BEN_NAI_DTE"])).all()
    death = pd.to_datetime(rows["BEN_DCD_DTE"])
    assert (death.isna() | (start <= death)).all()
    assert (flux > start).all() and ((flux - start).dt.days < 200).all()
    assert (rows["BEN_AMA_COD"] == _age(rows["BEN_NAI_DTE"], rows["EXE_SOI_DTD"])).all()
    assert (care["PRS_PAI_MNT"] >= care["BSE_REM_MNT"]).all() and (care["BSE_REM_MNT"] >= 0).all()
    cents = care["PRS_PAI_MNT"] * 100
    assert np.allclose(cents, cents.round())
    assert care["PSE_SPE_COD"].between(1, 80).all() and (care["PRS_ACT_QTE"] >= 1).all()
    assert {1111, 3313} <= set(care["PRS_NAT_REF"])
    assert care["DCT_ORD_NUM"].is_unique
    assert not care["BEN_NIR_PSA"].is_monotonic_increasing  # people come in no particular order
    per_person = care.groupby(["BEN_NIR_PSA", "BEN_RNG_GEM"]).size()
    assert per_person.max() > 3 * CARE  # heavy users exist


def test_stays_are_consistent_with_the_person(frames):
    ben, stays, link = frames["IR_BEN_R"], frames["T_MCOaaB"], frames["T_MCOaaC"]
    both = stays.merge(link, on=["ETA_NUM", "RSA_NUM"])
    entry, leave = pd.to_datetime(both["EXE_SOI_DTD"]), pd.to_datetime(both["EXE_SOI_DTF"])
    assert ((leave - entry).dt.days == both["SEJ_NBJ"]).all()
    assert (both["SOR_ANN"] == leave.dt.year).all() and (both["SOR_MOI"] == leave.dt.month).all()
    assert entry.min() >= pd.Timestamp("2015-01-01") and leave.max() <= pd.Timestamp("2023-12-31")
    assert both["DGN_PAL"].str.fullmatch(r"[A-Z]\d{2,3}").all()
    real = ben[(ben["BEN_CDI_NIR"] == "00") & (ben["BEN_RNG_GEM"] == 1)]
    linked = both[both["NIR_RET"] == "0"].merge(real, left_on="NIR_ANO_17", right_on="BEN_NIR_PSA")
    linked = linked[~linked["NIR_ANO_17"].isin(ben.loc[ben["BEN_RNG_GEM"] == 2, "BEN_NIR_PSA"])]  # twins: ambiguous
    assert len(linked) > 0.9 * len(both)
    assert (linked["COD_SEX"].astype("int64") == linked["BEN_SEX_COD"]).all()
    assert (linked["BDI_COD"] == linked["BEN_CP"]).all()
    assert (linked["AGE_ANN"] == _age(linked["BEN_NAI_DTE"], linked["EXE_SOI_DTD"])).all()
    death = pd.to_datetime(linked["BEN_DCD_DTE"])
    assert (death.isna() | (pd.to_datetime(linked["EXE_SOI_DTF"]) <= death)).all()


def test_a_failed_run_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "sources"
    out.mkdir()
    (out / "IR_BEN_R.parquet").write_bytes(b"an older table")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synth, "_deaths", boom)  # the last table fails, after the others were written
    with pytest.raises(RuntimeError, match="disk full"):
        generate(out, people=300, seed=1, progress=False)
    assert [p.name for p in out.iterdir()] == ["IR_BEN_R.parquet"]
    assert (out / "IR_BEN_R.parquet").read_bytes() == b"an older table"


@pytest.mark.parametrize(
    "kwargs",
    [dict(people=0, seed=1), dict(people=10, seed=-1), dict(people=10, seed=1, care_rows_per_person=-2.0),
     dict(people=2.5, seed=1), dict(people=10, seed=1, care_rows_per_person="10")],
)
def test_bad_arguments_are_refused(tmp_path, kwargs):
    with pytest.raises(PseudonymizerError):
        generate(tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_no_care_rows_still_writes_every_table(tmp_path):
    counts = generate(tmp_path, people=50, seed=2, care_rows_per_person=0.0, progress=False)
    assert counts["ER_PRS_F"] == 0
    assert pq.read_schema(tmp_path / "ER_PRS_F.parquet") == synth.SCHEMAS["ER_PRS_F"]
    assert pq.read_metadata(tmp_path / "ER_PRS_F.parquet").num_rows == 0
    assert date(1920, 1, 1) <= min(pq.read_table(tmp_path / "IR_BEN_R.parquet").column("BEN_NAI_DTE").to_pylist())
