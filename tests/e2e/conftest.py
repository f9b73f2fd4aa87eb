"""The journeys' own platform: a hub, a registry and one seed project, separate from tests/enclave's."""

from __future__ import annotations

import pytest

from ..enclave.conftest import image  # noqa: F401 - the notebook image, built by scripts/build_images.sh
from ..enclave.platform import running_platform

SEED = {"omega": ["rita"]}  # a project provisioned by the fixture; the test provisions its own as ops


@pytest.fixture(scope="session")
def journey_platform(tmp_path_factory, image):  # noqa: F811
    with running_platform(tmp_path_factory.mktemp("journeys"), image, SEED) as p:
        yield p
