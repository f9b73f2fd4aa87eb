"""The shell's browser tests run on the journeys' platform (tests/e2e): a real hub, its services and the
development OIDC provider, with one person per role added to its registry."""

from __future__ import annotations

import pytest

from ..e2e.conftest import image, journey_platform  # noqa: F401 - the same platform fixture, not a copy

ROLES = {"researcher": "rita", "steward": "sasha", "committee": "cleo", "ops": "otto"}  # rita: omega's member


@pytest.fixture(scope="module")
def shell_platform(journey_platform):  # noqa: F811
    """The journeys' platform with a steward, a committee member and an operator registered."""
    for role in ("steward", "committee", "ops"):
        journey_platform.enclave("user", "add", ROLES[role], "--role", role)
    return journey_platform
