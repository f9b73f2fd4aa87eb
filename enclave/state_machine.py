"""One state machine for every workflow (a project's life, egress requests, access requests, imports).

Each workflow writes its moves once, as a table ``(state, action) -> new state``; this class answers
what is allowed, refuses the rest in one wording (the state in words and what is allowed instead),
locks the row a move changes, and draws the table as a Mermaid diagram for the docs. What a move
*does* besides changing the state (audit event, preconditions, hooks) stays in the workflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from enclave.errors import EnclaveError

State = TypeVar("State", bound=Enum)
Action = TypeVar("Action", bound=Enum)


def in_words(state: Enum) -> str:
    """How a state is written to people: its ``words`` where it has them, else its value."""
    return getattr(state, "words", None) or str(state.value)


class StateMachine(Generic[State, Action]):
    def __init__(self, transitions: Mapping[tuple[State, Action], State], *, initial: State,
                 error: type[EnclaveError], initial_action: Action | None = None, final: Iterable[State] = ()):
        self.transitions: Mapping[tuple[State, Action], State] = MappingProxyType(dict(transitions))
        self.initial = initial
        self.initial_action = initial_action
        self.final = frozenset(final)
        self.error = error

    def allowed_actions(self, state: State) -> list[Action]:
        """The actions the table allows from ``state``, in table order."""
        return [action for (source, action) in self.transitions if source is state]

    def is_allowed(self, state: State, action: Action) -> bool:
        return (state, action) in self.transitions

    def next_state(self, state: State, action: Action, subject: str) -> State:
        """Where ``action`` takes ``subject`` (e.g. "egress request 4") from ``state``; the workflow's error,
        naming the state in words and what is allowed now, when the table has no such move."""
        new = self.transitions.get((state, action))
        if new is None:
            allowed = ", ".join(str(a) for a in self.allowed_actions(state)) or f"none ({in_words(state)} is final)"
            raise self.error(f"{subject} is {in_words(state)}: it cannot {action}", f"allowed now: {allowed}")
        return new

    def mermaid(self) -> str:
        """The table as a Mermaid state diagram: the way in, every move, the ways out."""
        entry = f" : {self.initial_action}" if self.initial_action is not None else ""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}{entry}"]
        lines += [f"    {source} --> {target} : {action}" for (source, action), target in self.transitions.items()]
        lines += [f"    {state} --> [*]" for state in sorted(self.final, key=str)]
        return "\n".join(lines) + "\n"


def lock_row(session: Session, row) -> None:
    """Re-read ``row`` and hold its lock until the transaction ends, so two people cannot both act on a
    stale state (SQLite: the session already holds the database's write lock once it has written)."""
    session.flush()
    session.refresh(row, with_for_update={"of": type(row)})
