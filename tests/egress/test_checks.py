"""Every automated disclosure check on crafted files: one case that trips it, one that does not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egress_gate import DEFAULT_POLICY, CheckContext, EgressError, Outcome, check_file, load_pseudonyms, worst
from egress_gate.checks.identifiers import valid_nir_mask
from egress_gate.tables import read_tables

from .factories import by_check, outcome, pseudonym, write_acro_results, write_csv, write_extract

TIDY = "region,patients\nIDF,120\nARA,85\nBRE,40\n"


def nir(body13: str) -> str:
    number = int(body13.replace("2A", "19").replace("2B", "18"))
    return f"{body13}{97 - number % 97:02d}"


# --- policy and findings ---------------------------------------------------------------------

def test_every_finding_records_the_policy_version_and_values(tmp_path):
    policy = DEFAULT_POLICY.with_overrides({"threshold": 5})
    for f in check_file(write_csv(tmp_path, "t.csv", TIDY), policy):
        assert f.policy["version"] == policy.version != DEFAULT_POLICY.version
        assert f.policy["values"]["threshold"] == 5
        json.dumps(f.to_dict())


def test_unknown_or_wrong_policy_setting_is_named():
    with pytest.raises(EgressError, match="unknown policy setting.*thresold"):
        DEFAULT_POLICY.with_overrides(thresold=5)
    with pytest.raises(EgressError, match="threshold must be a non-negative number"):
        DEFAULT_POLICY.with_overrides(threshold="ten")


# --- files -----------------------------------------------------------------------------------

def test_disallowed_type_fails_and_allowed_passes(tmp_path):
    exe = tmp_path / "model.pkl"
    exe.write_bytes(b"\x80\x04")
    assert outcome(by_check(exe), "file_type") == "fail"
    assert outcome(by_check(write_csv(tmp_path, "t.csv", TIDY)), "file_type") == "pass"


def test_content_that_is_not_its_extension_fails(tmp_path):
    fake = tmp_path / "plot.png"
    fake.write_text("region,patients\nIDF,3\n")
    assert outcome(by_check(fake), "file_type") == "fail"


@pytest.mark.parametrize("name,head", [("plot.png", b"\x89PNG\r\n\x1a\n"), ("photo.jpg", b"\xff\xd8\xff\xe0"), ("report.pdf", b"%PDF-1.7\n")])
def test_images_and_pdfs_always_need_a_human(tmp_path, name, head):
    path = tmp_path / name
    path.write_bytes(head + b"\0" * 64)
    found = by_check(path)
    assert outcome(found, "needs_human") == "review" and outcome(found, "file_type") == "pass"
    assert outcome(by_check(write_csv(tmp_path, "t.csv", TIDY)), "needs_human") == "absent"


def test_a_notebook_needs_a_human_where_the_project_allows_notebooks(tmp_path):
    path = tmp_path / "analysis.ipynb"
    path.write_text('{"cells": []}')
    assert outcome(by_check(path), "file_type") == "fail"  # not in the default allowed types
    policy = DEFAULT_POLICY.with_overrides(allowed_types=[*DEFAULT_POLICY.allowed_types, "ipynb"])
    assert outcome(by_check(path, policy), "needs_human") == "review"


def test_size_limit(tmp_path):
    path = write_csv(tmp_path, "t.csv", TIDY)
    assert outcome(by_check(path, DEFAULT_POLICY.with_overrides(max_size_bytes=10)), "size") == "fail"
    assert outcome(by_check(path), "size") == "pass"


def test_row_limit(tmp_path):
    path = write_csv(tmp_path, "t.csv", TIDY)
    assert outcome(by_check(path, DEFAULT_POLICY.with_overrides(max_rows=2)), "row_limit") == "fail"
    assert outcome(by_check(path), "row_limit") == "pass"


@pytest.mark.parametrize("name,content", [
    ("broken.parquet", b"PAR1 this is not really parquet"),
    ("broken.xlsx", b"PK\x03\x04 truncated zip"),
    ("broken.csv", b"a,b\n1,2\n3,4,5\n"),
])
def test_a_corrupt_file_gives_a_clear_error_not_a_traceback(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EgressError) as raised:
        read_tables(path)
    assert name in str(raised.value) and "export it again" in str(raised.value)
    assert "Traceback" not in str(raised.value)
    found = by_check(path)
    assert outcome(found, "readable") == "fail"
    assert name in found["readable"][0].message


# --- counts ----------------------------------------------------------------------------------

def test_small_count_fails_with_its_cell(tmp_path, lenient):
    found = by_check(write_csv(tmp_path, "t.csv", "region,patients\nIDF,120\nARA,4\n"), lenient)
    f = found["small_counts"][0]
    assert f.outcome is Outcome.FAIL
    assert [(c.row, c.column, c.value) for c in f.cells] == [(1, "patients", 4)]
    assert outcome(by_check(write_csv(tmp_path, "ok.csv", TIDY), lenient), "small_counts") == "pass"


def test_trap_a_count_column_not_called_count(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "commune_group,sejours_hospitaliers_2023\nNord,5410\nSud,7\nEst,980\n")
    f = by_check(path, lenient)["small_counts"][0]
    assert f.outcome is Outcome.FAIL and f.cells[0].column == "sejours_hospitaliers_2023" and f.cells[0].row == 1


def test_years_ages_and_codes_are_not_counts(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "annee,age,patients\n2021,3,120\n2022,7,130\n2023,5,150\n")
    assert outcome(by_check(path, lenient), "small_counts") == "pass"


def test_zeros_need_review_unless_the_policy_allows_them(tmp_path):
    path = write_csv(tmp_path, "t.csv", "region,patients\nIDF,120\nARA,0\n")
    assert outcome(by_check(path, DEFAULT_POLICY.with_overrides(rounding_base=1)), "zeros") == "review"
    assert outcome(by_check(path, DEFAULT_POLICY.with_overrides(rounding_base=1, zeros_allowed=True)), "zeros") == "pass"


def test_trap_small_cell_only_visible_as_a_percentage_with_its_denominator(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "region,total_patients,diabetiques_pct\nIDF,200,2.5\nARA,400,25.0\nBRE,120,50.0\n")
    found = by_check(path, lenient)
    assert outcome(found, "small_counts") == "pass"  # no count under 10 is written down...
    f = found["implied_counts"][0]  # ...but 2.5% of 200 is 5
    assert f.outcome is Outcome.FAIL and f.cells[0].row == 0 and f.cells[0].column == "diabetiques_pct"
    assert "= 5" in f.message


def test_percentages_implying_large_counts_pass(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "region,total_patients,diabetiques_pct\nIDF,200,12.5\nARA,400,25.0\n")
    assert outcome(by_check(path, lenient), "implied_counts") == "pass"


def test_means_beside_counts_are_not_mistaken_for_percentages(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "region,patients,mean_age\nIDF,200,47.3\nARA,400,51.9\nBRE,350,3.1\n")
    assert outcome(by_check(path, lenient), "implied_counts") == "pass"


def test_counts_off_the_rounding_base_need_review(tmp_path):
    policy = DEFAULT_POLICY.with_overrides(zeros_allowed=True)
    assert outcome(by_check(write_csv(tmp_path, "a.csv", "region,patients\nIDF,120\nARA,87\n"), policy), "rounding") == "review"
    assert outcome(by_check(write_csv(tmp_path, "b.csv", "region,patients\nIDF,120\nARA,85\n"), policy), "rounding") == "pass"


# --- dominance and p% ------------------------------------------------------------------------

def test_dominance_and_p_percent(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "hospital_group,contributors,total_cost,top1,top2\n"
                                        "A,20,1000.0,900.0,50.0\nB,30,1000.0,200.0,150.0\nC,15,1000.0,500.0,470.0\n")
    found = by_check(path, lenient)
    dominance, p_percent = found["dominance"][0], found["p_percent"][0]
    assert dominance.outcome is Outcome.FAIL and {c.row for c in dominance.cells} == {0, 2}
    assert p_percent.outcome is Outcome.FAIL and {c.row for c in p_percent.cells} == {0, 2}
    calm = write_csv(tmp_path, "ok.csv", "hospital_group,contributors,total_cost,top1,top2\nA,20,1000.0,300.0,200.0\n")
    assert outcome(by_check(calm, lenient), "dominance") == "pass" and outcome(by_check(calm, lenient), "p_percent") == "pass"


def test_a_sum_without_contributions_needs_review(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "region,patients,montant_rembourse\nIDF,200,123456.5\n")
    assert outcome(by_check(path, lenient), "dominance") == "review"
    assert outcome(by_check(write_csv(tmp_path, "ok.csv", TIDY), lenient), "dominance") == "absent"


# --- identifiers -----------------------------------------------------------------------------

def test_trap_a_pseudonym_in_an_innocuously_named_column(tmp_path, lenient):
    mine = [pseudonym() for _ in range(50)]
    context = CheckContext(pseudonyms=load_pseudonyms(write_extract(tmp_path, mine)))
    path = write_csv(tmp_path, "t.csv", f"region,comment,patients\nIDF,see {mine[7]} for details,120\nARA,{mine[3]},85\nBRE,fine,40\n")
    f = by_check(path, lenient, context)["pseudonyms"][0]
    assert f.outcome is Outcome.FAIL and {(c.row, c.column) for c in f.cells} == {(0, "comment"), (1, "comment")}
    stranger = write_csv(tmp_path, "ok.csv", f"region,comment,patients\nIDF,{pseudonym()},120\n")
    assert outcome(by_check(stranger, lenient, context), "pseudonyms") == "pass"


def test_an_upper_cased_pseudonym_is_still_found(tmp_path, lenient):
    mine = [pseudonym() for _ in range(5)]
    context = CheckContext(pseudonyms=load_pseudonyms(write_extract(tmp_path, mine)))
    path = write_csv(tmp_path, "t.csv", f"label,patients\n{mine[0].upper()},120\n")
    assert outcome(by_check(path, lenient, context), "pseudonyms") == "fail"


def test_load_pseudonyms_reads_only_linkage_columns(tmp_path):
    mine = [pseudonym() for _ in range(20)]
    extracts = write_extract(tmp_path, mine)
    pq.write_table(pa.table({"label": ["not a pseudonym"] * 3, "code": ["A01", "B02", "C03"]}), extracts / "other.parquet")
    assert sorted(load_pseudonyms(extracts).to_pylist()) == sorted(mine)
    with pytest.raises(EgressError, match="does not exist"):
        load_pseudonyms(tmp_path / "missing")


def test_nir_with_a_valid_key_fails_including_corsica(tmp_path, lenient):
    mainland, corsica = nir("1840275123456"), nir("292022A012345")
    assert valid_nir_mask([mainland, corsica]).tolist() == [True, True]
    path = write_csv(tmp_path, "t.csv", f"region,ref,patients\nIDF,{mainland},120\nCOR,{corsica},85\n")
    f = by_check(path, lenient)["nir"][0]
    assert f.outcome is Outcome.FAIL and {c.row for c in f.cells} == {0, 1}
    wrong_key = mainland[:13] + f"{(int(mainland[13:]) + 1) % 100:02d}"
    ok = write_csv(tmp_path, "ok.csv", f"region,ref,patients\nIDF,{wrong_key},120\n")
    assert outcome(by_check(ok, lenient), "nir") == "pass"


def test_nir_written_with_spaces_or_as_a_number_is_found(tmp_path, lenient):
    n = nir("1840275123456")
    spaced = f"{n[0]} {n[1:3]} {n[3:5]} {n[5:7]} {n[7:10]} {n[10:13]} {n[13:]}"
    path = write_csv(tmp_path, "t.csv", f"a,b,patients\n\"{spaced}\",{n},120\n")
    assert {c.column for c in by_check(path, lenient)["nir"][0].cells} == {"a", "b"}


def test_birth_dates_fail_other_full_dates_need_review_months_pass(tmp_path, lenient):
    birth = write_csv(tmp_path, "b.csv", "date_naissance,patients\n1954-03-12,120\n1961-07-02,85\n")
    assert outcome(by_check(birth, lenient), "birth_dates") == "fail"
    by_content = write_csv(tmp_path, "c.csv", "d,patients\n1931-03-12,120\n1999-07-02,85\n1965-01-09,40\n")
    assert outcome(by_check(by_content, lenient), "birth_dates") == "fail"
    visits = write_csv(tmp_path, "v.csv", "visit,patients\n12/03/2021,120\n02/07/2022,85\n")
    found = by_check(visits, lenient)
    assert outcome(found, "full_dates") == "review" and outcome(found, "birth_dates") == "absent"
    months = write_csv(tmp_path, "m.csv", "birth_month,patients\n1954-03-01,120\n1961-07-01,85\n")
    assert outcome(by_check(months, lenient), "dates") == "pass"


def test_postcodes_and_communes_at_full_precision_need_review(tmp_path, lenient):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"zone": ["75011", "2A004", "01053"], "patients": [120, 85, 40]}), path)
    assert outcome(by_check(path, lenient), "places") == "review"
    named = write_csv(tmp_path, "cp.csv", "code_postal,patients\n75011,120\n69003,85\n")
    assert outcome(by_check(named, lenient), "places") == "review"
    departments = write_csv(tmp_path, "dep.csv", "departement,patients\n75,120\n69,85\n")
    assert outcome(by_check(departments, lenient), "places") == "pass"


def test_identifier_like_column_names_need_review(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "Prenom,adresse_email,patients\nx,y,120\n")
    f = by_check(path, lenient)["identifier_names"][0]
    assert f.outcome is Outcome.REVIEW and {c.column for c in f.cells} == {"Prenom", "adresse_email"}
    assert outcome(by_check(write_csv(tmp_path, "ok.csv", TIDY), lenient), "identifier_names") == "pass"


def test_contact_details_in_cells_fail(tmp_path, lenient):
    path = write_csv(tmp_path, "t.csv", "region,contact,patients\nIDF,jean.dupont@example.fr,120\nARA,06 12 34 56 78,85\n")
    assert len(by_check(path, lenient)["contact_details"][0].cells) == 2
    assert outcome(by_check(write_csv(tmp_path, "ok.csv", TIDY), lenient), "contact_details") == "pass"


def test_identifiers_in_free_text(tmp_path):
    mine = [pseudonym() for _ in range(5)]
    context = CheckContext(pseudonyms=load_pseudonyms(write_extract(tmp_path, mine)))
    note = tmp_path / "notes.md"
    note.write_text(f"# Results\n\nOutlier: {mine[2]}\nNIR {nir('1840275123456')}\n")
    found = by_check(note, DEFAULT_POLICY, context)
    assert outcome(found, "pseudonyms") == "fail" and found["pseudonyms"][0].cells[0].row == 2
    assert outcome(found, "nir") == "fail"
    clean = tmp_path / "clean.txt"
    clean.write_text("Counts were rounded to 5 and cells under 10 suppressed.\n")
    assert worst(check_file(clean, DEFAULT_POLICY, context)) is Outcome.PASS


# --- row-level -------------------------------------------------------------------------------

def test_row_level_data_fails(tmp_path, lenient):
    rng = np.random.default_rng(0)
    people = pd.DataFrame({"ref": [pseudonym() for _ in range(500)], "age": rng.integers(20, 90, 500),
                           "region": rng.choice(["IDF", "ARA"], 500)})
    path = tmp_path / "people.csv"
    people.to_csv(path, index=False)
    assert outcome(by_check(path, lenient), "row_level") == "fail"
    keyed = tmp_path / "keyed.parquet"
    pq.write_table(pa.table({"patient_no": np.arange(1000, 1500), "age": rng.integers(20, 90, 500)}), keyed)
    assert outcome(by_check(keyed, lenient), "row_level") == "fail"


def test_aggregates_are_not_row_level(tmp_path, lenient):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"region": np.repeat([f"R{i}" for i in range(50)], 4), "sex": ["F", "M"] * 100,
                          "year": np.tile([2022, 2023], 100), "patients": rng.integers(10, 500, 200)})
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    assert outcome(by_check(path, lenient), "row_level") == "pass"


# --- differencing ----------------------------------------------------------------------------

def test_differencing_against_an_earlier_release_fails(tmp_path, lenient):
    released = write_csv(tmp_path, "released.csv", "region,patients\nIDF,1200\nARA,850\nBRE,400\n")
    context = CheckContext(releases=(released,))
    # The same table less one small group (3 people in ARA): subtracting reveals them.
    new = write_csv(tmp_path, "new.csv", "region,patients\nIDF,1200\nARA,847\nBRE,400\n")
    f = by_check(new, lenient, context)["differencing"][0]
    assert f.outcome is Outcome.FAIL and [(c.row, c.column) for c in f.cells] == [(1, "patients")]
    distant = write_csv(tmp_path, "ok.csv", "region,patients\nIDF,1000\nARA,700\nBRE,400\n")
    assert outcome(by_check(distant, lenient, context), "differencing") == "pass"
    other_labels = write_csv(tmp_path, "other.csv", "sex,patients\nF,1201\nM,1249\n")
    assert outcome(by_check(other_labels, lenient, context), "differencing") == "pass"


# --- workbooks, JSON and ACRO ----------------------------------------------------------------

def test_every_sheet_of_a_workbook_is_checked(tmp_path, lenient):
    path = tmp_path / "tables.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"region": ["IDF", "ARA"], "patients": [120, 85]}).to_excel(writer, sheet_name="ok", index=False)
        pd.DataFrame({"region": ["IDF", "ARA"], "patients": [120, 3]}).to_excel(writer, sheet_name="small", index=False)
    small = by_check(path, lenient)["small_counts"]
    assert {(f.part, f.outcome.value) for f in small} == {("ok", "pass"), ("small", "fail")}


def test_tabular_json_is_checked_as_a_table(tmp_path, lenient):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"region": "IDF", "patients": 120}, {"region": "ARA", "patients": 2}]))
    assert outcome(by_check(path, lenient), "small_counts") == "fail"


def test_acro_results_are_shown_as_findings(tmp_path):
    path = write_acro_results(tmp_path, {"output_0": "pass", "output_1": "fail", "output_2": "review"})
    acro = {f.part: f for f in by_check(path)["acro"]}
    assert {k: f.outcome.value for k, f in acro.items()} == {"output_0": "pass", "output_1": "fail", "output_2": "review"}
    assert "grouped by region" in acro["output_1"].message and acro["output_1"].cells[0].row == 2
    plain = tmp_path / "other.json"
    plain.write_text(json.dumps({"results": "not acro"}))
    assert "acro" not in by_check(plain)


def test_a_tidy_rounded_table_passes_everything(tmp_path):
    path = write_csv(tmp_path, "t.csv", "region,sex,patients\nIDF,F,120\nIDF,M,115\nARA,F,85\nARA,M,90\n")
    assert worst(check_file(path)) is Outcome.PASS
