"""Attack tests for resolving a submitted path: every escape is refused with its reason."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from egress_gate import EgressError
from egress_gate.quarantine import Quarantine
from egress_gate.submission import open_submission, resolve_submission

MAX = 1024


def refused(ws: Path, requested: str, reason: str, max_bytes: int = MAX) -> str:
    with pytest.raises(EgressError) as err:
        resolve_submission(ws, requested, max_bytes)
    message = str(err.value)
    assert reason in message
    assert "\n" not in message
    return message


def test_a_plain_file_resolves(workspace):
    assert resolve_submission(workspace, "outputs/table.csv", MAX) == workspace / "outputs" / "table.csv"
    assert resolve_submission(workspace, "./outputs//table.csv", MAX) == workspace / "outputs" / "table.csv"


def test_an_absolute_path_inside_resolves_and_outside_is_refused(workspace):
    assert resolve_submission(workspace, str(workspace / "outputs/table.csv"), MAX) == workspace / "outputs/table.csv"
    refused(workspace, str(workspace.parent / "secret.csv"), "absolute path outside")
    refused(workspace, "/etc/passwd", "absolute path outside")


def test_dotdot_is_refused_even_when_it_stays_inside(workspace):
    refused(workspace, "../secret.csv", "'..'")
    refused(workspace, "outputs/../../secret.csv", "'..'")
    refused(workspace, "outputs/../outputs/table.csv", "'..'")
    refused(workspace, str(workspace / ".." / "secret.csv"), "'..'")


def test_a_symlinked_file_is_refused(workspace):
    (workspace / "link.csv").symlink_to(workspace.parent / "secret.csv")
    message = refused(workspace, "link.csv", "symbolic link")
    assert "link.csv" in message
    (workspace / "inside.csv").symlink_to(workspace / "outputs" / "table.csv")  # even pointing inside
    refused(workspace, "inside.csv", "symbolic link")


def test_a_symlinked_directory_component_is_refused(workspace):
    (workspace / "out").symlink_to(workspace.parent)
    refused(workspace, "out/secret.csv", "out is a symbolic link")


def test_a_symlink_to_a_device_is_refused_as_a_symlink(workspace):
    (workspace / "null.csv").symlink_to("/dev/null")
    refused(workspace, "null.csv", "symbolic link")


def test_a_hardlink_is_refused(workspace):
    os.link(workspace.parent / "secret.csv", workspace / "twin.csv")
    refused(workspace, "twin.csv", "2 hard links")


def test_a_fifo_is_refused_without_blocking(workspace):
    os.mkfifo(workspace / "pipe.csv")
    refused(workspace, "pipe.csv", "FIFO")


def test_a_socket_is_refused(workspace):
    path = workspace / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError as exc:  # e.g. a path too long for AF_UNIX
        pytest.skip(f"cannot bind a unix socket here: {exc}")
    try:
        refused(workspace, "s.sock", "socket")
    finally:
        server.close()


def test_a_device_is_refused(workspace):
    if os.geteuid() != 0:
        pytest.skip("creating a device node (os.mknod) needs root")
    try:
        os.mknod(workspace / "null.csv", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError as exc:  # root without CAP_MKNOD (a container)
        pytest.skip(f"mknod refused: {exc}")
    refused(workspace, "null.csv", "a device")


def test_a_directory_is_refused(workspace):
    refused(workspace, "outputs", "directory")


def test_an_oversize_file_is_refused(workspace):
    (workspace / "big.csv").write_bytes(b"x" * (MAX + 1))
    refused(workspace, "big.csv", f"over the limit of {MAX} bytes")
    (workspace / "exact.csv").write_bytes(b"x" * MAX)
    assert resolve_submission(workspace, "exact.csv", MAX).name == "exact.csv"


def test_empty_missing_and_nul_names_are_refused(workspace):
    refused(workspace, "", "empty path")
    refused(workspace, "   ", "empty path")
    refused(workspace, ".", "workspace itself")
    refused(workspace, "nope.csv", "does not exist")
    refused(workspace, "a\0b.csv", "NUL")


def test_a_file_swapped_for_a_symlink_after_resolution_does_not_leak(workspace, tmp_path):
    """The race: checks pass, then the researcher swaps the file for a link to a secret."""
    quarantine = Quarantine(tmp_path / "quarantine")
    original = (workspace / "outputs" / "table.csv").read_bytes()
    with open_submission(workspace, "outputs/table.csv", MAX) as submitted:
        target = workspace / "outputs" / "table.csv"
        target.unlink()
        target.symlink_to(workspace.parent / "secret.csv")
        sha, size = quarantine.snapshot(submitted, MAX)
    assert quarantine.open(sha) == original and size == len(original)
    refused(workspace, "outputs/table.csv", "symbolic link")  # and a new submission is refused


def test_a_directory_swapped_for_a_symlink_after_opening_is_not_followed(workspace, tmp_path):
    quarantine = Quarantine(tmp_path / "quarantine")
    with open_submission(workspace, "outputs/table.csv", MAX) as submitted:
        os.rename(workspace / "outputs", workspace / "moved")
        (workspace / "outputs").symlink_to(workspace.parent)
        sha, _ = quarantine.snapshot(submitted)
    assert b"nir" not in quarantine.open(sha)


def test_open_submission_keeps_the_descriptor_until_closed(workspace):
    submitted = open_submission(workspace, "outputs/table.csv", MAX)
    fd = submitted.fd
    assert stat.S_ISREG(os.fstat(fd).st_mode) and submitted.relative == "outputs/table.csv"
    submitted.close()
    with pytest.raises(OSError):
        os.fstat(fd)
