"""The whole login in a real browser: a real hub, its proxy, a real OIDC provider, headless Chromium.

OIDC → enrolment (QR code + secret; the code is computed here with pyotp from the secret the page
shows) → hub home; a second login asks for a code; a replayed code is refused; five wrong codes
lock the factor; an unknown identity is refused; a login that passed OIDC only reaches nothing.
Screenshots of the pages go to docs/screenshots/ for the README.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pyotp
import pytest
from playwright.sync_api import Browser, Page

from .conftest import SCREENSHOTS, LoginHub

pytestmark = pytest.mark.slow


def sign_in_at_idp(page: Page, hub: LoginHub, subject: str, screenshot: str | None = None) -> None:
    """From the hub's login page through the provider's form, back to the hub."""
    page.goto(f"{hub.url}/hub/login")
    if screenshot:
        page.screenshot(path=SCREENSHOTS / screenshot, full_page=True)
    page.get_by_role("button", name="Sign in with").click()
    page.wait_for_url(f"{hub.issuer}/**")
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{hub.url}/hub/**")


def enter_code(page: Page, code: str) -> None:
    page.fill("#totp-code", code)
    page.click("#totp-submit")
    page.wait_for_load_state()


def logout(page: Page, hub: LoginHub) -> None:
    page.goto(f"{hub.url}/hub/logout")
    page.wait_for_url(f"{hub.url}/hub/login**")


@pytest.fixture(autouse=True)
def no_uncaught_exception_in_the_hub_log(login_hub):
    """Fail the test if the hub logged an uncaught exception while it ran, even behind a 200 page."""
    start = login_hub.log.stat().st_size
    yield
    with open(login_hub.log, "rb") as log:
        log.seek(start)
        written = log.read().decode("utf-8", "replace")
    assert "Uncaught exception" not in written and "Traceback" not in written, written[-4000:]


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    yield context.new_page()
    context.close()


def test_enrol_then_sign_in_with_a_fresh_code_never_a_replayed_one(login_hub, page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sign_in_at_idp(page, login_hub, "7f3c-alice", screenshot="login.png")  # alice is matched by her OIDC subject
    assert page.url.endswith("/hub/login/totp")
    assert page.locator("#totp-qr").is_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.screenshot(path=SCREENSHOTS / "enrolment.png", full_page=True)
    totp = pyotp.TOTP(secret)
    used = totp.now()
    enter_code(page, used)
    assert page.url.endswith("/hub/home"), page.content()
    assert "alice" in page.content()
    whoami = page.request.get(f"{login_hub.url}/hub/api/user")
    assert whoami.ok and whoami.json()["name"] == "alice"
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert "enclave-pending-login" not in cookies
    hub_cookie = cookies["jupyterhub-hub-login"]  # ENCLAVE_SESSION_HOURS=8
    assert hub_cookie["httpOnly"] and 7.9 * 3600 < hub_cookie["expires"] - time.time() <= 8 * 3600 + 60

    logout(page, login_hub)
    assert page.request.get(f"{login_hub.url}/hub/api/user").status == 403
    sign_in_at_idp(page, login_hub, "7f3c-alice")
    assert page.locator("#totp-qr").count() == 0, "an enrolled user is not shown their secret again"
    page.screenshot(path=SCREENSHOTS / "second-factor.png", full_page=True)
    enter_code(page, used)  # the code that confirmed the enrolment
    assert "already used" in page.locator("#totp-error").inner_text()
    assert page.request.get(f"{login_hub.url}/hub/api/user").status == 403
    enter_code(page, totp.at(time.time() + 30))  # the next step's code: new, within the window
    assert page.url.endswith("/hub/home")
    actions = [a for actor, a in login_hub.audit_actions() if actor == "alice"]
    assert actions.count("auth.totp.success") == 2 and "auth.totp.enrolled" in actions
    assert "auth.totp.failure" in actions


def test_five_wrong_codes_lock_the_second_factor(login_hub, page):
    sign_in_at_idp(page, login_hub, "bob")  # bob has no OIDC subject recorded: matched by user name
    secret = page.locator("#totp-secret").inner_text().strip()
    enter_code(page, pyotp.TOTP(secret).now())
    logout(page, login_hub)
    sign_in_at_idp(page, login_hub, "bob")
    for attempt in range(1, 5):
        enter_code(page, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
        assert f"{5 - attempt} attempts left" in page.locator("#totp-error").inner_text()
    enter_code(page, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert page.locator("#enclave-message[data-kind=locked]").is_visible()
    page.screenshot(path=SCREENSHOTS / "locked.png", full_page=True)
    # Locked: even the right code, from a new OIDC login, is refused.
    sign_in_at_idp(page, login_hub, "bob")
    assert page.locator("#enclave-message[data-kind=locked]").is_visible()
    assert page.request.get(f"{login_hub.url}/hub/api/user").status == 403
    actions = [a for actor, a in login_hub.audit_actions() if actor == "bob"]
    assert actions.count("auth.totp.failure") == 5 and actions.count("auth.totp.locked") == 1

    # The operator resets it: bob enrols again at the next sign-in.
    assert "reset" in login_hub.enclave("user", "reset-totp", "bob", "--reason", "test")
    sign_in_at_idp(page, login_hub, "bob")
    assert page.locator("#totp-qr").is_visible()
    assert page.locator("#totp-secret").inner_text().strip() != secret


def test_an_unknown_identity_is_refused(login_hub, page):
    sign_in_at_idp(page, login_hub, "mallory")
    assert page.locator("#enclave-message[data-kind=refused]").is_visible()
    assert page.locator("#refused-identity").inner_text() == "mallory"
    page.screenshot(path=SCREENSHOTS / "refused.png", full_page=True)
    assert page.request.get(f"{login_hub.url}/hub/api/user").status == 403
    assert login_hub.api("GET", "/users/mallory").status_code == 404
    assert ("oidc:mallory", "auth.refused") in login_hub.audit_actions()


def test_a_subject_linked_to_another_user_does_not_match_by_name(login_hub, page):
    # alice's OIDC subject is 7f3c-alice: someone whose subject is "alice" is not her.
    sign_in_at_idp(page, login_hub, "alice")
    assert page.locator("#enclave-message[data-kind=refused]").is_visible()


def test_oidc_alone_reaches_nothing(login_hub, page):
    sign_in_at_idp(page, login_hub, "carol")
    assert page.url.endswith("/hub/login/totp")
    for path in ["/hub/api/user", "/hub/api/users/carol", "/hub/home", "/hub/spawn/carol", "/hub/spawn/carol/alpha",
                 "/hub/token", "/user/carol/", "/user/carol/alpha/lab"]:
        response = page.request.get(f"{login_hub.url}{path}")  # following every redirect
        ends_at_login = urlparse(response.url).path == "/hub/login"
        assert ends_at_login or response.status in (403, 404), (path, response.status, response.url)
    # A POST to the TOTP page without the form's _xsrf token is refused.
    refused = page.request.post(f"{login_hub.url}/hub/login/totp", form={"code": "123456"}, max_redirects=0)
    assert refused.status == 403


def test_stewards_get_their_group_and_the_review_scope(login_hub, page):
    sign_in_at_idp(page, login_hub, "dave")
    enter_code(page, pyotp.TOTP(page.locator("#totp-secret").inner_text().strip()).now())
    assert page.url.endswith("/hub/home")
    model = login_hub.api("GET", "/users/dave").json()
    assert model["groups"] == ["stewards"] and not model["admin"]
    group = login_hub.api("GET", "/groups/stewards").json()
    assert "enclave-steward" in group["roles"]
    researcher = login_hub.api("GET", "/users/alice").json()
    assert researcher["groups"] == []
    scopes = page.request.get(f"{login_hub.url}/hub/api/user").json().get("scopes", [])
    assert "custom:enclave-egress:review" in scopes


def test_an_expired_pending_login_must_start_again(login_hub, page):
    page.goto(f"{login_hub.url}/hub/login/totp")  # no pending login at all
    assert page.locator("#enclave-message[data-kind=expired]").is_visible()
