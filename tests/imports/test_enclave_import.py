"""An import from the browser into a running enclave, on the real platform.

A real hub (its proxy, the gate service, the seal), with the airlock's malware signatures as the
deployment's setting (``ENCLAVE_CLAMAV_DB``: a folder the test fills with one EICAR hash
signature, passed by the hub to the gate's service). rita logs in with headless Chromium (the
development OIDC provider, then her TOTP enrolment), opens the gate's Imports page through the
hub and uploads a 20 MiB table in the page's 8 MiB chunks; one chunk's connection is cut (the
browser's request aborted) and the page resumes from the offset the gate reports. Two stewards,
each logged in with their own browser session, approve it on the same page. rita's server, started
before the approval, then reads it at ``~/imports`` and cannot change it.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

import pytest
import requests

from ..enclave.conftest import image  # noqa: F401 - the notebook image, built by scripts/build_images.sh
from ..enclave.platform import running_platform, slug
from ..enclave.test_egress_e2e import hub_token, log_in, run
from . import hostile_imports as hostile

STEWARDS = ("stella", "stefan")
PROJECT = {"iota": ["rita"]}
ROWS = b"".join(b"%016x,%s,2019-%02d-14,I%02d,%d.50\n" % (n * 7919, b"40-49" if n % 2 else b"60-69", n % 12 + 1, n % 100,
                                                          n % 900) for n in range(4000))
TABLE = b"pseudonym,age_band,care_date,icd10,amount_eur\n" + ROWS * (20 * 2 ** 20 // len(ROWS) + 1)


@pytest.fixture(scope="module")
def airlock_platform(tmp_path_factory, image):  # noqa: F811
    signatures = hostile.eicar_signatures(tmp_path_factory.mktemp("clamav"))
    os.chmod(signatures, 0o755)
    before = os.environ.get("ENCLAVE_CLAMAV_DB")
    os.environ["ENCLAVE_CLAMAV_DB"] = str(signatures)  # the deployment's setting, as the hub is started with it
    try:
        with running_platform(tmp_path_factory.mktemp("airlock"), image, PROJECT) as p:
            if before is None:
                os.environ.pop("ENCLAVE_CLAMAV_DB")
            else:
                os.environ["ENCLAVE_CLAMAV_DB"] = before
            for name in STEWARDS:
                p.enclave("user", "add", name, "--role", "steward")
            p.api("POST", "/users", json={"usernames": [*STEWARDS, *PROJECT["iota"]]})
            yield p
    finally:
        if before is not None:
            os.environ["ENCLAVE_CLAMAV_DB"] = before


def gate(platform) -> str:
    return f"{platform.hub_url}/services/egress/"


def state_of(platform, token: str, import_id: int, states: tuple[str, ...], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{gate(platform)}api/imports/{import_id}", headers={"Authorization": f"token {token}"},
                              timeout=60)
        assert answer.status_code == 200, answer.text
        if answer.json()["state"] in states or time.monotonic() > deadline:
            return answer.json()
        time.sleep(0.5)


def test_eicar_uploaded_with_a_hub_token_is_blocked_by_the_deployments_signatures(airlock_platform):
    platform = airlock_platform
    rita = {"Authorization": f"token {hub_token(platform, 'rita')}"}
    api = gate(platform) + "api/"
    created = requests.post(api + "imports", json={"project": slug("iota"), "purpose": "virus test"}, headers=rita,
                            timeout=60)
    assert created.status_code == 201, created.text
    import_id = created.json()["id"]
    token = requests.post(f"{api}imports/{import_id}/uploads", json={"name": "notes.txt", "size": len(hostile.EICAR)},
                          headers=rita, timeout=60).json()["token"]
    put = requests.put(f"{api}imports/{import_id}/uploads/{token}?offset=0", data=hostile.EICAR, headers=rita, timeout=60)
    assert put.json()["offset"] == len(hostile.EICAR), put.text
    assert requests.post(f"{api}imports/{import_id}/uploads/{token}/complete", headers=rita, timeout=60).ok
    assert requests.post(f"{api}imports/{import_id}/submit", headers=rita, timeout=60).ok
    state = state_of(platform, rita["Authorization"][6:], import_id, ("scanned", "blocked"))
    assert state["state"] == "blocked", state
    malware = next(f for f in state["files"][0]["findings"] if f["check"] == "malware")
    assert malware["outcome"] == "fail" and "Enclave.Test.EICAR" in malware["detail"], malware


def test_a_browser_import_resumed_approved_and_read_only_in_the_running_enclave(airlock_platform, browser, tmp_path):
    platform, project = airlock_platform, slug("iota")
    started = platform.start_server("rita", project)
    assert started.status_code < 400, started.text
    container = platform.container("rita", project)
    source = tmp_path / "care_lines.csv"
    source.write_bytes(TABLE)
    digest = hashlib.sha256(TABLE).hexdigest()

    # 1. rita uploads from the gate's Imports page; the connection of the second chunk is cut.
    context = browser.new_context()
    cut = []
    try:
        page = context.new_page()
        log_in(page, platform, "rita")

        def drop_one(route):
            if "offset=" in route.request.url and not route.request.url.endswith("offset=0") and not cut:
                cut.append(route.request.url)
                route.abort("connectionreset")
            else:
                route.continue_()
        page.route(re.compile(r".*/api/imports/\d+/uploads/[^/]+\?offset=\d+$"), drop_one)
        page.goto(f"{gate(platform)}imports")
        page.select_option("#import-project", project)
        page.fill("#import-purpose", "Care lines of the cohort's linked registry, to add to table 2")
        page.set_input_files("#import-files", str(source))
        page.click("#import-upload")
        page.locator("#import-progress", has_text=re.compile("being scanned|error")).wait_for(timeout=180_000)
        shown = page.text_content("#import-progress")
        assert "being scanned" in shown, shown
        import_id = int(page.get_attribute("#import-progress", "data-import-id"))
    finally:
        context.close()
    assert len(cut) == 1, cut  # one chunk's connection was cut; the page resumed after it
    # Nothing of it in the running enclave while it waits.
    code, out = run(container, "sh", "-c", "ls -A /home/jovyan/imports")
    assert code == 0 and f"import-{import_id}" not in out, out

    rita = hub_token(platform, "rita")
    state = state_of(platform, rita, import_id, ("scanned", "blocked"))
    assert state["state"] == "scanned", state
    (held,) = state["files"]
    assert (held["name"], held["size"], held["sha256"]) == ("care_lines.csv", len(TABLE), digest)
    malware = next(f for f in held["findings"] if f["check"] == "malware")
    assert malware["outcome"] == "pass" and "1 signature file(s)" in malware["detail"], malware  # the setting reached the gate

    # 2. Two stewards approve on the Imports page, each in their own browser session.
    for number, name in enumerate(STEWARDS):
        context = browser.new_context()
        try:
            page = context.new_page()
            log_in(page, platform, name)
            page.goto(f"{gate(platform)}imports")
            section = page.locator(f"#import-{import_id}")
            assert digest in section.inner_text()
            section.locator("input[name=reason]").fill(f"Steward {number + 1}: pseudonymised care lines, no identifier")
            with page.expect_navigation():
                section.get_by_role("button", name="Approve").click()
        finally:
            context.close()
    assert state_of(platform, rita, import_id, ("approved",))["state"] == "approved"

    # 3. In rita's running server: readable (positive control), and no way to change it.
    path = f"/home/jovyan/imports/import-{import_id}/care_lines.csv"
    code, out = run(container, "sha256sum", path)
    assert code == 0 and out.split()[0] == digest, out
    code, out = run(container, "cat", "/home/jovyan/imports/IMPORTS.md")
    assert code == 0 and "care_lines.csv" in out and "stella, stefan" in out, out
    for attempt in (f"echo x >> {path}", f"rm -f {path}", f"touch /home/jovyan/imports/import-{import_id}/new.csv",
                    f"mv {path} /tmp/", "touch /home/jovyan/imports/mine.csv",
                    f"chmod u+w {path}"):
        code, out = run(container, "sh", "-c", attempt)
        assert code != 0, (attempt, out)
    code, out = run(container, "sha256sum", path)
    assert code == 0 and out.split()[0] == digest, out  # unchanged
    code, out = run(container, "sh", "-c", f"cat {path} > /home/jovyan/work/copy.csv && echo x >> /home/jovyan/work/copy.csv")
    assert code == 0, out  # positive control: the same user, the same shell, writes a copy in the workspace
    platform.stop_server("rita", project)
