"""Each scan family catches its file (and lets the harmless twin through), in the bounded worker."""

from __future__ import annotations

import pytest

from airlock.config import ScanConfig
from airlock.scan import blocked, scan_file
from airlock.scan_worker import scan_in_worker

from . import hostile_imports as hostile


def outcome(findings: list[dict], check: str) -> str:
    return next(f["outcome"] for f in findings if f["check"] == check)


def detail(findings: list[dict], check: str) -> str:
    return next(f["detail"] for f in findings if f["check"] == check)


@pytest.fixture
def config(tmp_path) -> ScanConfig:
    return ScanConfig(clamav_db=tmp_path / "no-signatures", seconds=120)


def test_a_clean_table_passes_and_says_it_was_not_checked_for_malware(tmp_path, config):
    findings = scan_in_worker(hostile.clean_csv(tmp_path), config)
    assert not blocked(findings)
    assert outcome(findings, "type") == "pass" and outcome(findings, "identifiers") == "pass"
    assert outcome(findings, "malware") == "review"
    assert "no malware signatures" in detail(findings, "malware") and "NOT checked" in detail(findings, "malware")


def test_an_executable_renamed_csv_is_refused_by_its_content(tmp_path, config):
    findings = scan_in_worker(hostile.executable_as_csv(tmp_path), config)
    assert blocked(findings)
    assert "executable" in detail(findings, "type")


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path, config):
    findings = scan_file(hostile.zip_bomb(tmp_path), config)
    assert outcome(findings, "archive") == "fail"
    assert "archive bomb" in detail(findings, "archive")


def test_a_zip_bomb_is_refused_by_its_total_size(tmp_path):
    config = ScanConfig(clamav_db=tmp_path, max_ratio=10_000, max_unpacked_bytes=16 << 20)
    findings = scan_file(hostile.zip_bomb(tmp_path), config)
    assert outcome(findings, "archive") == "fail" and "more than 16 MB" in detail(findings, "archive")


def test_a_zip_of_a_table_is_let_in(tmp_path, config):
    import zipfile
    path = tmp_path / "tables.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(hostile.clean_csv(tmp_path), "reference.csv")
    assert outcome(scan_file(path, config), "archive") == "pass"


def test_an_executable_inside_a_zip_is_refused(tmp_path, config):
    import zipfile
    path = tmp_path / "tools.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write("/bin/true", "readme.txt")
    findings = scan_file(path, config)
    assert outcome(findings, "archive") == "fail" and "executable" in detail(findings, "archive")


def test_an_office_file_with_a_macro_is_refused_and_one_without_passes(tmp_path, config):
    with_macro = scan_in_worker(hostile.office_with_macro(tmp_path), config)
    assert outcome(with_macro, "macros") == "fail" and "macros" in detail(with_macro, "macros")
    assert outcome(scan_file(hostile.office_without_macro(tmp_path), config), "macros") == "pass"


def test_a_macro_is_found_by_its_content_whatever_the_part_is_called(tmp_path, config):
    from oletools.olevba import VBA_Parser
    renamed = hostile.office_with_macro(tmp_path, part="word/media/image1.bin")
    parser = VBA_Parser(str(renamed))  # the fixture is a real VBA project: oletools extracts its source
    try:
        assert any("Sub AutoOpen" in code for *_, code in parser.extract_macros())
    finally:
        parser.close()
    assert outcome(scan_in_worker(renamed, config), "macros") == "fail"
    legacy = scan_in_worker(hostile.legacy_office_with_macro(tmp_path), config)
    assert outcome(legacy, "type") == "pass" and outcome(legacy, "macros") == "fail"


def test_a_csv_of_nirs_is_refused(tmp_path, config):
    findings = scan_in_worker(hostile.csv_of_nirs(tmp_path), config)
    assert outcome(findings, "identifiers") == "fail"
    assert "nir" in detail(findings, "identifiers")


def test_nirs_inside_a_zip_or_a_gzip_are_refused(tmp_path, config):
    for path in (hostile.zipped_nirs(tmp_path), hostile.gzipped_nirs(tmp_path)):
        findings = scan_in_worker(path, config)
        assert outcome(findings, "archive") == "pass", findings  # a well-formed archive: the NIRs block it
        assert outcome(findings, "identifiers") == "fail" and "nir" in detail(findings, "identifiers"), path.name


def test_a_zip_of_clean_tables_is_read_for_identifiers_and_passes(tmp_path, config):
    import zipfile
    path = tmp_path / "tables.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(hostile.clean_csv(tmp_path), "reference.csv")
    findings = scan_file(path, config)
    assert outcome(findings, "identifiers") == "pass" and "1 file(s) of the archive" in detail(findings, "identifiers")


def test_emails_in_text_are_refused(tmp_path, config):
    path = tmp_path / "contacts.txt"
    path.write_text("write to jeanne.martin@example.fr for the cohort\n")
    assert outcome(scan_file(path, config), "identifiers") == "fail"


def test_eicar_is_caught_when_signatures_are_present(tmp_path):
    config = ScanConfig(clamav_db=hostile.eicar_signatures(tmp_path / "signatures"))
    findings = scan_in_worker(hostile.eicar(tmp_path), config)
    assert outcome(findings, "malware") == "fail"
    assert "Enclave.Test.EICAR" in detail(findings, "malware")
    clean = scan_in_worker(hostile.clean_csv(tmp_path), config)  # positive control: same signatures
    assert outcome(clean, "malware") == "pass"


def test_eicar_without_signatures_is_not_passed_silently(tmp_path, config):
    findings = scan_file(hostile.eicar(tmp_path), config)
    assert outcome(findings, "malware") == "review"
    assert "no malware signatures" in detail(findings, "malware")


def test_a_scan_out_of_time_fails_closed(tmp_path):
    config = ScanConfig(clamav_db=tmp_path, seconds=0.01)
    findings = scan_in_worker(hostile.clean_csv(tmp_path), config)
    assert blocked(findings) and findings[0]["check"] == "budget"
