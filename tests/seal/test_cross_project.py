"""One project per channel: bob is a member of two projects. From inside his project-``open``
container, with a token he made in his browser or with the server's own token, nothing of his
project-``tight`` server or of its requests is reachable — the public proxy is closed to enclaves
(its routes lead to every server), the gate's enclave port takes submissions only with the sending
server's own token and records them for that server's project — and the container's own token
opens no other door of the hub."""

from __future__ import annotations

import json

from ..enclave.platform import slug
from ..enclave.test_isolation import can_connect, gateway

SUBMIT = r"""
import json, os, sys, urllib.request, urllib.error
token, project, url = sys.argv[1], sys.argv[2], sys.argv[3]
token = token or os.environ["JUPYTERHUB_API_TOKEN"]
body = json.dumps({"project": project, "paths": ["table.csv"], "justification": "counts by region, all >= 10"})
request = urllib.request.Request(url, data=body.encode() if project != "GET" else None,
                                 method="POST" if project != "GET" else "GET",
                                 headers={"Authorization": "token " + token, "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=20) as answer:
        print(json.dumps({"status": answer.status, "body": json.loads(answer.read())}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": error.read().decode()}))
"""

HUB_CALL = r"""
import json, os, sys, urllib.request, urllib.error
method, path = sys.argv[1], sys.argv[2]
request = urllib.request.Request(os.environ["JUPYTERHUB_API_URL"] + path, method=method,
                                 data=b"{}" if method == "POST" else None,
                                 headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]})
try:
    with urllib.request.urlopen(request, timeout=20) as answer:
        print(json.dumps({"status": answer.status, "body": answer.read().decode()[:2000]}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code}))
"""


def call(container, code: str, *args: str) -> dict:
    result = container.exec_run(["python3", "-c", code, *args], user="1000:100")
    assert result.exit_code == 0, result.output.decode()
    return json.loads(result.output.decode().strip().splitlines()[-1])


def test_a_two_project_member_cannot_cross_from_one_project_to_the_other(sealed, bob):
    settings = sealed.settings()
    table = "region,count\nNorth,120\nSouth,85\n"
    for name in ("open", "tight"):
        path = settings.project_dir(slug(name)) / "workspace" / "table.csv"
        path.write_text(table)
    inside = bob.start("open")
    gw = gateway("open")

    # The public proxy — whose routes lead to bob's other server — and the hub API itself are closed;
    # the hub API gate and the egress gate's enclave port answer.
    assert not can_connect(inside, gw, sealed.proxy_port)
    assert not can_connect(inside, gw, settings.hub_api_port)
    assert can_connect(inside, gw, settings.hub_api_enclave_port)
    assert can_connect(inside, gw, settings.egress_enclave_port)

    gate = f"http://{gw}:{settings.egress_enclave_port}/services/egress/api/requests"
    # A user token made in the browser, typed inside the enclave: refused, whatever the project.
    for project in (slug("tight"), slug("open")):
        answer = call(inside, SUBMIT, bob.token, project, gate)
        assert answer["status"] == 403 and "own token" in answer["body"], answer
    # The server's own token, for the other project: refused.
    answer = call(inside, SUBMIT, "", slug("tight"), gate)
    assert answer["status"] == 403 and slug("open") in answer["body"], answer
    # ... for its own project: held, and recorded for that project.
    answer = call(inside, SUBMIT, "", slug("open"), gate)
    assert answer["status"] == 201, answer
    assert bob.http.get(f"{sealed.hub_url}/services/egress/api/requests/{answer['body']['id']}",
                        timeout=30).json()["project"] == slug("open")

    # bob's request for project tight, made from his browser (outside every enclave)...
    outside = bob.http.post(f"{sealed.hub_url}/services/egress/api/requests", timeout=60,
                            json={"project": slug("tight"), "paths": ["table.csv"], "justification": "counts >= 10"})
    assert outside.status_code == 201, outside.text
    # ... is not found from inside project open, and not listed there.
    other = call(inside, SUBMIT, "", "GET", f"{gate}/{outside.json()['id']}")
    assert other["status"] == 404 and slug("tight") not in other["body"], other
    listed = call(inside, SUBMIT, "", "GET", gate)
    assert listed["status"] == 200 and {r["project"] for r in listed["body"]["requests"]} == {slug("open")}, listed

    # A request to the gate's enclave port from the host itself (not an enclave container): refused.
    import requests

    from_host = requests.post(f"http://127.0.0.1:{settings.egress_enclave_port}/services/egress/api/requests",
                              headers={"Authorization": f"token {bob.token}"}, json={"project": slug("open")}, timeout=30)
    assert from_host.status_code == 403, from_host.text

    # The container's own token opens no other door: no new tokens, no other servers, no admin.
    assert call(inside, HUB_CALL, "POST", "/users/bob/tokens")["status"] == 403
    assert call(inside, HUB_CALL, "POST", f"/users/bob/servers/{slug('tight')}")["status"] == 403
    assert call(inside, HUB_CALL, "GET", "/users")["status"] == 403
    own = call(inside, HUB_CALL, "GET", "/user")
    assert own["status"] == 200 and slug("tight") not in own["body"], own
