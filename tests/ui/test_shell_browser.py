"""Every page in the shell, in Chromium, for each role, on a real platform (hub, gate, portal, usage
pages, OIDC + TOTP login): the header, navigation and sign-out on every page; every navigation link
answers the person it is shown to (never 403); unknown paths answer 404 inside the shell; the
stylesheet loads under each service's strict Content-Security-Policy (no violation reported).

Screenshots of each role's pages go to $ENCLAVE_SHELL_SHOTS (a temporary folder by default)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from enclave.branding import DEFAULT_COLOUR

from ..enclave.test_egress_e2e import log_in
from .conftest import ROLES

BRAND_RGB = "rgb({}, {}, {})".format(*(int(DEFAULT_COLOUR[i:i + 2], 16) for i in (1, 3, 5)))
EXPECTED = {  # what each role is offered (enclave.shell.navigation; tests/ui/test_navigation.py checks the rules)
    "researcher": {"home", "outputs", "imports", "usage", "access-requests", "publish", "catalogue", "directory"},
    "steward": {"home", "access-requests", "review", "imports", "security", "catalogue", "directory"},
    "committee": {"home", "access-requests", "committee", "catalogue", "directory"},
    "ops": {"home", "usage", "access-requests", "security", "staff", "admin", "catalogue", "directory"},
}
MAIN_PAGES = ["services/egress/requests/new", "services/portal/", "services/portal/requests/new", "services/usage/",
              "services/portal/catalogue", "hub/home"]
UNKNOWN = ["services/egress/no/such/page", "services/portal/no/such/page", "services/usage/no/such/page",
           "hub/no-such-page", "services/egress/requests/999999"]


def shots_dir(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ENCLAVE_SHELL_SHOTS") or tmp_path_factory.mktemp("shell-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def assert_in_shell(page, url: str, signed_in: bool = True) -> None:
    assert page.locator("#shell-header").count() == 1, (url, page.content()[:1500])
    assert page.locator("#shell-nav a").count() >= 2, url
    assert page.locator("#shell-footer").count() == 1, url
    if signed_in:
        assert page.locator("#sign-out").is_visible(), url
        assert page.locator("#sign-in").count() == 0, url
    # the stylesheet loaded (under style-src 'self'): the header has the brand's colour
    background = page.eval_on_selector("#shell-header", "e => getComputedStyle(e).backgroundColor")
    assert background == BRAND_RGB, (url, background)


def visit(page, url: str) -> int:
    response = page.goto(url)
    assert response is not None, url
    page.wait_for_load_state()
    return response.status


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_of_each_role_is_in_the_shell_and_no_link_refuses(shell_platform, browser, role, tmp_path_factory):
    platform, name, shots = shell_platform, ROLES[role], shots_dir(tmp_path_factory)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    violations: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        log_in(page, platform, name)
        assert_in_shell(page, page.url)
        links = page.eval_on_selector_all("#shell-nav a", "as => as.map(a => [a.id.slice(4), a.href])")
        assert {key for key, _ in links} == EXPECTED[role], links
        assert "Services" not in page.locator("#shell-header").inner_text()  # the raw menu is gone
        for key, href in links:
            status = visit(page, href)
            assert status < 400, f"{role} ({name}) is offered {key} at {href}, which answers {status}"
            assert_in_shell(page, href)
            current = page.locator("#shell-nav a[aria-current=page]")
            if "/services/" in href:  # the hub's pages do not know the path; the services mark it
                assert current.count() == 1 and current.get_attribute("id") == f"nav-{key}", href
            page.screenshot(path=str(shots / f"{role}-{key}.png"), full_page=True)
        for path in MAIN_PAGES:
            status = visit(page, f"{platform.hub_url}/{path}")
            assert status < 400 or (status == 403 and not any(href.endswith(path) for _, href in links)), (path, status)
            assert_in_shell(page, path)
        for path in UNKNOWN:
            status = visit(page, f"{platform.hub_url}/{path}")
            assert status == 404, (role, path, status, page.content()[:1500])
            assert_in_shell(page, path)
            assert page.locator("#way-back a").count() >= 1, path
            assert "None" not in page.locator("h1").first.inner_text(), path
        page.screenshot(path=str(shots / f"{role}-404.png"), full_page=True)
        assert not violations, violations
    finally:
        context.close()


def test_a_refused_page_says_why_in_the_shell_with_the_way_back(shell_platform, browser):
    """A researcher who types the stewards' queue address: 403 with the reason, inside the shell."""
    shell_platform.enclave("user", "add", "ravi", "--role", "researcher")  # log_in enrols a first TOTP: a new person
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, shell_platform, "ravi")
        assert visit(page, f"{shell_platform.hub_url}/services/egress/queue") == 403
        assert_in_shell(page, "queue")
        assert "steward" in page.locator("#error-message").inner_text()
        assert page.locator("#nav-review").count() == 0  # never offered
        assert visit(page, f"{shell_platform.hub_url}/services/portal/staff") == 403
        assert_in_shell(page, "staff")
    finally:
        context.close()


def test_login_and_totp_pages_are_in_the_shell_with_readable_buttons(shell_platform, browser, tmp_path_factory):
    shots = shots_dir(tmp_path_factory)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        assert visit(page, f"{shell_platform.hub_url}/hub/login") == 200
        assert_in_shell(page, "login", signed_in=False)
        button = page.get_by_role("button", name=re.compile("Sign in with"))
        colours = button.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
        assert colours == ["rgb(255, 255, 255)", BRAND_RGB], colours  # white on the brand: >= 4.5:1
        page.screenshot(path=str(shots / "login.png"), full_page=True)
        public = page.eval_on_selector_all("#shell-nav a", "as => as.map(a => a.id)")
        assert public == ["nav-catalogue", "nav-directory"], public
        # the TOTP page, after the identity provider (a person of its own: enrolling is once per person)
        shell_platform.enclave("user", "add", "tess", "--role", "researcher")
        button.click()
        page.wait_for_url(f"{shell_platform.issuer}/**")
        page.get_by_placeholder("sub").fill("tess")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url("**/hub/login/totp")
        assert_in_shell(page, "totp", signed_in=False)
        colours = page.locator("#totp-submit").evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
        assert colours == ["rgb(255, 255, 255)", BRAND_RGB], colours
        page.screenshot(path=str(shots / "totp.png"), full_page=True)
        assert visit(page, f"{shell_platform.hub_url}/services/portal/catalogue") == 200  # public, in the shell
        assert_in_shell(page, "catalogue", signed_in=False)
    finally:
        context.close()
