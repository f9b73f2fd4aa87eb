"""Each role signs in through the real hub (OIDC + TOTP) in Chromium and lands on their work: the sections
of their roles with their counts, every link of them answering (no 403 to the person it is shown to).

Screenshots: docs/screenshots/landing-<role>.png, shown in the role's journey page of docs/."""

from __future__ import annotations

import re

import pytest

from ..conftest import REPO
from ..e2e.conftest import image  # noqa: F401 - the notebook image, built by scripts/build_images.sh
from ..enclave.test_egress_e2e import log_in
from .factories import COMMITTEE, OPS, RESEARCHER, STEWARD, platform_with_work

SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def work_platform(tmp_path_factory, image):  # noqa: F811
    with platform_with_work(tmp_path_factory.mktemp("landing"), image) as (platform, ids):
        yield platform, ids


def land(browser, platform, name: str):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, platform, name)
    page.wait_for_selector("#enclave-home")
    return context, page


def shot(page, role: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"landing-{role}.png"), full_page=True)


def follow_every_link(page, section_ids: list[str]) -> list[str]:
    """Each link of the sections, fetched with the person's cookies: the ones that do not answer 200."""
    hrefs = []
    for section in section_ids:
        hrefs += page.eval_on_selector_all(f"#{section} a[href]", "links => links.map(a => a.href)")
    assert hrefs, f"no link in {section_ids}"
    return [f"{href}: {status}" for href in dict.fromkeys(hrefs)
            if (status := page.request.get(href.split("#")[0]).status) != 200]


def test_a_researcher_lands_on_their_projects_and_requests(work_platform, browser):
    platform, ids = work_platform
    context, page = land(browser, platform, RESEARCHER)
    try:
        assert page.locator("#project-cohort-a").count() == 1 and page.locator("#open-cohort-a").inner_text() == "Start"
        assert page.locator("#summary-researcher").inner_text() == "2 of your requests await you"
        assert page.locator("#count-researcher").inner_text() == "2"
        row = page.locator(f"#researcher-export-{ids['sent_back']}")
        assert "changes requested" in row.inner_text() and "answer the stewards and resubmit" in row.inner_text()
        assert "draft" in page.locator(f"#researcher-access-{ids['draft']}").inner_text()
        assert "scanned" in page.locator(f"#researcher-import-{ids['import']}").inner_text()
        assert page.locator("#work-steward, #work-committee, #work-ops-authorisations").count() == 0
        shot(page, "researcher")
        assert follow_every_link(page, ["work-researcher"]) == []
        page.click(f"#researcher-export-{ids['sent_back']} a")
        page.wait_for_url(re.compile(rf"/services/egress/requests/{ids['sent_back']}$"))
    finally:
        context.close()


def test_a_steward_lands_on_the_review_inbox_oldest_first(work_platform, browser):
    platform, ids = work_platform
    context, page = land(browser, platform, STEWARD)
    try:
        assert page.locator("#summary-steward").inner_text() == "2 requests await your review"
        assert page.locator("#nav-count-review").text_content() == "2 waiting"  # the navigation says it too
        rows = page.locator("#work-steward tr.work-item").evaluate_all("rows => rows.map(r => r.id)")
        assert rows == [f"steward-review-export-{ids['waiting']}", f"steward-review-import-{ids['import']}"]
        assert page.locator("#no-projects").count() == 0  # a steward of no project is not told about projects
        shot(page, "steward")
        assert follow_every_link(page, ["work-steward"]) == []
    finally:
        context.close()


def test_a_committee_member_lands_on_the_requests_to_judge(work_platform, browser):
    platform, ids = work_platform
    context, page = land(browser, platform, COMMITTEE)
    try:
        assert page.locator("#summary-committee").inner_text() == "1 request awaits your opinion"
        assert page.locator("#nav-count-committee").text_content() == "1 waiting"
        assert page.locator(f"#committee-judge-{ids['to_judge']}").count() == 1
        assert page.locator(f"#committee-judge-{ids['judged']}").count() == 0  # judged already
        shot(page, "committee")
        assert follow_every_link(page, ["work-committee"]) == []
    finally:
        context.close()


def test_ops_land_on_authorisations_packages_security_and_usage(work_platform, browser):
    platform, ids = work_platform
    context, page = land(browser, platform, OPS)
    try:
        for key in ("ops-authorisations", "ops-packages", "ops-security", "ops-usage"):
            assert page.locator(f"#work-{key}").count() == 1, key
        assert page.locator(f"#ops-authorisations-authorise-{ids['approved']}").count() == 1
        assert f"enclave packages approve {ids['package']}" in page.locator(f"#ops-packages-package-{ids['package']}").inner_text()
        assert "mona suspended from cohort-a" in page.locator(f"#ops-security-suspension-{ids['suspension']}").inner_text()
        assert "server hours this month" in page.locator("#ops-usage-usage-cohort-a").inner_text()
        shot(page, "ops")
        assert follow_every_link(page, ["work-ops-authorisations", "work-ops-security", "work-ops-usage"]) == []
    finally:
        context.close()
