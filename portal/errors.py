"""The portal's one error type: an :class:`~enclave.errors.EnclaveError` (problem, then what to do)."""

from enclave.errors import EnclaveError


class PortalError(EnclaveError):
    """Bad input to the front office: a request, a vote, an authorisation or the catalogue's description."""
