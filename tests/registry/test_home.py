"""The hub's home page data: a user sees their own projects, and which of them can start."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

from enclave import suspension
from enclave.models import ProjectState
from enclave.settings import Settings
from spawner_config.home import projects_of

from .factories import create_project_at_state, create_user


def hub_user(name: str, running: tuple[str, ...] = ()):
    """What the hub passes to template_vars callables: a name and its spawners."""
    return SimpleNamespace(name=name, spawners={slug: SimpleNamespace(active=True) for slug in running})


def test_home_lists_only_the_users_projects(registry):
    with registry.session() as session:
        create_project_at_state(session, "heart", ProjectState.active, members=("ana",))
        create_project_at_state(session, "lungs", ProjectState.suspended, members=("ana",))
        create_project_at_state(session, "old", ProjectState.provisioned, members=("ana",), expires_on=date.today() - timedelta(days=1))
        create_project_at_state(session, "other", ProjectState.active, members=("ben",))
        create_user(session, "cy")
    projects = projects_of(Settings.from_env({"ENCLAVE_DB_URL": registry.url, "ENCLAVE_HOME": str(registry.home)}))
    listed = {p["slug"]: p for p in projects(hub_user("ana", running=("heart",)))}
    assert sorted(listed) == ["heart", "lungs", "old"]
    assert listed["heart"]["runnable"] and listed["heart"]["running"]
    assert not listed["lungs"]["runnable"] and not listed["old"]["runnable"]
    assert projects(hub_user("cy")) == []
    with registry.session() as session:
        suspension.suspend(session, "ops", "heart", "ana", "repeated seal alarms")
    listed = {p["slug"]: p for p in projects(hub_user("ana", running=("heart",)))}
    assert listed["heart"]["suspended"] and not listed["heart"]["runnable"]
    assert not listed["lungs"]["suspended"]  # a suspended project is not a suspended member
    assert projects(None) == []
