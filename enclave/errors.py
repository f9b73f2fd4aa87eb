"""One exception type for every problem an operator can fix: its message names it and the fix."""


class EnclaveError(Exception):
    """A problem with the operator's input or environment (settings, registry, lifecycle), never a bug.

    ``str(error)`` is one line: what is wrong, where, and what to do about it. The CLI prints it as
    ``error: ...`` and exits with status 2.
    """

    def __init__(self, problem: str, hint: str | None = None):
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem} — {hint}" if hint else problem)
