"""Working hours, in Europe/Paris: what ``enclave audit report`` calls out-of-hours access.

Written ``Mon-Fri 08:00-19:00`` (days as a range or a comma list of English three-letter names,
then the hours); the setting is ``ENCLAVE_WORKING_HOURS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FORMAT = re.compile(r"^\s*(?P<days>[A-Za-z,\-]+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})\s*$")


@dataclass(frozen=True)
class WorkingHours:
    text: str
    days: frozenset[int]
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        from enclave.errors import EnclaveError

        match = _FORMAT.match(text)
        try:
            if not match:
                raise ValueError("expected days then hours")
            days: set[int] = set()
            for part in match["days"].lower().split(","):
                first, _, last = part.partition("-")
                a, b = DAYS.index(first), DAYS.index(last or first)
                days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
            start, end = time.fromisoformat(match["start"]), time.fromisoformat(match["end"])
            if start >= end:
                raise ValueError("the hours end before they start")
        except ValueError as exc:
            raise EnclaveError(f"ENCLAVE_WORKING_HOURS={text!r} is not working hours ({exc})",
                               "write e.g. 'Mon-Fri 08:00-19:00' (Europe/Paris time)") from None
        return cls(text.strip(), frozenset(days), start, end)

    def covers(self, at: datetime) -> bool:
        """Whether the instant ``at`` (timezone-aware) falls within working hours in Paris."""
        local = at.astimezone(PARIS)
        return local.weekday() in self.days and self.start <= local.time() < self.end


DEFAULT_WORKING_HOURS = WorkingHours("Mon-Fri 08:00-19:00", frozenset(range(5)), time(8), time(19))
