"""One exception type for bad input to the gate: its message names the file, the problem and what to do."""

from enclave.errors import EnclaveError


class EgressError(EnclaveError):
    """A problem with a submitted file or the gate's configuration, never a bug.

    ``str(error)`` is one line: what is wrong, where, and what to do about it (the CLI prints it as
    ``error: ...``, like every EnclaveError).
    """
