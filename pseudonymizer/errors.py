"""One exception type for every bad input: its message names the problem and what to do."""


class PseudonymizerError(Exception):
    """A problem with the caller's input (catalog, sources, filters, key), never a bug.

    ``str(error)`` is one line: what is wrong, where, and what to do about it.
    """

    def __init__(self, problem: str, hint: str | None = None):
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem} — {hint}" if hint else problem)
