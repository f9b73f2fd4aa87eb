"""The ways of printing an extract out of a real enclave, at the default budgets (150 KB an hour,
250 KB a day of information), each by a member of its own in project ``plain``: the extract's hex
and ``to_csv()`` in a kernel, its base64 in a terminal, its bytes in a PNG's pixels. For each, what
reached the client (the browser's side of the seal's websocket) holds nothing that rebuilds the
extract, the member's budget in the registry never passes the day's, and the seal's audit trail
names the member it verified. The positive control: the analysis day (tests/seal/analysis_day.py,
read tables, head(), describe(), groupbys, twenty plots, a 250-row table) passes untouched under the
same defaults. Each test prints its figures (bytes received, information charged)."""

from __future__ import annotations

import base64
import io
import json
import re
import time

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from enclave.alarms import CONTENT_KINDS
from enclave.models import DEFAULT_OUTPUT_BUDGET_PER_DAY, DEFAULT_OUTPUT_BUDGET_PER_HOUR
from enclave.shingles import Fingerprints

from ..enclave.platform import slug
from .analysis_day import ATTACKS, DAY, TABLES
from .conftest import Researcher, audit_events, last_seq, spent, wait_for_audit, wait_for_spent

ENCODED = re.compile(r"[0-9A-Za-z+/=]{48,}")  # what is left of any hex or base64 run
SETUP = ("import numpy as np, pandas as pd\nfrom pathlib import Path\nfrom IPython.display import display\n"
         "DATA = Path.home() / 'data'\nt = {p.stem: pd.read_parquet(p) for p in sorted(DATA.glob('*.parquet'))}\n")


def texts(messages: list[dict]) -> str:
    """Every string the client received in a cell's messages."""
    return "\n".join(json.dumps(m.get("content", {}), ensure_ascii=False) for m in messages)


def extract_files(platform) -> list:
    return sorted((platform.settings().project_dir(slug("plain")) / "extracts").glob("*.parquet"))


def attack(platform, user: str, code: str, timeout: float = 180) -> tuple[Researcher, list[dict], int]:
    researcher = Researcher(platform, user)
    researcher.start("plain")
    since = last_seq(platform)
    messages = researcher.run_cell("plain", SETUP + code, timeout=timeout)
    return researcher, messages, since


def bounded(platform, user: str, received: int, name: str) -> dict[str, int]:
    charged = wait_for_spent(platform, user, slug("plain"), above=0)
    while True:  # the seal writes behind every second: read until two reads agree
        time.sleep(1.5)
        again = spent(platform, user, slug("plain"))
        if again == charged:
            break
        charged = again
    print(f"{name}: {received:,} bytes reached the client, {charged['day']:,} information bytes charged")
    assert charged["day"] <= DEFAULT_OUTPUT_BUDGET_PER_DAY + 4096  # the seal's own notices may pass the limit a little
    return charged


def test_hex_of_every_extract_in_a_kernel_is_cut_and_audited(sealed):
    _, messages, since = attack(sealed, "frank", ATTACKS["hex"])
    text = texts(messages)
    assert "matching the project's extracts cut here" in text and "egress gate" in text
    left = sum(len(run) for run in re.findall(r"[0-9a-f]{32,}", text))
    total = sum(f.stat().st_size for f in extract_files(sealed))
    assert left < total // 100, (left, total)  # nothing of the hex left but ids and notices
    bounded(sealed, "frank", sum(m["_bytes"] for m in messages), "hex")
    cuts = wait_for_audit(sealed, "seal.content_cut", since, hits=1)
    cuts = [e for e in cuts if e["path"].startswith("/user/frank/")]  # written behind: others' may follow ``since``
    # the extract's runs are known content; fragments at messages' edges after them are cut as encoded
    assert cuts and {(e["actor"], e["project"]) for e in cuts} == {("frank", slug("plain"))}, cuts
    assert "known_content" in {e["kind"] for e in cuts} <= {"known_content", "encoded"}, cuts
    alarms = [e for e in wait_for_audit(sealed, "seal.alarm", since, hits=1) if e.get("path", "").startswith("/user/frank/")]
    assert alarms and all(e["actor"] == "frank" and e["kind"] in CONTENT_KINDS for e in alarms), alarms
    sealed.stop_server("frank", slug("plain"))


def test_to_csv_of_every_extract_stops_at_the_budget_pseudonyms_masked(sealed):
    code = "import sys, time\nfor k, v in t.items():\n" \
           "    for i in range(0, len(v), 200):\n        print(v.iloc[i:i + 200].to_csv()); sys.stdout.flush(); time.sleep(0.01)"
    _, messages, since = attack(sealed, "grace", code, timeout=30)  # past the budget the idle status is held back too
    text = "".join(m["content"].get("text", "") for m in messages if m.get("msg_type") == "stream")
    rows = sum(1 for line in text.splitlines() if line.count(",") >= 3)
    every_row = sum(pq.read_metadata(f).num_rows for f in extract_files(sealed))
    charged = bounded(sealed, "grace", sum(m["_bytes"] for m in messages), "to_csv")
    print(f"to_csv: {rows:,} of {every_row:,} rows' lines reached the client")
    assert rows < every_row, (rows, every_row)
    assert "output budget is spent" in text or charged["hour"] >= DEFAULT_OUTPUT_BUDGET_PER_HOUR // 2
    cuts = [e for e in wait_for_audit(sealed, "seal.content_cut", since, hits=1) if e["path"].startswith("/user/grace/")]
    assert cuts and all(e["actor"] == "grace" for e in cuts), cuts
    assert any(e["kind"] == "pseudonyms" for e in cuts), cuts
    sealed.stop_server("grace", slug("plain"))


def test_a_png_stuffed_with_the_extracts_gives_nothing_back(sealed):
    _, messages, since = attack(sealed, "heidi", ATTACKS["png"])
    files = extract_files(sealed)
    fingerprints = Fingerprints.of_files(files)
    images = [base64.b64decode(m["content"]["data"]["image/png"]) for m in messages
              if m.get("msg_type") == "display_data" and "image/png" in m["content"].get("data", {})]
    matches = sum(fingerprints.matches(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).tobytes()) for png in images)
    assert matches == 0, matches  # re-rendered: the pixels carry what the eye sees, not the bytes
    charged = bounded(sealed, "heidi", sum(m["_bytes"] for m in messages), "png")
    print(f"png: {len(images)} of {len(files)} images shown")
    # charged for what they show; an image dropped is audited as a cut, with heidi's name
    cuts = audit_events(sealed, "seal.content_cut", since)
    assert images and charged["day"] > 0  # (jupyter-server's own IOPub rate limit may drop an image: not the seal's)
    events = cuts + audit_events(sealed, "seal.alarm", since) + audit_events(sealed, "seal.output_capped", since)
    assert all(e["actor"] == "heidi" for e in events), events
    sealed.stop_server("heidi", slug("plain"))


def test_base64_of_an_extract_in_a_terminal_is_cut_and_audited(sealed):
    ivan = Researcher(sealed, "ivan")
    ivan.start("plain")
    since = last_seq(sealed)
    text, size = ivan.terminal("plain", "base64 ~/data/ER_PRS_F.parquet; echo END-OF-$((40 + 2))", "END-OF-42", timeout=60)
    full = (extract_files(sealed)[0].stat().st_size * 4) // 3
    left = sum(len(run) for run in ENCODED.findall(text))
    bounded(sealed, "ivan", size, "terminal base64")
    assert "[enclave seal:" in text and left < full // 20, (left, full)
    cuts = wait_for_audit(sealed, "seal.content_cut", since, hits=1)
    assert cuts and all(e["actor"] == "ivan" and e["project"] == slug("plain") for e in cuts), cuts
    sealed.stop_server("ivan", slug("plain"))


def test_the_analysis_day_passes_untouched_under_the_default_budgets(sealed):
    present = {f.stem for f in extract_files(sealed)}  # the test platform provisions two of the five tables
    day = [cell for cell in DAY if not any(table in cell for table in TABLES if table not in present)]
    cells = "from IPython import get_ipython\nget_ipython().run_line_magic('matplotlib', 'inline')\n" + "".join(
        f"get_ipython().run_cell({cell!r})\n" for cell in day)
    judy = Researcher(sealed, "judy")
    judy.start("plain")
    since = last_seq(sealed)
    messages = judy.run_cell("plain", cells, timeout=300)
    kinds = [m.get("msg_type") for m in messages]
    text = texts(messages)
    assert kinds[-1] == "status" and "error" not in kinds, kinds[-5:]
    plots = sum(cell.count("plt.show()") for cell in day)
    assert plots >= 15 and kinds.count("display_data") >= plots, (plots, kinds.count("display_data"))
    assert "[enclave" not in text, text[text.find("[enclave") - 200:][:400]
    charged = bounded(sealed, "judy", sum(m["_bytes"] for m in messages), "analysis day")
    assert charged["day"] < 0.8 * DEFAULT_OUTPUT_BUDGET_PER_DAY and charged["hour"] < DEFAULT_OUTPUT_BUDGET_PER_HOUR
    assert not [e for e in audit_events(sealed, "seal.alarm", since) if e["actor"] == "judy"]
    assert not [e for e in audit_events(sealed, "seal.content_cut", since) if e["actor"] == "judy"]
    sealed.stop_server("judy", slug("plain"))
