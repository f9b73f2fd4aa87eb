"""The registry's rows: naming rules, purposes, roles, memberships and the database's own checks."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from enclave import registry as reg
from enclave.errors import EnclaveError
from enclave.models import MemberRole, Membership, Project, Purpose, Role, User

from .factories import ACTOR, create_project_at_state, create_user

GOOD_SLUGS = ["abc", "cohort-diabete-2024", "a1-b2", "a" * 40]
BAD_SLUGS = ["ab", "Cohort", "1abc", "abc-", "a_b", "a" * 41, "-abc", "été-2024", ""]


@pytest.mark.parametrize("slug", GOOD_SLUGS)
def test_good_slugs_are_accepted(slug):
    assert Project(slug=slug).slug == slug


@pytest.mark.parametrize("slug", BAD_SLUGS)
def test_bad_slugs_are_refused_with_the_rule(slug):
    with pytest.raises(EnclaveError, match="is not valid — use 3-40 lower-case letters"):
        Project(slug=slug)


@pytest.mark.parametrize("username", ["Alice", "alice smith", "", "-x", "a" * 65])
def test_bad_user_names_are_refused(username):
    with pytest.raises(EnclaveError, match="user name .* is not valid"):
        User(username=username)


def test_the_six_legal_purposes_and_their_labels():
    assert {p.value: (p.label_fr, p.label_en) for p in Purpose} == {
        "health_information": ("information sur la santé", "health information"),
        "health_policy": ("mise en œuvre des politiques de santé", "health policy"),
        "health_spending": ("connaissance des dépenses de santé", "knowledge of health spending"),
        "professional_information": ("information des professionnels et des établissements sur leur activité",
                                     "information of professionals and institutions on their activity"),
        "innovation": ("innovation dans les domaines de la santé et de la prise en charge médico-sociale",
                       "innovation in health and care"),
        "surveillance": ("veille, surveillance et sécurité sanitaires", "surveillance, monitoring and health safety"),
    }


def test_users_hold_a_set_of_roles_and_unique_names(registry):
    with registry.session() as session:
        user = reg.add_user(session, ACTOR, "sam", ["steward", Role.researcher], "Sam", oidc_sub="sub-sam")
    with registry.session() as session:
        user = reg.get_user(session, "sam")
        assert user.roles == {Role.steward, Role.researcher}
        assert user.created_at.tzinfo is UTC
        user.roles = {Role.steward, Role.ops}
    with registry.session() as session:
        assert reg.get_user(session, "sam").roles == {Role.steward, Role.ops}
        for username, sub, problem in [("sam", None, "already exists"), ("sal", "sub-sam", "already belongs"),
                                       ("sol", None, "has no role")]:
            with pytest.raises(EnclaveError, match=problem):
                reg.add_user(session, ACTOR, username, [] if username == "sol" else ["ops"], oidc_sub=sub)
        with pytest.raises(EnclaveError, match="'nobody' is not in the registry"):
            reg.get_user(session, "nobody")


def test_registering_makes_the_pi_a_member_and_refuses_a_taken_slug(registry):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-a", members=("mia",))
    with registry.session() as session:
        project = reg.get_project(session, "cohort-a")
        roles = {m.user.username: m.role for m in project.memberships}
        assert roles == {"pia": MemberRole.pi, "mia": MemberRole.member}
        assert project.egress_policy == {"small_cell_threshold": 10, "stewards_required": 2}
        assert project.days_to_expiry(project.expires_on - timedelta(days=3)) == 3
        assert project.created_at.tzinfo is UTC
        with pytest.raises(EnclaveError, match="'cohort-a' is already registered"):
            create_project_at_state(session, "cohort-a")
        with pytest.raises(EnclaveError, match="project 'nope' is not in the registry"):
            reg.get_project(session, "nope")


def test_a_user_is_a_member_of_a_project_once(registry):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-b")
    with pytest.raises(IntegrityError), registry.session() as session:
        session.add(Membership(project_id=project.id, user_id=project.principal_investigator_id))


def test_the_database_enforces_foreign_keys_and_allowed_values(registry):
    with registry.session() as session:
        project = create_project_at_state(session, "cohort-c")
    with pytest.raises(IntegrityError), registry.session() as session:
        session.add(Membership(project_id=project.id, user_id=9999))
    with pytest.raises(IntegrityError):
        registry.execute("UPDATE projects SET state = 'paused'")
    with pytest.raises(IntegrityError):
        registry.execute("INSERT INTO user_roles (user_id, role) VALUES (:u, 'admin')",
                         u=project.principal_investigator_id)
    with registry.session() as session:
        assert session.scalars(select(Project.state)).all() == ["requested"]


def test_dates_round_trip(registry):
    with registry.session() as session:
        create_user(session, "pia")
        project = create_project_at_state(session, "cohort-d", expires_on=date(2030, 1, 31))
    with registry.session() as session:
        loaded = session.get(Project, project.id)
        assert (loaded.expires_on, loaded.committee_date) == (date(2030, 1, 31), date(2025, 3, 4))
        assert loaded.updated_at >= loaded.created_at
