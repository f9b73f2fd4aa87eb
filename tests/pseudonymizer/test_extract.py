"""The pseudonymised extract: what leaves the sources, and how it links."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pseudonymizer.keys import project_key

DIRECT = ["BEN_NIR", "BEN_PRN", "BEN_NOM", "BEN_ADR", "BEN_TEL", "BEN_MEL", "BEN_COM_LIB"]
LINKAGE = {  # (table, column): domain
    ("IR_BEN_R", "BEN_NIR_PSA"): "BEN_NIR_PSA",
    ("IR_BEN_R", "BEN_NIR_ANO"): "BEN_NIR_ANO",
    ("IR_BEN_R", "BEN_IDT_ANO"): "BEN_IDT_ANO",
    ("ER_PRS_F", "BEN_NIR_PSA"): "BEN_NIR_PSA",
    ("T_MCOaaC", "NIR_ANO_17"): "BEN_NIR_PSA",
    ("KI_CCI_R", "BEN_IDT_ANO"): "BEN_IDT_ANO",
}
FICTIVE_CODES = ["01", "03", "04", "05", "06", "08", "09", "11"]


def source(sources, table):
    return pq.read_table(sources / f"{table}.parquet")


def extracted(out, table):
    return pq.read_table(out / f"{table}.parquet")


def expected_pseudonym(master_key, project, domain, value, version=1):
    key = project_key(master_key, project, version)
    return hmac.new(key, domain.encode() + b"\0" + value.encode(), hashlib.sha256).hexdigest()[:32]


def all_strings(out):
    """Every value of every extract table, as text."""
    values = set()
    for path in out.glob("*.parquet"):
        for column in pq.read_table(path).columns:
            values.update(str(v) for v in column.to_pylist() if v is not None)
    return values


def test_no_direct_identifier_value_survives(sources, extract_of):
    out, _ = extract_of("alpha")
    leaked = all_strings(out)
    text = "\n".join(p.read_text() for p in (out / "manifest.json", out / "DATA_DICTIONARY.md"))
    ben = source(sources, "IR_BEN_R")
    for column in DIRECT:
        secrets = {v for v in ben.column(column).to_pylist() if v}
        assert secrets, column
        assert not secrets & leaked, f"{column} values found in the extract"
        assert not any(s in text for s in list(secrets)[:500]), f"{column} value in manifest or dictionary"
        # nor inside a longer value (e.g. an e-mail inside a free-text cell)
        sample = list(secrets)[:200]
        every_value = "\0".join(leaked)  # one search per secret; \0 keeps a match inside one value
        assert not any(s in every_value for s in sample), column


def test_no_source_linkage_value_survives(sources, extract_of):
    out, _ = extract_of("alpha")
    leaked = all_strings(out)
    for (table, column) in LINKAGE:
        raw = {v for v in source(sources, table).column(column).to_pylist() if v}
        assert not raw & leaked, f"{table}.{column} source values found in the extract"


def test_pseudonyms_are_keyed_hmac_not_plain_hashes(sources, extract_of, master_key):
    out, _ = extract_of("alpha")
    src = source(sources, "IR_BEN_R").filter(pc.equal(source(sources, "IR_BEN_R").column("BEN_CDI_NIR"), "00"))
    ext = extracted(out, "IR_BEN_R")
    assert ext.num_rows == src.num_rows  # only fictive rows are dropped
    for raw, pseudo in list(zip(src.column("BEN_IDT_ANO").to_pylist(), ext.column("BEN_IDT_ANO").to_pylist()))[:300]:
        assert pseudo == expected_pseudonym(master_key, "alpha", "BEN_IDT_ANO", raw)
        for unkeyed in (hashlib.sha256, hashlib.md5, hashlib.sha1):
            assert unkeyed(raw.encode()).hexdigest()[:32] != pseudo


def _person_pairs(child, child_key, parent, parent_key, parent_person):
    """{(child row number, parent person id)} for rows that join."""
    lookup = {}
    for i, key in enumerate(zip(*(parent.column(c).to_pylist() for c in parent_key))):
        lookup.setdefault(key, []).append(parent.column(parent_person)[i].as_py())
    pairs = set()
    child_rows = zip(*(child.column(c).to_pylist() for c in child_key))
    for i, key in enumerate(child_rows):
        for person in lookup.get(key, []):
            pairs.add((i, person))
    return pairs


@pytest.mark.parametrize(
    "child, child_key, parent_key",
    [
        ("ER_PRS_F", ["BEN_NIR_PSA", "BEN_RNG_GEM"], ["BEN_NIR_PSA", "BEN_RNG_GEM"]),
        ("T_MCOaaC", ["NIR_ANO_17"], ["BEN_NIR_PSA"]),
        ("KI_CCI_R", ["BEN_IDT_ANO"], ["BEN_IDT_ANO"]),
    ],
)
def test_joins_by_pseudonym_reproduce_source_joins(sources, extract_of, master_key, child, child_key, parent_key):
    out, _ = extract_of("alpha")
    src_parent = source(sources, "IR_BEN_R")
    src_parent = src_parent.filter(pc.equal(src_parent.column("BEN_CDI_NIR"), "00"))
    src_child = source(sources, child)
    if "BEN_CDI_NIR" in src_child.column_names:
        src_child = src_child.filter(pc.equal(src_child.column("BEN_CDI_NIR"), "00"))
    if child == "T_MCOaaC":
        src_child = src_child.filter(pc.equal(src_child.column("NIR_RET"), "0"))
    ext_child, ext_parent = extracted(out, child), extracted(out, "IR_BEN_R")
    assert ext_child.num_rows == src_child.num_rows and ext_parent.num_rows == src_parent.num_rows

    expected = _person_pairs(src_child, child_key, src_parent, parent_key, "BEN_IDT_ANO")
    got = _person_pairs(ext_child, child_key, ext_parent, parent_key, "BEN_IDT_ANO")
    assert len(expected) >= src_child.num_rows * 0.9  # the sources do link (fictive people's rows aside)
    to_pseudo = {raw: expected_pseudonym(master_key, "alpha", "BEN_IDT_ANO", raw) for _, raw in expected}
    assert got == {(i, to_pseudo[raw]) for i, raw in expected}


def test_two_projects_share_no_pseudonym(extract_of):
    alpha, _ = extract_of("alpha")
    beta, _ = extract_of("beta")
    for (table, column) in LINKAGE:
        a = set(extracted(alpha, table).column(column).to_pylist()) - {None}
        b = set(extracted(beta, table).column(column).to_pylist()) - {None}
        assert a and b and not a & b, f"{table}.{column}"


def test_pseudonyms_are_stable_across_sources_and_reruns(catalog, sources, extract_of, master_key, tmp_path):
    from pseudonymizer.extract import extract

    first, manifest = extract_of("alpha")
    again = tmp_path / "extracts"
    manifest2 = extract(catalog, sources, "alpha", again, master_key, progress=False)
    for path in first.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    assert manifest2 == manifest
    # one person, one pseudonym in every table of the same domain
    ben = extracted(first, "IR_BEN_R")
    care = extracted(first, "ER_PRS_F")
    stays = extracted(first, "T_MCOaaC")
    people = set(ben.column("BEN_NIR_PSA").to_pylist())
    assert set(care.column("BEN_NIR_PSA").to_pylist()) <= people
    assert set(stays.column("NIR_ANO_17").to_pylist()) <= people


def test_batch_size_does_not_change_the_extract(catalog, sources, extract_of, master_key, tmp_path):
    from pseudonymizer.extract import extract

    whole, _ = extract_of("alpha")
    small = tmp_path / "small"
    extract(catalog, sources, "alpha", small, master_key, batch_rows=997, progress=False)
    for table in ("IR_BEN_R", "ER_PRS_F", "T_MCOaaC", "KI_CCI_R"):
        assert extracted(small, table).equals(extracted(whole, table)), table


def test_key_version_gives_new_pseudonyms(extract_of):
    v1, m1 = extract_of("alpha")
    v2, m2 = extract_of("alpha", key_version=2)
    assert m1["key_fingerprint"] != m2["key_fingerprint"] and m2["key_version"] == 2
    assert not set(extracted(v1, "IR_BEN_R").column("BEN_IDT_ANO").to_pylist()) & set(
        extracted(v2, "IR_BEN_R").column("BEN_IDT_ANO").to_pylist()
    )


def test_fictive_ids_are_dropped_and_counted(sources, extract_of):
    out, manifest = extract_of("alpha")
    for table in ("IR_BEN_R", "ER_PRS_F"):
        src = source(sources, table)
        fictive = pc.sum(pc.is_in(src.column("BEN_CDI_NIR"), value_set=pa.array(FICTIVE_CODES))).as_py()
        assert fictive > 0, f"the synthetic {table} should hold fictive NIRs"
        entry = manifest["tables"][table]
        assert entry["rows_dropped"]["fictive_id"] == fictive
        assert entry["rows_out"] == src.num_rows - fictive
        assert set(extracted(out, table).column("BEN_CDI_NIR").to_pylist()) == {"00"}
    stays = source(sources, "T_MCOaaC")
    placeholders = pc.sum(pc.not_equal(stays.column("NIR_RET"), "0")).as_py()
    assert placeholders > 0
    assert manifest["tables"]["T_MCOaaC"]["rows_dropped"]["fictive_id"] == placeholders


def test_fictive_ids_never_merge_people_under_random_policy(sources, extract_of):
    out, manifest = extract_of("alpha", fictive_policy="random")
    src = source(sources, "IR_BEN_R")
    is_fictive = pc.is_in(src.column("BEN_CDI_NIR"), value_set=pa.array(FICTIVE_CODES))
    shared = src.filter(is_fictive).column("BEN_NIR_PSA")
    assert len(set(shared.to_pylist())) < len(shared), "fictive people share a source id (the trap)"
    ext = extracted(out, "IR_BEN_R")
    assert ext.num_rows == src.num_rows
    fictive_pseudonyms = ext.filter(is_fictive).column("BEN_NIR_PSA").to_pylist()
    real_pseudonyms = set(ext.filter(pc.invert(is_fictive)).column("BEN_NIR_PSA").to_pylist())
    assert len(set(fictive_pseudonyms)) == len(fictive_pseudonyms), "two fictive people merged"
    assert not set(fictive_pseudonyms) & real_pseudonyms
    care = extracted(out, "ER_PRS_F")
    care_fictive = care.filter(pc.not_equal(care.column("BEN_CDI_NIR"), "00")).column("BEN_NIR_PSA").to_pylist()
    assert care_fictive and len(set(care_fictive)) == len(care_fictive)
    assert manifest["tables"]["ER_PRS_F"]["rows_with_random_pseudonym"] == len(care_fictive)


def test_quasi_identifiers_are_coarsened(sources, extract_of):
    out, _ = extract_of("alpha")
    ben = extracted(out, "IR_BEN_R")
    assert set(pc.day(ben.column("BEN_NAI_DTE")).to_pylist()) == {1}
    assert ben.schema.field("BEN_CP").type == pa.string()
    assert {len(v) for v in ben.column("BEN_CP").to_pylist()} <= {2, 3}
    bands = set(extracted(out, "ER_PRS_F").column("BEN_AMA_COD").to_pylist())
    assert bands and all(b == "90+" or (b.count("-") == 1 and int(b.split("-")[1]) - int(b.split("-")[0]) == 4) for b in bands)


def test_only_authorised_columns_and_rows(catalog, sources, master_key, tmp_path):
    from pseudonymizer.extract import extract

    out = tmp_path / "narrow"
    manifest = extract(
        catalog, sources, "gamma", out, master_key, progress=False,
        tables=["IR_BEN_R", "ER_PRS_F"],
        columns={"ER_PRS_F": ["BEN_NIR_PSA", "EXE_SOI_DTD", "BSE_REM_MNT"]},
        where=["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01", "ER_PRS_F.EXE_SOI_DTD < 2020-01-01", "BEN_NAI_ANN between 1950 and 1970"],
    )
    assert sorted(p.name for p in out.glob("*.parquet")) == ["ER_PRS_F.parquet", "IR_BEN_R.parquet"]
    care = extracted(out, "ER_PRS_F")
    assert care.column_names == ["BEN_NIR_PSA", "EXE_SOI_DTD", "BSE_REM_MNT"]
    import datetime as dt

    dates = care.column("EXE_SOI_DTD").to_pylist()
    assert dates and min(dates) >= dt.date(2019, 1, 1) and max(dates) < dt.date(2020, 1, 1)
    src = source(sources, "ER_PRS_F")
    in_range = pc.and_(pc.greater_equal(src.column("EXE_SOI_DTD"), pa.scalar(dt.date(2019, 1, 1))),
                       pc.less(src.column("EXE_SOI_DTD"), pa.scalar(dt.date(2020, 1, 1))))
    trusted = pc.equal(src.column("BEN_CDI_NIR"), "00")
    assert care.num_rows == pc.sum(pc.and_(in_range, trusted)).as_py()
    years = extracted(out, "IR_BEN_R").column("BEN_NAI_ANN").to_pylist()
    assert min(years) >= 1950 and max(years) <= 1970
    entry = manifest["tables"]["ER_PRS_F"]
    assert entry["rows_dropped"]["filter"] == src.num_rows - pc.sum(in_range).as_py()
    assert entry["dropped_columns"] and "BEN_RNG_GEM" in entry["dropped_columns"]


def test_manifest_records_hashes_counts_roles_and_key(sources, extract_of):
    out, manifest = extract_of("alpha")
    assert manifest["project"] == "alpha" and manifest["key_version"] == 1
    for table, entry in manifest["tables"].items():
        assert entry["source"]["sha256"] == hashlib.sha256((sources / f"{table}.parquet").read_bytes()).hexdigest()
        assert entry["output"]["sha256"] == hashlib.sha256((out / f"{table}.parquet").read_bytes()).hexdigest()
        assert entry["rows_out"] == extracted(out, table).num_rows
        assert entry["rows_in"] == source(sources, table).num_rows
        assert entry["rows_in"] - entry["rows_out"] == sum(entry["rows_dropped"].values())
        assert {c["role"] for c in entry["columns"]} <= {"linkage", "quasi", "attribute"}
    dictionary = (out / "DATA_DICTIONARY.md").read_text()
    assert "## ER_PRS_F" in dictionary and "pseudonym" in dictionary and manifest["key_fingerprint"] in dictionary
