"""The front office's whole path in Chromium, on a real platform (registry, hub + proxy, egress gate,
portal, development OIDC provider, TOTP, Docker):

an applicant files a request picked from the catalogue → a committee member with a conflict cannot
vote → two members approve → ops record the authorisation → the manifest is generated and
provisioned (``enclave provision``, what ``make provision`` runs) → the researcher starts the project,
exports a table, two stewards release it → the team publishes it → an anonymous browser sees the
project and the result, with the release-ledger hash, in the public directory.

Screenshots go to docs/screenshots/portal-*.png.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ..e2e.test_journeys import FIXED_TABLE, SHOTS, approve, submit
from ..enclave.conftest import image  # noqa: F401 - the notebook image
from ..enclave.platform import RUN, running_platform
from ..enclave.test_egress_e2e import log_in

APPLICANT, COMMITTEE, OPS, STEWARDS = "ana", ("cleo", "cyril", "cora"), "otto", ("stella", "stefan")
TITLE = "Care after a hospital stay in the over-70s"
SUMMARY = "Which care do people over 70 receive in the year after a hospital stay, and does it prevent readmission?"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def front_office(tmp_path_factory, image):  # noqa: F811
    with running_platform(tmp_path_factory.mktemp("front-office"), image, {}) as p:
        p.enclave("user", "add", APPLICANT, "--role", "researcher", "--display-name", "Ana Costa")
        for name in COMMITTEE:
            p.enclave("user", "add", name, "--role", "committee")
        p.enclave("user", "add", OPS, "--role", "ops")
        for name in STEWARDS:
            p.enclave("user", "add", name, "--role", "steward")
        yield p


def _server_logs(platform, slug: str) -> str:
    import docker

    try:
        logs = docker.from_env().containers.get(f"enclave-{slug}-{APPLICANT}").logs(tail=40).decode(errors="replace")
    except docker.errors.NotFound:
        logs = "(container gone)"
    return f"container log:\n{logs}\nhub log:\n{platform.hub_log()[-3000:]}"


def portal(platform) -> str:
    return f"{platform.hub_url}/services/portal/"


def new_user(browser, platform, name: str):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    log_in(page, platform, name)
    return context, page


def file_request(page, platform) -> int:
    """The applicant starts from the catalogue's table page and fills the request."""
    page.goto(portal(platform) + "catalogue/tables/ER_PRS_F")
    shot(page, "portal-1-catalogue-table")
    page.click("text=Apply for access to this table")
    page.wait_for_selector("#request-form")
    page.fill("input[name=title]", TITLE)
    page.fill("textarea[name=summary]", SUMMARY)
    page.select_option("select[name=purpose]", "health_information")
    page.fill("textarea[name=methodology]", "Cohort of beneficiaries born before 1955; care sheets 2019-2024.")
    page.fill("input[name=holder_organisation]", "Université de Bordeaux")
    page.fill("input[name=duration_months]", "24")
    page.fill("input[name=team-0-name]", "Ana Costa")
    page.fill("input[name=team-0-role]", "principal investigator")
    page.fill("input[name=team-0-organisation]", "Université de Bordeaux")
    page.fill("input[name=team-0-username]", APPLICANT)
    page.check("input[name=team-0-public]")
    page.fill("input[name=team-1-name]", "Unnamed Analyst")
    assert page.is_checked("input[name=table][value=ER_PRS_F]")  # picked from the catalogue's page
    page.click("summary:has-text('IR_BEN_R')")
    page.check("input[name=table][value=IR_BEN_R]")
    page.select_option("select[name=period-column]", "ER_PRS_F.EXE_SOI_DTD")
    page.fill("input[name=period-start]", "2019-01-01")
    page.fill("textarea[name=where]", "IR_BEN_R.BEN_NAI_ANN <= 1955")
    with page.expect_navigation():
        page.click("#save")
    request_id = int(re.search(r"/requests/(\d+)$", page.url).group(1))
    shot(page, "portal-2-draft")
    with page.expect_navigation():
        page.click("#submit")
    assert page.inner_text("#state") == "submitted", page.content()[:3000]
    return request_id


def give_opinion(page, platform, request_id: int) -> None:
    page.goto(portal(platform) + f"requests/{request_id}")
    for criterion in ("relevance", "adequacy", "methodology"):
        page.check(f"#opinion-form input[name={criterion}][value=met]")
        page.fill(f"#opinion-form textarea[name={criterion}_reason]", f"{criterion}: convincing")
    with page.expect_navigation():
        page.click("#give-opinion")


def test_request_to_published_result(front_office, browser, tmp_path):
    platform = front_office
    slug = f"care70-{RUN}"
    contexts = []
    try:
        # 1. The applicant files a request picked from the catalogue.
        context, ana = new_user(browser, platform, APPLICANT)
        contexts.append(context)
        request_id = file_request(ana, platform)

        # 2. A committee member with a conflict cannot vote; two others approve.
        context, cora = new_user(browser, platform, "cora")
        contexts.append(context)
        cora.goto(portal(platform) + "committee")
        assert TITLE in cora.content()
        cora.goto(portal(platform) + f"requests/{request_id}")
        cora.fill("input[name=note]", "former colleague of the applicant")
        with cora.expect_navigation():
            cora.click("#declare-conflict")
        assert "declared a conflict of interest" in cora.inner_text("#cannot-vote")
        assert cora.locator("#opinion-form").count() == 0
        shot(cora, "portal-3-committee-conflict")
        for member in ("cleo", "cyril"):
            context, page = new_user(browser, platform, member)
            contexts.append(context)
            give_opinion(page, platform, request_id)
        assert page.inner_text("#state") == "approved"
        ana.goto(portal(platform) + f"requests/{request_id}")
        assert "relevance: convincing" in ana.inner_text("#opinions")  # the outcome and reasons, to the applicant

        # 3. Ops record the authority's decision: the manifest is generated.
        context, otto = new_user(browser, platform, OPS)
        contexts.append(context)
        otto.goto(portal(platform) + f"requests/{request_id}")
        otto.check("#authorise-form input[name=decision][value=granted]")  # nothing that decides is pre-ticked
        otto.fill("#authorise-form input[name=number]", f"DR-{RUN}")
        otto.fill("#authorise-form input[name=decided_on]", date.today().isoformat())
        otto.fill("#authorise-form input[name=valid_until]", (date.today() + timedelta(days=700)).isoformat())
        otto.fill("#authorise-form input[name=slug]", slug)
        document = b"%PDF-1.4 decision of the authority (test)"
        otto.set_input_files("#authorise-form input[name=document]",
                             files=[{"name": "decision.pdf", "mimeType": "application/pdf", "buffer": document}])
        with otto.expect_navigation():
            otto.click("#record-authorisation")
        assert otto.inner_text("#project-slug") == slug, otto.content()[:3000]
        assert hashlib.sha256(document).hexdigest() in otto.inner_text("#authorisation")
        shot(otto, "portal-4-authorised")

        # 4. The generated manifest provisions unchanged (`make provision PROJECT=...` runs this command).
        manifest = platform.settings().projects_dir / f"{slug}.toml"
        assert f'cnil_reference = "DR-{RUN}"' in manifest.read_text()
        platform.projects.append(slug)  # removed with the platform
        platform.enclave("provision", slug, "--quiet")
        shown = platform.enclave("show", slug).stdout
        assert APPLICANT in shown and str(date.today() + timedelta(days=700)) in shown, shown

        # 5. The researcher starts the project from her home page and exports a table; stewards release it.
        from enclave import firewall

        firewall.apply(firewall.current_openings(), platform.settings().firewall_ports)
        ana.goto(f"{platform.hub_url}/hub/home")
        ana.click(f"#open-{slug}")
        try:
            ana.wait_for_url(re.compile(rf"/user/{APPLICANT}/{slug}/lab"), timeout=180_000)
        except PlaywrightTimeout:
            raise AssertionError(f"the server did not start: {_server_logs(platform, slug)}") from None
        container = platform.container(APPLICANT, slug)
        egress_id, out = submit(container, FIXED_TABLE)
        held = hashlib.sha256(FIXED_TABLE.encode()).hexdigest()
        for number, name in enumerate(STEWARDS):
            context, steward = new_user(browser, platform, name)
            contexts.append(context)
            approve(steward, platform, egress_id, held, number, last=number == len(STEWARDS) - 1)
        ledger = platform.settings().home / "egress" / "releases" / "ledger.jsonl"
        entry = [json.loads(line) for line in ledger.read_text().splitlines()][-1]
        assert entry["request_id"] == str(egress_id)

        # 6. The team publishes it.
        ana.goto(portal(platform) + "publish")
        ana.select_option("select[name=egress_request]", str(egress_id))
        ana.fill("#publish-form input[name=title]", "Beneficiaries by region")
        ana.fill("#publish-form textarea[name=description]", "Table 1 of the study report.")
        shot(ana, "portal-5-publish")
        with ana.expect_navigation():
            ana.click("#publish")

        # 7. The public (no login) sees the project and the result, with its release-ledger hash.
        public = browser.new_context()
        contexts.append(public)
        anonymous = public.new_page()
        anonymous.goto(portal(platform) + "directory")
        section = anonymous.inner_text(f"#project-{slug}")
        assert TITLE in section and SUMMARY in section and "Université de Bordeaux" in section
        assert "Ana Costa" in section and "Unnamed Analyst" not in section
        assert "Beneficiaries by region" in section and entry["hash"] in section and held in section
        shot(anonymous, "portal-6-directory")
        anonymous.goto(portal(platform) + f"requests/{request_id}")
        assert "/hub/" in anonymous.url  # a request is never public: the hub's login
    finally:
        for context in contexts:
            context.close()
        try:
            platform.stop_server(APPLICANT, slug)
        except Exception:  # noqa: BLE001 - the platform's teardown removes it anyway
            pass
