"""The one seam through which every payload the seal sends to a browser passes: a :class:`Guard`
judges an HTTP answer's body or one websocket message and says what to send instead, what it costs
against the budget (information bytes) and what it found (each hit is audited and raises an alarm).

:class:`RawGuard` sends everything unchanged at its raw length; :func:`guard_for` is where a
content-judging guard (encoded runs, the project's own extracts or pseudonyms, images) plugs in.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from enclave.settings import Settings

HIT_KINDS = ("encoded", "known_content", "pseudonyms", "image")


class Hit(NamedTuple):
    kind: str    # one of HIT_KINDS
    detail: str


class Passed(NamedTuple):
    payload: bytes | str  # what reaches the browser (a str for a text websocket message)
    charge: int           # what it costs against the budget
    hits: list[Hit]


class Guard(Protocol):
    def answer(self, path: str, content_type: str, body: bytes) -> Passed:
        """An HTTP answer's body."""

    def message(self, channel: str, data: str | bytes) -> Passed:
        """One websocket message to the browser (``channel``: kernel, terminal or other)."""


class RawGuard:
    """Everything unchanged, charged at its raw length, nothing found."""

    def answer(self, path: str, content_type: str, body: bytes) -> Passed:
        return Passed(body, len(body), [])

    def message(self, channel: str, data: str | bytes) -> Passed:
        return Passed(data, len(data.encode() if isinstance(data, str) else data), [])


def guard_for(settings: Settings, project_slug: str) -> Guard:
    """The guard of one project's payloads."""
    return RawGuard()
