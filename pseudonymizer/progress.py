"""Progress of a long table: a bar on a terminal, a plain line every few seconds in a log."""

from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm

PROGRESS_ENV = "ENCLAVE_PROGRESS_SECONDS"  # seconds between progress lines in logs (default 10)


def _interval() -> float:
    try:
        return float(os.environ.get(PROGRESS_ENV, "10"))
    except ValueError:
        return 10.0


class Progress:
    def __init__(self, name: str, total: int | None, enabled: bool = True, stream=None, interval: float | None = None):
        self.name, self.total, self.enabled = name, total, enabled
        self.stream = stream or sys.stderr
        self.interval = _interval() if interval is None else interval
        self.rows = 0
        self._bar = None
        self._start = self._last = time.monotonic()
        if enabled and _is_terminal(self.stream):
            self._bar = tqdm(total=total, unit=" rows", unit_scale=True, desc=name, leave=False, file=self.stream)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and exc[0] is None and time.monotonic() - self._start >= self.interval:
            self._line("done")

    def update(self, rows: int) -> None:
        self.rows += rows
        if self._bar is not None:
            self._bar.update(rows)
        elif self.enabled and time.monotonic() - self._last >= self.interval:
            self._line("")

    def _line(self, suffix: str) -> None:
        now = time.monotonic()
        self._last = now
        rate = self.rows / max(now - self._start, 1e-9)
        share = f" ({100 * self.rows / self.total:.0f}%)" if self.total else ""
        end = f", {suffix}" if suffix else ""
        print(f"{self.name}: {self.rows:,} rows{share}, {rate:,.0f} rows/s{end}", file=self.stream, flush=True)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
