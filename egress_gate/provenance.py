"""Which code produced an output file: a commit of the project's repository and a notebook or script in it.

Why on the gate's side: the researcher's container can claim anything, so the gate only *starts*
from what the workspace says — the clone's ``HEAD`` (read without following any link, like a
submitted file: :func:`egress_gate.submission.open_submission`) and, optionally, the notebook or
script the researcher names (``enclave-export submit --from analysis.ipynb``, or ``sources`` in
the API) — and then takes everything a steward sees from the project's *bare* repository
(:func:`enclave.layout.repository_dir`, served to containers by the project tools): the commit
must have been pushed there, and the code shown is the one at that commit, not the workspace's.

When no notebook is named, the committed notebooks and scripts that mention the output's file
name are the candidates (``git grep`` at that commit): one is taken, several are all listed.

A provenance is a dict stored on the file (``EgressFile.provenance``): ``status`` is ``found``
(``commit``, ``source``, ``how``, ``source_changed`` when the workspace's copy differs from the
commit), or why not (``no_clone``, ``not_pushed``, ``no_source``, ``no_repository``) with a
``note`` saying what the researcher can do. A missing provenance never refuses a request: the
stewards see that it is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from enclave.code_repository import git
from enclave.errors import EnclaveError

from .errors import EgressError
from .submission import open_submission

SOURCE_GLOBS = ("*.ipynb", "*.py", "*.R", "*.r", "*.Rmd", "*.qmd", "*.jl", "*.sql", "*.do", "*.sas")
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_REF = re.compile(r"ref: (refs/heads/[A-Za-z0-9._/-]{1,200})")
MAX_GIT_FILE = 64 * 1024  # .git/HEAD, a ref, packed-refs: small files
MAX_CODE_CHARS = 200_000  # what the review page shows of one notebook or script


def _git(repository: Path, *args: str) -> str:
    # The repository is root's: git's ownership check would refuse it to the gate's user otherwise.
    return git("-c", "safe.directory=*", "--git-dir", str(repository), *args)


def _read_small(workspace: Path, relative: str) -> str | None:
    try:
        with open_submission(workspace, relative, MAX_GIT_FILE) as opened:
            return os.pread(opened.fd, MAX_GIT_FILE, 0).decode("utf-8", "replace")
    except EgressError:
        return None


def clone_root(workspace: Path, file_relative: str) -> str | None:
    """The folder (relative to the workspace, '' for itself) of the git clone holding the file, or None."""
    parts = file_relative.split("/")[:-1]
    for depth in range(len(parts), -1, -1):
        folder = "/".join(parts[:depth])
        if _read_small(workspace, f"{folder}/.git/HEAD" if folder else ".git/HEAD") is not None:
            return folder
    return None


def head_commit(workspace: Path, root: str) -> str | None:
    """The commit the clone at ``root`` has checked out (HEAD, through one branch ref), or None."""
    git_dir = f"{root}/.git" if root else ".git"
    head = (_read_small(workspace, f"{git_dir}/HEAD") or "").strip()
    ref = _REF.fullmatch(head)
    if ref:
        head = (_read_small(workspace, f"{git_dir}/{ref.group(1)}") or "").strip()
        if not head:  # packed
            for line in (_read_small(workspace, f"{git_dir}/packed-refs") or "").splitlines():
                if line.endswith(" " + ref.group(1)):
                    head = line.split(" ", 1)[0]
    return head if _COMMIT.fullmatch(head) else None


def in_repository(repository: Path, commit: str) -> bool:
    try:
        _git(repository, "cat-file", "-e", f"{commit}^{{commit}}")
        return True
    except EnclaveError:
        return False


def blob(repository: Path, commit: str, path: str) -> str | None:
    """The blob id of ``path`` at ``commit``, or None when it is not there."""
    try:
        return _git(repository, "rev-parse", "--verify", "--quiet", f"{commit}:{path}").strip() or None
    except EnclaveError:
        return None


def _clean_source(source: str) -> str | None:
    parts = [p for p in source.strip().split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any(p.startswith("-") or "\0" in p for p in parts):
        return None
    return "/".join(parts)


def check_source(source: object) -> str:
    """A named notebook or script, cleaned; EgressError naming it when it is not a path inside a clone."""
    named = _clean_source(source) if isinstance(source, str) else None
    if named is None:
        raise EgressError(f"--from {source!r}: not a path inside the clone", "name the notebook as `git ls-files` shows it")
    return named


def find(repository: Path, workspace: Path, file_relative: str, source: str | None = None) -> dict[str, Any]:
    """The provenance of the workspace file ``file_relative`` (see the module's docstring)."""
    named = check_source(source) if source else None
    if not (repository / "HEAD").exists():
        return {"status": "no_repository", "note": "the project has no repository (provision it with the project tools)"}
    root = clone_root(workspace, file_relative)
    commit = head_commit(workspace, root) if root is not None else None
    if commit is None:
        return {"status": "no_clone", "note": "the file is not in a clone of the project's repository: clone "
                "$ENCLAVE_GIT_URL into the workspace, commit the notebook and push it"}
    if not in_repository(repository, commit):
        return {"status": "not_pushed", "commit": commit,
                "note": f"commit {commit[:12]} is not in the project's repository: push it (git push), then submit again"}
    prefix = f"{root}/" if root else ""
    if named:
        # Named from the researcher's folder or from the clone's root: both are accepted.
        named = named[len(prefix):] if prefix and named.startswith(prefix) else named
        candidates, how = [named], "named by the researcher"
    else:
        name = file_relative.rsplit("/", 1)[-1]
        try:
            listed = _git(repository, "grep", "-l", "-F", "-e", name, commit, "--", *SOURCE_GLOBS)
        except EnclaveError:  # git grep exits 1 when nothing matches
            listed = ""
        candidates = sorted(line.split(":", 1)[1] for line in listed.splitlines() if ":" in line)
        how = "found by the output's name in the committed code"
    found = [c for c in candidates if blob(repository, commit, c)]
    if not found:
        note = (f"{candidates[0]} is not in commit {commit[:12]}: commit it and push" if named
                else f"no committed notebook or script at {commit[:12]} mentions {file_relative.rsplit('/', 1)[-1]}: "
                     "name it with --from")
        return {"status": "no_source", "commit": commit, "note": note}
    source_path = found[0]
    provenance = {"status": "found", "commit": commit, "source": source_path, "how": how,
                  "source_blob": blob(repository, commit, source_path)}
    if len(found) > 1:
        provenance["candidates"] = found
    local = _read_bytes(workspace, prefix + source_path)
    if local is not None and _blob_id(local) != provenance["source_blob"]:
        provenance["source_changed"] = True
        provenance["note"] = f"the workspace's {source_path} differs from commit {commit[:12]}: commit and push it"
    return provenance


def _read_bytes(workspace: Path, relative: str, limit: int = 64 << 20) -> bytes | None:
    try:
        with open_submission(workspace, relative, limit) as opened:
            return os.pread(opened.fd, opened.size, 0)
    except EgressError:
        return None


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def code_at(repository: Path, provenance: dict[str, Any] | None) -> str | None:
    """The code of a ``found`` provenance, read from the bare repository at its commit, as text;
    a notebook as its cells' sources (outputs left out: they are not code, and may hold data)."""
    if not provenance or provenance.get("status") != "found":
        return None
    try:
        text = _git(repository, "cat-file", "blob", provenance["source_blob"])
    except EnclaveError as exc:
        return f"(the code cannot be read from the project's repository: {exc})"
    if provenance["source"].endswith(".ipynb"):
        text = notebook_code(text)
    return text if len(text) <= MAX_CODE_CHARS else text[:MAX_CODE_CHARS] + "\n… (cut)"


def notebook_code(text: str) -> str:
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return text
    out = []
    for number, cell in enumerate(cells, 1):
        body = cell.get("source", "")
        body = "".join(body) if isinstance(body, list) else str(body)
        out.append(f"# [{number}] {cell.get('cell_type', 'code')}\n{body.rstrip()}\n")
    return "\n".join(out)
