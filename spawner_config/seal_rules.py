"""What the seal lets through from an enclave server to a researcher's browser: pure decisions
(no I/O) on requests, HTTP responses and websocket messages.

The researcher owns the uid that runs the server inside the container and can replace it with a
server of their own, so nothing the container answers is trusted: routes are refused by their
path *before* the container is asked, and every answer is judged on its bytes afterwards.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from enclave.models import DEFAULT_OUTPUT_BUDGET_PER_DAY, DEFAULT_OUTPUT_BUDGET_PER_HOUR
from enclave.output_budgets import budget_limits

KIB, MIB = 1024, 1024 * 1024

# Raw file transfer to the browser: refused before the container is asked. The contents API is
# judged on its answer (judge_contents); extracts through it are refused before too.
REFUSED_ROUTES = ("files/", "view/", "nbconvert/")
DATA_DIR = "data"
# Written by the pseudonymizer next to the extracts: documentation, readable in the browser.
DATA_DOCUMENTS = frozenset({"data/DATA_DICTIONARY.md", "data/manifest.json"})

NOTICE = ("[enclave] output limit reached: {what}. Results leave the enclave only through the egress "
          "gate (enclave-export submit FILE --justification ...).")


@dataclass(frozen=True)
class Limits:
    """What one server may send to the browser; per project (manifest ``[resources]``)."""

    message_cap: int = 512 * KIB           # one kernel or terminal message
    # Information bytes (what the seal's guard charges) per member and project, in fixed UTC windows:
    # everything a server sends, headers included, but the bodies of JupyterLab's own files.
    budget_per_hour: int = DEFAULT_OUTPUT_BUDGET_PER_HOUR
    budget_per_day: int = DEFAULT_OUTPUT_BUDGET_PER_DAY
    text_file_cap: int = 256 * KIB          # a text file opened in the editor
    notebook_cap: int = 16 * MIB            # a notebook opened in JupyterLab

    @classmethod
    def from_resources(cls, resources: dict) -> Limits:
        """The project's limits: ``output_message_cap``, ``output_budget_per_hour`` and
        ``output_budget_per_day`` (bytes) from the registry's resources, the defaults otherwise."""
        budgets = budget_limits(resources)
        return cls(message_cap=int(resources.get("output_message_cap", cls.message_cap)),
                   budget_per_hour=budgets["hour"], budget_per_day=budgets["day"])

    @property
    def budgets(self) -> dict[str, int]:
        """{window: bytes}, as :class:`spawner_config.seal_budget.BudgetBook` takes them."""
        return {"hour": self.budget_per_hour, "day": self.budget_per_day}


@dataclass(frozen=True)
class Route:
    """A request to one user's server: ``/user/<user>/<server>/<rest>``, ``rest`` decoded."""

    user: str
    server: str
    rest: str

    @property
    def prefix(self) -> str:
        return f"/user/{self.user}/{self.server}/"


class Refusal(Exception):
    """The seal refuses a request or an answer; ``reason`` is shown to the browser and audited."""

    def __init__(self, reason: str, status: int = 403):
        super().__init__(reason)
        self.reason, self.status = reason, status


def parse_route(raw_path: str) -> Route:
    """The server and the path inside it, decoded once (as the server decodes it); a path that
    is not a server's, or that climbs with ``..``, is refused."""
    decoded = unquote(raw_path.split("?", 1)[0])
    if "\\" in decoded or "\x00" in decoded:
        raise Refusal("malformed path", 400)
    parts = decoded.split("/")
    if len(parts) < 4 or parts[0] != "" or parts[1] != "user" or not parts[2] or not parts[3]:
        raise Refusal("not a server's address", 404)
    inner = parts[4:]
    if any(segment in (".", "..") for segment in inner) or "" in inner[:-1]:
        raise Refusal("a path with empty, '.' or '..' segments", 400)
    return Route(parts[2], parts[3], "/".join(inner))


def check_request(method: str, route: Route, query: str) -> None:
    """Refuse raw file transfers before asking the server: ``/files/``, ``/view/``,
    ``/nbconvert/``, any ``download`` parameter."""
    rest = route.rest
    if any(name.lower() == "download" for name, _ in parse_qsl(query, keep_blank_values=True)):
        raise Refusal("downloads are disabled in an enclave")
    for prefix in REFUSED_ROUTES:
        if rest.startswith(prefix) or rest == prefix.rstrip("/"):
            raise Refusal(f"/{prefix.rstrip('/')}/ is disabled in an enclave: files leave only through the egress gate")
    if rest.startswith("api/contents/") and method == "GET" and _is_data_file(rest[len("api/contents/"):]):
        query_args = dict(parse_qsl(query))
        if query_args.get("content", "1") != "0":
            raise Refusal("extracts cannot be opened in the browser: read them in a notebook")


def _is_data_file(path: str) -> bool:
    path = path.strip("/")
    return path.startswith(DATA_DIR + "/") and path not in DATA_DOCUMENTS


def judge_contents(body: bytes, limits: Limits) -> None:
    """A contents-API answer may carry a directory listing, a notebook or a small text file —
    never a binary file, a file of the extracts or a large one."""
    try:
        model = json.loads(body)
    except ValueError:
        raise Refusal("the server's answer is not a contents model") from None
    if not isinstance(model, dict) or model.get("content") is None:
        return  # metadata only, or an error message
    kind, path = model.get("type"), str(model.get("path", ""))
    if kind == "directory":
        return
    if _is_data_file(path):
        raise Refusal("extracts cannot be opened in the browser: read them in a notebook")
    if kind == "notebook":
        if len(body) > limits.notebook_cap:
            raise Refusal(f"notebook over {limits.notebook_cap // MIB} MiB: clear its outputs in a kernel first")
        return
    if model.get("format") != "text":
        raise Refusal("binary files cannot be opened in the browser: submit results to the egress gate")
    if len(body) > limits.text_file_cap:
        raise Refusal(f"text file over {limits.text_file_cap // KIB} KiB: submit results to the egress gate")


AIRLOCK = ("data enters a project only through the import airlock: submit it on the egress gate's "
           "Imports page (or ask ops: enclave import submit), where it is scanned and reviewed")
CONTENTS_WRITES = ("PUT", "POST")


def is_contents_route(route: Route) -> bool:
    """Whether ``route`` is the server's contents API (files and folders of the project)."""
    return route.rest.startswith("api/contents/") or route.rest == "api/contents"


def check_upload(method: str, route: Route, body: bytes | None, limits: Limits) -> None:
    """Refuse a browser upload into the project through the contents API; let JupyterLab's saves through.

    Call it with the request's body, before it is forwarded. Both an upload and a save are a PUT
    of a contents model with ``content``; they are told apart by what only JupyterLab's uploader
    sends (its file browser, ``FileBrowserModel.upload``):

    - ``"format": "base64"`` — the uploader reads every file but a notebook as base64; the
      editors save text as ``"text"`` and notebooks as ``"json"``, never base64;
    - a ``"chunk"`` field — the uploader's large files, in numbered chunks;
    - a ``"name"`` field — the uploader names the new file in the model; a save does not.

    What remains is a save of a text file or a notebook, held to the sizes the seal lets a
    browser open (``text_file_cap``, ``notebook_cap``): one cannot save through the editor more
    than could have been opened in it. A model without ``content`` (a new empty file, a folder,
    a copy inside the server, a rename) carries nothing from the browser and passes.
    """
    if method not in CONTENTS_WRITES or not is_contents_route(route):
        return
    if not body:
        return
    try:
        model = json.loads(body)
    except ValueError:
        raise Refusal("a contents-API write that is not a JSON model") from None
    if not isinstance(model, dict) or model.get("content") is None:
        return
    if model.get("format") == "base64" or "chunk" in model or "name" in model:
        raise Refusal(f"uploads into the project are refused: {AIRLOCK}")
    cap = limits.notebook_cap if model.get("type") == "notebook" else limits.text_file_cap
    if len(body) > cap:
        raise Refusal(f"a save of over {cap // KIB} KiB from the browser: {AIRLOCK}", 413)


GIT_PANEL = "git/"  # jupyterlab-git's API on the server: status, log, diffs, file contents at a commit


def judge_git_panel(body: bytes, limits: Limits) -> None:
    """An answer of the Git panel (a diff, a file at some commit) is held to the text editor's cap:
    the panel must not become a way round it."""
    if len(body) > limits.text_file_cap:
        raise Refusal(f"a Git panel answer over {limits.text_file_cap // KIB} KiB: results leave through the egress gate")


LAB_SETTINGS = "lab/api/settings"  # JupyterLab's settings API: the image's schemas, the researcher's settings


def schema_hash(schema: object) -> str:
    """The SHA-256 of a settings schema's canonical JSON (as :mod:`spawner_config.seal_targets` lists them)."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def settings_to_charge(body: bytes, known_schemas: frozenset[str]) -> bytes | None:
    """A settings-API answer as it is charged: each schema that is one of the image's own, byte for
    byte, replaced by a short reference to it (which one it is still counts); the researcher's
    settings and anything else stay. None when the body is not a settings answer."""
    try:
        model = json.loads(body)
    except ValueError:
        return None
    entries = model.get("settings") if isinstance(model, dict) and "settings" in model else [model]
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        return None
    for entry in entries:
        if "schema" in entry:
            digest = schema_hash(entry["schema"])
            if digest in known_schemas:
                entry["schema"] = {"jupyterlab-schema": digest[:16]}
    return json.dumps(model, separators=(",", ":"), ensure_ascii=False).encode()


def looks_binary(body: bytes) -> bool:
    """Bytes that are not UTF-8 text (an image, an archive, Parquet...)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\x00" in body


# --- websocket messages: kernels (Jupyter's JSON protocol) and terminals (terminado) ---

HEADER_FIELDS = ("msg_id", "msg_type", "session", "username", "date", "version")


def _clip(value: object, size: int = 64) -> str:
    return str(value)[:size]


def _header(header: object) -> dict:
    header = header if isinstance(header, dict) else {}
    return {key: _clip(header.get(key, "")) for key in HEADER_FIELDS}


def shrink_kernel_message(text: str, room: int, what: str) -> str | None:
    """A replacement for a kernel message that does not fit in ``room`` bytes: the same message
    with its payload cut to ``room`` and a notice, headers clipped; None to drop it."""
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    if not isinstance(msg, dict):
        return None
    msg_type = _clip(msg.get("msg_type") or (msg.get("header") or {}).get("msg_type", ""))
    notice = NOTICE.format(what=what)
    content = msg.get("content") if isinstance(msg.get("content"), dict) else {}
    if msg_type == "stream":
        name = "stderr" if content.get("name") == "stderr" else "stdout"
        header, parent, channel = _header(msg.get("header")), _header(msg.get("parent_header")), _clip(msg.get("channel", "iopub"), 16)
        return _fit(lambda kept: _kernel_json(header, parent, channel, msg_type, {
            "name": name, "text": kept + ("\n" if kept and not kept.endswith("\n") else "") + notice + "\n"}),
            str(content.get("text", "")), room)
    elif msg_type in ("display_data", "execute_result", "update_display_data"):
        new_content = {"data": {"text/plain": notice}, "metadata": {}}
        if msg_type == "execute_result":
            new_content["execution_count"] = content.get("execution_count") if isinstance(content.get("execution_count"), int) else None
    elif msg_type == "error":
        new_content = {"ename": "EnclaveOutputLimit", "evalue": notice, "traceback": [notice]}
    elif msg_type == "execute_reply":
        new_content = {"status": _clip(content.get("status", "ok"), 16),
                       "execution_count": content.get("execution_count") if isinstance(content.get("execution_count"), int) else None}
    elif msg_type == "status":
        new_content = {"execution_state": _clip(content.get("execution_state", ""), 16)}
    else:
        return None
    return _kernel_json(_header(msg.get("header")), _header(msg.get("parent_header")),
                        _clip(msg.get("channel", "iopub"), 16), msg_type, new_content)


def _kernel_json(header: dict, parent: dict, channel: str, msg_type: str, content: dict) -> str:
    return json.dumps({"header": header, "msg_id": header["msg_id"], "msg_type": msg_type, "parent_header": parent,
                       "metadata": {}, "content": content, "buffers": [], "channel": channel})


def _fit(build, text: str, room: int) -> str:
    """``build(kept)`` with the longest prefix ``kept`` of ``text`` whose encoded message fits in
    ``room`` bytes (JSON escapes can make a character take six)."""
    kept = text[: max(room - 1024, 0)]
    while True:
        message = build(kept)
        over = len(message.encode()) - max(room, 0)
        if over <= 0 or not kept:
            return message
        kept = kept[: max(len(kept) - over, 0)]


def shrink_terminal_message(text: str, room: int, what: str) -> str | None:
    """A terminado message (``["stdout", text]``) cut to ``room`` bytes with a notice."""
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(msg, list) and len(msg) == 2 and msg[0] == "stdout"):
        return None
    notice = "\r\n" + NOTICE.format(what=what) + "\r\n"
    return _fit(lambda kept: json.dumps(["stdout", kept + notice]), str(msg[1]), room)


def shrink_message(channel: str, text: str, room: int, what: str) -> str | None:
    """The replacement of an over-limit text message on a ``kernel`` or ``terminal`` socket."""
    if channel == "kernel":
        return shrink_kernel_message(text, room, what)
    if channel == "terminal":
        return shrink_terminal_message(text, room, what)
    return None


def socket_channel(rest: str) -> str:
    """Which kind of websocket a server path is: ``kernel``, ``terminal`` or ``other``."""
    if rest.startswith("api/kernels/") and rest.endswith("/channels"):
        return "kernel"
    if rest.startswith("terminals/websocket/"):
        return "terminal"
    return "other"
