"""The navigation per role (enclave.shell): each person is offered exactly the pages whose own permission
checks let them in, read from a real registry. The browser test follows the links for real."""

from __future__ import annotations

import pytest

from egress_gate import permissions as egress
from enclave.branding import Branding, BrandingError, contrast_with_white
from enclave.models import ProjectState, Role
from enclave.registry import add_user
from enclave.shell.navigation import SERVICES, links_for, service_url
from enclave.shell.roles import Viewer, viewer_of
from enclave.shell.web import current_link
from metering import access as usage
from portal import permissions as portal

from ..registry.factories import create_project_at_state

PEOPLE = {"rita": [Role.researcher], "sasha": [Role.steward], "cleo": [Role.committee], "otto": [Role.ops],
          "nobody": [Role.researcher], "stan": [Role.steward, Role.researcher]}


@pytest.fixture
def people(registry):
    with registry.session() as session:
        for name, roles in PEOPLE.items():
            add_user(session, "test-ops", name, roles)
        create_project_at_state(session, "omega", ProjectState.active, pi="rita", members=("stan",))
    return registry


def keys(viewer: Viewer) -> list[str]:
    return [link.key for link in links_for(viewer, "/")]


def test_each_role_sees_its_work_and_nothing_that_refuses_it(people):
    with people.session() as session:
        seen = {name: keys(viewer_of(session, name)) for name in PEOPLE}
    common = ["access-requests", "catalogue", "directory"]
    assert seen["rita"] == ["home", "outputs", "imports", "usage", "access-requests", "publish", "catalogue", "directory"]
    assert seen["sasha"] == ["home", "access-requests", "review", "imports", "security", "catalogue", "directory"]
    assert seen["cleo"] == ["home", "access-requests", "committee", "catalogue", "directory"]
    assert seen["otto"] == ["home", "usage", "access-requests", "security", "staff", "admin", "catalogue", "directory"]
    assert seen["nobody"] == ["home", *common]  # registered, in no project: no outputs, no usage
    assert seen["stan"].count("imports") == 1 and {"outputs", "review", "security"} <= set(seen["stan"])


def test_links_agree_with_each_services_own_permission_checks(people):
    """The navigation's rules against the checks the pages run: a link shown is a page that answers."""
    with people.session() as session:
        for name in PEOPLE:
            offered = set(keys(viewer_of(session, name)))
            assert ("review" in offered) == egress.is_steward(session, name), name
            assert ("security" in offered) == egress.user_can_watch_security(session, name), name
            assert ("staff" in offered) == portal.is_ops(session, name), name
            assert ("committee" in offered) == portal.is_committee(session, name), name
            assert ("usage" in offered) == bool(usage.visible_projects(session, name)), name
            assert ("outputs" in offered) == egress.user_can_submit(session, name, "omega"), name  # omega: the only project


def test_a_hub_user_the_registry_does_not_know_and_a_visitor_get_only_public_pages(people):
    with people.session() as session:
        stranger = viewer_of(session, "mallory")
    assert stranger.signed_in and not stranger.registered
    assert keys(stranger) == ["home", "catalogue", "directory"]
    assert keys(Viewer.anonymous()) == ["catalogue", "directory"]


def test_links_live_under_the_hub_base_and_the_current_page_is_marked():
    links = links_for(Viewer("otto", registered=True, roles=frozenset({Role.ops}), projects=("omega",)), "/jh/")
    assert all(link.href.startswith("/jh/hub/") or link.href.startswith("/jh/services/") for link in links)
    assert {link.href.split("/")[3] for link in links if "/services/" in link.href} <= set(SERVICES)
    assert current_link(links, "/jh/services/egress/security") == "security"
    assert current_link(links, "/jh/services/portal/catalogue/tables/IR_BEN_R") == "catalogue"
    assert current_link(links, "/jh/services/egress/requests/3") == "outputs"
    assert current_link(links, "/jh/services/portal/") is None
    with pytest.raises(ValueError, match="unknown service 'egres'"):
        service_url("/", "egres")


def test_branding_defaults_and_settings(tmp_path):
    assert Branding.from_env({}).name == "Enclave" and Branding.from_env({}).colour == "#1d3f6e"
    logo = tmp_path / "logo.svg"
    logo.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    mine = Branding.from_env({"ENCLAVE_BRAND_NAME": "SNDS Lab", "ENCLAVE_BRAND_COLOUR": "#7A0019",
                              "ENCLAVE_BRAND_LOGO": str(logo), "ENCLAVE_SUPPORT_CONTACT": "help@example.org"})
    assert (mine.name, mine.colour, mine.logo, mine.support) == ("SNDS Lab", "#7a0019", logo, "help@example.org")
    assert mine.css() == ":root { --brand: #7a0019; }\n"


@pytest.mark.parametrize(("variables", "named"), [
    ({"ENCLAVE_BRAND_COLOUR": "red"}, "ENCLAVE_BRAND_COLOUR='red' is not a colour"),
    ({"ENCLAVE_BRAND_COLOUR": "#ffdd00"}, "too light"),                      # white on yellow: 1.4:1
    ({"ENCLAVE_BRAND_LOGO": "/nonexistent/logo.png"}, "ENCLAVE_BRAND_LOGO='/nonexistent/logo.png' is not a file"),
])
def test_branding_refuses_what_it_cannot_use_and_names_it(variables, named):
    with pytest.raises(BrandingError, match=named.replace("(", r"\(")):
        Branding.from_env(variables)


def test_the_default_colour_keeps_white_text_readable():
    assert contrast_with_white("#1d3f6e") >= 4.5 > contrast_with_white("#f37524")  # JupyterHub's orange fails
