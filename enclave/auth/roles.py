"""How registry roles become JupyterHub groups, roles and scopes.

The registry is the only place a user's roles are decided: at each login the authenticator sets
the user's hub groups from it (``manage_groups``), and each group carries a hub role (``load_roles``),
so a role removed with the CLI is gone at the next login. Researchers get the hub's default
``user`` role only.
Operators get no ``access:servers``: they run the platform, they do not read researchers' notebooks.
"""

from __future__ import annotations

from typing import Any

from enclave.models import Role

EGRESS_REVIEW_SCOPE = "custom:enclave-egress:review"

CUSTOM_SCOPES: dict[str, dict[str, str]] = {
    EGRESS_REVIEW_SCOPE: {"description": "Review held egress requests and decide on them (data stewards)."},
}

# Registry role -> hub group.
_HUB_GROUPS: dict[Role, str] = {Role.steward: "stewards", Role.ops: "ops"}

# For ``c.JupyterHub.load_roles`` (the hub creates the groups if missing).
HUB_ROLES: list[dict[str, Any]] = [
    {"name": "enclave-steward", "description": "Data stewards: review egress requests.",
     "scopes": [EGRESS_REVIEW_SCOPE], "groups": ["stewards"]},
    {"name": "enclave-ops", "description": "Operators: see users and servers, stop servers; no access to them.",
     "scopes": ["admin-ui", "list:users", "read:users", "read:servers", "delete:servers", "read:groups"],
     "groups": ["ops"]},
]


def hub_groups(roles: frozenset[Role]) -> list[str]:
    """The hub groups of a user with these registry roles."""
    return sorted(_HUB_GROUPS[role] for role in roles if role in _HUB_GROUPS)
