"""A hub service (gate, portal) in-process for its tests: a real tornado server on a free port, in a thread.

Real: the service's application as :func:`enclave.shell.service.service_app` builds it, JupyterHub's
XSRF handling and scope check (``HubOAuth`` with test values; it never reaches a hub). Replaced, and
only that: the hub's answer to "who is this?", by :class:`TestOnlyIdentityProvider` passed as the
kit's ``identity_provider`` application setting — the single seam the services offer for tests.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from jupyterhub.services.auth import HubOAuth
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets


class TestOnlyIdentityProvider:
    """TEST ONLY — stands in for the hub's answer to "who is this?" (``HubAuth.get_user``).

    A hub token in ``Authorization: token <t>`` identifies an API caller and marks the request
    token-authenticated (as HubAuth does, so no XSRF token is needed); for pages, the cookie
    ``enclave-test-identity`` plays the hub's OAuth cookie, so XSRF checks apply as in production.
    The model it returns still goes through the app's real scope check.
    """

    __test__ = False  # not a pytest class
    COOKIE = "enclave-test-identity"

    def __init__(self, tokens: dict[str, str], scope: str):
        self.tokens = tokens  # token -> user name
        self.scope = scope

    def model(self, name: str) -> dict:
        return {"kind": "user", "name": name, "scopes": [self.scope], "groups": []}

    def get_user(self, handler) -> dict | None:
        header = re.fullmatch(r"(?:token|bearer)\s+(\S+)", handler.request.headers.get("Authorization", ""), re.I)
        if header:
            name = self.tokens.get(header.group(1))
            if name:
                handler._token_authenticated = True
                return self.model(name)
            return None
        name = self.tokens.get(handler.get_cookie(self.COOKIE) or "")
        return self.model(name) if name else None


def hub_auth_for(prefix: str, service: str) -> HubOAuth:
    """A HubOAuth of service ``service`` that never reaches a hub (the identity comes from the provider)."""
    return HubOAuth(api_token="test-token-never-sent", api_url="http://127.0.0.1:9/hub/api/", base_url=prefix,
                    hub_prefix="/hub/", oauth_client_id=f"service-{service}",
                    access_scopes={f"access:services!service={service}"})



@contextmanager
def serving(app, name: str) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL, stops it at the end."""
    sockets = bind_sockets(0, "127.0.0.1")
    state: dict = {}
    started = threading.Event()

    async def main():
        server = HTTPServer(app)
        server.add_sockets(sockets)
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        started.set()
        await state["stop"].wait()
        server.stop()
        await server.close_all_connections()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert started.wait(10), f"the {name} service did not start"
    try:
        yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
