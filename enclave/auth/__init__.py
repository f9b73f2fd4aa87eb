"""Hub login: OpenID Connect, then a mandatory TOTP second factor, for users known to the registry.

- :mod:`enclave.auth.settings`: the ``ENCLAVE_OIDC_*`` / ``ENCLAVE_TOTP_KEY`` environment, read once.
- :mod:`enclave.auth.totp`: enrolment, verification (replay, lock), reset — over the registry, audited.
- :mod:`enclave.auth.pending`: logins that passed OIDC and wait for their code (server-side, minutes).
- :mod:`enclave.auth.authenticator`: the JupyterHub authenticator (GenericOAuthenticator + registry).
- :mod:`enclave.auth.handlers`: the hub pages of the second step.
- :mod:`enclave.auth.roles`: the hub groups, roles and custom scopes that registry roles map to.
- :mod:`enclave.auth.devidp`: a local OIDC provider for development and tests.
"""
