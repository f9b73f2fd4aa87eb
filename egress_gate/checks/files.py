"""File-level checks: allowed type, content matching the type, size, and types a human must see."""

from __future__ import annotations

from pathlib import Path

from ..embedded import ARCHIVE_MAGIC
from ..errors import EgressError
from ..findings import Finding, Outcome
from ..policy import Policy
from ..tables import content_matches_type, file_type, head_matches_type
from ._base import finding, passed

HUMAN_TYPES = {"png": "an image", "jpg": "an image", "svg": "an image", "pdf": "a PDF", "ipynb": "a notebook"}


def check_type(path: Path, policy: Policy) -> list[Finding]:
    kind = file_type(path)
    if kind not in policy.allowed_types:
        return [finding("file_type", Outcome.FAIL,
                        f"{path.name}: .{kind or '(none)'} files may not leave; allowed: {', '.join(policy.allowed_types)}", policy)]
    if not content_matches_type(path, kind):
        return [finding("file_type", Outcome.FAIL,
                        f"{path.name}: the content is not {kind.upper()} although the name says so; export it again", policy)]
    return [passed("file_type", f"{path.name}: .{kind} is an allowed type", policy)]


ZIP_TYPES = ("xlsx", "keras", "skops")  # types that are zip containers by definition (a model's: kind "model" only)


def refuse_type(requested: str, name: str, head: bytes, policy: Policy) -> None:
    """Refuse, at submission, a file whose type may not leave or whose first bytes belie its name."""
    kind = file_type(Path(name))
    if kind not in policy.allowed_types:
        raise EgressError(f"{requested}: .{kind or '(no extension)'} files may not leave (allowed: "
                          f"{', '.join(policy.allowed_types)}); nothing was submitted",
                          "export the result as one of the allowed types; archives: submit each file on its own")
    archive = next((what for magic, what in ARCHIVE_MAGIC.items() if head.startswith(magic)), None)
    if not head_matches_type(head, kind) or (archive and kind not in ZIP_TYPES):
        raise EgressError(f"{requested}: the content is {archive or 'not ' + kind.upper()} although the name says "
                          f".{kind}; nothing was submitted", "export the file again under its real type")


def check_size(path: Path, policy: Policy) -> list[Finding]:
    size = path.stat().st_size
    if size > policy.max_size_bytes:
        return [finding("size", Outcome.FAIL, f"{path.name}: {size:,} bytes, over the limit of {policy.max_size_bytes:,}", policy)]
    return [passed("size", f"{size:,} bytes (limit {policy.max_size_bytes:,})", policy)]


def check_needs_human(path: Path, policy: Policy) -> list[Finding]:
    what = HUMAN_TYPES.get(file_type(path))
    if what:
        return [finding("needs_human", Outcome.REVIEW,
                        f"{path.name} is {what}: no automated check can read it, a steward must look at every part", policy)]
    return []


def check_rows(num_rows: int, policy: Policy, part: str | None) -> list[Finding]:
    if num_rows > policy.max_rows:
        return [finding("row_limit", Outcome.FAIL, f"{num_rows:,} rows, over the limit of {policy.max_rows:,}", policy, part=part)]
    return [passed("row_limit", f"{num_rows:,} rows (limit {policy.max_rows:,})", policy, part)]
