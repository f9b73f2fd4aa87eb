"""Fixtures for the egress checks' tests (factories are in factories.py)."""

import pytest

from egress_gate import DEFAULT_POLICY


@pytest.fixture
def lenient():
    """A policy under which tidy tables have nothing to report on rounding or zeros."""
    return DEFAULT_POLICY.with_overrides(rounding_base=1, zeros_allowed=True)
