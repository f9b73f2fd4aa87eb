"""A project's life: which action moves it from which state to which, written once in TRANSITIONS.

Every state change goes through :func:`transition`, which writes the audit event in the same
transaction; the docs' state diagram is generated from the same table (:func:`mermaid_diagram`),
so neither can drift from the code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from enclave.audit import record
from enclave.audit_actions import audit_actions_of
from enclave.db import after_commit
from enclave.errors import EnclaveError
from enclave.models import DATA_REACHABLE, AuditEvent, Project, ProjectState
from enclave.state_machine import StateMachine, lock_row


class Action(StrEnum):
    review = "review"
    authorise = "authorise"
    provision = "provision"
    activate = "activate"
    suspend = "suspend"
    resume = "resume"
    freeze = "freeze"  # ops hold the project: data out of reach, nothing deleted
    unfreeze = "unfreeze"
    close = "close"
    deprovision = "deprovision"  # extracts and network removed; the authorisation stands
    reprovision = "reprovision"  # extracts rebuilt (new data, new key version) in place


AUDITED = audit_actions_of("project", Action)  # each action's audit event
_S, _A = ProjectState, Action
_TABLE: Mapping[tuple[ProjectState, Action], ProjectState] = {
    (_S.requested, _A.review): _S.reviewed,
    (_S.reviewed, _A.authorise): _S.authorised,
    (_S.authorised, _A.provision): _S.provisioned,
    (_S.provisioned, _A.activate): _S.active,
    (_S.provisioned, _A.suspend): _S.suspended,
    (_S.active, _A.suspend): _S.suspended,
    (_S.suspended, _A.resume): _S.active,
    (_S.provisioned, _A.freeze): _S.frozen,
    (_S.active, _A.freeze): _S.frozen,
    (_S.suspended, _A.freeze): _S.frozen,
    (_S.frozen, _A.unfreeze): _S.active,
    (_S.frozen, _A.deprovision): _S.authorised,
    (_S.frozen, _A.close): _S.closed,
    (_S.provisioned, _A.deprovision): _S.authorised,
    (_S.active, _A.deprovision): _S.authorised,
    (_S.suspended, _A.deprovision): _S.authorised,
    (_S.provisioned, _A.reprovision): _S.provisioned,
    (_S.active, _A.reprovision): _S.active,
    (_S.requested, _A.close): _S.closed,
    (_S.reviewed, _A.close): _S.closed,
    (_S.authorised, _A.close): _S.closed,
    (_S.provisioned, _A.close): _S.closed,
    (_S.active, _A.close): _S.closed,
    (_S.suspended, _A.close): _S.closed,
}

_APPROVALS = ("committee_reference", "committee_date", "cnil_reference", "cnil_date")


class LifecycleError(EnclaveError):
    """An action that the project's current state (or its approvals, or its expiry) does not allow."""


MACHINE = StateMachine(_TABLE, initial=ProjectState.requested, final={ProjectState.closed}, error=LifecycleError)
TRANSITIONS = MACHINE.transitions
allowed_actions = MACHINE.allowed_actions
mermaid_diagram = MACHINE.mermaid  # `enclave lifecycle diagram`, pasted into docs/operator.md (a test compares)


StateChangeHook = Callable[[Project, ProjectState, ProjectState], None]
STATE_CHANGE_HOOKS: list[StateChangeHook] = []
"""Called as ``hook(project, old, new)`` after each transition has committed, when its
``session_scope`` ends (``old == new`` for a reprovision; ``project`` is detached, its columns
loaded). Nothing is added here by importing a module: each entry point registers what must follow
a state change outside the database (:func:`enclave.host_state.follow_state_changes`: stop a
suspended project's servers, remove a closed project's network). A hook that raises does not undo
the change: the error reaches the caller, after the other hooks ran."""


def transition(session: Session, project: Project, action: Action | str, actor: str, reason: str | None = None,
               **details: Any) -> AuditEvent:
    """Apply ``action`` to ``project`` and append its audit event, both in the session's transaction.

    The project's row is re-read and locked first, so two operators cannot both act on a stale
    state. :data:`STATE_CHANGE_HOOKS` run once the transaction has committed. Returns the audit event
    (action ``project.<action>``; details ``from``, ``to``, ``reason`` if given, then ``details``).
    """
    action = _parse_action(project, action)
    lock_row(session, project)
    old = project.state
    new = MACHINE.next_state(old, action, f"project {project.slug!r}")
    _check_preconditions(project, action, new)
    project.state = new
    event = record(session, actor, AUDITED[action], project.slug,
                   **{"from": old, "to": new}, **({"reason": reason} if reason else {}), **details)
    for hook in STATE_CHANGE_HOOKS:
        after_commit(session, partial(hook, project, old, new))
    return event


def _parse_action(project: Project, action: Action | str) -> Action:
    try:
        return Action(action)
    except ValueError:
        raise LifecycleError(f"{action!r} is not a lifecycle action (project {project.slug!r})",
                             f"use one of: {', '.join(Action)}") from None


def _check_preconditions(project: Project, action: Action, new: ProjectState) -> None:
    if action is Action.authorise:
        missing = [name for name in _APPROVALS if getattr(project, name) is None]
        if missing:
            raise LifecycleError(f"project {project.slug!r} cannot be authorised: {', '.join(missing)} not recorded",
                                 "add the committee's and the CNIL's references and dates to its manifest")
    if new in DATA_REACHABLE and project.expires_on < date.today():
        raise LifecycleError(f"project {project.slug!r} cannot {action}: its authorisation expired on "
                             f"{project.expires_on}",
                             "record a renewed authorisation (a later expires_on), or close it")


def suspend_expired(session: Session, actor: str, today: date | None = None) -> list[Project]:
    """Suspend every provisioned or active project whose authorisation ended before ``today``."""
    from sqlalchemy import select

    today = today or date.today()
    expired = session.scalars(select(Project).where(
        Project.state.in_(DATA_REACHABLE), Project.expires_on < today,
    ).order_by(Project.slug)).all()
    for project in expired:
        transition(session, project, Action.suspend, actor, f"authorisation expired on {project.expires_on}")
    return list(expired)
