"""The one seam through which every payload the seal sends to a browser passes: a :class:`Guard`
judges an HTTP answer's body or one websocket message and says what to send instead, what it costs
against the budget (information bytes) and what it found (each hit is audited, and raises an alarm unless it says not to).

The seal's guard is :class:`spawner_config.seal_content.ContentGuard` (encoded runs, the project's
own extracts and pseudonyms, images), one per member and project (:func:`~spawner_config.seal_content.guard_for`).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

HIT_KINDS = ("encoded", "known_content", "pseudonyms", "image")  # enclave.alarms.CONTENT_KINDS counts them


class Hit(NamedTuple):
    kind: str    # one of HIT_KINDS
    detail: str
    alarm: bool = True  # False: audited as a cut, but no alarm (an encoded piece cut only because the channel just carried a run)


class Passed(NamedTuple):
    payload: bytes | str  # what reaches the browser (a str for a text websocket message)
    charge: int           # what it costs against the budget
    hits: list[Hit]


class Guard(Protocol):
    def answer(self, path: str, content_type: str, body: bytes) -> Passed:
        """An HTTP answer's body."""

    def message(self, channel: str, data: str | bytes, stream: str = "") -> Passed:
        """One websocket message to the browser (``channel``: kernel, terminal or other; ``stream``:
        which websocket, whose messages continue one another)."""

    def charge(self, channel: str, payload: str | bytes) -> int:
        """Information bytes ``payload`` adds to what ``channel`` carried before (headers, notices)."""
