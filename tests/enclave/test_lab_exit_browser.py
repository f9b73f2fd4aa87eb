"""The way out in plain sight, in a real browser (Chromium) behind the real hub, seal and gate, in a
container of the image just built:

- the file browser's context menu on a file of ~/work offers "Submit for export" (the image's own
  JupyterLab extension, images/lab-extension, whose files the seal lets through), which opens the
  egress gate's form in a new tab with that file ticked; submitting it makes a request;
- the launcher has the same action as a card;
- the project's repository is cloned at the server's start into ~/work/<project>: commit and push
  from a terminal there reach the project's remote; and a clone made with the Git panel's "Clone a
  Repository" and its defaults is a repository too (it was a copy without .git: jupyterlab-git's
  "Download the repository" box read the wrong way round), whose push reaches the remote.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from enclave.layout import repository_dir

from ..conftest import REPO
from ..seal.conftest import Researcher
from .platform import running_platform, slug
from .test_egress_e2e import log_in

SHOTS = REPO / "docs" / "screenshots"
PROJECT = "exit"


@pytest.fixture(scope="module")
def exit_platform(tmp_path_factory, image):
    with running_platform(tmp_path_factory.mktemp("lab-exit"), image, {PROJECT: ["alice"]}) as p:
        yield p


def remote_log(platform) -> list[str]:
    """The subjects of the commits on the project remote's main branch (the bare repository on the host)."""
    bare = repository_dir(platform.settings().project_dir(slug(PROJECT)))
    answer = subprocess.run(["git", "--git-dir", str(bare), "log", "--format=%s", "main"],
                            capture_output=True, text=True, timeout=30)
    return answer.stdout.split("\n") if answer.returncode == 0 else []


def run(alice: Researcher, command: str) -> str:
    """``command`` in a terminal of alice's server; its output up to the marker it prints last."""
    text, _ = alice.terminal(PROJECT, command + '; echo "EXIT-$?-DO""NE"', until="-DONE", timeout=90)  # DO""NE: not the echo
    assert "EXIT-0-DONE" in text, text[-2000:]
    return text


def test_submit_for_export_from_jupyterlab_and_a_working_project_repository(exit_platform, browser):
    project, hub = slug(PROJECT), exit_platform.hub_url
    lab = f"{hub}/user/alice/{project}/lab"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        log_in(page, exit_platform, "alice")
        page.wait_for_selector(f"#open-{project}")
        page.click(f"#open-{project}")
        page.wait_for_url(re.compile(rf"/user/alice/{project}/lab"), timeout=180_000)
        page.wait_for_selector(".jp-LabShell", timeout=120_000)

        # The repository cloned at start: commit and push from a terminal reach the remote.
        alice = Researcher(exit_platform, "alice")
        run(alice, f"cd ~/work/{project} && test -d .git && git remote get-url origin"
                   " && echo 'print(1)' > analysis.py && git add analysis.py && git commit -qm 'from the start clone'"
                   " && git push -q origin HEAD:main"
                   " && printf 'age_band,n\\n0-4,120\\n5-9,130\\n' > ~/work/acts.csv")
        assert "from the start clone" in remote_log(exit_platform)

        # The launcher's card.
        page.goto(f"{lab}/tree/work")
        page.wait_for_selector(".jp-DirListing-item[title*='acts.csv']", timeout=60_000)
        page.locator(".jp-FileBrowser [data-command='launcher:create']").first.click()
        card = page.locator(".jp-LauncherCard:visible", has_text="Submit for export")
        card.wait_for(timeout=30_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "lab-exit-1-launcher.png"))

        # The context menu of a file of ~/work, then the gate's form with that file ticked.
        page.locator(".jp-DirListing-item", has_text="acts.csv").click(button="right")
        item = page.locator(".lm-Menu .lm-Menu-item", has_text="Submit for export")
        item.wait_for(timeout=10_000)
        page.screenshot(path=str(SHOTS / "lab-exit-2-context-menu.png"))
        with context.expect_page() as opened:
            item.click()
        form = opened.value
        form.wait_for_load_state()
        form.wait_for_url(re.compile(r"/services/egress/requests/new\?"), timeout=60_000)
        box = form.locator(f"form.submit-form:has(input[name=project][value='{project}']) input[name=path][value='acts.csv']")
        assert box.is_checked()
        assert form.locator("input[name=path]:checked").count() == 1
        form.screenshot(path=str(SHOTS / "lab-exit-3-gate-form.png"), full_page=True)
        submit_form = form.locator(f"form.submit-form:has(input[name=project][value='{project}']):has(input[name=path])")
        submit_form.locator("textarea[name=justification]").fill("Table 2 of the paper: acts by age band, counts over 100")
        for field, value in {"what": "acts by age band", "population": "the project's extract",
                             "controls": "counts over 100 only"}.items():
            submit_form.locator(f"input[name=context_{field}]").fill(value)
        submit_form.get_by_role("button", name="Submit for review").click()
        form.wait_for_url(re.compile(r"/services/egress/requests/\d+$"), timeout=60_000)
        assert "acts.csv" in form.content()
        form.close()

        # The Git panel's clone, with its defaults, in ~/work/panel (once the file browser is there):
        # a repository (.git kept), whose push reaches the remote.
        run(alice, "mkdir -p ~/work/panel")
        page.goto(f"{lab}/tree/work/panel")
        page.wait_for_function("document.querySelector('.jp-FileBrowser .jp-BreadCrumbs') &&"
                               " document.querySelector('.jp-FileBrowser .jp-BreadCrumbs').innerText.includes('panel')",
                               timeout=60_000)
        page.wait_for_timeout(1000)
        page.locator(".jp-FileBrowser [title='Git Clone']").first.click()  # jupyterlab-git's toolbar button
        url = dict(line.split("=", 1) for line in exit_platform.container("alice", project).attrs["Config"]["Env"])["ENCLAVE_GIT_URL"]
        page.locator("#input-link").fill(url)
        page.locator(".jp-Dialog .jp-mod-accept").click()
        page.locator(".jp-DirListing-item", has_text=project).wait_for(timeout=60_000)
        run(alice, f"cd ~/work/panel/{project} && test -d .git && test -f analysis.py"
                   " && echo 'print(2)' > more.py && git add more.py && git commit -qm 'from the panel clone'"
                   " && git push -q origin HEAD:main")
        assert remote_log(exit_platform)[:2] == ["from the panel clone", "from the start clone"]
    finally:
        context.close()
        exit_platform.stop_server("alice", project)

