"""JupyterLab says it rather than breaking, in a real browser (Chromium) behind the real hub and seal:
after sign-in the researcher lands on the home page (not a spawn error, the day's output budget of
each project shown), starts a project there and — through the seal's own sign-in with the hub,
which the browser passes without a click — lands in JupyterLab with the file browser in ``~/work``, no news pop-up, no Download or Export entry
in the menus; a download URL typed in the address bar gets the seal's refusal; Stop on the home page
stops the server."""

from __future__ import annotations

import re
import time

from ..conftest import REPO
from ..enclave.platform import slug
from ..enclave.test_egress_e2e import log_in

SHOTS = REPO / "docs" / "screenshots"


def menu_labels(page) -> list[str]:
    page.wait_for_selector(".lm-Menu", timeout=10_000)
    page.wait_for_timeout(300)
    return [label.strip() for label in page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts() if label.strip()]


def test_jupyterlab_offers_no_download_and_the_home_page_starts_and_stops(sealed, browser):
    project = slug("open")
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        log_in(page, sealed, "alice")  # lands on /hub/home
        page.wait_for_selector(f"#open-{project}")
        assert "KB left" in page.locator(f"#output-{project}").inner_text()
        page.click(f"#open-{project}")
        page.wait_for_url(re.compile(rf"/user/alice/{project}/lab"), timeout=180_000)
        page.wait_for_selector(".jp-LabShell", timeout=120_000)
        page.wait_for_selector(".jp-DirListing-content", timeout=60_000)
        page.wait_for_timeout(2000)
        crumbs = page.locator(".jp-FileBrowser .jp-BreadCrumbs").inner_text()
        assert "work" in crumbs, crumbs
        assert "official Jupyter news" not in page.content()
        from .conftest import wait_for_spent

        opened = wait_for_spent(sealed, "alice", project, above=0)
        print(f"opening JupyterLab cost alice {opened['day']} bytes of her budget")
        seal = [c for c in context.cookies() if c["name"] == "enclave-seal"]  # set by the seal's OAuth callback
        assert seal and seal[0]["path"] == "/user/" and seal[0]["httpOnly"] and seal[0]["sameSite"] == "Lax", seal

        # The File menu offers neither Download nor Export.
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
        labels = menu_labels(page)
        assert "Save All" in labels or "Save" in " ".join(labels), labels
        assert not [label for label in labels if "Download" in label or "Export" in label], labels
        page.keyboard.press("Escape")

        # Nor does the file browser's context menu on an extract.
        page.goto(f"{sealed.hub_url}/user/alice/{project}/lab/tree/data")
        page.wait_for_selector(".jp-DirListing-item[title*='ER_PRS_F']", timeout=60_000)
        page.locator(".jp-DirListing-item", has_text="ER_PRS_F.parquet").click(button="right")
        labels = menu_labels(page)
        assert "Open" in labels or any(label.startswith("Open") for label in labels), labels
        assert not [label for label in labels if "Download" in label], labels
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "seal-1-no-download.png"))
        page.keyboard.press("Escape")

        # A download typed in the address bar: the seal's refusal, nothing saved.
        answer = page.goto(f"{sealed.hub_url}/user/alice/{project}/files/data/ER_PRS_F.parquet?download=1")
        assert answer.status == 403 and "Refused by the enclave" in page.content()

        # Stop, from the home page.
        page.goto(f"{sealed.hub_url}/hub/home")
        page.wait_for_selector(f"#stop-{project}")
        page.screenshot(path=str(SHOTS / "seal-2-home-stop.png"))
        page.click(f"#stop-{project}")
        deadline = time.time() + 60
        while sealed.api("GET", "/users/alice").json().get("servers", {}).get(project):
            assert time.time() < deadline, "the server did not stop"
            time.sleep(1)
    finally:
        context.close()
