"""The seal's content guard, pure: encoded runs, known content, pseudonyms, images, the charge, and
the analysis day against the extract set under the default budgets (no Docker, no hub)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enclave.encoded_text import decode_run, encoded_runs, information_bytes
from enclave.models import DEFAULT_OUTPUT_BUDGET_PER_DAY as DEFAULT_BUDGET_PER_DAY, DEFAULT_OUTPUT_BUDGET_PER_HOUR as DEFAULT_BUDGET_PER_HOUR
from enclave.shingles import Fingerprints
from spawner_config import seal_content
from spawner_config.seal_content import (
    MAX_PSEUDONYMS,
    REPEAT_CHARGE,
    ContentGuard,
    guard_for,
)
from spawner_config.seal_guard import Passed
from spawner_config.seal_images import MAX_SIDE, disarm

from ..conftest import REPO
from .analysis_day import ATTACKS, DAY, SETUP, lab_startup, run_locally

TABLES = ("ER_PRS_F", "IR_BEN_R", "KI_CCI_R", "T_MCOaaB", "T_MCOaaC")


@pytest.fixture(scope="module")
def extracts(tmp_path_factory) -> Path:
    """The demo's extracts (make demo: 2000 people, seed 42, projects/demo-cardio.toml)."""
    from tests.bench.content_bench import make_extracts

    return make_extracts(tmp_path_factory.mktemp("content"))


@pytest.fixture
def guard(extracts) -> ContentGuard:
    return ContentGuard(extracts)


def stream(text: str) -> str:
    return json.dumps({"header": {"msg_id": str(uuid.uuid4()), "msg_type": "stream", "session": uuid.uuid4().hex},
                       "parent_header": {}, "metadata": {}, "channel": "iopub", "buffers": [],
                       "content": {"name": "stdout", "text": text}})


def display(bundle: dict) -> str:
    return json.dumps({"header": {"msg_type": "display_data"}, "parent_header": {}, "metadata": {}, "channel": "iopub",
                       "content": {"data": bundle, "metadata": {}, "transient": {}}})


def png_of(array: np.ndarray, **info) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG", **info)
    return out.getvalue()


def stuffed_png(data: bytes) -> bytes:
    side = int(np.ceil(np.sqrt(len(data) / 3)))
    return png_of(np.frombuffer(data + bytes(side * side * 3 - len(data)), np.uint8).reshape(side, side, 3))


# --- encoded runs ------------------------------------------------------------------------------

def encodings(data: bytes) -> dict[str, str]:
    return {
        "base64": base64.b64encode(data).decode(), "base64 wrapped": base64.encodebytes(data).decode(),
        "base64url": base64.urlsafe_b64encode(data).decode(), "base32": base64.b32encode(data).decode(),
        "base85": base64.b85encode(data).decode(), "ascii85": base64.a85encode(data).decode(),
        "hex": data.hex(), "hex spaced": data.hex(" "), "hex colons": data.hex(":"),
        "0x list": ", ".join(f"0x{b:02x}" for b in data), "xxd": subprocess.run(["xxd"], input=data, capture_output=True).stdout.decode(),
        "xxd -p": subprocess.run(["xxd", "-p"], input=data, capture_output=True).stdout.decode(),
        "byte list": str(list(data)), "numpy bytes": str(np.frombuffer(data, np.uint8)).replace("...", ""),
    }


@pytest.mark.parametrize("table", TABLES)
def test_every_encoding_of_an_extract_is_one_cut_run(extracts, table):
    data = (extracts / f"{table}.parquet").read_bytes()
    for name, text in encodings(data).items():
        if name == "numpy bytes":
            continue  # numpy elides the middle of a long array: judged in the test below
        covered = sum(r.end - r.start for r in encoded_runs(text))
        assert covered >= 0.99 * len(text.strip()), f"{name}: {covered} of {len(text)} characters cut"


def test_a_bytes_repr_is_mostly_cut_and_what_stays_is_plain_text(extracts):
    data = (extracts / "ER_PRS_F.parquet").read_bytes()
    text = repr(data)
    runs = encoded_runs(text)
    assert sum(r.end - r.start for r in runs) >= 0.9 * len(text)
    assert all(r.kind == "escapes" for r in runs)


@pytest.mark.parametrize("kind", ["base64", "hex", "byte list", "base32", "ascii85", "xxd"])
def test_a_run_decodes_back_to_its_bytes(kind):
    data = os.urandom(600)
    text = encodings(data)[kind]
    (run,) = encoded_runs(text)
    assert data[10:500] in decode_run(text[run.start: run.end], run.kind)


def test_what_jupyterlab_sends_is_not_an_encoded_run():
    ids = [str(uuid.uuid4()) for _ in range(3)] + [uuid.uuid4().hex]
    jwt = ".".join(base64.urlsafe_b64encode(os.urandom(n)).decode().rstrip("=") for n in (27, 60, 32))
    sha = "\n".join(os.urandom(32).hex() for _ in range(3))
    texts = ids + [jwt, sha, "analysis/figures/cohort_2019-2023_by_department_and_age_group.png", "-" * 500, "=" * 500,
                   (REPO / "README.md").read_text(), (REPO / "egress_gate" / "service" / "gate.py").read_text(),
                   "\n".join(f"{i:>4}  {i * 7 % 300:>5}  {i * 13 % 97}.5  2024-01-{i % 28 + 1:02d}" for i in range(250)),
                   "\n".join(f"{i}  1.2345e-0{i % 9}  {i * 3}" for i in range(250))]
    for text in texts:
        assert encoded_runs(text) == [], text[:80]
    for answer in lab_startup():  # JupyterLab's own answers at start, recorded from a real server
        assert encoded_runs(answer["body"]) == [], answer["path"]


@pytest.mark.parametrize("text", ["0x" * 300_000, "\\x0" * 200_000, "a" * 1_000_000, "1, " * 300_000, "=" * 1_000_000,
                                  "ab" * 500_000, "0" * 999_999 + "!", ("A" * 95 + " ") * 10_000, "00000000: " * 100_000])
def test_hostile_texts_are_judged_in_one_pass(text):
    """Inputs that make backtracking regexes take quadratic or exponential time (RE2 has none)."""
    runs = encoded_runs(text)
    assert all(0 <= r.start < r.end <= len(text) for r in runs)


def test_a_blob_split_into_short_strings_is_cut_whole(guard):
    blob = base64.b64encode(os.urandom(2970)).decode()
    pieces = [blob[i: i + 120] for i in range(0, len(blob), 120)]
    passed = guard.answer("api/contents/x.json", "application/json", json.dumps([{"id": i, "v": p} for i, p in enumerate(pieces)]).encode())
    assert all(h.kind == "encoded" for h in passed.hits) and len(passed.hits) == len(pieces)
    assert all(p not in passed.payload.decode() for p in pieces)
    lines = guard.answer("api/contents/x.json", "application/json", json.dumps({"lines": [p + "\n" for p in pieces]}).encode())
    assert len(lines.hits) == 1 and pieces[3] not in lines.payload.decode()  # a notebook's lines are judged joined
    one = guard.answer("api/contents/y.json", "application/json", json.dumps({"jwt": pieces[0]}).encode())
    assert one.hits == []  # one short run alone passes


@pytest.mark.parametrize("kind", ["base64", "hex"])
def test_an_extract_split_into_short_runs_by_other_characters_is_cut(extracts, kind):
    """Runs under 96 characters pass alone; an extract cut into 90-character pieces (30 of hex)
    joined by other characters is one run of pieces, decoded whole: cut as the extract's content."""
    data = (extracts / "ER_PRS_F.parquet").read_bytes()[:30_000]
    encoded, width = (base64.b64encode(data).decode(), 90) if kind == "base64" else (data.hex(), 30)
    pieces = [encoded[i: i + width] for i in range(0, len(encoded), width)]
    for separator in (";", " | ", "\n# ", ", x, "):
        passed = ContentGuard(extracts).message("kernel", stream(separator.join(pieces) + "\nend\n"))  # a cold channel
        text = json.loads(passed.payload)["content"]["text"]
        assert "known_content" in [h.kind for h in passed.hits], (separator, passed.hits)
        assert "in pieces matching the project's extracts" in text and text.endswith("\nend\n"), text[:300]
        left = sum(p in text for p in pieces)
        assert left == 0 and len(text) < 400 and passed.charge < 600, (separator, left, len(text), passed.charge)


def chunked(text: str, how: str, seed: int = 0) -> list[str]:
    """``text`` cut as a terminal or a kernel sends it: in 4000-character chunks; a line a message for
    the first three lines, then 4095-character chunks (what Chromium received from a JupyterLab
    terminal); a line a message (``print`` and ``flush`` in a loop); or anywhere, 1 to 300 characters."""
    import random

    rng, out, pos = random.Random(seed), [], 0
    lines = text.splitlines(keepends=True)
    if how == "lines":
        return lines
    if how == "lines then 4095":
        out, pos = lines[:3], sum(map(len, lines[:3]))
    while pos < len(text):
        size = {"4000": 4000, "lines then 4095": 4095, "anywhere": rng.randint(1, 300)}[how]
        out.append(text[pos: pos + size])
        pos += size
    return out


def left_of(text: str) -> list[str]:
    """What is left of a base64 blob in ``text``: its stretches of 12 characters or more."""
    import re

    return re.findall(r"[0-9A-Za-z+/=]{12,}", text)


@pytest.mark.parametrize("how", ["4000", "lines then 4095", "lines", "anywhere"])
def test_a_blob_cut_at_message_edges_leaves_nothing_of_the_extract(guard, extracts, how):
    """A terminal sends `base64`'s output in chunks cut anywhere: each chunk is judged with the end
    of the one before, so a line sent alone, or split over two chunks, is part of the blob."""
    from enclave.shingles import MIN_MATCHES

    data = (extracts / "ER_PRS_F.parquet").read_bytes()[:60_000]
    wrapped = base64.encodebytes(data).decode().replace("\n", "\r\n")
    sent = [guard.message("terminal", json.dumps(["stdout", c]), "t1") for c in chunked(wrapped, how)]
    text = "".join(json.loads(p.payload)[1] for p in sent)
    runs = left_of(text)
    decoded = b"".join(base64.b64decode(r[: len(r) // 4 * 4], validate=False) for r in runs)
    assert Fingerprints.of_files([extracts / "ER_PRS_F.parquet"]).matches(decoded) < MIN_MATCHES, runs[:5]
    assert sum(len(r) for r in runs) < 200, runs[:5]
    assert "[enclave seal:" in json.loads(sent[0].payload)[1]  # the first line alone is cut: it holds the extract


def test_a_blob_printed_a_line_a_message_in_a_kernel_is_cut(guard, extracts):
    """``print`` and ``flush`` in a loop: every line a stream message, each too short to be a run."""
    from enclave.shingles import MIN_MATCHES

    data = (extracts / "IR_BEN_R.parquet").read_bytes()[:30_000]
    sent = [guard.message("kernel", stream(line), "k1") for line in base64.encodebytes(data).decode().splitlines(keepends=True)]
    text = "".join(json.loads(p.payload)["content"]["text"] for p in sent)
    runs = left_of(text)
    decoded = b"".join(base64.b64decode(r[: len(r) // 4 * 4], validate=False) for r in runs)
    assert Fingerprints.of_files([extracts / "IR_BEN_R.parquet"]).matches(decoded) < MIN_MATCHES, runs[:5]
    assert sum(len(r) for r in runs) < 200, runs[:5]
    assert "known_content" in {h.kind for p in sent for h in p.hits}


ORDINARY_TERMINAL = """\x1b[?2004hjovyan@83766dd2cc57:~/work$ ls -l\r
total 24\r
-rw-r--r-- 1 jovyan users 10240 Dec  6 05:14 ER_PRS_F_summary_2024.csv\r
-rw-r--r-- 1 jovyan users  4096 Dec  6 05:15 analysis_cardio_v2.ipynb\r
drwxr-xr-x 2 jovyan users  4096 Dec  6 05:16 figures\r
jovyan@83766dd2cc57:~/work$ git log -3\r
commit 4937cec2c844372fcaf6cce5aedfdffb73bd4065\r
Author: Ana Lopez <ana@example.org>\r
Date:   Sun Dec 6 02:38:34 2026 +0000\r
\r
    Cohort: exclusions by age and dose\r
\r
commit 80961e3a1b2c3d4e5f60718293a4b5c6d7e8f901\r
Author: Ana Lopez <ana@example.org>\r
Date:   Sat Dec 5 18:02:11 2026 +0000\r
\r
    First descriptive tables\r
jovyan@83766dd2cc57:~/work$ git log --oneline -3\r
4937cec Cohort: exclusions by age and dose\r
80961e3 First descriptive tables\r
0788a92 Start\r
jovyan@83766dd2cc57:~/work$ sha256sum *.csv\r
9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  ER_PRS_F_summary_2024.csv\r
jovyan@83766dd2cc57:~/work$ python cohort.py\r
Traceback (most recent call last):\r
  File "/home/jovyan/work/cohort.py", line 12, in <module>\r
    table = pd.read_parquet(DATA / "ER_PRS_F.parquet", columns=["BEN_NIR_PSA", "EXE_SOI_DTD"])\r
  File "/opt/conda/lib/python3.11/site-packages/pandas/io/parquet.py", line 667, in read_parquet\r
KeyError: 'BEN_NIR_PSA'\r
jovyan@83766dd2cc57:~/work$ python -c "import pandas as pd; print(pd.read_csv('ER_PRS_F_summary_2024.csv').head())"\r
   age_band  n_patients  mean_dose   HbA1c  eGFR_2019\r
0     18-29         412      12.50   5.412     98.120\r
1     30-44         977      14.25   5.873     91.004\r
2     45-59        1603      15.75   6.204     84.377\r
3     60-74        2210      16.00   6.689     72.950\r
4       75+        1187      15.50   7.013     61.238\r
jovyan@83766dd2cc57:~/work$ pip list | grep -i pandas\r
pandas                    2.2.3\r
jovyan@83766dd2cc57:~/work$ """


@pytest.mark.parametrize("how", ["4000", "lines", "anywhere"])
def test_ordinary_terminal_and_kernel_output_passes_intact_in_any_chunks(guard, how):
    """The positive control: listings, git hashes and a sha256, a traceback and a table, cut into
    messages anywhere, pass untouched and raise nothing, in a terminal and as a kernel's stream."""
    for seed in range(3):
        chunks = chunked(ORDINARY_TERMINAL, how, seed)
        terminal = [guard.message("terminal", json.dumps(["stdout", c]), f"t{seed}") for c in chunks]
        assert "".join(json.loads(p.payload)[1] for p in terminal) == ORDINARY_TERMINAL
        printed = ORDINARY_TERMINAL.replace("\r\n", "\n")
        kernel = [guard.message("kernel", stream(c), f"k{seed}") for c in chunked(printed, how, seed)]
        assert "".join(json.loads(p.payload)["content"]["text"] for p in kernel) == printed
        assert [h for p in terminal + kernel for h in p.hits] == []


def test_cuts_in_the_window_after_a_run_raise_no_alarm_and_do_not_extend_it(guard, extracts, monkeypatch):
    """For 30 s after a channel carried a run, every encoded piece of it is cut, a git hash too:
    audited, but no alarm (three alarms suspend a member), and such a cut does not keep the window open."""
    from spawner_config.seal_content import HOT_SECONDS

    now = [1000.0]
    monkeypatch.setattr(seal_content.time, "monotonic", lambda: now[0])
    blob = base64.encodebytes((extracts / "ER_PRS_F.parquet").read_bytes()[:6000]).decode().replace("\n", "\r\n")
    assert {h.kind for h in guard.message("terminal", json.dumps(["stdout", blob]), "t").hits} == {"known_content"}
    log = ORDINARY_TERMINAL.split("git log -3\r\n")[1].split("jovyan@")[0]
    now[0] += HOT_SECONDS / 2
    cut = guard.message("terminal", json.dumps(["stdout", log]), "t")
    assert "4937cec2c844372fcaf6cce5aedfdffb73bd4065" not in json.loads(cut.payload)[1]
    assert cut.hits and all(h.kind == "encoded" and not h.alarm for h in cut.hits), cut.hits
    now[0] += HOT_SECONDS / 2 + 1  # past the window opened by the blob, not by the cut hashes
    again = guard.message("terminal", json.dumps(["stdout", log]), "t")
    assert json.loads(again.payload)[1] == log and again.hits == []


def test_a_table_of_numbers_ids_and_dates_is_not_pieces_of_a_blob(guard):
    """The positive control: a 250-row table with floats, dates, 32-digit ids and mixed-case names."""
    import pandas as pd

    rng = np.random.default_rng(7)
    table = pd.DataFrame(rng.normal(size=(250, 5)), columns=["age", "dose", "HbA1c", "eGFR", "BMI"])
    table["id"] = [uuid.UUID(int=int(rng.integers(2**62))).hex for _ in range(250)]
    table["when"] = pd.date_range("2021-01-01T08:00", periods=250, freq="37min")
    table["code"] = [f"CIM10_{c}{n:02d}" for c, n in zip(rng.choice(list("EIJK"), 250), rng.integers(0, 99, 250))]
    for text in (table.to_string(), table.to_csv(), table.describe().to_string(), table.to_html()):
        passed = guard.message("kernel", stream(text))
        assert passed.hits == [] and json.loads(passed.payload)["content"]["text"] == text


def test_information_bytes_is_what_compression_leaves():
    random = os.urandom(10_000)
    assert information_bytes(random) >= len(random)
    assert information_bytes(random.hex()) >= len(random)  # hex carries its bytes, not its characters
    assert information_bytes("idle " * 2000) < 100
    assert information_bytes("") == 0


# --- the guard on kernel messages -----------------------------------------------------------------

def test_an_extract_in_base64_is_cut_as_known_content(guard, extracts):
    data = (extracts / "ER_PRS_F.parquet").read_bytes()
    passed = guard.message("kernel", stream(base64.b64encode(data[:30_000]).decode() + "\nend\n"))
    text = json.loads(passed.payload)["content"]["text"]
    assert [h.kind for h in passed.hits] == ["known_content"]
    assert "egress gate" in text and text.endswith("\nend\n") and len(text) < 300
    assert passed.charge < 400


@pytest.mark.parametrize("content_type", ["application/octet-stream", "", "image/x-made-up"])
def test_text_under_any_type_is_judged_as_text(guard, extracts, content_type):
    hexed = (extracts / "ER_PRS_F.parquet").read_bytes()[8192:16384].hex().encode()  # a replaced server's chunk
    passed = guard.answer("x0", content_type, hexed)
    assert [h.kind for h in passed.hits] == ["known_content"] and b"egress gate" in passed.payload
    assert len(passed.payload) < 300 and passed.charge < 300
    plain = guard.answer("notes", content_type, b"a few words of plain text")  # the positive control
    assert plain.payload == b"a few words of plain text" and not plain.hits


def test_random_base64_is_cut_as_encoded(guard):
    passed = guard.message("kernel", stream(base64.b64encode(os.urandom(3000)).decode()))
    assert [h.kind for h in passed.hits] == ["encoded"]


def test_terminal_output_is_judged(guard, extracts):
    data = (extracts / "IR_BEN_R.parquet").read_bytes()
    passed = guard.message("terminal", json.dumps(["stdout", base64.encodebytes(data[:20_000]).decode().replace("\n", "\r\n")]))
    assert [h.kind for h in passed.hits] == ["known_content"]
    assert json.loads(passed.payload)[0] == "stdout"


def test_a_misaligned_base64_run_is_still_recognised(guard, extracts):
    data = (extracts / "ER_PRS_F.parquet").read_bytes()[:20_000]
    passed = guard.message("kernel", stream("xyz" + base64.b64encode(data).decode()))
    assert [h.kind for h in passed.hits] == ["known_content"]


def test_raw_extract_bytes_printed_as_text_are_cut(guard, extracts):
    data = (extracts / "ER_PRS_F.parquet").read_bytes()[:20_000]
    passed = guard.message("kernel", stream(data.decode("latin-1")))
    assert "known_content" in {h.kind for h in passed.hits}


def test_a_binary_frame_holding_extract_bytes_is_dropped(guard, extracts):
    data = (extracts / "ER_PRS_F.parquet").read_bytes()[:20_000]
    passed = guard.message("kernel", data)
    assert passed.payload == b"" and passed.hits[0].kind == "known_content"
    assert guard.message("kernel", os.urandom(5000)).hits == []


def test_a_few_pseudonyms_pass_and_many_are_masked(guard, extracts):
    import pyarrow.parquet as pq

    ben = pq.read_table(extracts / "IR_BEN_R.parquet").to_pandas()
    head = guard.message("kernel", stream(ben.head().to_string()))
    assert head.hits == []
    many = guard.message("kernel", stream(ben.head(40).to_string()))
    assert [h.kind for h in many.hits] == ["pseudonyms"]
    text = json.loads(many.payload)["content"]["text"]
    assert "‹pseudonym›" in text and not any(p in text for p in ben["BEN_NIR_PSA"].head(40))
    assert int(many.hits[0].detail.split()[0]) > MAX_PSEUDONYMS


def test_a_status_message_costs_little_once_the_channel_has_seen_one(guard):
    first = [guard.message("kernel", stream("")).charge for _ in range(1)]
    later = [guard.message("kernel", stream("")).charge for _ in range(20)]
    assert max(later) < first[0] and max(later) < 120  # what is new: the random ids


# --- images -------------------------------------------------------------------------------------

def test_a_png_stuffed_with_an_extract_is_charged_for_what_it_shows_and_gives_nothing_back(guard, extracts):
    data = (extracts / "ER_PRS_F.parquet").read_bytes()
    png = stuffed_png(data)
    passed = guard.message("kernel", display({"image/png": base64.b64encode(png).decode(), "text/plain": "<Image>"}))
    shown = base64.b64decode(json.loads(passed.payload)["content"]["data"]["image/png"])
    assert passed.hits == []  # an image is not an encoded run
    assert 0.5 * len(shown) <= passed.charge <= 1.1 * len(shown) + 200  # charged at the re-rendered image's size
    pixels = np.asarray(Image.open(io.BytesIO(shown)).convert("RGB")).tobytes()
    assert Fingerprints.of_files([extracts / "ER_PRS_F.parquet"]).matches(pixels) == 0
    same = np.frombuffer(pixels[: len(data)], np.uint8) == np.frombuffer(data, np.uint8)
    assert same.mean() < 0.05  # quantised: the bytes are gone
    original = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).tobytes()
    assert Fingerprints.of_files([extracts / "ER_PRS_F.parquet"]).matches(original) > 100  # positive control: the original carried them


def test_an_image_loses_its_chunks_and_trailing_bytes_and_is_bounded():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("secret", "x" * 1000)
    png = png_of(np.full((200, 5000, 3), 200, np.uint8), pnginfo=info) + b"TRAILING" * 100
    out = disarm(png)
    image = Image.open(io.BytesIO(out))
    assert max(image.size) <= MAX_SIDE and not image.text and b"TRAILING" not in out and b"secret" not in out


def test_an_image_that_does_not_decode_is_dropped_with_a_notice(guard):
    passed = guard.message("kernel", display({"image/png": base64.b64encode(os.urandom(3000)).decode()}))
    assert [h.kind for h in passed.hits] == ["image"]
    shown = Image.open(io.BytesIO(base64.b64decode(json.loads(passed.payload)["content"]["data"]["image/png"])))
    assert shown.size[1] == 20 and shown.size[0] > 400  # a line of text: the notice


def test_svg_is_drawn_without_fetching_what_it_names(guard, tmp_path):
    pytest.importorskip("cairosvg")
    red = tmp_path / "red.png"
    red.write_bytes(png_of(np.array([[[255, 0, 0]] * 50] * 50, np.uint8)))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="80">'
           f'<rect width="100" height="80" fill="#00f"/><image xlink:href="file://{red}" width="50" height="50"/></svg>')
    passed = guard.message("kernel", display({"image/svg+xml": svg}))
    data = json.loads(passed.payload)["content"]["data"]
    assert "image/svg+xml" not in data  # never the SVG's text
    shown = data["image/png"]
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(shown))).convert("RGB"))
    assert pixels.shape[:2] == (80, 100)
    assert not ((pixels[..., 0] > 200) & (pixels[..., 2] < 50)).any()  # the file was not read into the image


def test_a_notebook_through_the_contents_api_has_its_outputs_judged(guard, extracts):
    plot = base64.encodebytes(png_of(np.tile(np.arange(256, dtype=np.uint8), (64, 1))[..., None].repeat(3, 2))).decode()
    blob = base64.encodebytes((extracts / "T_MCOaaC.parquet").read_bytes()).decode()
    notebook = {"cells": [{"cell_type": "code", "source": ["print(x)"], "metadata": {}, "execution_count": 1, "outputs": [
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": plot, "text/plain": ["<Figure>"]}},
        {"output_type": "stream", "name": "stdout", "text": blob.splitlines(keepends=True)}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    answer = {"name": "a.ipynb", "path": "work/a.ipynb", "type": "notebook", "format": "json", "content": notebook}
    passed = guard.answer("api/contents/work/a.ipynb", "application/json", json.dumps(answer).encode())
    assert [h.kind for h in passed.hits] == ["known_content"]
    outputs = json.loads(passed.payload)["content"]["cells"][0]["outputs"]
    Image.open(io.BytesIO(base64.b64decode(outputs[0]["data"]["image/png"]))).verify()  # the plot is still a plot
    assert "egress gate" in "".join(outputs[1]["text"]) and blob[:200] not in passed.payload.decode()


# --- charge and cache ----------------------------------------------------------------------------

def test_an_answer_fetched_again_is_charged_little(guard):
    body = json.dumps({"settings": [{"id": i, "text": os.urandom(200).hex()[:80]} for i in range(200)]}).encode()
    first = guard.answer("lab/api/settings", "application/json", body)
    again = guard.answer("lab/api/settings", "application/json", body)
    assert first.charge > 5000 and again.charge == REPEAT_CHARGE


def test_an_answer_judged_before_is_cut_and_reported_again_from_its_verdict(guard, extracts, monkeypatch):
    data = (extracts / "ER_PRS_F.parquet").read_bytes()[:20_000]
    body = json.dumps({"content": base64.b64encode(data).decode()}).encode()
    first = guard.answer("api/contents/a.json", "application/json", body)
    judged = []
    monkeypatch.setattr(guard, "_judge_answer", lambda *args: judged.append(args) or Passed(b"judged anew", 0, []))
    again = guard.answer("api/contents/a.json", "application/json", body)
    assert not judged and again.payload == first.payload and again.hits == first.hits
    assert [h.kind for h in again.hits] == ["known_content"] and b"egress gate" in again.payload
    other = guard.answer("api/contents/a.json", "text/plain", body)  # another type: judged anew (here, the stub)
    assert judged and other.payload == b"judged anew"


def test_guards_are_kept_per_member_and_project_and_share_what_the_extracts_hold(extracts):
    class Settings:
        projects_dir = extracts.parent.parent

        def project_dir(self, slug):
            return self.projects_dir / slug

    seal_content._GUARDS.clear()
    seal_content._KNOWN.clear()
    slug = extracts.parent.name
    assert guard_for(Settings(), slug, "alice") is guard_for(Settings(), slug, "alice")
    assert guard_for(Settings(), slug, "alice") is not guard_for(Settings(), "other", "alice")
    assert guard_for(Settings(), slug, "alice").known.extracts == extracts
    bob = guard_for(Settings(), slug, "bob")
    assert bob is not guard_for(Settings(), slug, "alice") and bob.known is guard_for(Settings(), slug, "alice").known
    body = json.dumps({"cells": [{"source": "x = 1"}] * 50}).encode()
    alice_first = guard_for(Settings(), slug, "alice").answer("api/contents/n.ipynb", "application/json", body)
    bob_first = bob.answer("api/contents/n.ipynb", "application/json", body)
    assert bob_first.charge == alice_first.charge > REPEAT_CHARGE  # what alice received makes nothing cheaper for bob


# --- an analysis day against the extract set, under the default budgets ------------------------------

def charge_of(guard: ContentGuard, cells: list[list[str]]) -> tuple[int, list]:
    passed = [guard.message("kernel", m) for messages in cells for m in messages]
    return sum(p.charge for p in passed), [h for p in passed for h in p.hits]


def test_an_analysis_day_passes_under_the_default_budgets(guard, extracts):
    opened = [guard.answer(a["path"], a["content_type"], a["body"].encode()) for a in lab_startup()]
    assert [h for p in opened for h in p.hits] == []  # JupyterLab's own answers pass untouched
    start = sum(p.charge for p in opened)
    reloads = sum(guard.answer(a["path"], a["content_type"], a["body"].encode()).charge for a in lab_startup() * 3)
    day, hits = charge_of(guard, run_locally(DAY, extracts))
    assert hits == []  # nothing an ordinary day prints is cut
    assert start + reloads + day < 0.8 * DEFAULT_BUDGET_PER_DAY, (start, reloads, day)
    assert start + day / 2 < DEFAULT_BUDGET_PER_HOUR  # half the day's work, JupyterLab's start included, fits in an hour


def test_the_extract_set_cannot_leave_in_a_day(guard, extracts):
    runs = dict(zip(ATTACKS, run_locally([SETUP, *ATTACKS.values()], extracts)[1:]))
    extract_set = sum(p.stat().st_size for p in extracts.glob("*.parquet"))
    for name, messages in runs.items():
        charge, hits = charge_of(ContentGuard(extracts), [messages])
        if name == "png":  # disarmed: what passes is what the images show (checked above), charged as most of an hour
            assert charge > 0.5 * DEFAULT_BUDGET_PER_HOUR, charge
            continue
        assert hits, name
        shown = "".join(json.loads(m)["content"].get("text", "") for m in (guard.message("kernel", m).payload for m in messages)
                        if isinstance(m, str) and m.startswith("{"))
        if name == "to_csv":  # plain text: pseudonyms masked, the rest charged beyond a day's budget
            assert charge > DEFAULT_BUDGET_PER_DAY, charge
        else:
            assert charge < 0.01 * extract_set and len(shown) < 0.01 * extract_set, (name, charge)


def test_the_extracts_are_read_on_first_need_only(guard):
    guard.message("kernel", json.dumps({"header": {"msg_type": "stream"}, "content": {"name": "stdout", "text": "hello"}}))
    assert "fingerprints" not in guard.known.__dict__ and "pseudonym_keys" not in guard.known.__dict__
    guard.message("kernel", stream("a longer line of output, long enough to be judged\n" * 3))
    assert len(guard.known.fingerprints) > 1000 and len(guard.known.pseudonym_keys) > 1000
