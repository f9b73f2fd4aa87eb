"""The contract between the pseudonymizer and the gate, on a real extract.

The gate learns a project's pseudonyms from the extract's ``manifest.json`` (the columns it gives
the role ``linkage``) and their width from the pseudonymizer: a pseudonym the extract holds, copied
into an output, must fail the gate's pseudonym check; a string of the same shape that is not one
of the project's must not.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from egress_gate import CheckContext, EgressError, load_pseudonyms
from enclave.layout import linkage_columns, read_extract_manifest
from pseudonymizer.catalog import load_catalog
from pseudonymizer.extract import extract
from pseudonymizer.pseudonyms import PSEUDONYM_HEX
from pseudonymizer.synth import generate

from ..conftest import REPO
from .factories import by_check, outcome, write_csv

CATALOG = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"


@pytest.fixture(scope="module")
def real_extract(tmp_path_factory, master_key):
    root = tmp_path_factory.mktemp("contract")
    generate(root / "sources", people=200, seed=5, progress=False)
    extract(load_catalog(CATALOG), root / "sources", "contract-test", root / "extracts", master_key,
            tables=["IR_BEN_R", "ER_PRS_F"], progress=False)
    return root / "extracts"


def test_the_gate_loads_exactly_the_linkage_columns_the_manifest_names(real_extract):
    linkage = linkage_columns(read_extract_manifest(real_extract))
    assert linkage["IR_BEN_R.parquet"] and "BEN_NIR_PSA" in linkage["ER_PRS_F.parquet"]
    expected = set()
    for file, names in linkage.items():
        for name in names:
            expected |= set(pq.read_table(real_extract / file, columns=[name]).column(0).drop_null().to_pylist())
    loaded = load_pseudonyms(real_extract)
    assert set(loaded.to_pylist()) == expected and len(loaded) == len(expected) > 200
    assert pc.all(pc.equal(pc.utf8_length(loaded), PSEUDONYM_HEX)).as_py()


def test_a_pseudonym_of_the_extract_in_an_output_fails_the_check(real_extract, tmp_path):
    context = CheckContext(pseudonyms=load_pseudonyms(real_extract))
    theirs = pq.read_table(real_extract / "ER_PRS_F.parquet", columns=["BEN_NIR_PSA"]).column(0)[3].as_py()
    leaked = write_csv(tmp_path, "leak.csv", f"region,note,patients\nIDF,{theirs},120\nARA,ok,85\n")
    found = by_check(leaked, context=context)
    assert outcome(found, "pseudonyms") == "fail"
    assert {(c.row, c.column) for c in found["pseudonyms"][0].cells} == {(0, "note")}
    stranger = os.urandom(PSEUDONYM_HEX // 2).hex()
    assert outcome(by_check(write_csv(tmp_path, "ok.csv", f"region,note,patients\nIDF,{stranger},120\n"),
                            context=context), "pseudonyms") == "pass"


def test_an_extract_without_its_manifest_is_refused(tmp_path):
    pq.write_table(pa.table({"BEN_NIR_PSA": [os.urandom(16).hex()]}), tmp_path / "IR_BEN_R.parquet")
    with pytest.raises(EgressError, match="has no manifest.json"):
        load_pseudonyms(tmp_path)
