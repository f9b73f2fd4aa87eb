"""Kernel and terminal websockets, the channels a notebook session cannot do without: what they
carry to the browser passes the content guard (encoded runs and the extracts' own bytes cut,
pseudonyms masked), is cut per message and per hourly budget of information, with a visible notice,
and every cut and cap hit is audited with the verified user. Normal work (a table, a plot) passes
untouched. The same attacks at the default budgets: test_exfiltration."""

from __future__ import annotations

import re

from ..enclave.platform import slug
from .conftest import Researcher, audit_events, last_seq, spent, wait_for_audit

NOTICES = ("[enclave] output limit reached", "[enclave seal:")
HEX_RUN = re.compile(r"[0-9a-f]{32,}")

PRINT_EXTRACT = "from enclave_data import read_extract\ncsv = read_extract('ER_PRS_F').to_csv()\nprint(len(csv))\nprint(csv)"
HEX_ONE_MESSAGE = "print(open('/home/jovyan/data/ER_PRS_F.parquet', 'rb').read().hex())"
HEX_PACED = """
import sys, time
data = open('/home/jovyan/data/ER_PRS_F.parquet', 'rb').read().hex()
print(len(data))
for i in range(0, len(data), 2048):
    print(data[i:i + 2048]); sys.stdout.flush(); time.sleep(0.002)
"""
NORMAL_WORK = """
%matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import display
import pandas as pd
from enclave_data import read_extract
pd.set_option("display.max_rows", 300)
df = read_extract("ER_PRS_F")
display(df.head(250))
plt.plot(range(100)); plt.show()
"""


CAP = 512 * 1024  # the default message cap (spawner_config.seal_rules.Limits)


def streamed(messages: list[dict]) -> str:
    return "".join(m["content"].get("text", "") for m in messages if m.get("msg_type") == "stream")


def test_printing_a_whole_extract_is_cut_with_a_notice_and_audited(sealed, bob):
    bob.start("open")  # the default 512 KiB message cap
    since = last_seq(sealed)
    messages = bob.run_cell("open", PRINT_EXTRACT)
    text = streamed(messages)
    full = int(text.split("\n", 1)[0]) if text.split("\n", 1)[0].isdigit() else None
    assert any(n in text for n in NOTICES) and "egress gate" in text, text[-500:]
    assert len(text) < CAP + 2048, len(text)
    if full is not None:
        assert full > 2 * len(text)
    assert max(m["_bytes"] for m in messages) < CAP + 4096
    # the CSV's pseudonyms are masked (a content cut), and the one message left is over the cap
    cuts = wait_for_audit(sealed, "seal.content_cut", since, hits=1)
    assert any(e["actor"] == "bob" and e["project"] == slug("open") and e["kind"] == "pseudonyms" for e in cuts), cuts

    # The extract's bytes as hex in one message: cut as the project's own content, audited as bob's.
    since = last_seq(sealed)
    text = streamed(bob.run_cell("open", HEX_ONE_MESSAGE))
    assert "hex matching the project's extracts cut here" in text and len(text) < 2048, text[-500:]
    cuts = wait_for_audit(sealed, "seal.content_cut", since, hits=1)
    # the extract's content first; the run's edge fragments may follow as encoded pieces (the channel rule)
    for events in (cuts, wait_for_audit(sealed, "seal.alarm", since, hits=1)):
        assert (events[0]["actor"], events[0]["kind"]) == ("bob", "known_content"), events
        assert {(e["actor"], e["kind"]) for e in events} <= {("bob", "known_content"), ("bob", "encoded")}, events


def test_normal_work_passes_untouched(sealed, bob):
    bob.start("open")
    messages = bob.run_cell("open", NORMAL_WORK)
    kinds = [m["msg_type"] for m in messages]
    outputs = [m["content"]["data"] for m in messages if m["msg_type"] == "display_data"]
    assert any("text/html" in data and data["text/html"].count("<tr>") > 200 for data in outputs), kinds
    assert any("image/png" in data for data in outputs), kinds
    assert "[enclave]" not in str(outputs) and "error" not in kinds


def test_paced_small_messages_stop_at_the_hourly_budget(sealed):
    alice = Researcher(sealed, "alice")
    alice.start("tight")  # a 64 KiB hourly budget
    since = last_seq(sealed)
    messages = alice.run_cell("tight", HEX_PACED, timeout=40)
    text = streamed(messages)
    hex_received = sum(len(run) for run in HEX_RUN.findall(text))
    full = 2 * (sealed.settings().project_dir(slug("tight")) / "extracts" / "ER_PRS_F.parquet").stat().st_size
    assert full > 3 * 64 * 1024
    assert hex_received < 64 * 1024, hex_received  # runs are cut: what stays of them is bounded by the hour
    assert "hex matching the project's extracts cut here" in text or "hourly output budget is spent" in text
    assert spent(sealed, "alice", slug("tight"))["hour"] <= 64 * 1024 + 8192  # charged, within the hour (+ notices)
    events = wait_for_audit(sealed, "seal.content_cut", since, hits=1) + audit_events(sealed, "seal.output_capped", since)
    # the trail is written behind: an earlier test's events (another project's) may land after `since`
    events = [e for e in events if e["project"] == slug("tight")]
    assert events and all(e["actor"] == "alice" for e in events), events


def test_terminal_output_is_bounded_and_terminals_have_the_notebooks_environment(sealed, bob):
    bob.start("open")
    text, _ = bob.terminal("open", "which python; pip install requests; echo END-OF-$((40 + 2))", "END-OF-42")
    assert "/opt/enclave-venv/bin/python" in text, text
    assert "cannot be installed" in text.lower() or "no package" in text.lower() or "enclave" in text.lower(), text

    carol = Researcher(sealed, "carol")
    carol.start("tight")  # her own 64 KiB budget
    since = last_seq(sealed)
    text, size = carol.terminal("tight", "base64 -w 0 ~/data/ER_PRS_F.parquet; echo; echo END-OF-$((40 + 2))", "END-OF-42",
                                timeout=30)
    full = (sealed.settings().project_dir(slug("tight")) / "extracts" / "ER_PRS_F.parquet").stat().st_size * 4 // 3
    b64_received = sum(len(run) for run in re.findall(r"[A-Za-z0-9+/=]{32,}", text))
    assert b64_received < 64 * 1024 < full, (b64_received, full)
    assert "[enclave seal:" in text or "output limit reached" in text, text[-300:]
    events = wait_for_audit(sealed, "seal.content_cut", since, hits=1)
    assert any(e["actor"] == "carol" and e["project"] == slug("tight") for e in events), events
