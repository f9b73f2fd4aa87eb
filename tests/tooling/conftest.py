"""A platform with the project tools: a real hub, the enclave-tools service, real containers of the
real image, and researchers driving their servers' terminals and kernels as a browser would.

Projects: ``lab`` (alice: git, packages, code export), ``other`` (bob, alice: the neighbour who
must not reach ``lab``'s tools) and ``gone`` (alice: closed by a test, its repository retired).

The stack image's tests (test_stack.py) have a platform of their own, ``stack_platform``, whose
projects choose the slim and the stack image in their manifests.
"""

from __future__ import annotations

import os
import re

import pytest

from ..enclave.conftest import image  # noqa: F401 - the notebook images (slim and stack), built once per session
from ..enclave.platform import running_platform
from ..seal.conftest import Researcher

PROJECTS = {"lab": ["alice"], "other": ["bob", "alice"], "gone": ["alice"]}

# As scripts/build_images.sh names it: $NOTEBOOK_STACK_IMAGE, default $NOTEBOOK_IMAGE-stack.
STACK_IMAGE = f"{os.environ.get('NOTEBOOK_STACK_IMAGE') or (os.environ.get('NOTEBOOK_IMAGE') or 'enclave/notebook') + '-stack'}:latest"
# One project on each image. The stack one has room for a full load of the 10-million-row extract
# (the baseline the lazy scan is compared with).
STACK_PROJECTS = {"slimproj": ["alice"], "stackproj": ["alice"]}
STACK_RESOURCES = {"slimproj": {"image": "slim"}, "stackproj": {"image": "stack", "mem_limit": "3G", "cpu_limit": 2.0}}


@pytest.fixture(scope="session")
def tooled(tmp_path_factory, image):  # noqa: F811
    with running_platform(tmp_path_factory.mktemp("tooled"), image, PROJECTS) as p:
        yield p


@pytest.fixture(scope="session")
def stack_image(image) -> str:  # noqa: F811
    return STACK_IMAGE


@pytest.fixture(scope="module")
def stack_platform(tmp_path_factory, image, stack_image):  # noqa: F811
    with running_platform(tmp_path_factory.mktemp("stack-platform"), image, STACK_PROJECTS, resources=STACK_RESOURCES,
                          stack_image=stack_image) as p:
        yield p


@pytest.fixture(scope="session")
def alice(tooled) -> Researcher:
    return Researcher(tooled, "alice")


@pytest.fixture(scope="session")
def bob(tooled) -> Researcher:
    return Researcher(tooled, "bob")


def shell(researcher: Researcher, name: str, command: str, timeout: float = 120) -> tuple[int, str]:
    """Type ``command`` in a terminal of the researcher's server of project ``name``; its exit
    status and everything the terminal showed (the typed line included)."""
    text, _ = researcher.terminal(name, f"{{ {command} ; }} 2>&1; echo RC-$((1000 + $?))-$((6 * 7))X", "-42X", timeout)
    found = re.search(r"RC-(1\d\d\d)-42X", text)
    assert found, f"no exit status in the terminal's output:\n{text[-3000:]}"
    return int(found.group(1)) - 1000, text
