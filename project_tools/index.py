"""A PEP 503 "simple" index of one project's wheelhouse (the wheels ops approved, with their dependencies).

pip reads ``/simple/<name>/``: one link per wheel, with its sha256 in the fragment (pip checks
it). A name with no wheel answers 404 with what to do, which ``enclave-package`` and the image's
``pip`` show the researcher.
"""

from __future__ import annotations

import hashlib
import re
from html import escape
from pathlib import Path

from enclave.packages import normalise, wheel_project

WHEEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*\.whl$")


def wheels(wheelhouse: Path) -> dict[str, list[Path]]:
    """``{normalised project name: [its wheel files]}`` of a wheelhouse (empty if there is none)."""
    found: dict[str, list[Path]] = {}
    if wheelhouse.is_dir():
        for path in sorted(wheelhouse.glob("*.whl")):
            if WHEEL_NAME.match(path.name) and path.is_file():
                found.setdefault(wheel_project(path.name), []).append(path)
    return found


def _page(title: str, links: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
            f"<title>{escape(title)}</title></head><body>\n" + "\n".join(links) + "\n</body></html>\n")


def root_page(wheelhouse: Path) -> str:
    return _page("Packages approved for this project",
                 [f'<a href="{escape(name)}/">{escape(name)}</a>' for name in sorted(wheels(wheelhouse))])


def project_page(wheelhouse: Path, name: str, wheels_url: str) -> str | None:
    """The page of project ``name`` (any spelling), or None when the wheelhouse has no wheel of it."""
    files = wheels(wheelhouse).get(normalise(name))
    if not files:
        return None
    links = []
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        links.append(f'<a href="{escape(wheels_url + path.name)}#sha256={digest}">{escape(path.name)}</a>')
    return _page(f"Links for {normalise(name)}", links)


def not_approved(name: str) -> str:
    return (f"{name} is not approved for this project, so it is not in its package index.\n"
            f"Ask for it from a terminal: enclave-package request {name} --reason \"what it is for\"\n"
            "Ops review the request; once approved, pip install works.\n")
