"""Accessibility: axe-core (the maintained checker, from npm) run in Chromium on each page of each role's
journey through the real hub (OIDC + TOTP): no serious or critical violation.

Pages: the hub's login and TOTP enrolment, the landing, the egress gate's and the airlock's pages, the
portal's, the usage pages (JupyterLab's own pages are out of scope). Every page is in the shell. The test
fails on any serious or critical violation not listed in :data:`ELSEWHERE` (empty), and on a listed one no
longer found.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ..e2e.conftest import image  # noqa: F401 - the notebook image, built by scripts/build_images.sh
from ..enclave.test_egress_e2e import log_in
from .factories import COMMITTEE, OPS, RESEARCHER, STEWARD, platform_with_work

AXE = Path("/usr/lib/node_modules/axe-core/axe.min.js")  # `npm install -g axe-core@4` (scripts/prepare_host.sh browser)
BLOCKING = ("serious", "critical")

# Serious or critical violations accepted for now, as (page, axe rule id, the element's selector as a regular
# expression): none. An entry is for a finding in a page Enclave does not render itself; the test fails when
# a listed finding is no longer found, so the list cannot outlive its reason.
ELSEWHERE: list[tuple[str, str, str]] = []


def listed(violation: tuple[str, str, str], entry: tuple[str, str, str]) -> bool:
    return violation[:2] == entry[:2] and re.fullmatch(entry[2], violation[2]) is not None


def journeys(ids: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    """Each role's pages after the landing, as (name, path under /services/)."""
    return {
        RESEARCHER: [("gate: my requests", "egress/requests"), ("gate: a request", f"egress/requests/{ids['sent_back']}"),
                     ("gate: new request", "egress/requests/new"), ("airlock: imports", "egress/imports"),
                     ("portal: home", "portal/"), ("portal: catalogue", "portal/catalogue"),
                     ("portal: my requests", "portal/requests"), ("portal: new request", "portal/requests/new"),
                     ("portal: a request", f"portal/requests/{ids['draft']}"),
                     ("usage: projects", "usage/"), ("usage: a project", "usage/projects/cohort-a")],
        STEWARD: [("gate: queue", "egress/queue"), ("gate: a request to review", f"egress/requests/{ids['waiting']}"),
                  ("airlock: imports to review", "egress/imports"), ("gate: security", "egress/security")],
        COMMITTEE: [("portal: committee", "portal/committee"), ("portal: a request to judge", f"portal/requests/{ids['to_judge']}")],
        OPS: [("portal: staff", "portal/staff"), ("portal: a request to authorise", f"portal/requests/{ids['approved']}"),
              ("gate: security", "egress/security"), ("usage: projects", "usage/")],
    }


@pytest.fixture(scope="module")
def work_platform(tmp_path_factory, image):  # noqa: F811
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: install axe-core with `npm install -g axe-core@4` "
                    "(scripts/prepare_host.sh browser)", pytrace=False)
    with platform_with_work(tmp_path_factory.mktemp("accessibility"), image) as (platform, ids):
        yield platform, ids


def violations(page, name: str) -> set[tuple[str, str, str]]:
    """The serious and critical violations axe finds on the page, as (page, rule, element)."""
    page.wait_for_load_state("networkidle")
    # Evaluated through the browser's debugging protocol, not a <script> tag: the pages' Content-Security-Policy
    # (which refuses inline scripts) stays as it is for the page under test.
    page.evaluate(AXE.read_text())
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".map(v => ({id: v.id, impact: v.impact, targets: v.nodes.map(n => n.target.join(' '))}))")
    return {(name, v["id"], target) for v in found if v["impact"] in BLOCKING for target in v["targets"]}


def test_no_serious_or_critical_violation_on_any_page_of_any_role(work_platform, browser):
    platform, ids = work_platform
    found: set[tuple[str, str, str]] = set()
    checked: list[str] = []

    def check(page, name: str) -> None:
        assert page.url.startswith(platform.hub_url), page.url
        found.update(violations(page, name))
        checked.append(name)

    for role, pages in journeys(ids).items():
        context = browser.new_context()
        try:
            page = context.new_page()
            log_in(page, platform, role, on_page=check)
            check(page, "hub: landing")
            if role == RESEARCHER:  # the positive control: the checker sees a violation put into the landing
                page.evaluate("document.querySelector('#enclave-home').insertAdjacentHTML('beforeend', "
                              "'<img id=control-image src=data:,>')")
                assert ("control", "image-alt", "#control-image") in violations(page, "control")
                page.reload()
            for name, path in pages:
                response = page.goto(f"{platform.hub_url}/services/{path}")
                assert response.status == 200, (role, path, response.status)
                check(page, name)
        finally:
            context.close()
    print(json.dumps(sorted(found)))  # with -s: what was found, for the report
    assert len(checked) == sum(len(p) + 3 for p in journeys(ids).values())
    unexpected = sorted(v for v in found if not any(listed(v, entry) for entry in ELSEWHERE))
    assert not unexpected, f"serious or critical accessibility violations (page, rule, element): {unexpected}"
    fixed = [entry for entry in ELSEWHERE if not any(listed(v, entry) for v in found)]
    assert not fixed, f"no longer found, remove from ELSEWHERE: {fixed}"
