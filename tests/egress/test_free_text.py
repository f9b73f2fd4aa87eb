"""Free text an enclave sends (justifications, paths, package reasons) and the code check's encoded
runs: bounded, checked like files, refused with the field named — and the justification shown back
to its requester only after review."""

from __future__ import annotations

import base64
import os

import pyarrow as pa
import pytest
from sqlalchemy import select

from egress_gate import DEFAULT_POLICY
from egress_gate.checks.code import check_code
from egress_gate.context import CheckContext
from egress_gate.findings import Outcome
from egress_gate.free_text import MAX_JUSTIFICATION, MAX_PATH, MAX_REASON, FreeTextRefused, check_free_text
from enclave.models import AuditEvent

from .service_fixtures import PSEUDONYMS

CONTEXT = CheckContext(pseudonyms=pa.array(PSEUDONYMS, pa.string()), project="cohort-a")
PARQUET_LIKE = b"PAR1" + os.urandom(40_000) + b"PAR1"
VALID_NIR = "1 84 12 76 451 089 46"  # a NIR with its key (97 - N mod 97)


def outcome(findings, check: str) -> Outcome:
    return next(f.outcome for f in findings if f.check == check)


# --- the pure check ---------------------------------------------------------------------------

def test_an_ordinary_justification_passes():
    text = ("Table 1 of the paper: counts of stays by age band and sex, every cell at least 10, "
            "rounded to 5; the same table was released in request 12 for 2019 (sha256 "
            + os.urandom(32).hex() + ").")
    assert check_free_text("justification", text, CONTEXT) == text


@pytest.mark.parametrize("field, limit", [("justification", MAX_JUSTIFICATION), ("reason", MAX_REASON), ("path", MAX_PATH)])
def test_a_text_over_its_limit_is_refused_naming_the_field_and_the_limit(field, limit):
    with pytest.raises(FreeTextRefused) as refused:
        check_free_text(field, "a" * (limit + 1), CONTEXT)
    assert f"the {field} is {limit + 1:,} characters, over the limit of {limit:,}" in str(refused.value)
    assert check_free_text(field, "a" * limit, CONTEXT)  # positive control: at the limit it passes


@pytest.mark.parametrize("name, text", [
    ("base64", "see attachment: " + base64.b64encode(PARQUET_LIKE[:1200]).decode()),
    ("hex", "checksum list " + PARQUET_LIKE[:400].hex(" ")),
    ("pseudonyms", "patients " + ", ".join(PSEUDONYMS[:3]) + " are outliers"),
    ("nir", f"patient {VALID_NIR} was excluded"),
    ("e-mail", "ask jane.doe@hospital.example for the table"),
])
def test_a_justification_carrying_data_or_identifiers_is_refused_without_echoing_it(name, text):
    with pytest.raises(FreeTextRefused) as refused:
        check_free_text("justification", text[:MAX_JUSTIFICATION], CONTEXT)
    message = str(refused.value)
    assert message.startswith("the justification cannot be accepted")
    assert all(secret not in message for secret in (PSEUDONYMS[0], "jane.doe", VALID_NIR, text[-60:]))


# --- the code check -----------------------------------------------------------------------------

PATCH = """From 3f2a9c0e5d4b1a2f3e4d5c6b7a8f9e0d1c2b3a4f Mon Sep 17 00:00:00 2001
From: Remi <remi@enclave.invalid>
Subject: [PATCH] Cohort selection

---
 analysis/cohort.py | 4 ++++
 1 file changed, 4 insertions(+)

diff --git a/analysis/cohort.py b/analysis/cohort.py
index 83db48f..bf269f4 100644
--- a/analysis/cohort.py
+++ b/analysis/cohort.py
@@ -1,3 +1,7 @@
+def cohort(prs):
+    \"\"\"Stays after 2019 with an act of nature 1111.\"\"\"
+    return prs[prs["EXE_SOI_DTD"] >= "2019-01-01"]
+
"""


def test_an_ordinary_patch_passes_the_encoded_check():
    assert outcome(check_code(PATCH.replace("remi@enclave.invalid", "remi"), DEFAULT_POLICY, CONTEXT), "encoded_runs") is Outcome.PASS


def test_a_patch_holding_an_extract_in_base64_fails():
    blob = base64.encodebytes(PARQUET_LIKE).decode()
    patch = PATCH + "".join(f"+DATA = '''{line}'''\n" if i == 0 else f"+{line}\n" for i, line in enumerate(blob.splitlines()))
    findings = check_code(patch, DEFAULT_POLICY, CONTEXT)
    assert outcome(findings, "encoded_runs") is Outcome.FAIL


@pytest.mark.parametrize("encode", [bytes.hex, lambda b: str(list(b)), lambda b: base64.b85encode(b).decode()])
def test_a_patch_holding_bytes_in_other_encodings_fails(encode):
    patch = PATCH + f"+DATA = {encode(PARQUET_LIKE[:2000])!r}\n"
    assert outcome(check_code(patch, DEFAULT_POLICY, CONTEXT), "encoded_runs") is Outcome.FAIL


def test_a_git_binary_patch_fails():
    patch = PATCH + "diff --git a/d.bin b/d.bin\nnew file mode 100644\nindex 0000000..e69de29\nGIT binary patch\nliteral 40\nzcmV+Z0PO#WP)<h;3K|Lk000e1NJLTq\n\nliteral 0\nHcmV?d00001\n"
    assert outcome(check_code(patch, DEFAULT_POLICY, CONTEXT), "encoded_runs") is Outcome.FAIL


# --- the gate's service ---------------------------------------------------------------------------

def test_the_gate_refuses_a_long_or_encoded_justification_with_a_400(gate_server):
    long = gate_server.submit("remi", ["outputs/table1.csv"], justification="x" * (MAX_JUSTIFICATION + 1))
    assert long.status_code == 400 and f"over the limit of {MAX_JUSTIFICATION:,}" in long.json()["error"]
    blob = base64.b64encode(PARQUET_LIKE[:1400]).decode()
    encoded = gate_server.submit("remi", ["outputs/table1.csv"], justification="counts " + blob)
    assert encoded.status_code == 400 and "justification" in encoded.json()["error"] and blob[:40] not in encoded.text
    path = gate_server.submit("remi", ["outputs/" + "a" * MAX_PATH])
    assert path.status_code == 400 and "the path is" in path.json()["error"]
    assert gate_server.api("remi", "GET", "requests").json()["requests"] == []  # nothing was queued
    with gate_server.gate.session() as session:
        refused = [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "egress.refused"))]
    assert refused and all(blob[:40] not in str(d) for d in refused)  # audited, without the text
    assert gate_server.submit("remi", ["outputs/table1.csv"]).status_code == 201  # positive control


def test_the_justification_is_shown_to_its_requester_only_after_review(gate_server):
    secret = "Table 1: counts by age band, every cell at least 10 (kept for the steward)"
    rid = gate_server.submit("remi", ["outputs/table1.csv"], justification=secret).json()["id"]
    assert secret in gate_server.page("sven", f"requests/{rid}").text  # the steward reviewing it reads it
    assert secret not in gate_server.page("remi", f"requests/{rid}").text
    assert secret not in gate_server.api("remi", "GET", f"requests/{rid}").text
    gate_server.decide("sven", rid, "approve")
    gate_server.decide("stella", rid, "approve")
    assert secret in gate_server.page("remi", f"requests/{rid}").text  # reviewed: shown back
    assert gate_server.api("remi", "GET", f"requests/{rid}").json()["justification"] == secret


def test_a_withdrawn_request_never_shows_its_justification_again(gate_server):
    secret = "Table 1 again, withdrawn before review"
    rid = gate_server.submit("remi", ["outputs/table1.csv"], justification=secret).json()["id"]
    withdrawn = gate_server.form_post("remi", f"requests/{rid}/withdraw", {"reason": "wrong file"})
    assert withdrawn.status_code in (200, 302), withdrawn.text
    assert secret not in gate_server.page("remi", f"requests/{rid}").text
    assert secret not in gate_server.api("remi", "GET", f"requests/{rid}").text


# --- the project tools: a package request's reason ---------------------------------------------------

def test_a_package_reason_is_bounded_and_checked(tmp_path):
    from project_tools.service import Tools

    class Settings:
        def project_dir(self, slug):
            return tmp_path / slug  # not provisioned: no pseudonyms, the other checks still run

    tools = Tools.__new__(Tools)
    tools.settings = Settings()
    assert tools.check_reason("cohort-a", "survival curves (Kaplan-Meier) for the cohort")
    with pytest.raises(FreeTextRefused, match=f"over the limit of {MAX_REASON:,}"):
        tools.check_reason("cohort-a", "x" * (MAX_REASON + 1))
    with pytest.raises(FreeTextRefused, match="the reason cannot be accepted"):
        tools.check_reason("cohort-a", "needed for " + base64.b64encode(PARQUET_LIKE[:600]).decode())
