"""Ids that are no one (fictive NIR codes, placeholders) only affect their own linkage domain.

A small SNDS-shaped fixture where most rows hold a fictive BEN_CDI_NIR code, as in real exports of
some populations: the NIR-derived key (BEN_NIR_PSA) is untrusted there, while BEN_IDT_ANO, the
professional numbers and the (ETA_NUM, RSA_NUM) stay keys must link exactly as in the source.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict

import pyarrow.parquet as pq
import pytest

from pseudonymizer.catalog import load_catalog
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.extract import extract

from ..conftest import run_enclave

PEOPLE = 60
PLACEHOLDER = "XXXXXXXXXXXXXXXXX"
SCHEMAS = {
    "PERSON": [("BEN_NIR_PSA", "string"), ("BEN_RNG_GEM", "integer"), ("BEN_IDT_ANO", "string"), ("BEN_CDI_NIR", "string")],
    "CARE": [("BEN_NIR_PSA", "string"), ("BEN_RNG_GEM", "integer"), ("BEN_CDI_NIR", "string"), ("PFS_EXE_NUM", "string"), ("ETA_NUM", "string"), ("RSA_NUM", "integer")],
    "DEATH": [("BEN_IDT_ANO", "string"), ("CAUSE", "string")],
    "STAY": [("ETA_NUM", "string"), ("RSA_NUM", "integer"), ("NIR_ANO_17", "string"), ("NIR_RET", "string")],
}
CATALOG = """
fictive_policy = "keep"

[domains.BEN_NIR_PSA]
nir = true
placeholders = ["XXXXXXXXXXXXXXXXX"]
[domains.BEN_IDT_ANO]
nir = false
[domains.PFS_PFS_NUM]
nir = false
[domains.RSA_NUM]
nir = false

[tables.PERSON]
fictive = { column = "BEN_CDI_NIR", valid = ["00"] }
[tables.PERSON.columns]
BEN_NIR_PSA = { role = "linkage", domain = "BEN_NIR_PSA" }
BEN_RNG_GEM = "attribute"
BEN_IDT_ANO = { role = "linkage", domain = "BEN_IDT_ANO" }
BEN_CDI_NIR = "attribute"

[tables.CARE]
fictive = { column = "BEN_CDI_NIR", valid = ["00"] }
[tables.CARE.columns]
BEN_NIR_PSA = { role = "linkage", domain = "BEN_NIR_PSA" }
BEN_RNG_GEM = "attribute"
BEN_CDI_NIR = "attribute"
PFS_EXE_NUM = { role = "linkage", domain = "PFS_PFS_NUM" }
ETA_NUM = "attribute"
RSA_NUM = { role = "linkage", domain = "RSA_NUM" }

[tables.DEATH.columns]
BEN_IDT_ANO = { role = "linkage", domain = "BEN_IDT_ANO" }
CAUSE = "attribute"

[tables.STAY]
fictive = { column = "NIR_RET", valid = ["0"] }
[tables.STAY.columns]
ETA_NUM = "attribute"
RSA_NUM = { role = "linkage", domain = "RSA_NUM" }
NIR_ANO_17 = { role = "linkage", domain = "BEN_NIR_PSA" }
NIR_RET = "attribute"
"""


def _id(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(17))


def _rows(seed: int = 3) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    shared_fictive = [_id(rng) for _ in range(3)]  # fictive NIRs: many people under a few keys
    people = []
    for i in range(PEOPLE):
        fictive = i % 5 != 0  # 80% of the people
        people.append({
            "BEN_NIR_PSA": rng.choice(shared_fictive) if fictive else _id(rng),
            "BEN_RNG_GEM": str(1 + i % 2),
            "BEN_IDT_ANO": _id(rng),
            "BEN_CDI_NIR": rng.choice(["01", "05", "08", "11", "99"]) if fictive else "00",
        })
    stays = []
    for j, rsa in enumerate(["99", "9999", "0", "999999999", "12345", "7", "99999", "42"] * 3):  # digits-only numbers are real
        stays.append({"ETA_NUM": f"ETA{j % 3}", "RSA_NUM": rsa, "NIR_ANO_17": "", "NIR_RET": "0"})
    professionals = ["99999999", "00000000", "12345678", "87654321"]  # no placeholder is declared for them
    care = []
    for _ in range(240):
        person = rng.choice(people)
        stay = rng.choice(stays)
        care.append({
            "BEN_NIR_PSA": person["BEN_NIR_PSA"], "BEN_RNG_GEM": person["BEN_RNG_GEM"], "BEN_CDI_NIR": person["BEN_CDI_NIR"],
            "PFS_EXE_NUM": rng.choice(professionals), "ETA_NUM": stay["ETA_NUM"], "RSA_NUM": stay["RSA_NUM"],
        })
        stay["NIR_ANO_17"] = person["BEN_NIR_PSA"]
    for k, stay in enumerate(stays):
        if k % 4 == 0:
            stay["NIR_ANO_17"], stay["NIR_RET"] = PLACEHOLDER, "1"  # the chaining failed
    deaths = [{"BEN_IDT_ANO": p["BEN_IDT_ANO"], "CAUSE": rng.choice(["I21", "C34", "J18"])} for p in people[::3]]
    return {"PERSON": people, "CARE": care, "DEATH": deaths, "STAY": stays}


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    """(catalog path, sources folder, source rows) of the fictive-NIR fixture."""
    root = tmp_path_factory.mktemp("fictive")
    rows = _rows()
    for name, fields in SCHEMAS.items():
        schema = {"name": name, "fields": [{"name": n, "type": t} for n, t in fields]}
        (root / f"{name}.json").write_text(json.dumps(schema), encoding="utf-8")
        with open(root / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, [n for n, _ in fields])
            writer.writeheader()
            writer.writerows(rows[name])
    (root / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    return root / "catalog.toml", root, rows


@pytest.fixture(scope="module")
def run(fixture, tmp_path_factory, master_key):
    catalog_path, sources, _ = fixture
    made = {}

    def make(policy: str, again: bool = False):
        if (policy, again) not in made:
            out = tmp_path_factory.mktemp(f"{policy}-{again}") / "extracts"
            manifest = extract(load_catalog(catalog_path), sources, "alpha", out, master_key, fictive_policy=policy, status_column=True, progress=False)
            tables = {name: pq.read_table(out / f"{name}.parquet").to_pylist() for name in SCHEMAS}
            made[policy, again] = (out, manifest, tables)
        return made[policy, again]

    return make


def _join(child, ccols, parent, pcols) -> list[tuple[int, int]]:
    index = defaultdict(list)
    for j, row in enumerate(parent):
        key = tuple(row[c] for c in pcols)
        if None not in key and "" not in key:
            index[key].append(j)
    return sorted((i, j) for i, row in enumerate(child) for j in index.get(tuple(row[c] for c in ccols), ()))


def _typed(rows: list[dict], name: str) -> list[dict]:
    """Source CSV rows with RSA_NUM and BEN_RNG_GEM as the extract types them (string pseudonym / int)."""
    return [{k: (None if v == "" else v) for k, v in row.items()} for row in rows]


NON_NIR_LINKS = [
    ("DEATH", ("BEN_IDT_ANO",), "PERSON", ("BEN_IDT_ANO",)),
    ("CARE", ("ETA_NUM", "RSA_NUM"), "STAY", ("ETA_NUM", "RSA_NUM")),
]


@pytest.mark.parametrize("policy", ["keep", "null", "random"])
def test_fictive_nir_codes_keep_every_non_nir_link(fixture, run, policy):
    _, _, rows = fixture
    source = {name: _typed(r, name) for name, r in rows.items()}
    fictive_people = sum(p["BEN_CDI_NIR"] != "00" for p in rows["PERSON"])
    assert fictive_people > PEOPLE // 2, "the fixture must be mostly fictive codes"
    out, manifest, tables = run(policy)
    for name in SCHEMAS:
        assert len(tables[name]) == len(rows[name]), name  # no row lost
    for child, ccols, parent, pcols in NON_NIR_LINKS:
        want = _join(source[child], ccols, source[parent], pcols)
        got = _join(tables[child], ccols, tables[parent], pcols)
        assert want and got == want, (policy, child, parent)
        persons = {tables[parent][j][pcols[0]] for _, j in got}
        assert len(persons) == len({source[parent][j][pcols[0]] for _, j in want})
    # professional numbers made of 9s or 0s are real professionals: as many as in the source
    assert len({r["PFS_EXE_NUM"] for r in tables["CARE"]}) == len({r["PFS_EXE_NUM"] for r in rows["CARE"]}) == 4
    assert all(r["PFS_EXE_NUM"] is not None for r in tables["CARE"])
    # the NIR-derived link: kept as in the source under keep, only between normal codes otherwise
    nir_want = _join(source["CARE"], ("BEN_NIR_PSA", "BEN_RNG_GEM"), source["PERSON"], ("BEN_NIR_PSA", "BEN_RNG_GEM"))
    nir_got = _join(tables["CARE"], ("BEN_NIR_PSA", "BEN_RNG_GEM"), tables["PERSON"], ("BEN_NIR_PSA", "BEN_RNG_GEM"))
    normal = [(i, j) for i, j in nir_want if rows["CARE"][i]["BEN_CDI_NIR"] == "00" and rows["PERSON"][j]["BEN_CDI_NIR"] == "00"]
    assert nir_got == (nir_want if policy == "keep" else normal) and normal
    # affected rows are visible: counts by reason, and the status column
    person = manifest["tables"]["PERSON"]
    assert person["rows_with_ids_of_no_one"] == {"fictive_id": fictive_people, "placeholder_id": 0}
    assert person["ids_of_no_one_by_column"] == {"BEN_NIR_PSA": {"fictive_id": fictive_people, "placeholder_id": 0}}
    stays = manifest["tables"]["STAY"]["rows_with_ids_of_no_one"]
    assert stays == {"fictive_id": 6, "placeholder_id": 6}  # the same six stays: NIR_RET 1 and a placeholder
    status = [r["ID_STATUS"] for r in tables["PERSON"]]
    assert status.count("ok") == PEOPLE - fictive_people
    assert set(status) - {"ok"} == {"fictive_id:BEN_NIR_PSA"}
    dictionary = (out / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert f"`BEN_NIR_PSA` fictive {fictive_people}" in dictionary and "ID_STATUS" in dictionary


def test_random_policy_is_deterministic_and_links_nothing(fixture, run):
    _, _, rows = fixture
    first, _, tables = run("random")
    again, _, _ = run("random", again=True)
    for path in sorted(first.iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    seen = defaultdict(int)
    for name in ("PERSON", "CARE"):
        for row in tables[name]:
            seen[row["BEN_NIR_PSA"]] += 1
    fictive = [r["BEN_NIR_PSA"] for r, s in zip(tables["PERSON"], rows["PERSON"]) if s["BEN_CDI_NIR"] != "00"]
    assert fictive and all(seen[v] == 1 for v in fictive), "a fictive NIR linked two rows"


def test_drop_policy_removes_and_counts_rows(fixture, run):
    _, _, rows = fixture
    _, manifest, tables = run("drop")
    fictive = sum(p["BEN_CDI_NIR"] != "00" for p in rows["PERSON"])
    assert len(tables["PERSON"]) == PEOPLE - fictive
    assert manifest["tables"]["PERSON"]["rows_dropped"]["fictive_id"] == fictive
    assert manifest["tables"]["STAY"]["rows_dropped"] == {"filter": 0, "fictive_id": 6, "placeholder_id": 0}
    assert len(tables["DEATH"]) == len(rows["DEATH"])  # no NIR-derived id there


def test_cli_summary_shows_affected_rows(fixture, master_key, tmp_path):
    catalog_path, sources, rows = fixture
    key = tmp_path / "master.key"
    key.write_text(master_key.hex())
    result = run_enclave(
        "pseudonymize", "--catalog", catalog_path, "--sources", sources, "--project", "alpha",
        "--out", tmp_path / "out", "--master-key-file", key, "--fictive-policy", "null", "--status-column", check=True,
    )
    fictive = sum(p["BEN_CDI_NIR"] != "00" for p in rows["PERSON"])
    line = next(text for text in result.stdout.splitlines() if text.startswith("PERSON"))
    assert f"rows with ids of no one (null): {fictive} fictive_id" in line, result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key", "out"]  # no lock file left


def test_placeholder_patterns_are_refused(fixture, tmp_path):
    catalog_path, _, _ = fixture
    text = catalog_path.read_text().replace('PFS_EXE_NUM = { role = "linkage", domain = "PFS_PFS_NUM" }', 'PFS_EXE_NUM = { role = "linkage", domain = "PFS_PFS_NUM", placeholder = "^9+$" }')
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    for name in SCHEMAS:
        (tmp_path / f"{name}.json").write_text((catalog_path.parent / f"{name}.json").read_text())
    with pytest.raises(PseudonymizerError, match=r"PFS_EXE_NUM has a 'placeholder' pattern.*placeholders = "):
        load_catalog(path)


def test_fictive_flag_needs_declared_domains(fixture, tmp_path):
    catalog_path, _, _ = fixture
    path = tmp_path / "catalog.toml"
    path.write_text(catalog_path.read_text().replace("[domains.BEN_IDT_ANO]\nnir = false\n", ""))
    for name in SCHEMAS:
        (tmp_path / f"{name}.json").write_text((catalog_path.parent / f"{name}.json").read_text())
    with pytest.raises(PseudonymizerError, match=r"\[tables.PERSON\].*BEN_IDT_ANO are not declared.*nir = true or false"):
        load_catalog(path)


def test_progress_lines_in_logs(fixture, master_key, tmp_path):
    """Not on a terminal (a log, a CI job): plain progress lines instead of a bar."""
    catalog_path, sources, _ = fixture
    key = tmp_path / "master.key"
    key.write_text(master_key.hex())
    result = run_enclave(
        "pseudonymize", "--catalog", catalog_path, "--sources", sources, "--project", "alpha",
        "--out", tmp_path / "out", "--master-key-file", key,
        env={"ENCLAVE_PROGRESS_SECONDS": "0"}, check=True,
    )
    lines = [text for text in result.stderr.splitlines() if text.startswith("CARE: ")]
    assert len(lines) >= 2 and "rows/s" in lines[0] and lines[-1] == lines[-1].split(", done")[0] + ", done", result.stderr
    assert "\r" not in result.stderr  # no terminal bar in a log
    quiet = run_enclave(
        "pseudonymize", "--catalog", catalog_path, "--sources", sources, "--project", "alpha",
        "--out", tmp_path / "out", "--master-key-file", key, "--quiet", env={"ENCLAVE_PROGRESS_SECONDS": "0"}, check=True,
    )
    assert quiet.stderr == ""
