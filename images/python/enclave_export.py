"""Ask the egress gate to release outputs: nothing leaves the enclave any other way.

    >>> from enclave_export import submit, status
    >>> request = submit(["table.csv"], "Aggregate counts by region for the paper, table 2")  # beside the notebook
    >>> request["id"], request["state"]

From a terminal::

    enclave-export submit ~/work/table.csv --justification "Aggregate counts for the paper"
    enclave-export status 12
    enclave-export status          # every request of yours, and what happens next
    enclave-export code --justification "Analysis code for the paper's repository"   # in a git clone

Code leaves as a request of kind "code": ``enclave-export code`` writes the changes of the
project's repository (a clone in ~/work) as one text patch — the commits' messages and authors'
names, then the diff since ``--since`` (default: the whole history), binary files left out — into
~/work/code-exports/, and submits it. The gate reads it for pseudonyms, NIRs, e-mail addresses and
long numeric literals, and stewards review it like any output; once released, apply it outside
with ``git apply``.

The files must be in the project's shared workspace (~/work). A path is taken like any command
takes it: relative to the current folder (a notebook's is its own folder), from ``~``, or
absolute under the workspace; a path outside it, or naming nothing, is refused here with what it
resolved to. It is sent to the gate relative to the workspace, and the gate decides (a path outside the workspace, a symlink, a directory... is
refused by the gate, which says why). The gate snapshots the exact bytes at submission, runs its
automated checks (the *findings*) and holds the files until stewards approve the release; project
members then download them from the gate's page, outside the enclave.

Configuration comes from the server's environment, set by the hub: ENCLAVE_EGRESS_URL (the gate,
reached through the hub's proxy), JUPYTERHUB_API_TOKEN (this server's hub token) and
ENCLAVE_PROJECT (the project's slug). R's export_submit() (package 'enclave') calls submit().
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["ExportError", "code_patch", "format_request", "my_requests", "status", "submit", "submit_code", "to_workspace_path",
           "workspace_dir"]

TIMEOUT = 300  # the gate checks the files before it answers


class ExportError(Exception):
    """A refusal or a failure, with a message meant for the researcher."""


def workspace_dir() -> Path:
    """The project's shared workspace ($ENCLAVE_WORK_DIR, default ~/work)."""
    return Path(os.environ.get("ENCLAVE_WORK_DIR") or Path.home() / "work")


def to_workspace_path(path: str | os.PathLike) -> str:
    """``path`` as the researcher's shell and notebook understand it, relative to the workspace.

    ``~`` is the home folder; a relative path is relative to the current folder (a notebook's is
    the notebook's own folder); an absolute path must be under the workspace. Lexical only
    (symlinks are not followed): the gate sees exactly what was named and refuses what it must.
    Raises :class:`ExportError` saying what the path resolved to, and what is allowed, when it
    is outside the workspace or names no file.
    """
    text = os.fspath(path)
    if not text:
        raise ExportError("an empty path was given: name a file of the workspace")
    workspace = os.path.normpath(str(workspace_dir()))
    absolute = os.path.normpath(os.path.join(os.getcwd(), os.path.expanduser(text)))
    allowed = (f"files under the workspace {workspace} (~/work), named relative to the current folder "
               f"({os.getcwd()}), from ~ (~/work/table.csv) or absolute")
    if absolute != workspace and not absolute.startswith(workspace.rstrip("/") + "/"):
        raise ExportError(f"{text} resolves to {absolute}, outside the workspace: allowed are {allowed}")
    if not os.path.lexists(absolute):
        raise ExportError(f"{text} resolves to {absolute}, which does not exist: allowed are {allowed}")
    if os.path.isdir(absolute) and not os.path.islink(absolute):
        raise ExportError(f"{text} resolves to {absolute}, a folder: name the files inside it one by one")
    return os.path.relpath(absolute, workspace)


def _setting(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ExportError(f"{name} is not set: enclave-export runs inside an enclave server started by the hub")
    return value


def _call(method: str, path: str, body: dict | None = None) -> dict:
    url = _setting("ENCLAVE_EGRESS_URL").rstrip("/") + "/" + path
    headers = {"Authorization": f"token {_setting('JUPYTERHUB_API_TOKEN')}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            message = json.loads(raw).get("error") or raw.decode(errors="replace")
        except (ValueError, AttributeError):
            message = raw.decode(errors="replace").strip()[:500] or error.reason
        what = {400: "refused", 401: "not authenticated", 403: "forbidden", 404: "not found",
                409: "not possible now"}.get(error.code, "error")
        raise ExportError(f"the egress gate answered {error.code} ({what}): {message}") from None
    except urllib.error.URLError as error:
        raise ExportError(f"cannot reach the egress gate at {url}: {error.reason}") from None
    except ValueError:
        raise ExportError(f"the egress gate at {url} did not answer JSON") from None


def _git(repository: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ExportError(f"git {' '.join(args)} in {repository}: {done.stderr.strip()[-300:]}")
    return done.stdout


def code_patch(repository: str | os.PathLike = ".", since: str = "") -> Path:
    """Write the changes of the git clone at ``repository`` since ``since`` (default: all of its
    history) as one text patch in ~/work/code-exports/; its path. Authors' e-mail addresses and
    binary files are left out."""
    top = Path(_git(Path(repository), "rev-parse", "--show-toplevel").strip())
    head = _git(top, "rev-parse", "HEAD").strip()
    if since:
        base = _git(top, "rev-parse", "--verify", f"{since}^{{commit}}").strip()
        log_range, diff_from = [f"{base}..{head}"], base
    else:
        log_range, diff_from = [head], _git(top, "hash-object", "-t", "tree", "/dev/null").strip()  # the empty tree
    log = _git(top, "log", "--reverse", "--format=commit %H%nAuthor: %an%nDate:   %ad%n%n%w(0,4,4)%B", *log_range)
    if not log.strip():
        raise ExportError(f"no commit after {since} in {top}: nothing to export")
    diff = _git(top, "diff", "--no-color", "--no-ext-diff", diff_from, head)
    folder = workspace_dir() / "code-exports"
    folder.mkdir(exist_ok=True)
    path = folder / f"code-{top.name}-{head[:12]}-{time.strftime('%Y%m%d%H%M%S')}.patch"
    path.write_text(f"Code export of {top.name} at {head}\n\n{log}\n{diff}", encoding="utf-8")
    return path


def submit_code(justification: str, repository: str | os.PathLike = ".", since: str = "") -> dict:
    """Export the repository's changes as a patch (:func:`code_patch`) and submit it as a request of kind "code"."""
    if not isinstance(justification, str) or not justification.strip():
        raise ExportError("a written justification is required: say what the code is and why it may leave")
    patch = code_patch(repository, since)
    return _call("POST", "api/requests", {"project": _setting("ENCLAVE_PROJECT"), "kind": "code",
                                          "paths": [to_workspace_path(patch)], "justification": justification})


def submit(paths, justification: str, project: str | None = None, source: str | os.PathLike | None = None,
           context: dict | None = None, resubmits: int | None = None, answer: str | None = None) -> dict:
    """Submit ``paths`` (files in ~/work) for release, with a written ``justification``.

    ``source``: the notebook or script that made the files, in your clone of the project's
    repository (committed and pushed: the stewards read it at that commit); without it the gate
    looks for the committed code that names the files. ``context``: ``{"what", "population",
    "controls"}`` for every file. ``resubmits`` (a request whose changes were asked for) with
    ``answer``: the new version, linked to the old request, answering the stewards.

    Returns the gate's answer: ``{"id", "state", "url", "files": [{"name", "sha256", "size",
    "findings"}]}``. Raises :class:`ExportError` with the gate's reason when it refuses.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [to_workspace_path(p) for p in paths]
    if not paths:
        raise ExportError("no file named: give at least one file of ~/work")
    if not isinstance(justification, str) or not justification.strip():
        raise ExportError("a written justification is required: say what the files are and why they must leave")
    body = {"project": project or _setting("ENCLAVE_PROJECT"), "paths": paths, "justification": justification}
    if source:
        made_by = to_workspace_path(source)
        body["sources"] = {p: made_by for p in paths}
    if context and any(context.values()):
        body["contexts"] = {p: {k: v for k, v in context.items() if v} for p in paths}
    if resubmits is not None:
        body["resubmits"], body["answer"] = int(resubmits), answer or ""
    return _call("POST", "api/requests", body)


def update(request_id: int, path: str | os.PathLike, source: str | os.PathLike | None = None) -> dict:
    """Replace a file of a request under review by its new version (the votes already cast are cancelled)."""
    body = {"path": to_workspace_path(path), **({"from": to_workspace_path(source)} if source else {})}
    return _call("POST", f"api/requests/{int(request_id)}", body)


def status(request_id: int) -> dict:
    """The request's state, files (with their findings) and decisions, as the gate shows them."""
    return _call("GET", f"api/requests/{int(request_id)}")


def my_requests() -> list[dict]:
    """Your requests, newest first: ``[{"id", "project", "state"}]``."""
    return _call("GET", "api/requests").get("requests", [])


NEXT = {
    "submitted": "waiting for a steward to start the review",
    "under_review": "stewards are reviewing it",
    "approved": "approved: being released",
    "changes_requested": "stewards asked for changes: see why with `enclave-export status ID`, fix, then "
                         "`enclave-export submit PATH --resubmits ID --answer \"...\"`",
    "rejected": "rejected: see the stewards' reasons with `enclave-export status ID`",
    "released": "released: download it from the gate's page (outside the enclave)",
    "withdrawn": "withdrawn",
}


def _state(answer: dict) -> str:
    """The state in words, as the gate writes it (``state_words``; an older gate sends only ``state``)."""
    return str(answer.get("state_words") or answer.get("state"))


def format_requests(requests: list[dict]) -> str:
    if not requests:
        return "no request yet: submit files with `enclave-export submit PATH --justification \"...\"`"
    return "\n".join(f"request {r.get('id')}  {r.get('project')}  {_state(r)}: "
                     f"{NEXT.get(r.get('state'), '')}".rstrip(": ") for r in requests)


def _ask_justification() -> str:
    if not sys.stdin.isatty():
        raise ExportError("a written justification is required: pass --justification \"what the files are and why "
                          "they are safe to release\"")
    text = input("Justification (what the files are, and why they are safe to release): ").strip()
    if not text:
        raise ExportError("a written justification is required: nothing was submitted")
    return text


def _findings_lines(findings) -> list[str]:
    lines = []
    for finding in findings or []:
        if isinstance(finding, dict):
            outcome = finding.get("outcome") or finding.get("result") or finding.get("status") or "?"
            check = finding.get("check") or finding.get("name") or "check"
            detail = finding.get("message") or finding.get("detail") or ""
            where = f" [{finding['part']}]" if finding.get("part") else ""
            cells = f" ({finding['cell_count']} cells)" if finding.get("cell_count") else ""
            lines.append(f"      {str(outcome).upper():7} {check}{where}{': ' + detail if detail else ''}{cells}")
        else:
            lines.append(f"      {finding}")
    return lines or ["      (no findings)"]


def format_request(answer: dict) -> str:
    """A readable summary of a request: id, state, files with their hashes and findings."""
    kind = f" ({answer['kind']})" if answer.get("kind") == "code" else ""
    lines = [f"request {answer.get('id')}{kind}: {_state(answer)}"]
    if answer.get("project"):
        lines.append(f"  project: {answer['project']}")
    if answer.get("url"):
        lines.append(f"  page: {answer['url']}")
    for f in answer.get("files", []):
        lines.append(f"  {f.get('name')}  sha256 {f.get('sha256')}  {f.get('size')} bytes")
        lines.extend(_findings_lines(f.get("findings")))
        made = f.get("provenance") or {}
        if made.get("status") == "found":
            lines.append(f"      made by {made.get('source')} at commit {str(made.get('commit'))[:12]}")
        elif made.get("note"):
            lines.append(f"      no provenance: {made['note']}")
    for d in answer.get("decisions", []) or []:
        lines.append(f"  decision: {d.get('steward')} {d.get('vote')}: {d.get('reason')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enclave-export", description="Ask the egress gate to release outputs.")
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("submit", help="submit files of ~/work for review and release")
    sub.add_argument("paths", nargs="+", metavar="PATH")
    sub.add_argument("--justification", "-j", help="why these files must leave (asked for when not given)")
    sub.add_argument("--from", dest="source", metavar="NOTEBOOK",
                     help="the notebook or script that made the files, committed and pushed to the project's repository")
    sub.add_argument("--what", help="what the files are (the stewards ask)")
    sub.add_argument("--population", help="the population they describe")
    sub.add_argument("--controls", help="the disclosure controls applied (suppression, rounding...)")
    sub.add_argument("--resubmits", type=int, metavar="ID", help="the request whose changes this answers")
    sub.add_argument("--answer", help="with --resubmits: your answer to the stewards' comments")
    sub.add_argument("--json", action="store_true", help="print the gate's JSON answer")
    up = commands.add_parser("update", help="replace a file of a request under review (cancels the votes cast)")
    up.add_argument("id", type=int)
    up.add_argument("path", metavar="PATH")
    up.add_argument("--from", dest="source", metavar="NOTEBOOK", help="the notebook or script that made it")
    up.add_argument("--json", action="store_true", help="print the gate's JSON answer")
    code = commands.add_parser("code", help="export the changes of a git clone (in ~/work) as a patch and submit it as code")
    code.add_argument("--repository", "-C", default=".", help="the clone (default: the current folder)")
    code.add_argument("--since", default="", help="a commit or tag already released: only the changes after it (default: all)")
    code.add_argument("--justification", "-j", help="what the code is and why it may leave (asked for when not given)")
    code.add_argument("--json", action="store_true", help="print the gate's JSON answer")
    st = commands.add_parser("status", help="show a request's state, findings and decisions (no id: all of yours)")
    st.add_argument("id", type=int, nargs="?")
    st.add_argument("--json", action="store_true", help="print the gate's JSON answer")
    args = parser.parse_args(argv)
    try:
        if args.command == "submit":
            answer = submit(args.paths, args.justification or _ask_justification(), source=args.source,
                            context={"what": args.what, "population": args.population, "controls": args.controls},
                            resubmits=args.resubmits, answer=args.answer)
        elif args.command == "update":
            answer = update(args.id, args.path, args.source)
        elif args.command == "code":
            answer = submit_code(args.justification or _ask_justification(), args.repository, args.since)
        elif args.id is None:
            requests = my_requests()
            print(json.dumps(requests, indent=2) if args.json else format_requests(requests))
            return 0
        else:
            answer = status(args.id)
    except ExportError as error:
        print(f"enclave-export: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else format_request(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
