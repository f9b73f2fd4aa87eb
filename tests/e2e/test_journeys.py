"""The three journeys end to end, on a real platform (registry, hub + proxy, gate, dev OIDC provider):

1. ops: write a project's manifest, ``enclave provision`` it, ``enclave show`` it;
2. researcher (rita): logs in through OIDC + TOTP in Chromium, starts the project from the hub's home
   page, lands in JupyterLab; a Python and an R notebook read the extracts (run inside her container
   with nbclient) and print row counts equal to the extract manifest's; she submits a table with a small
   cell with ``enclave-export`` inside the container, the findings FAIL it, she fixes and resubmits;
3. stewards (stella, stefan): log in in Chromium and approve on the gate's request page; rita then
   downloads the released file in her browser, and its sha256 is the quarantined one.

Screenshots of the main pages go to docs/screenshots/journey-*.png.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import nbformat

from ..conftest import REPO
from ..enclave.platform import manifest, slug
from ..enclave.test_egress_e2e import gate, log_in, run

SHOTS = REPO / "docs" / "screenshots"
RESEARCHER = "rita"
STEWARDS = ("stella", "stefan")
TABLES = ("IR_BEN_R", "ER_PRS_F")
JUSTIFICATION = "Beneficiaries by region, table 1 of the study report"
SMALL_TABLE = "region,count\nNorth,120\nSouth,85\nEast,40\nWest,3\n"   # West: a small cell
FIXED_TABLE = "region,count\nNorth,120\nSouth,85\nEast and West,45\n"  # aggregated: >= 10, multiples of 5

READ_PY = "from enclave_data import read_extract\n" + "".join(
    f'print("{t}", len(read_extract("{t}")))\n' for t in TABLES)
READ_R = "".join(f'cat("{t}", nrow(read_extract("{t}")), "\\n")\n' for t in TABLES)
RUN_NOTEBOOK = ("import nbclient, nbformat, sys; nb = nbformat.read(sys.argv[1], 4); "
                "nbclient.NotebookClient(nb, kernel_name=sys.argv[2], timeout=180).execute(); "
                "nbformat.write(nb, sys.argv[1])")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"journey-{name}.png"), full_page=True)


def ops_provision(platform, project: str) -> str:
    """Journey 1: the manifest, provisioning and the project's summary, all with the real CLI."""
    (platform.settings().projects_dir / f"{project}.toml").write_text(manifest(project, [RESEARCHER]))
    platform.projects.append(project)  # removed with the platform
    platform.enclave("provision", project, "--quiet")
    for name in STEWARDS:
        platform.enclave("user", "add", name, "--role", "steward")
    shown = platform.enclave("show", project).stdout
    print(shown)
    assert project in shown and RESEARCHER in shown, shown
    return shown


def run_notebook(platform, container, project: str, kernel: str, source: str) -> str:
    """A notebook saved in the workspace, executed in the researcher's container; its printed text."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel}
    name = f"journey-{kernel}.ipynb"
    host_path = platform.settings().project_dir(project) / "workspace" / name
    host_path.write_text(nbformat.writes(notebook))
    os.chown(host_path, 1000, 100)  # as if the researcher had saved it
    result = container.exec_run(["python3", "-c", RUN_NOTEBOOK, f"/home/jovyan/work/{name}", kernel], user="1000:100")
    assert result.exit_code == 0, result.output.decode(errors="replace")
    executed = nbformat.reads(host_path.read_text(), 4)
    return "".join(o.get("text", "") for o in executed.cells[0].outputs)


def row_counts(printed: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", printed, re.M)}


def submit(container, content: str) -> tuple[int, str]:
    code, out = run(container, "python3", "-c", f"open('/home/jovyan/work/table.csv', 'w').write({content!r})")
    assert code == 0, out
    code, out = run(container, "enclave-export", "submit", "work/table.csv", "--justification", JUSTIFICATION)
    print(out)
    assert code == 0, out
    match = re.search(r"^request (\d+): (\S+)$", out, re.M)
    assert match, out
    return int(match.group(1)), out


def submit_flagged_then_fixed(container) -> tuple[int, int, str]:
    """The researcher submits a table with a small cell (FAIL), then the fixed table (a new request
    that passes); returns both request ids and the sha256 of the fixed bytes."""
    first, out = submit(container, SMALL_TABLE)
    assert re.search(r"FAIL\s+small_counts", out), out
    second, out = submit(container, FIXED_TABLE)
    assert second != first, out
    assert not re.search(r"FAIL", out) and re.search(r"PASS\s+small_counts", out), out
    held = hashlib.sha256(FIXED_TABLE.encode()).hexdigest()
    assert held in out, out
    return first, second, held


def approve(steward, hub, request_id: int, held: str, number: int, last: bool) -> None:
    """One steward approves the request through the gate's decision form."""
    steward.goto(f"{gate(hub)}requests/{request_id}")
    steward.wait_for_selector("#decision-form")
    assert held in steward.content()
    steward.check("#decision-form input[name=vote][value=approve]")
    steward.fill("#decision-form textarea[name=reason]", f"Steward {number + 1}: counts >= 10, rounded to 5")
    with steward.expect_navigation():
        steward.click("#decision-form button[type=submit]")
    if last:
        assert "Released by" in steward.content(), steward.content()[:3000]


def download_released(page, held: str) -> None:
    """On the released request's page, the researcher downloads the file: exactly the quarantined bytes."""
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"^Download")).first.click()
    downloaded = info.value.path().read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == held
    assert downloaded == FIXED_TABLE.encode()


def test_ops_researcher_steward_journeys(journey_platform, browser):
    platform = journey_platform
    project = slug("journey")

    # 1. Ops provision the project.
    ops_provision(platform, project)

    # 2. The researcher logs in, starts the project from her home page and lands in JupyterLab.
    from enclave import firewall

    firewall.apply(firewall.current_openings(), platform.settings().firewall_ports)  # as Platform.start_server
    researcher = browser.new_context(accept_downloads=True)
    try:
        page = researcher.new_page()
        log_in(page, platform, RESEARCHER)
        page.wait_for_selector(f"#open-{project}")
        assert f"project-{slug('omega')}" in page.content()
        navigation = page.locator("#shell-nav a").all_inner_texts()  # the shell's links, named for people (enclave.shell)
        assert "Outputs" in navigation and "Output review" not in navigation and "egress" not in navigation, navigation
        shot(page, "1-home")
        page.click(f"#open-{project}")
        page.wait_for_url(re.compile(rf"/user/{RESEARCHER}/{project}/lab"), timeout=180_000)
        page.wait_for_selector(".jp-LabShell, #jp-main-dock-panel", timeout=120_000)
        page.wait_for_timeout(2000)  # the launcher renders
        shot(page, "2-jupyterlab")
        container = platform.container(RESEARCHER, project)

        # Notebooks in Python and R read the extracts: their row counts are the extract manifest's.
        extract = json.loads((platform.settings().project_dir(project) / "extracts" / "manifest.json").read_text())
        expected = {t: extract["tables"][t]["rows_out"] for t in TABLES}
        assert row_counts(run_notebook(platform, container, project, "python3", READ_PY)) == expected
        assert row_counts(run_notebook(platform, container, project, "ir", READ_R)) == expected
        page.goto(f"{platform.hub_url}/user/{RESEARCHER}/{project}/lab/tree/work/journey-ir.ipynb")
        page.wait_for_selector(".jp-OutputArea-output", timeout=60_000)
        page.wait_for_timeout(1000)
        shot(page, "3-notebook-r")

        # A table with a small cell is flagged; the fixed table, a new request, passes.
        first, second, held = submit_flagged_then_fixed(container)

        # 3. Two stewards approve in their browsers.
        for number, name in enumerate(STEWARDS):
            context = browser.new_context()
            try:
                steward = context.new_page()
                log_in(steward, platform, name)
                if number == 0:
                    steward.goto(f"{gate(platform)}requests/{first}")
                    steward.wait_for_load_state()
                    assert "small_counts" in steward.content(), steward.content()[:2000]
                    shot(steward, "4-gate-request-small-cell")
                    steward.goto(f"{gate(platform)}requests/{second}")
                    steward.wait_for_selector("#decision-form")
                    shot(steward, "5-gate-request-fixed")
                approve(steward, platform, second, held, number, last=number == len(STEWARDS) - 1)
                if number == len(STEWARDS) - 1:
                    shot(steward, "6-gate-released")
            finally:
                context.close()

        # The researcher downloads the released file in her browser, through the gate.
        page.goto(f"{gate(platform)}requests/{second}")
        page.wait_for_load_state()
        shot(page, "7-researcher-released")
        download_released(page, held)
    finally:
        researcher.close()
        try:
            platform.stop_server(RESEARCHER, project)
        except Exception:  # noqa: BLE001 - the platform's teardown removes it anyway
            pass
