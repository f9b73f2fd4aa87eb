"""Fixtures for the egress checks' tests (factories are in factories.py)."""

import pytest

from egress_gate import DEFAULT_POLICY

from .conftest_files import workspace  # noqa: F401 - for test_quarantine and test_submission
from .service_fixtures import gate_server  # noqa: F401 - for test_service


@pytest.fixture
def lenient():
    """A policy under which tidy tables have nothing to report on rounding or zeros."""
    return DEFAULT_POLICY.with_overrides(rounding_base=1, zeros_allowed=True)
