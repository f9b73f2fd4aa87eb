"""The ways of printing an extract out of a real enclave, through a real browser: Chromium signs in
to the hub (OIDC + TOTP), passes the seal's own sign-in, opens a notebook in JupyterLab and runs its
cell with Shift+Enter, or types in a JupyterLab terminal. What the browser received is read twice:
every websocket frame Chromium got (Playwright's ``framereceived``) and what the page shows (the
outputs' DOM, the PNGs' ``src``). Each attack by a member of its own in project ``plain`` (default
budgets): what was received never holds the extract (decoded and compared with the extract files'
bytes and the project's pseudonyms), the member's budget in the registry stays within the day's,
the page shows a notice that something was cut, and the audit trail names the member the seal
verified. The positive control: ``df.head()`` is shown intact, nothing cut.

The notebook is written into the project's workspace as the researcher's file and opened at
``/lab/tree/work/<name>.ipynb`` (opening it through the launcher was flaky); a terminal has no such
address in JupyterLab 4 (``/lab/terminals/<name>`` is "Path Not Found"), so it comes from the
launcher's Terminal card."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re

import nbformat
import numpy as np
import pandas as pd
from PIL import Image

from enclave.models import DEFAULT_OUTPUT_BUDGET_PER_DAY
from enclave.shingles import MIN_MATCHES, Fingerprints

from ..enclave.platform import slug
from ..enclave.test_egress_e2e import log_in
from .analysis_day import ATTACKS
from .conftest import Researcher, audit_events, last_seq, wait_for_audit
from .test_exfiltration import ENCODED, SETUP, bounded, extract_files

PROJECT = "plain"
HEX_RUN = re.compile(r"[0-9a-f]{32,}")


class Lab:
    """One member's Chromium session in JupyterLab, with every websocket frame it received."""

    def __init__(self, platform, browser, user: str):
        self.platform, self.user, self.slug = platform, user, slug(PROJECT)
        self.researcher = Researcher(platform, user)
        self.researcher.start(PROJECT)
        self.since = last_seq(platform)
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.frames: list[str | bytes] = []
        self.page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: self.frames.append(payload)))
        log_in(self.page, platform, user)
        self.base = f"{platform.hub_url}/user/{user}/{self.slug}/"

    def received(self) -> str:
        return "\n".join(f if isinstance(f, str) else f.decode("latin-1") for f in self.frames)

    def received_bytes(self) -> int:
        return sum(len(f.encode() if isinstance(f, str) else f) for f in self.frames)

    def run_notebook(self, name: str, code: str, timeout_ms: int = 180_000) -> bool:
        """Write a one-cell notebook as the researcher's file, open it, run the cell with Shift+Enter;
        whether the kernel said it finished (past the budget even its idle status may be held back)."""
        notebook = nbformat.v4.new_notebook()
        notebook.cells.append(nbformat.v4.new_code_cell(code))
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        path = self.platform.settings().project_dir(self.slug) / "workspace" / f"{name}.ipynb"
        path.write_text(nbformat.writes(notebook))
        os.chown(path, 1000, 100)
        self.page.goto(self.base + f"lab/tree/work/{name}.ipynb")
        self.page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=180_000)
        self.page.wait_for_timeout(1500)  # the kernel's session starts with the panel
        self.page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        self.page.keyboard.press("Shift+Enter")
        try:
            self.page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')].some(p => /\\[1\\]/.test(p.textContent))",
                timeout=timeout_ms)
            return True
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: read what arrived
            return False
        finally:
            self.page.wait_for_timeout(1000)

    def shown(self) -> str:
        """What the notebook's outputs show (their text, as the page renders it)."""
        return "\n".join(self.page.locator(".jp-OutputArea-output").all_inner_texts())

    def images(self) -> list[bytes]:
        sources = self.page.locator(".jp-OutputArea-output img").evaluate_all("imgs => imgs.map(i => i.src)")
        return [base64.b64decode(s.split(",", 1)[1]) for s in sources if s.startswith("data:image/png;base64,")]

    def audited(self, action: str) -> list[dict]:
        return audit_events(self.platform, action, self.since)

    def close(self) -> None:
        self.context.close()
        self.platform.stop_server(self.user, self.slug)


def assert_cut_audited(lab: Lab, kinds: set[str] | None = None) -> None:
    # the trail is written behind: another member's folded events may land after ``since``
    cuts = [e for e in wait_for_audit(lab.platform, "seal.content_cut", lab.since, hits=1) if e["path"].startswith(f"/user/{lab.user}/")]
    assert cuts, "no seal.content_cut event for this member's server"
    assert {(e["actor"], e["project"]) for e in cuts} == {(lab.user, lab.slug)}, cuts
    if kinds:
        assert kinds & {e["kind"] for e in cuts}, cuts


def test_hex_of_the_extracts_in_a_notebook_reaches_chromium_as_a_notice(sealed, browser):
    lab = Lab(sealed, browser, "kate")
    try:
        lab.run_notebook("hex", SETUP + ATTACKS["hex"])
        shown, received = lab.shown(), lab.received()
        assert "matching the project's extracts cut here" in shown, shown[:2000]
        fingerprints = Fingerprints.of_files(extract_files(sealed))
        for text in (shown, received):
            decoded = b"".join(binascii.unhexlify(r[: len(r) // 2 * 2]) for r in HEX_RUN.findall(text))
            assert fingerprints.matches(decoded) < MIN_MATCHES
        total = sum(f.stat().st_size for f in extract_files(sealed))
        left = sum(len(r) for r in HEX_RUN.findall(received))
        assert left < total // 100, (left, total)
        bounded(sealed, "kate", lab.received_bytes(), "hex in Chromium")
        assert_cut_audited(lab, {"known_content"})
    finally:
        lab.close()


def test_to_csv_of_the_extracts_in_a_notebook_stops_at_the_budget_in_chromium(sealed, browser):
    lab = Lab(sealed, browser, "leo")
    code = SETUP + ("import sys, time\nfor k, v in t.items():\n    for i in range(0, len(v), 200):\n"
                    "        print(v.iloc[i:i + 200].to_csv()); sys.stdout.flush(); time.sleep(0.01)")
    try:
        lab.run_notebook("csv", code, timeout_ms=40_000)
        shown, received = lab.shown(), lab.received()
        every_row = sum(len(pd.read_parquet(f)) for f in extract_files(sealed))
        rows = sum(1 for line in shown.splitlines() if line.count(",") >= 3)
        print(f"to_csv in Chromium: {rows:,} of {every_row:,} rows shown")
        assert rows < every_row, (rows, every_row)
        assert "‹pseudonym›" in shown or "output budget" in shown, shown[-2000:]
        charged = bounded(sealed, "leo", lab.received_bytes(), "to_csv in Chromium")
        assert charged["day"] <= DEFAULT_OUTPUT_BUDGET_PER_DAY + 4096
        pseudonyms = set()
        for f in extract_files(sealed):
            table = pd.read_parquet(f)
            for column in table.columns:
                if table[column].dtype == object and table[column].astype(str).str.fullmatch(r"[0-9a-f]{32}").all():
                    pseudonyms |= set(table[column])
        assert pseudonyms
        seen = {w for w in re.findall(r"[0-9a-f]{32}", received) if w in pseudonyms}
        print(f"to_csv in Chromium: {len(seen)} distinct pseudonyms of {len(pseudonyms):,} reached the browser")
        assert len(seen) < len(pseudonyms) // 10, len(seen)
        assert_cut_audited(lab, {"pseudonyms"})
    finally:
        lab.close()


def test_a_stuffed_png_in_a_notebook_shows_nothing_of_the_extracts_in_chromium(sealed, browser):
    lab = Lab(sealed, browser, "mia")
    try:
        lab.run_notebook("png", SETUP + ATTACKS["png"])
        images = lab.images()
        assert images, lab.shown()[:2000]
        fingerprints = Fingerprints.of_files(extract_files(sealed))
        for png in images:
            assert fingerprints.matches(png) < MIN_MATCHES
            pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).tobytes()
            assert fingerprints.matches(pixels) < MIN_MATCHES
        for frame in lab.frames:  # the PNGs as they came over the wire, too
            if isinstance(frame, str) and '"image/png"' in frame:
                data = json.loads(frame).get("content", {}).get("data", {}).get("image/png")
                if data:
                    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).tobytes()
                    assert fingerprints.matches(pixels) < MIN_MATCHES
        charged = bounded(sealed, "mia", lab.received_bytes(), "png in Chromium")
        print(f"png in Chromium: {len(images)} images shown")
        assert charged["day"] > 0
        events = lab.audited("seal.content_cut") + lab.audited("seal.alarm") + lab.audited("seal.output_capped")
        assert all(e["actor"] == "mia" for e in events if e.get("path", "").startswith("/user/mia/")), events
    finally:
        lab.close()


def test_base64_of_an_extract_in_a_jupyterlab_terminal_is_cut(sealed, browser):
    """The terminal sends what it reads from the terminal device, in chunks cut anywhere (a line or a
    few at a time, here): the seal judges each chunk with the end of the one before."""
    lab = Lab(sealed, browser, "nina")
    try:
        lab.page.goto(lab.base + "lab/tree/work")  # JupyterLab opens with its launcher
        lab.page.locator(".jp-LauncherCard").filter(has_text=re.compile(r"^\s*Terminal\s*$")).first.click(timeout=120_000)
        lab.page.wait_for_selector(".jp-Terminal", state="attached", timeout=60_000)
        lab.page.wait_for_timeout(2000)
        lab.page.locator(".jp-Terminal").last.click()
        lab.page.keyboard.type("base64 ~/data/ER_PRS_F.parquet; echo END-OF-$((40 + 2))")
        lab.page.keyboard.press("Enter")
        for _ in range(60):
            if "END-OF-42" in lab.received():
                break
            lab.page.wait_for_timeout(1000)
        chunks = [json.loads(f)[1] for f in lab.frames if isinstance(f, str) and f.startswith('["stdout"')]
        text = "".join(chunks)
        extract = extract_files(sealed)[0]
        assert extract.name == "ER_PRS_F.parquet"
        full = (extract.stat().st_size * 4) // 3
        runs = ENCODED.findall(text)
        decoded = b"".join(base64.b64decode(r[: len(r) // 4 * 4] + "", validate=False) for r in runs)
        shingles = Fingerprints.of_files([extract]).matches(decoded)
        sizes = sorted(len(c) for c in chunks)
        print(f"terminal base64 in Chromium: {len(chunks)} chunks (median {sizes[len(sizes) // 2] if sizes else 0} characters), "
              f"{sum(len(r) for r in runs):,} characters in {len(runs)} runs left, decoding to {shingles} shingles of the extract")
        assert "END-OF-42" in text, text[-500:]
        assert "[enclave seal:" in text, text[:2000]  # xterm writes what it receives: the notice is on screen
        assert sum(len(r) for r in runs) < full // 20, (sum(len(r) for r in runs), full)
        assert shingles < MIN_MATCHES, runs[:10]
        bounded(sealed, "nina", lab.received_bytes(), "terminal base64 in Chromium")
        assert_cut_audited(lab)
    finally:
        lab.close()


def test_head_of_a_table_is_shown_intact_in_chromium(sealed, browser):
    lab = Lab(sealed, browser, "oscar")
    try:
        first = extract_files(sealed)[0]
        assert lab.run_notebook("head", SETUP + f"t[{first.stem!r}].head()")
        shown = lab.shown()
        assert "[enclave" not in shown and "‹pseudonym›" not in shown, shown[:2000]
        head = pd.read_parquet(first).head()
        rows = lab.page.locator(".jp-OutputArea-output table tbody tr").count()
        assert rows == len(head), rows
        for value in head.iloc[:, 0].astype(str):
            assert value in shown, (value, shown[:2000])
        assert not [e for e in lab.audited("seal.content_cut") if e["actor"] == "oscar"]
        assert not [e for e in lab.audited("seal.alarm") if e["actor"] == "oscar"]
    finally:
        lab.close()
