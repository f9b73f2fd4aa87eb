"""Packages inside an enclave: install the ones ops approved for the project, ask for the others.

From a terminal::

    enclave-package request tabulate --reason "pretty tables in the report"
    enclave-package request data.table --cran --reason "fast joins in R"
    enclave-package list                 # this project's requests and their state
    pip install tabulate                 # once approved (the image's pip is this module's `pip`)

The project's package index is served at the network's gateway by the project tools, with this
server's own token (PIP_INDEX_URL, set by the hub): it holds exactly the wheels ops approved for
this project and their dependencies. ``pip install NAME`` of a name that is not there stops at
once and says how to ask. Packages go to ~/.local/enclave-packages (on the Python path of every
kernel): the home is fresh at each server start, so install them again after a restart — it
takes seconds, from the project's index.

R packages come from the image (Debian's r-cran-* packages): an approved CRAN request is added to
the image by ops, and is there at a later server start.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["PackageError", "check_names", "my_requests", "pip_main", "request"]

TARGET = Path(os.environ.get("HOME") or "/home/jovyan") / ".local" / "enclave-packages"
INSTALLING = {"install", "download", "wheel"}
# pip options that take a value (the value is not a package name).
VALUED = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t", "--target", "--platform",
          "--python-version", "--implementation", "--abi", "--root", "--prefix", "--src", "--upgrade-strategy",
          "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--global-option", "--config-settings",
          "-C", "--log", "--timeout", "--retries", "--cache-dir", "--progress-bar", "--report", "--exists-action",
          "--trusted-host", "--cert", "--client-cert", "--proxy", "--root-user-action", "--only-binary",
          "--no-binary", "-d", "--dest", "-w", "--wheel-dir", "--python", "--use-feature", "--use-deprecated", "--keyring-provider"}
NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
HOW_TO_ASK = 'enclave-package request {name} --reason "what it is for in your analysis"'


class PackageError(Exception):
    """A refusal or a failure, with a message meant for the researcher."""


def _tools_url() -> str:
    url = os.environ.get("ENCLAVE_TOOLS_URL", "").strip()
    if not url:
        raise PackageError("ENCLAVE_TOOLS_URL is not set: this server was not started with its project's tools "
                           "(ask ops: the hub sets it)")
    return url.rstrip("/") + "/"


def _token() -> str:
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "").strip()
    if not token:
        raise PackageError("JUPYTERHUB_API_TOKEN is not set: enclave-package runs inside an enclave server")
    return token


def _call(method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    url = _tools_url() + path
    headers = {"Authorization": f"token {_token()}", "Accept": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method), timeout=60) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except urllib.error.URLError as error:
        raise PackageError(f"cannot reach the project tools at {url}: {error.reason}") from None


def request(name: str, reason: str, cran: bool = False, version: str = "") -> dict:
    """Ask ops for package ``name`` (PyPI, or CRAN with ``cran=True``) with a written ``reason``."""
    if not (reason or "").strip():
        raise PackageError("a reason is required: say what the package is for in your analysis")
    status, text = _call("POST", "api/packages", {"name": name, "reason": reason, "version": version,
                                                   "ecosystem": "cran" if cran else "pypi"})
    if status != 201:
        raise PackageError(f"the project tools refused the request ({status}): {text.strip()}")
    return json.loads(text)


def my_requests() -> list[dict]:
    status, text = _call("GET", "api/packages")
    if status != 200:
        raise PackageError(f"the project tools answered {status}: {text.strip()}")
    return json.loads(text)["requests"]


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def requested_names(args: list[str]) -> list[str]:
    """The package names a pip command line asks for (files, URLs and option values left out)."""
    names, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = arg in VALUED  # "--opt=value" carries its value
            continue
        if "/" in arg or arg.endswith((".whl", ".tar.gz", ".zip")) or arg in INSTALLING:
            continue
        match = NAME.match(arg)
        if match:
            names.append(match.group(1))
    return names


def check_names(names: list[str]) -> list[str]:
    """The names that are neither installed in the image nor in the project's index."""
    missing = []
    for name in names:
        if _installed(name):
            continue
        status, _ = _call("GET", f"simple/{name}/")
        if status == 404:
            missing.append(name)
        elif status != 200:
            raise PackageError(f"the project's package index answered {status} for {name}")
    return missing


def _how_packages_come() -> str:
    try:
        return Path("/etc/enclave/NO_PACKAGE_INSTALL.txt").read_text()
    except OSError:
        return 'Packages come from the project\'s index only: enclave-package request NAME --reason "..."'


def hint(missing: list[str]) -> str:
    lines = [f"{', '.join(missing)}: not approved for this project, so not in its package index.", "Ask for it:"]
    lines += [f"    {HOW_TO_ASK.format(name=name)}" for name in missing]
    lines.append("Ops review each request; once approved, `pip install` works. See your requests: enclave-package list")
    return "\n".join(lines)


def pip_main(args: list[str]) -> int:
    """pip, as the image runs it: installing only from the project's index, into ~/.local/enclave-packages."""
    words = [a for a in args if not a.startswith("-")]
    if not words or words[0] not in INSTALLING:
        return subprocess.call([sys.executable, "-m", "pip", *args])
    names = requested_names(args[args.index(words[0]) + 1:])
    try:
        missing = check_names(names)
    except PackageError as error:
        print(f"pip: {error}\n\n{_how_packages_come()}", file=sys.stderr)
        return 1
    if missing:
        print(hint(missing), file=sys.stderr)
        return 1
    extra = []
    placed = any(a.split("=")[0] in ("-t", "--target", "--prefix", "--root", "--user") for a in args)
    if words[0] == "install" and not placed and not all(_installed(n) for n in names):
        TARGET.mkdir(parents=True, exist_ok=True)
        extra = ["--target", str(TARGET), "--upgrade"]  # the image's own packages stay as they are
    return subprocess.call([sys.executable, "-m", "pip", *args, *extra])


def format_requests(requests: list[dict]) -> str:
    if not requests:
        return 'no package request yet: enclave-package request NAME --reason "..."'
    return "\n".join(f"{r['id']:>4}  {r['name']}{r.get('version') or ''}{' (CRAN)' if r['ecosystem'] == 'cran' else ''}  "
                     f"{r['state']}  asked by {r['requester']}" + (f"  [{r['note']}]" if r.get("note") else "")
                     for r in requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enclave-package", description="Ask ops for a package, see your project's requests.")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("request", help="ask for a package (PyPI by default) with a reason")
    ask.add_argument("name", help="the package's name, as on pypi.org (or CRAN with --cran)")
    ask.add_argument("--reason", "-r", required=True, help="what it is for in your analysis (ops read it)")
    ask.add_argument("--version", default="", help="a version specifier, e.g. ==0.9.0 (default: the newest)")
    ask.add_argument("--cran", action="store_true", help="an R package from CRAN (added to the image by ops)")
    commands.add_parser("list", help="this project's package requests and their state")
    pip = commands.add_parser("pip", help="pip, limited to the project's index (what the image's `pip` runs)")
    pip.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "pip":
            return pip_main(args.args)
        if args.command == "list":
            print(format_requests(my_requests()))
            return 0
        answer = request(args.name, args.reason, args.cran, args.version)
    except PackageError as error:
        print(f"enclave-package: {error}", file=sys.stderr)
        return 1
    state = answer["state"]
    what = {"requested": "asked: ops review it; `enclave-package list` shows when it is decided",
            "approved": "already approved: pip install " + answer["name"] if answer["ecosystem"] == "pypi"
            else "already approved: it comes with the image at a later server start"}.get(state, state)
    print(f"package request {answer['id']} ({answer['name']}): {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
