"""One exception type for bad input to the gate: its message names the file, the problem and what to do."""


class EgressError(Exception):
    """A problem with a submitted file or the gate's configuration, never a bug.

    ``str(error)`` is one line: what is wrong, where, and what to do about it.
    """

    def __init__(self, problem: str, hint: str | None = None):
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem} — {hint}" if hint else problem)
