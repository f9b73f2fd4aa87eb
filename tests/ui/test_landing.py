"""Each role's landing on the hub's home page: the work listed, its states in words, its links and counts,
read from a real registry (SQLite) put in its situation by the owners' real workflows."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from spawner_config import landing
from spawner_config.home import TEMPLATES

from .factories import COMMITTEE, MANY_ROLES, NOBODY, OPS, RESEARCHER, STEWARD, give_everyone_work, sqlite_registry, withdraw_export


@pytest.fixture
def work(sqlite_template, tmp_path):
    with sqlite_registry(sqlite_template, tmp_path / "home") as registry:
        with registry.session() as session:
            ids = give_everyone_work(session, tmp_path)
        yield registry, ids


def sections_of(registry, username: str) -> dict[str, landing.Section]:
    with registry.session() as session:
        return {s.key: s for s in landing.landing(session, username)}


def test_a_researcher_sees_their_exports_imports_and_access_requests_with_states_in_words_and_links(work):
    registry, ids = work
    sections = sections_of(registry, RESEARCHER)
    assert list(sections) == ["researcher"]  # no steward, committee or ops part for a researcher
    items = {item.anchor: item for item in sections["researcher"].items}
    assert items[f"export-{ids['sent_back']}"].state == "changes requested"
    assert items[f"export-{ids['sent_back']}"].link == f"egress/requests/{ids['sent_back']}"
    assert items[f"export-{ids['sent_back']}"].todo == "answer the stewards and resubmit"
    assert items[f"export-{ids['waiting']}"].state == "submitted" and not items[f"export-{ids['waiting']}"].yours_to_act
    assert items[f"import-{ids['import']}"].state == "scanned"
    assert items[f"import-{ids['import']}"].link == f"egress/imports#import-{ids['import']}"
    assert items[f"access-{ids['draft']}"].state == "draft"
    assert items[f"access-{ids['draft']}"].todo == "complete it and submit it to the committee"
    assert items[f"access-{ids['draft']}"].link == f"portal/requests/{ids['draft']}"
    # Nobody else's requests: ada's and ben's access requests are not remi's.
    assert not any(a.startswith("access-") and a != f"access-{ids['draft']}" for a in items)
    assert sections["researcher"].waiting == 2  # the export sent back and the draft
    assert sections["researcher"].summary == "2 of your requests await you"


def test_a_steward_sees_exports_and_imports_to_review_oldest_first_and_never_their_own_project(work):
    registry, ids = work
    inbox = sections_of(registry, STEWARD)["steward"]
    assert [i.anchor for i in inbox.items] == [f"review-export-{ids['waiting']}", f"review-import-{ids['import']}"]
    assert inbox.summary == "2 requests await your review" and inbox.waiting == 2
    # max is a steward and a member of cohort-a: nothing of his own project reaches his inbox.
    assert sections_of(registry, "max")["steward"].items == []
    assert sections_of(registry, "max")["steward"].summary == "0 requests await your review"
    with registry.session() as session:
        withdraw_export(session, ids["waiting"])
    assert sections_of(registry, STEWARD)["steward"].summary == "1 request awaits your review"


def test_a_committee_member_sees_only_what_they_may_still_judge(work):
    registry, ids = work
    judge = sections_of(registry, COMMITTEE)["committee"]
    assert [i.anchor for i in judge.items] == [f"judge-{ids['to_judge']}"]  # not the one she judged, not the draft
    assert judge.items[0].link == f"portal/requests/{ids['to_judge']}"
    assert judge.summary == "1 request awaits your opinion"
    # ada is the applicant of the request cleo judged: a committee member who is not cleo still has it to judge.
    assert [i.anchor for i in sections_of(registry, "cyril")["committee"].items] == [f"judge-{ids['judged']}", f"judge-{ids['to_judge']}"]


def test_ops_see_authorisations_to_record_packages_security_and_usage(work):
    registry, ids = work
    sections = sections_of(registry, OPS)
    assert list(sections) == ["ops-authorisations", "ops-packages", "ops-security", "ops-usage"]
    assert [i.anchor for i in sections["ops-authorisations"].items] == [f"authorise-{ids['approved']}"]
    assert sections["ops-authorisations"].summary == "1 approved request awaits the authority's decision"
    package = sections["ops-packages"].items[0]
    assert package.anchor == f"package-{ids['package']}" and "tabulate" in package.label
    assert f"enclave packages approve {ids['package']}" in package.how
    security = sections["ops-security"]
    assert security.items[0].anchor == f"suspension-{ids['suspension']}" and "mona" in security.items[0].label
    assert any(i.kind == "security event" and i.state == "bulk output" and "encoded data" in i.label for i in security.items)
    assert security.items[0].how == "enclave member lift cohort-a mona --reason '...'"
    assert security.summary.startswith("1 suspension in force, ")
    assert [i.anchor for i in sections["ops-usage"].items] == ["usage-cohort-a"]
    assert sections["ops-usage"].items[0].link == "usage/projects/cohort-a"


def test_a_person_with_several_roles_sees_each_part_and_the_counts_per_role(work):
    registry, _ = work
    sections = sections_of(registry, MANY_ROLES)
    assert list(sections) == ["steward", "committee", "ops-authorisations", "ops-packages", "ops-security", "ops-usage"]
    with registry.session() as session:
        assert landing.counts(session, MANY_ROLES) == {"steward": 2, "committee": 2, "ops": 3}
        assert landing.counts(session, RESEARCHER) == {"researcher": 2}
        assert landing.counts(session, NOBODY) == {"researcher": 0}
        assert landing.counts(session, "not-registered") == {}


def test_someone_without_project_or_request_still_gets_a_way_to_their_work(work):
    registry, _ = work
    sections = sections_of(registry, NOBODY)
    assert sections["researcher"].items == []
    assert sections["researcher"].link == "portal/requests/new"
    assert sections["researcher"].summary == "no request yet"


def render_section(section: landing.Section) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("_work_section.html").render(section=section, services="/services/")


def test_the_section_template_shows_counts_states_and_links_and_escapes_what_people_wrote(work):
    registry, ids = work
    inbox = sections_of(registry, STEWARD)["steward"]
    page = render_section(inbox)
    assert 'id="count-steward">2<' in page and "2 requests await your review" in page
    assert f'href="/services/egress/requests/{ids["waiting"]}"' in page and 'href="/services/egress/queue"' in page
    hostile = landing.Section("researcher", landing.Role.researcher, "Your requests",
                              [landing.Item("import", "<script>alert(1)</script>", "draft")], 0, "none")
    assert "<script>alert" not in render_section(hostile) and "&lt;script&gt;" in render_section(hostile)


def test_the_home_template_links_a_person_without_projects_to_their_work():
    home = (Path(TEMPLATES) / "home.html").read_text()
    no_projects = home[home.index('id="no-projects"'):home.index("{% else %}", home.index('id="no-projects"'))]
    assert 'href="{{ services }}portal/requests/new"' in no_projects and 'href="{{ services }}portal/requests"' in no_projects


def test_the_hub_shell_shows_what_waits_for_the_viewer_in_its_navigation(work):
    """The hub's ``enclave_shell`` template variable, on the registry the hub reads: a steward's navigation
    counts the two requests of their inbox, a researcher's none of it, a visitor's nothing."""
    from types import SimpleNamespace

    from enclave.branding import Branding
    from enclave.settings import Settings
    from spawner_config.shell import shell_of

    registry, _ = work
    settings = Settings.from_env({"ENCLAVE_DB_URL": str(registry.engine.url), "ENCLAVE_HOME": str(registry.home)})
    shell = shell_of(settings, Branding())
    steward = shell(SimpleNamespace(name=STEWARD))
    assert steward.username == STEWARD and steward.counts == {"review": 2}, steward.counts
    assert shell(None).counts == {} and shell(None).username is None
    assert shell(SimpleNamespace(name=RESEARCHER)).counts.get("review") is None
