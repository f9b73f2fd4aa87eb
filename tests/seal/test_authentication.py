"""The seal binds every request to the server's owner, checked with the hub, before anything is
forwarded — against the real hub, seal and containers.

An unauthenticated client gets nothing from a running server (nor from a server the researcher put
in its place) and spends no one's budget, while its refusals are audited as ``anonymous``; a
browser navigation is sent into the hub's OAuth flow; another user's valid hub token, a forged
cookie, a stale one and one whose hub token the hub does not know are refused. The seal's cookie
never reaches the server and the server cannot set it; the headers of every answer are charged,
those of JupyterLab's own files included.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import aiohttp
import requests

from ..enclave.platform import slug
from .conftest import (
    Researcher,
    in_own_loop,
    last_seq,
    seal_cookie,
    spent,
    wait_for_audit,
    wait_for_spent,
)

ECHO = r"""
import base64, http.server, json, os
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "enclave-seal=set-by-the-server; Path=/user/")
        self.send_header("Set-Cookie", "rogue=1; Path=/")
        if "pad" in self.path:  # 3000 characters of information in a header
            self.send_header("X-Padding", base64.b64encode(os.urandom(2250)).decode())
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8888), Echo).serve_forever()
"""


def anonymous_websocket(url: str, headers: dict) -> int:
    async def attempt() -> int:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.ws_connect(url, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status
    return in_own_loop(attempt())


def own_charge(platform, researcher: Researcher, name: str) -> int:
    """What one small request of the owner costs, read back from the registry once written: the
    seal charges before it answers and writes all it charged at once, so whatever it charged before
    is written by then too (no waiting on a clock)."""
    before = spent(platform, researcher.user, slug(name))["day"]
    assert researcher.get(name, "api/status").status_code == 200
    after = wait_for_spent(platform, researcher.user, slug(name), above=before)["day"]
    assert after > before, "the seal did not write the owner's spending behind"
    return after - before


def assert_charged_nothing(platform, researcher: Researcher, name: str, flood) -> None:
    """``flood()`` (requests without identity to the researcher's server) costs them nothing: the
    owner's own request costs the same after it as before, and no 'anonymous' budget exists."""
    own_charge(platform, researcher, name)  # anything charged earlier is written now
    alone = own_charge(platform, researcher, name)
    flood()
    after_flood = own_charge(platform, researcher, name)
    assert abs(after_flood - alone) < 256, (alone, after_flood)
    assert spent(platform, "anonymous", slug(name)) == {"hour": 0, "day": 0}


def test_no_identity_gets_nothing_and_spends_no_ones_budget(sealed, bob):
    bob.start("open")
    base = bob.server("open")
    since = last_seq(sealed)
    plain = requests.Session()

    def flood() -> None:
        for _ in range(50):  # folded in the audit log, charged to no one
            answer = plain.get(base + "api/contents/work", timeout=30, allow_redirects=False)
            assert answer.status_code == 403 and answer.headers["Content-Type"].startswith("application/json"), answer.text
            assert "no hub session" in answer.json()["reason"] and "content" not in answer.json()
        answer = plain.post(base + "api/kernels", json={"name": "python3"}, timeout=30, allow_redirects=False)
        assert answer.status_code == 403
        # A browser opening a page is sent into the hub's sign-in for the seal, to come back here.
        page = plain.get(base + "lab?reset", headers={"Sec-Fetch-Mode": "navigate", "Accept": "text/html"}, timeout=30,
                         allow_redirects=False)
        assert page.status_code == 302 and "/hub/api/oauth2/authorize?" in page.headers["Location"], page.headers
        assert "client_id=service-enclave-seal" in page.headers["Location"]
        assert "JupyterLab" not in page.text and "enclave-seal-state=" in page.headers["Set-Cookie"]
        # The hub's readiness check (the server's root, no identity) learns that it is up, nothing more.
        root = plain.get(base, timeout=30, allow_redirects=False)
        assert root.status_code == 403 and "jupyter" not in root.text.lower()

    assert_charged_nothing(sealed, bob, "open", flood)
    events = wait_for_audit(sealed, "seal.refused", since, hits=52)
    anonymous = [e for e in events if e["actor"] == "anonymous"]
    assert anonymous and all(e["project"] is None and e["source"] for e in anonymous), events
    assert not [e for e in events if e["actor"] == "bob"], events  # nothing in bob's name

    kernel = bob.request("POST", "open", "api/kernels", json={"name": "python3"}).json()["id"]
    try:
        socket = base.replace("http://", "ws://") + f"api/kernels/{kernel}/channels"
        assert anonymous_websocket(socket, {}) == 403
        assert anonymous_websocket(socket, {"Authorization": "token not-a-hub-token"}) == 403
        assert anonymous_websocket(socket, {"Authorization": f"token {bob.token}"}) == 101  # the positive control
    finally:
        bob.request("DELETE", "open", f"api/kernels/{kernel}")


def test_another_users_token_and_bad_cookies_are_refused(sealed, bob):
    bob.start("open")
    alice = Researcher(sealed, "alice")
    since = last_seq(sealed)
    answer = requests.get(bob.server("open") + "api/contents/work", headers={"Authorization": f"token {alice.token}"},
                          timeout=30, allow_redirects=False)
    assert answer.status_code == 403 and "not yours" in answer.json()["reason"], answer.text
    events = wait_for_audit(sealed, "seal.refused", since, hits=1)
    assert any(e["actor"] == "alice" and "not yours" in e["reason"] for e in events), events

    url = bob.server("open") + "api/contents/work"
    good = seal_cookie(sealed, "bob", bob.token)
    name, value = good.split("=", 1)
    payload, mac = value.split(".")
    forged_for_bob = seal_cookie(sealed, "alice", alice.token).split(".")[0] + "." + mac  # alice's session, bob's signature
    cases = {
        "signed with another secret": f"{name}={payload}.{'A' * len(mac)}",
        "another user's session": seal_cookie(sealed, "alice", alice.token),
        "a payload not signed": forged_for_bob,
        "stale": seal_cookie(sealed, "bob", bob.token, now=time.time() - 13 * 3600),
        "the hub does not know its token": seal_cookie(sealed, "bob", "revoked-or-never-issued"),
        "a user name that is not its token's": seal_cookie(sealed, "bob", alice.token),
    }
    for case, cookie in cases.items():
        answer = requests.get(url, headers={"Cookie": cookie}, timeout=30, allow_redirects=False)
        assert answer.status_code == 403 and "Refused by the enclave" in answer.text, (case, answer.status_code, answer.text[:200])
        assert "content" not in answer.json()
    # The positive control: the seal lets the good cookie through (jupyter-server then asks for its own
    # login, which a browser has; the replaced server below answers it fully).
    answer = requests.get(url, headers={"Cookie": good}, timeout=30, allow_redirects=False)
    assert "Refused by the enclave" not in answer.text, answer.text[:300]
    answer = requests.get(url, headers={"Cookie": good, "Authorization": f"token {bob.token}"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["type"] == "directory", answer.text[:300]


def test_a_replaced_server_serves_its_owner_only_never_sees_the_seals_cookie_and_its_headers_are_charged(sealed):
    erin = Researcher(sealed, "erin")
    project = slug("open")
    container = erin.start("open")
    pid = container.attrs["State"]["Pid"]
    # The takeover (see test_rogue_server): jupyter-server's socket closed, an echo server in its place.
    subprocess.run(["nsenter", "-t", str(pid), "-n", "ss", "-K", "-atn", "sport = :8888"], check=True, capture_output=True)
    container.exec_run(["python3", "-c", ECHO], user="1000:100", detach=True)
    cookie = seal_cookie(sealed, "erin", erin.token)
    deadline = time.monotonic() + 30
    while True:
        answer = requests.get(erin.server("open") + "echo", headers={"Cookie": f"_xsrf=abc; {cookie}; other=1"}, timeout=30)
        if answer.status_code == 200 and answer.headers.get("Content-Type") == "application/json":
            break
        assert time.monotonic() < deadline, (answer.status_code, answer.text[:300])
        time.sleep(0.5)
    try:
        seen = {k.lower(): v for k, v in answer.json()["headers"]}
        assert seen["cookie"] == "_xsrf=abc; other=1", seen            # the seal's cookie stayed with the seal
        assert "enclave-seal" not in json.dumps(answer.json())
        set_cookies = answer.raw.headers.getlist("Set-Cookie")
        assert set_cookies == ["rogue=1; Path=/"], set_cookies          # the server cannot set the seal's cookie

        # Without identity: nothing of the rogue server, whatever the path or the method.
        since = last_seq(sealed)

        def flood() -> None:
            for path in ("echo", "", "api/contents", "files/x"):
                anonymous = requests.get(erin.server("open") + path, timeout=30, allow_redirects=False)
                assert anonymous.status_code == 403 and "headers" not in anonymous.text, (path, anonymous.text[:200])

        assert_charged_nothing(sealed, erin, "open", flood)
        wait_for_audit(sealed, "seal.refused", since, hits=4)

        # Its headers are charged with its body, by their information: 2250 random bytes in each answer.
        start = spent(sealed, "erin", project)["day"]
        for _ in range(10):
            assert erin.get("open", "echo?pad").status_code == 200
        charged = wait_for_spent(sealed, "erin", project, above=start + 20_000)["day"] - start
        assert charged > 10 * 2000, charged
    finally:
        sealed.stop_server("erin", project)


def test_the_headers_of_jupyterlabs_own_files_are_charged_not_their_bodies(sealed, bob):
    """Charged by their information: the same headers again cost what changed in them (a date)."""
    bob.start("open")
    project = slug("open")
    page = bob.get("open", "lab")
    assert page.status_code == 200
    script = max(re.findall(r'<script[^>]+src="([^"]+)"', page.text), key=len)
    url = script if script.startswith("http") else sealed.hub_url + script
    bob.http.get(url, timeout=60)                                        # the seal lists the image's files once
    start = wait_for_spent(sealed, "bob", project, above=spent(sealed, "bob", project)["day"])["day"]
    bodies, headers = 0, 0
    for _ in range(5):
        asset = bob.http.get(url, timeout=60)
        assert asset.status_code == 200
        bodies += len(asset.content)
        headers += sum(len(k) + len(v) + 4 for k, v in asset.headers.items())
    charged = wait_for_spent(sealed, "bob", project, above=start)["day"] - start
    assert bodies > 100 * charged, (bodies, charged)                      # the bodies are free...
    assert 5 <= charged < headers, (charged, headers)                     # ...their headers are not (what is new in them)
