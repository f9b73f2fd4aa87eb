"""Every legitimate link kept on exports shaped as real SNDS extractions are (flat `;` Latin-1
files, SAS dates, year-suffixed PMSI files, fictive NIRs shared by newborns, twins).

Each security-relevant claim is tried both ways: the scoped flag keeps the mother-child link that a
row-wide flag loses; the default policy keeps apart the babies that `keep` merges.
"""

from __future__ import annotations

import csv
import io
import json
import shutil

import pyarrow.parquet as pq
import pytest

from pseudonymizer.catalog import load_catalog, with_dialect
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.extract import extract

from ..conftest import run_enclave
from .snds_export import CATALOG, SCHEMAS, Stay, mother_child_export, newborns_and_mothers, write_csv

pytestmark = pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"the shared synthetic SNDS schemas are absent ({SCHEMAS})")
REAL_DIALECT = {"delimiter": ";", "encoding": "latin-1"}
TABLES = ["IR_BEN_R", "T_MCO19C"]


def snds_catalog(folder=None):
    return with_dialect(load_catalog(folder or CATALOG, schema_dir=SCHEMAS), REAL_DIALECT)


def run(export, out, master_key, catalog=None, **options):
    manifest = extract(catalog or snds_catalog(), export.folder, "alpha", out, master_key, tables=TABLES, progress=False, **options)
    stays = pq.read_table(out / "T_MCO19C.parquet").to_pylist()
    people = pq.read_table(out / "IR_BEN_R.parquet").to_pylist()
    return manifest, stays, people


def mother_links(export, stays) -> tuple[int, int]:
    """(links kept, links in the source) between a baby's NIR_ANO_MAM and its mother's own stay."""
    own = {}
    for source, row in zip(export.stays, stays):
        if not source.mother:
            own[source.own] = row["NIR_ANO_17"]
    expected = [(s, row) for s, row in zip(export.stays, stays) if s.mother]
    kept = sum(row["NIR_ANO_MAM"] == own[s.mother] for s, row in expected)
    return kept, len(expected)


def test_a_newborns_fictive_nir_keeps_the_link_to_its_mother(tmp_path, master_key):
    export = mother_child_export(tmp_path / "export", newborns_and_mothers())
    manifest, stays, _ = run(export, tmp_path / "out", master_key)
    assert mother_links(export, stays) == (5, 5)  # every baby, twins included, joins its mother's own stays
    babies = [row for s, row in zip(export.stays, stays) if s.mother]
    # the shared fictive NIR: each baby its own pseudonym (the default policy), none of them a mother's
    assert len({b["NIR_ANO_17"] for b in babies}) == 5
    assert not {b["NIR_ANO_17"] for b in babies} & {b["NIR_ANO_MAM"] for b in babies}
    assert [b["ID_STATUS"] for b in babies] == ["fictive_id:NIR_ANO_17"] * 5  # the mother's column is not marked
    entry = manifest["tables"]["T_MCO19C"]
    assert manifest["fictive_policy"] == "random"
    assert entry["ids_of_no_one_by_column"] == {"NIR_ANO_17": {"fictive_id": 5, "placeholder_id": 0}}
    dictionary = (tmp_path / "out" / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert "Fictive flag `NIR_RET` (valid: 0, in any written form such as 0/False/N) speaks about `NIR_ANO_17` only." in dictionary
    assert "Why: a fictive or temporary NIR is shared by many different people" in dictionary


def test_a_row_wide_flag_would_lose_the_mothers_and_keep_would_merge_the_babies(tmp_path, master_key):
    """The controls: the two ways the shipped catalog used to go wrong, shown to fail on the same export."""
    export = mother_child_export(tmp_path / "export", newborns_and_mothers())
    row_wide = tmp_path / "row-wide"
    shutil.copytree(CATALOG.parent, row_wide)
    mco = row_wide / "pmsi_pmsi_mco.toml"
    head, section, rest = mco.read_text(encoding="utf-8").partition("[tables.T_MCOaaC]\n")
    scoped = 'applies_to = ["NIR_ANO_17"] }'
    assert section and scoped in rest
    mco.write_text(head + section + rest.replace(scoped, 'applies_to = ["NIR_ANO_17", "NIR_ANO_MAM"] }', 1), encoding="utf-8")
    _, stays, _ = run(export, tmp_path / "out-row", master_key, catalog=snds_catalog(row_wide / "catalog.toml"))
    assert mother_links(export, stays) == (0, 5)

    _, stays, _ = run(export, tmp_path / "out-keep", master_key, fictive_policy="keep")
    babies = {row["NIR_ANO_17"] for s, row in zip(export.stays, stays) if s.mother}
    assert len(babies) == 1  # five babies, one pseudonym: what the default policy prevents


@pytest.mark.parametrize("forms", [("0", "1"), ("False", "True"), ("false", "true"), ("N", "O"), ("non", "OUI")])
def test_flags_are_read_in_every_form_exports_write(tmp_path, master_key, forms):
    """The HDH export writes NIR_RET as True/False: valid stays still link to their patient."""
    people = [f"PATIENT{i:010d}" for i in range(6)]
    stays = [Stay(p) for p in people for _ in range(2)] + [Stay("INCONNU0000000000", flag="1")]
    export = mother_child_export(tmp_path / "export", stays, flag_forms=forms)
    assert forms[0] in (tmp_path / "export" / "T_MCO19C.csv").read_text(encoding="latin-1")
    manifest, rows, ben = run(export, tmp_path / "out", master_key)
    by_person = {row["BEN_NIR_PSA"] for row in ben}
    linked = [row["NIR_ANO_17"] in by_person for row in rows]
    assert linked == [True] * 12 + [False]
    assert manifest["tables"]["T_MCO19C"]["rows_with_ids_of_no_one"]["fictive_id"] == 1


def test_catalog_check_reports_each_flags_share_and_warns_past_the_threshold(tmp_path):
    people = [f"PATIENT{i:010d}" for i in range(6)]
    mostly_valid = [Stay(p) for p in people] + [Stay("INCONNU0000000000", flag="1")]
    export = mother_child_export(tmp_path / "fine", mostly_valid, flag_forms=("False", "True"))
    args = ("catalog", "check", "--catalog", CATALOG, "--schemas", SCHEMAS, "--sources", export.folder,
            "--dialect", "delimiter=;", "--dialect", "encoding=latin-1", "--tables", "T_MCOaaC")
    fine = run_enclave(*args, env={"ENCLAVE_FICTIVE_WARN_PERCENT": "20"})
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "flag NIR_RET of T_MCO19C: 1 of 7 rows (14.3%) make NIR_ANO_17 no one" in fine.stdout
    assert "WARNING" not in fine.stdout

    # A flag declared with the wrong valid value (as when True/False was not read): every stay is "no one".
    wrong = tmp_path / "wrong-catalog"
    shutil.copytree(CATALOG.parent, wrong)
    mco = wrong / "pmsi_pmsi_mco.toml"
    mco.write_text(mco.read_text(encoding="utf-8").replace('column = "NIR_RET", valid = ["0"]', 'column = "NIR_RET", valid = ["00"]'), encoding="utf-8")
    loud = run_enclave(*args[:2], "--catalog", wrong / "catalog.toml", *args[4:], env={"ENCLAVE_FICTIVE_WARN_PERCENT": "20"})
    assert "WARNING: flag NIR_RET of T_MCO19C: 7 of 7 rows (100.0%) make NIR_ANO_17 no one" in loud.stdout
    assert "above 20%" in loud.stdout and "ENCLAVE_FICTIVE_WARN_PERCENT" in loud.stdout
    assert "1 flag warning(s)" in loud.stdout
    bad = run_enclave(*args, env={"ENCLAVE_FICTIVE_WARN_PERCENT": "zero"})
    assert bad.returncode == 2 and "ENCLAVE_FICTIVE_WARN_PERCENT='zero' is not a percentage" in bad.stderr


def _dotted_death_dates(export) -> None:
    """Rewrite IR_BEN_R's BEN_DCD_DTE as dd.mm.yyyy, a format the catalog does not know (others stay SAS)."""
    path = export.folder / "IR_BEN_R.csv"
    lines = path.read_bytes().decode("latin-1").split("\r\n")
    header = lines[0].split(";")
    at = header.index("BEN_DCD_DTE")
    for i in range(1, len(lines) - 1):
        cells = lines[i].split(";")
        day = cells[at][:9]  # 20JUN1947:00:00:00 -> 20JUN1947
        cells[at] = f"{day[:2]}.{['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'].index(day[2:5]) + 1:02d}.{day[5:]}"
        lines[i] = ";".join(cells)
    path.write_bytes("\r\n".join(lines).encode("latin-1"))


def test_dialect_options_add_to_the_catalogs_lists_and_date_errors_name_every_format(tmp_path, master_key_file):
    export = mother_child_export(tmp_path / "export", newborns_and_mothers())
    _dotted_death_dates(export)
    assert ";20.06.1947;" in (export.folder / "IR_BEN_R.csv").read_text(encoding="latin-1")
    base = ("pseudonymize", "--catalog", CATALOG, "--schemas", SCHEMAS, "--sources", export.folder, "--project", "alpha",
            "--master-key-file", master_key_file, "--tables", "IR_BEN_R", "--dialect", "delimiter=;", "--dialect", "encoding=latin-1", "--quiet")
    failed = run_enclave(*base, "--out", tmp_path / "out")
    assert failed.returncode == 2 and not (tmp_path / "out").exists()
    # the error names the value, every format tried (the column's own and the catalog's), and the option that fixes it
    assert "column BEN_DCD_DTE, row 1: '" in failed.stderr and "' is not a valid date: tried every format" in failed.stderr
    assert "tried every format the catalog and dialect give, '%Y-%m-%d', '%d%b%Y:%H:%M:%S', '%d/%m/%Y', '%d%b%Y', '%Y-%m-%d %H:%M:%S'" in failed.stderr
    assert "--dialect 'date_formats=FORMAT' (adds to the catalog's)" in failed.stderr

    done = run_enclave(*base, "--dialect", "date_formats=%d.%m.%Y", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(tmp_path / "out" / "IR_BEN_R.parquet").to_pylist()
    # the added format read the dotted dates, and the catalog's SAS format still read every other date column
    assert "1947-06-01" in {str(r["BEN_DCD_DTE"]) for r in rows}  # read, then coarsened to its month
    assert all(r["BEN_IDT_MAJ"] is not None for r in rows)
    assert "ADD to the catalog's list" in " ".join(run_enclave("pseudonymize", "--help").stdout.split())


def _catalog_copy(tmp_path, table_section: str, old: str, new: str):
    """A copy of the shipped catalog whose `table_section` has its line `old` replaced by `new`."""
    folder = tmp_path / "catalog-copy"
    shutil.copytree(CATALOG.parent, folder, dirs_exist_ok=True)
    for path in folder.glob("*.toml"):
        head, section, rest = path.read_text(encoding="utf-8").partition(f"[tables.{table_section}]\n")
        if section:
            assert old in rest
            path.write_text(head + section + rest.replace(old, new, 1), encoding="utf-8")
            return folder / "catalog.toml"
    raise AssertionError(f"no section {table_section}")


def test_an_unknown_flag_value_stops_the_run_naming_it_and_catalog_check_gives_the_line(tmp_path, master_key_file):
    """A flag written in a form nobody declared ('Vrai', '2') would otherwise make those ids no one in
    silence; the run stops naming each value, `catalog check` proposes the role-file line, and with
    that line the same export extracts, those stays counted as no one."""
    people = [f"PATIENT{i:010d}" for i in range(6)]
    stays = [Stay(p) for p in people] + [Stay("INCONNU0000000001", flag="Vrai"), Stay("INCONNU0000000002", flag="2"), Stay("INCONNU0000000003", flag="2")]
    export = mother_child_export(tmp_path / "export", stays, flag_forms=("False", "True"))
    extract_args = ("pseudonymize", "--catalog", CATALOG, "--schemas", SCHEMAS, "--sources", export.folder, "--project", "alpha",
                    "--master-key-file", master_key_file, "--tables", "IR_BEN_R,T_MCO19C", "--dialect", "delimiter=;",
                    "--dialect", "encoding=latin-1", "--quiet")
    failed = run_enclave(*extract_args, "--out", tmp_path / "out")
    assert failed.returncode == 2 and not (tmp_path / "out").exists()
    assert "table T_MCO19C: the fictive flag NIR_RET holds value(s) the catalog does not know, in 3 row(s): '2', 'Vrai'" in failed.stderr
    assert "(known: 0, 1, in any form such as 0/False/N or 1/True/O)" in failed.stderr
    assert 'fictive = { column = "NIR_RET", valid = [...], no_one = [...] }' in failed.stderr

    check_args = ("catalog", "check", "--catalog", CATALOG, "--schemas", SCHEMAS, "--sources", export.folder,
                  "--dialect", "delimiter=;", "--dialect", "encoding=latin-1", "--tables", "T_MCOaaC")
    checked = run_enclave(*check_args)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "the fictive flag NIR_RET holds value(s) the catalog does not know: '2' (2 rows), 'Vrai' (1 row)" in checked.stdout
    proposed = 'fictive = { column = "NIR_RET", valid = ["0"], no_one = ["1", "2", "Vrai"], applies_to = ["NIR_ANO_17"] }'
    assert f"[tables.T_MCOaaC]\n{proposed}" in checked.stdout

    fixed = _catalog_copy(tmp_path, "T_MCOaaC", 'fictive = { column = "NIR_RET", valid = ["0"], applies_to = ["NIR_ANO_17"] }', proposed)
    assert run_enclave(*check_args[:2], "--catalog", fixed, *check_args[4:]).returncode == 0
    done = run_enclave(*extract_args[:1], "--catalog", fixed, *extract_args[3:], "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tables"]["T_MCO19C"]["rows_with_ids_of_no_one"]["fictive_id"] == 3
    by_person = {row["BEN_NIR_PSA"] for row in pq.read_table(tmp_path / "out" / "IR_BEN_R.parquet").to_pylist()}
    linked = [row["NIR_ANO_17"] in by_person for row in pq.read_table(tmp_path / "out" / "T_MCO19C.parquet").to_pylist()]
    assert linked == [True] * 6 + [False] * 3


def test_a_beneficiary_code_outside_its_nomenclature_stops_the_run(tmp_path, master_key):
    """BEN_CDI_NIR declares every code of IR_NIR_V: 00 is someone, 01...15, 99, NN are no one; 07 is none of them."""
    export = mother_child_export(tmp_path / "export", [Stay(f"PATIENT{i:010d}") for i in range(4)])
    path = export.folder / "IR_BEN_R.csv"
    header, *rows = list(csv.reader(io.StringIO(path.read_bytes().decode("latin-1")), delimiter=";"))
    at = header.index("BEN_CDI_NIR")
    rows[0][at], rows[1][at], rows[2][at] = "nn", "13", "07"  # any case; a maternity NIR; an unknown code
    write_csv(path, header, rows)
    with pytest.raises(PseudonymizerError) as failed:
        run(export, tmp_path / "out", master_key)
    assert "table IR_BEN_R: the fictive flag BEN_CDI_NIR holds value(s) the catalog does not know, in 1 row(s): '07'" in str(failed.value)
    assert not (tmp_path / "out").exists()
    rows[2][at] = "00"  # the control: only known codes
    write_csv(path, header, rows)
    manifest, _, _ = run(export, tmp_path / "out", master_key)
    assert manifest["tables"]["IR_BEN_R"]["ids_of_no_one_by_column"]["BEN_NIR_PSA"]["fictive_id"] == 2


def test_a_flag_value_both_valid_and_no_one_is_refused(tmp_path):
    line = 'fictive = { column = "NIR_RET", valid = ["0"], applies_to = ["NIR_ANO_17"] }'
    both = _catalog_copy(tmp_path, "T_MCOaaC", line, line.replace('valid = ["0"]', 'valid = ["0"], no_one = ["1", "false"]'))
    with pytest.raises(PseudonymizerError, match=r"\[tables.T_MCOaaC\]: the fictive flag NIR_RET lists (.*false.*) both as valid and as no_one — keep each value in one list"):
        load_catalog(both, schema_dir=SCHEMAS)


def test_a_datetime_error_names_every_format_and_datetime_formats_adds_one(tmp_path, master_key_file):
    """T_MCO19C.EXE_SOI_DTD written dd.mm.yyyy HH:MM (the column's schema says SAS): the error names the
    column's format and the catalog's datetime_formats, and points to the datetime option, not the date one."""
    export = mother_child_export(tmp_path / "export", newborns_and_mothers())
    path = export.folder / "T_MCO19C.csv"
    header, *rows = list(csv.reader(io.StringIO(path.read_bytes().decode("latin-1")), delimiter=";"))
    at, sas = header.index("EXE_SOI_DTD"), header.index("EXE_SOI_DTF")
    assert all(len(r[sas]) == 18 and r[sas][9] == ":" for r in rows if r[sas])  # the other column stays SAS
    for i, row in enumerate(rows):
        row[at] = f"{i + 1:02d}.03.2019 14:30"
    write_csv(path, header, rows)
    base = ("pseudonymize", "--catalog", CATALOG, "--schemas", SCHEMAS, "--sources", export.folder, "--project", "alpha",
            "--master-key-file", master_key_file, "--tables", "T_MCO19C", "--dialect", "delimiter=;", "--dialect", "encoding=latin-1", "--quiet")
    failed = run_enclave(*base, "--out", tmp_path / "out")
    assert failed.returncode == 2 and not (tmp_path / "out").exists()
    assert "column EXE_SOI_DTD, row 1: '01.03.2019 14:30' is not a valid datetime" in failed.stderr
    assert ("tried every format the catalog and dialect give, '%d%b%Y:%H:%M:%S', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%SZ', "
            "'%d/%m/%Y %H:%M:%S', '%Y-%m-%d'") in failed.stderr
    assert "--dialect 'datetime_formats=FORMAT' (adds to the catalog's)" in failed.stderr and "date_formats=FORMAT" not in failed.stderr

    done = run_enclave(*base, "--dialect", "datetime_formats=%d.%m.%Y %H:%M", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    out = pq.read_table(tmp_path / "out" / "T_MCO19C.parquet").to_pylist()
    assert [str(r["EXE_SOI_DTD"]) for r in out[:2]] == ["2019-03-01 14:30:00", "2019-03-02 14:30:00"]
    assert all(r["EXE_SOI_DTF"] is not None for r, source in zip(out, rows) if source[sas])  # the SAS format still read
