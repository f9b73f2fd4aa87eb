"""The egress gate end to end, on the real platform: bob submits a table from INSIDE his beta
container with ``enclave-export`` (his server's own token, to the gate's enclave port); two stewards log in
with a real browser (headless Chromium: the hub's login page, the development OIDC provider, their
TOTP enrolment) and decide on the gate's request page (hub OAuth, the decision form with its XSRF
token); bob downloads the released file through the gate with a hub token, and its hash is the
quarantined one.
"""

from __future__ import annotations

import hashlib
import re
import shlex

import pyotp
import pytest
import requests

from .platform import slug

STEWARDS = ("stella", "stefan")
TABLE = "region,count\nNorth,120\nSouth,85\nEast,40\nWest,15\n"  # aggregate counts, all >= 10, multiples of 5
JUSTIFICATION = "Counts of beneficiaries by region for table 1 of the study report"


def run(container, *argv: str, user: str = "1000:100"):
    """A command in the container as its user (the container's environment: token, gate URL, project)."""
    result = container.exec_run(list(argv), user=user, workdir="/home/jovyan")
    return result.exit_code, result.output.decode(errors="replace")


def hub_token(platform, user: str) -> str:
    response = platform.api("POST", f"/users/{user}/tokens", json={"note": "egress e2e test", "expires_in": 3600})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def gate(platform) -> str:
    return f"{platform.hub_url}/services/egress/"


def log_in(page, platform, name: str, on_page=None) -> None:
    """The hub's real login: OIDC (the development provider's form) then a first TOTP enrolment;
    ``on_page(page, name)`` is called on the login and the enrolment pages (tests/ui checks them)."""
    on_page = on_page or (lambda page, name: None)
    page.goto(f"{platform.hub_url}/hub/login")
    on_page(page, "login")
    page.get_by_role("button", name="Sign in with").click()
    page.wait_for_url(f"{platform.issuer}/**")
    page.get_by_placeholder("sub").fill(name)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{platform.hub_url}/hub/**")
    assert page.url.endswith("/hub/login/totp"), page.url
    on_page(page, "totp-enrolment")
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#totp-code", pyotp.TOTP(secret).now())
    page.click("#totp-submit")
    page.wait_for_load_state()
    assert page.url.endswith("/hub/home"), (page.url, page.content()[:2000])


@pytest.fixture(scope="module")
def beta(platform):
    for name in STEWARDS:
        platform.enclave("user", "add", name, "--role", "steward")
    platform.api("POST", "/users", json={"usernames": list(STEWARDS)})
    response = platform.start_server("bob", slug("beta"))
    assert response.status_code < 400, response.text
    yield platform.container("bob", slug("beta"))
    platform.stop_server("bob", slug("beta"))


def test_submit_from_the_enclave_two_stewards_approve_bob_downloads(platform, beta, browser):
    code, out = run(beta, "python3", "-c",
                    f"open('/home/jovyan/work/table.csv', 'w').write({TABLE!r})")
    assert code == 0, out
    code, env = run(beta, "sh", "-c", "echo $ENCLAVE_EGRESS_URL")
    assert env.strip().endswith("/services/egress/"), env

    # 1. Submit from inside the container, with the server's own token.
    code, out = run(beta, "enclave-export", "submit", "work/table.csv", "--justification", JUSTIFICATION)
    print(out)  # shown with pytest -s: what the researcher sees
    assert code == 0, out
    match = re.search(r"^request (\d+): (.+)$", out, re.M)
    assert match, out
    request_id = int(match.group(1))
    assert match.group(2) in ("submitted", "under review", "under_review"), out  # words once the image has the new client
    assert "table.csv" in out and "sha256" in out, out

    bob = {"Authorization": f"token {hub_token(platform, 'bob')}"}
    held = requests.get(f"{gate(platform)}api/requests/{request_id}", headers=bob, timeout=60).json()
    assert held["project"] == slug("beta") and held["requester"] == "bob", held
    (held_file,) = held["files"]
    assert held_file["name"] == "table.csv"
    assert held_file["sha256"] == hashlib.sha256(TABLE.encode()).hexdigest()

    # `status` from inside shows the same request.
    code, out = run(beta, "enclave-export", "status", str(request_id))
    assert code == 0 and f"request {request_id}:" in out and held_file["sha256"] in out, out

    # A later change in the workspace does not change what is held.
    code, out = run(beta, "sh", "-c", "echo 'Tiny,1' >> /home/jovyan/work/table.csv")
    assert code == 0, out

    # 2. Two stewards, each in their own browser session, decide on the gate's request page.
    for number, name in enumerate(STEWARDS):
        context = browser.new_context()
        try:
            page = context.new_page()
            log_in(page, platform, name)
            page.goto(f"{gate(platform)}requests/{request_id}")  # hub OAuth, no confirmation page
            page.wait_for_selector("#decision-form")
            assert held_file["sha256"] in page.content()
            # The same browser, its login cookie, but no XSRF token: refused.
            forged = page.request.post(f"{gate(platform)}requests/{request_id}/decision",
                                       form={"vote": "approve", "reason": "forged"}, max_redirects=0)
            assert forged.status == 403, (forged.status, forged.text()[:500])
            page.check("#decision-form input[name=vote][value=approve]")
            page.fill("#decision-form textarea[name=reason]", f"Steward {number + 1}: aggregate counts, all >= 10")
            with page.expect_navigation():
                page.click("#decision-form button[type=submit]")
            assert page.url.endswith(f"/requests/{request_id}"), page.url
            if number == len(STEWARDS) - 1:  # all votes are in: both are shown, and it is released
                assert "Steward 1: aggregate counts" in page.content() and "Released by" in page.content()
        finally:
            context.close()

    # 3. Released on the second approval; bob downloads it through the gate.
    final = requests.get(f"{gate(platform)}api/requests/{request_id}", headers=bob, timeout=60).json()
    assert final["state"] == "released", final
    assert [d["vote"] for d in final["decisions"]] == ["approve", "approve"], final
    assert final["files"][0]["released_sha256"] == held_file["sha256"]
    download = requests.get(f"{gate(platform)}requests/{request_id}/files/table.csv", headers=bob, timeout=60)
    assert download.status_code == 200, download.text[:500]
    assert hashlib.sha256(download.content).hexdigest() == held_file["sha256"]
    assert download.content == TABLE.encode()


def test_a_path_outside_the_workspace_is_refused_with_its_reason(beta):
    code, out = run(beta, "enclave-export", "submit", "../../etc/passwd", "--justification", "an escape attempt")
    print(out)
    assert code == 1, out
    # refused by the client before the gate is asked (the gate refuses such paths too: tests/egress)
    assert "resolves to /etc/passwd, outside the workspace" in out, out


def test_the_r_function_submits_too(beta):
    code, out = run(beta, "python3", "-c", "open('/home/jovyan/work/r-table.csv', 'w').write('sex,count\\nF,50\\nM,45\\n')")
    assert code == 0, out
    script = ('suppressPackageStartupMessages(library(enclave)); setwd("~/work"); '
              f'r <- export_submit("r-table.csv", {JUSTIFICATION!r}); cat("ID", r$id, "\\n")')
    code, out = run(beta, "Rscript", "-e", script)
    assert code == 0, out
    assert re.search(r"^ID \d+", out, re.M), out
    assert re.search(r"^request \d+: ", out, re.M), out
    code, out = run(beta, "Rscript", "-e", 'library(enclave); export_submit("../../etc/passwd", "escape")')
    assert code != 0 and "export_submit: ../../etc/passwd resolves to /etc/passwd, outside the workspace" in out, \
        shlex.quote(out)
