"""What an enclave may ask of the hub API: exactly what jupyterhub-singleuser calls, nothing else.

Read from JupyterHub's own code (``singleuser/extension.py``, ``singleuser/mixins.py``,
``services/auth.py``), a single-user server calls the hub API four ways:

| call | why | body |
|---|---|---|
| ``GET /hub/api/`` | at start: is the hub there, which version (``X-JupyterHub-Version``) | none |
| ``GET /hub/api/user`` | who holds this token (a browser's OAuth token, checked on each new session) | none |
| ``POST /hub/api/oauth2/token`` | the OAuth code of a browser's login exchanged for a token | form: client id and secret, code, redirect |
| ``POST /hub/api/users/<name>/activity`` | the server's last activity (the idle culler reads it) | JSON: one timestamp per server |

Anything else — token creation and token notes above all (``POST /hub/api/users/<name>/tokens`` is a
place to store an extract that a browser then reads back), listing users, starting or stopping
servers — is refused. Pure functions: :mod:`spawner_config.hub_api_gate` runs them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, unquote

API = "/hub/api"
MAX_FORM = 4096  # an OAuth code exchange: five short fields
MAX_ACTIVITY = 1024  # two timestamps and a server name
USER_NAME = r"[a-z0-9][a-z0-9._-]{0,63}"  # the registry's user names (DNS-safe)
OAUTH_FIELDS = {"client_id", "client_secret", "grant_type", "code", "redirect_uri", "code_verifier"}
FORWARDED_HEADERS = ("Authorization", "Content-Type", "Accept")


class Refused(Exception):
    """A call outside the allow-list; ``status`` (403 or 413) and ``reason`` say why."""

    def __init__(self, reason: str, status: int = 403):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Rule:
    method: str
    path: re.Pattern
    max_body: int = 0
    check_body: object = None  # a function of the body's bytes raising Refused, or None


def _timestamp(value) -> None:
    if not isinstance(value, str) or len(value) > 40:
        raise Refused("an activity timestamp is not a short ISO 8601 string")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Refused("an activity timestamp is not an ISO 8601 date") from None


def check_activity(body: bytes) -> None:
    """``{"servers": {<name>: {"last_activity": <ts>}}, "last_activity": <ts>}``, nothing more."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Refused("the activity report is not JSON") from None
    if not isinstance(data, dict) or set(data) - {"servers", "last_activity"}:
        raise Refused("the activity report has other fields than servers and last_activity")
    if "last_activity" in data:
        _timestamp(data["last_activity"])
    servers = data.get("servers", {})
    if not isinstance(servers, dict) or len(servers) > 1:
        raise Refused("the activity report names more than its own server")
    for name, server in servers.items():
        if not re.fullmatch(r"[a-z0-9-]{0,64}", name) or not isinstance(server, dict) or set(server) != {"last_activity"}:
            raise Refused("the activity report's server entry is not {name: {last_activity}}")
        _timestamp(server["last_activity"])


def check_oauth_form(body: bytes) -> None:
    """An OAuth authorisation-code exchange, its fields and nothing else."""
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Refused("the token exchange is not a URL-encoded form") from None
    names = [name for name, _ in fields]
    if len(names) != len(set(names)) or set(names) - OAUTH_FIELDS:
        raise Refused(f"the token exchange has fields other than {', '.join(sorted(OAUTH_FIELDS))}")
    if dict(fields).get("grant_type") != "authorization_code":
        raise Refused("only the authorization_code grant is exchanged here")


RULES = (
    Rule("GET", re.compile(rf"{API}/?")),
    Rule("GET", re.compile(rf"{API}/user")),
    Rule("POST", re.compile(rf"{API}/oauth2/token"), MAX_FORM, check_oauth_form),
    Rule("POST", re.compile(rf"{API}/users/{USER_NAME}/activity"), MAX_ACTIVITY, check_activity),
)


def match(method: str, raw_path: str) -> tuple[Rule, str]:
    """The rule allowing this call and the path to forward (decoded once), or :class:`Refused`."""
    path, _, query = raw_path.partition("?")
    if query:
        raise Refused("no call a server needs has a query string")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise Refused("the path is not UTF-8 once decoded") from None
    if "%" in decoded or ".." in decoded or "//" in decoded or "\\" in decoded or not decoded.isprintable():
        raise Refused("the path is encoded twice, climbs (..) or holds odd characters")
    for rule in RULES:
        if rule.method == method and rule.path.fullmatch(decoded):
            return rule, decoded
    raise Refused(f"{method} {decoded[:120]} is not a call a single-user server makes")


def check_body(rule: Rule, body: bytes) -> None:
    """The body fits the rule's size and shape, or :class:`Refused`."""
    if len(body) > rule.max_body:
        raise Refused(f"a body of {len(body)} bytes is over this call's limit of {rule.max_body}", 413)
    if rule.check_body is not None and body:
        rule.check_body(body)
    elif rule.check_body is not None:
        raise Refused("this call needs a body")
