"""Kernel and terminal websockets, the channels a notebook session cannot do without: what they
carry to the browser is cut per message and per hourly budget, with a visible notice, and every cap
hit is audited. Normal work (a small table, a plot) passes untouched."""

from __future__ import annotations

from ..enclave.platform import slug
from .conftest import Researcher, last_seq, wait_for_audit

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
    assert "[enclave] output limit reached" in text and "egress gate" in text, text[-500:]
    assert len(text) < CAP + 2048, len(text)
    if full is not None:
        assert full > 2 * len(text)
    assert max(m["_bytes"] for m in messages) < CAP + 4096
    events = wait_for_audit(sealed, "seal.output_capped", since, hits=1)
    assert events and events[0]["channel"] == "kernel" and events[0]["limit"] == "message", events
    assert events[0]["project"] == slug("open") and events[0]["bytes"] > CAP

    # The extract's bytes as hex in one message: cut the same way.
    text = streamed(bob.run_cell("open", HEX_ONE_MESSAGE))
    assert "[enclave] output limit reached" in text and len(text) < CAP + 2048


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
    received = sum(m["_bytes"] for m in messages)
    full = 2 * (sealed.settings().project_dir(slug("tight")) / "extracts" / "ER_PRS_F.parquet").stat().st_size
    assert full > 3 * 64 * 1024
    assert received < 64 * 1024 + 8192, received
    assert "hourly output budget is spent" in text
    events = wait_for_audit(sealed, "seal.output_capped", since, hits=1)
    assert any(e["limit"] == "budget" and e["actor"] == "alice" for e in events), events


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
    assert size < 64 * 1024 + 8192 < full, (size, full)
    assert "output limit reached" in text, text[-300:]
    events = wait_for_audit(sealed, "seal.output_capped", since, hits=1)
    assert any(e["channel"] == "terminal" and e["actor"] == "carol" for e in events), events
