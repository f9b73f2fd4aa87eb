"""The steward -> researcher -> resubmit loop in Chromium, on the gate service (real registry,
checks, templates, release store) with the researcher's notebook committed to the project's
repository (a real bare repository on the gate's side).

Regenerates the README's screenshots of the review page: docs/screenshots/egress-loop-*.png.
"""

from __future__ import annotations

from pathlib import Path

from .provenance_fixtures import ACTS, clone_with_notebook
from .service_fixtures import PREFIX, TestOnlyIdentityProvider
from .workflow_fixtures import SLUG

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WITH_SMALL_CELL = b"age_band,n\n40-49,120\n50-59,95\n60-69,3\n"


def _page_of(browser, server, user):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": TestOnlyIdentityProvider.COOKIE, "value": server.tokens[user], "url": server.url}])
    return context, context.new_page()


def _shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"egress-loop-{name}.png"), full_page=True)


def _fill_context(page, scope):
    scope.locator("input[name=context_what]").fill("acts by age band, table 2 of the paper")
    scope.locator("input[name=context_population]").fill("adults with at least one act in 2023")
    scope.locator("input[name=context_controls]").fill("counts under 10 suppressed or merged")


def _vote(page, vote, reason):
    page.locator(f"input[name=vote][value={vote}]").check()
    page.locator("#decision-form textarea[name=reason]").fill(reason)
    page.get_by_role("button", name="Record my decision").click()
    page.wait_for_load_state()


def test_steward_researcher_resubmit_loop(gate_server, browser):
    clone, commit = clone_with_notebook(gate_server.gate.config.settings.project_dir(SLUG), gate_server.workspace())
    (clone / "acts.csv").write_bytes(WITH_SMALL_CELL)
    base = gate_server.url + PREFIX
    contexts = []
    try:
        # The researcher submits from the form: only their files are offered, with the context asked for.
        ctx, remi = _page_of(browser, gate_server, "remi")
        contexts.append(ctx)
        remi.goto(base + "requests/new")
        form = remi.locator("form.submit-form:not(.model-form)")
        assert form.locator("input[value='analysis/acts.csv']").count() == 1
        assert form.locator("input[value*='.git']").count() == 0
        form.locator("input[value='analysis/acts.csv']").check()
        _fill_context(remi, form)
        form.locator("textarea[name=justification]").fill("Acts by age band for the paper's table 2")
        form.get_by_role("button", name="Submit for review").click()
        remi.wait_for_url("**/requests/*")
        old_url = remi.url
        assert remi.locator("#state").inner_text() == "submitted"

        # A steward: the summary first, then the code beside the output.
        ctx, sven = _page_of(browser, gate_server, "sven")
        contexts.append(ctx)
        sven.goto(old_url)
        summary = sven.locator("#summary").inner_text()
        assert "1 check(s) failed" in summary and "small_counts" in summary and "What you can do" in summary
        assert commit in sven.locator(".provenance").inner_text()
        assert "acts.to_csv" in sven.locator(".code-listing").inner_text()
        assert sven.locator("details.passing").count() == 1
        assert sven.locator("details.passing").get_attribute("open") is None  # passing checks folded
        _shot(sven, "1-steward-review")
        _vote(sven, "request_changes", "60-69 has 3 acts: merge it with 50-59")

        # The researcher reads it at once, before the second steward has voted.
        remi.reload()
        assert remi.locator("#state").inner_text() == "under review"
        assert "merge it with 50-59" in remi.locator("#decisions").inner_text()
        _shot(remi, "2-researcher-reads-the-decision")

        ctx, stella = _page_of(browser, gate_server, "stella")
        contexts.append(ctx)
        stella.goto(old_url)
        assert stella.locator("#decisions").count() == 0  # sven's vote stays hidden from her
        _vote(stella, "request_changes", "agree: the 60-69 cell is too small")

        # The researcher answers and resubmits a new version.
        (clone / "acts.csv").write_bytes(ACTS.replace(b"60-69,150", b"60-69,155"))
        remi.reload()
        assert remi.locator("#state").inner_text() == "changes requested"
        form = remi.locator("#resubmit-form")
        form.locator("textarea[name=answer]").fill("Merged 60-69 with the older band: every count is now >= 10")
        form.locator("textarea[name=paths]").fill("analysis/acts.csv")
        _fill_context(remi, form)
        _shot(remi, "3-researcher-answers")
        form.get_by_role("button", name="Resubmit").click()
        remi.wait_for_url(lambda url: url != old_url and "/requests/" in url)
        new_url = remi.url
        assert "answers request" in remi.locator("#summary").inner_text()

        sven.goto(new_url)
        assert "every count is now >= 10" in sven.locator("#answer").inner_text()
        assert "Every automated check passed" in sven.locator("#summary").inner_text()
        _shot(sven, "4-steward-reads-the-answer")
        _vote(sven, "approve", "merged, every count >= 10")
        stella.goto(new_url)
        _vote(stella, "approve", "fine now")
        assert stella.locator("#state").inner_text() == "released"

        sven.goto(old_url)
        assert sven.locator("#resubmitted-by").count() == 1
        remi.goto(new_url)
        assert remi.locator("#state").inner_text() == "released"
    finally:
        for ctx in contexts:
            ctx.close()
