"""The project tools, as a researcher uses them from a terminal of their server and as ops decide.

- git: clone, commit, push and pull against the project's remote; another project's server, a
  borrowed token and the host network are refused; a closed project's repository is retired.
- packages: pip refuses a name that is not approved, with the way to ask; the researcher asks,
  ops approve, and pip installs it — in that project only.
- code leaves as an egress request of kind "code": a patch with a pseudonym of the project fails.
"""

from __future__ import annotations

import json
import re
import subprocess

import pyarrow.parquet as pq
import requests

from enclave import code_repository
from enclave.layout import RETIRED_CODE, extracts_dir, linkage_columns, read_extract_manifest, repository_dir

from ..enclave.platform import slug
from ..enclave.test_isolation import gateway
from ..seal.conftest import audit_events, last_seq
from .conftest import shell

CLONE = "cd ~/work && git clone -q \"$ENCLAVE_GIT_URL\" analysis"


def tools_url(platform, name: str) -> str:
    return f"http://{gateway(name)}:{platform.settings().tools_enclave_port}/"


def fetch_inside(container, url: str, token: str = "") -> dict:
    """GET ``url`` from inside ``container`` (as its user), with ``token`` or the container's own."""
    code = r"""
import json, os, sys, urllib.request, urllib.error
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "token " + (sys.argv[2] or os.environ["JUPYTERHUB_API_TOKEN"])})
try:
    with urllib.request.urlopen(request, timeout=20) as answer:
        print(json.dumps({"status": answer.status, "body": answer.read().decode(errors="replace")[:500]}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": error.read().decode(errors="replace")[:500]}))
"""
    result = container.exec_run(["python3", "-c", code, url, token], user="1000:100")
    assert result.exit_code == 0, result.output.decode()
    return json.loads(result.output.decode().strip().splitlines()[-1])


def token_of(container) -> str:
    return next(e.split("=", 1)[1] for e in container.attrs["Config"]["Env"] if e.startswith("JUPYTERHUB_API_TOKEN="))


def test_push_and_pull_with_the_projects_remote(tooled, alice):
    alice.start("lab")
    since = last_seq(tooled)
    rc, text = shell(alice, "lab", f"{CLONE} && cd analysis && printf 'import pandas\\n' > load.py && git add load.py "
                                   "&& git commit -qm 'Load the extract' && git push -q origin HEAD:main && git log --oneline")
    assert rc == 0 and "Load the extract" in text, text
    pushed = code_repository.branches(repository_dir(tooled.settings().project_dir(slug("lab"))))
    assert list(pushed) == ["refs/heads/main"], pushed

    # A second clone (another member would do the same) pushes; the first pulls it.
    rc, text = shell(alice, "lab", "cd /tmp && git clone -q \"$ENCLAVE_GIT_URL\" second && cd second "
                                   "&& printf 'import numpy\\n' > model.py && git add model.py && git commit -qm 'Model' "
                                   "&& git push -q && cd ~/work/analysis && git pull -q && git log --format=%s")
    assert rc == 0 and "Model" in text and "Load the extract" in text, text
    assert (tooled.settings().project_dir(slug("lab")) / "workspace" / "analysis" / "model.py").exists()
    pushes = audit_events(tooled, "code.push", since)
    assert len(pushes) == 2 and all(p["actor"] == "alice" and p["project"] == slug("lab") for p in pushes), pushes


def test_jupyterlabs_git_panel_commits_and_pushes(tooled, alice):
    """The calls JupyterLab's Git panel (jupyterlab-git) makes, through the seal, as the browser makes them."""
    alice.start("lab")
    rc, text = shell(alice, "lab", "cd ~/work && (test -d analysis || git clone -q \"$ENCLAVE_GIT_URL\" analysis) "
                                   "&& printf 'import matplotlib\\n' > analysis/figure.py")
    assert rc == 0, text
    for call, body in (("add_all_untracked", {}), ("commit", {"commit_msg": "Figure, from the Git panel"}), ("push", {})):
        answer = alice.request("POST", "lab", f"git/work/analysis/{call}", json=body)
        assert answer.status_code == 200 and answer.json()["code"] == 0, (call, answer.text)
    repository = repository_dir(tooled.settings().project_dir(slug("lab")))
    subjects = subprocess.run(["git", "-C", str(repository), "log", "--format=%s %an", "main"], check=True,
                              capture_output=True, text=True).stdout
    assert subjects.splitlines()[0] == "Figure, from the Git panel alice", subjects


def test_another_projects_server_a_borrowed_token_and_the_host_are_refused(tooled, alice, bob):
    lab = alice.start("lab")
    other = bob.start("other")
    since = last_seq(tooled)
    info_refs = f"git/{slug('lab')}.git/info/refs?service=git-upload-pack"

    own = fetch_inside(lab, tools_url(tooled, "lab") + info_refs)
    assert own["status"] == 200, own

    # From project other, with bob's own server token: the path names lab, the server is other's.
    crossed = fetch_inside(other, tools_url(tooled, "other") + info_refs)
    assert crossed["status"] == 403 and f"belongs to project {slug('other')}" in crossed["body"], crossed
    # With lab's server token (leaked to bob): not the token of the container that sends it.
    borrowed = fetch_inside(other, tools_url(tooled, "other") + info_refs, token_of(lab))
    assert borrowed["status"] == 403 and "other tokens are refused" in borrowed["body"], borrowed
    # git itself, in bob's terminal, cannot even list lab's branches.
    rc, text = shell(bob, "other", f"git ls-remote {tools_url(tooled, 'other')}git/{slug('lab')}.git")
    assert rc != 0 and "403" in text, text
    # bob's own project's repository answers him (empty, but his).
    rc, text = shell(bob, "other", "git ls-remote \"$ENCLAVE_GIT_URL\"")
    assert rc == 0, text

    # The host network: loopback, and lab's gateway address itself, are not enclave servers.
    for host in ("127.0.0.1", gateway("lab")):
        answer = requests.get(f"http://{host}:{tooled.settings().tools_enclave_port}/{info_refs}",
                              headers={"Authorization": f"token {token_of(lab)}"}, timeout=20)
        assert answer.status_code == 403 and "enclave servers only" in answer.text, (host, answer.text)
    refused = audit_events(tooled, "tools.refused", since)
    assert any(e["actor"] == "bob" and e["asked"] == slug("lab") for e in refused), refused


def test_pip_installs_approved_packages_only_and_says_how_to_ask(tooled, alice, bob):
    alice.start("lab")
    bob.start("other")
    since = last_seq(tooled)
    rc, text = shell(alice, "lab", "pip install tabulate")
    assert rc == 1 and "not approved for this project" in text and "enclave-package request tabulate" in text, text

    rc, text = shell(alice, "lab", "enclave-package request tabulate --reason 'tables in the report'")
    assert rc == 0, text
    request_id = re.search(r"package request (\d+) \(tabulate\)", text).group(1)
    assert f"{request_id}" in tooled.enclave("packages", "list", "--state", "requested").stdout
    approved = tooled.enclave("packages", "approve", request_id)
    assert "tabulate-" in approved.stdout and ".whl" in approved.stdout, approved.stdout

    rc, text = shell(alice, "lab", "pip install tabulate && python -c 'import tabulate; print(\"TAB\", tabulate.__version__)'")
    assert rc == 0 and re.search(r"TAB \d", text), text
    cell = alice.run_cell("lab", "import tabulate\nprint(tabulate.tabulate([[1, 2]]))")
    assert any("1  2" in m["content"].get("text", "") for m in cell if m.get("msg_type") == "stream"), cell

    rc, text = shell(alice, "lab", "pip install humanize")  # never asked for
    assert rc == 1 and "enclave-package request humanize" in text, text
    # The wheelhouse is the project's: approved in lab is not approved in other.
    rc, text = shell(bob, "other", "pip install tabulate")
    assert rc == 1 and "enclave-package request tabulate" in text, text

    asked = audit_events(tooled, "package.request", since)
    decided = audit_events(tooled, "package.approve", since)
    assert [e["name"] for e in asked] == ["tabulate"] and asked[0]["actor"] == "alice"
    assert decided[0]["actor"] == "test-ops" and decided[0]["files"][0]["file"].startswith("tabulate-")


def test_a_code_export_with_a_pseudonym_inside_fails(tooled, alice):
    alice.start("lab")
    extracts = extracts_dir(tooled.settings().project_dir(slug("lab")))
    file, columns = next((f, c) for f, c in linkage_columns(read_extract_manifest(extracts)).items() if c)
    pseudonym = pq.read_table(extracts / file, columns=columns[:1]).column(0)[0].as_py()
    rc, text = shell(alice, "lab", "cd ~/work && (test -d analysis || git clone -q \"$ENCLAVE_GIT_URL\" analysis) && cd analysis "
                                   f"&& printf 'PATIENT = \"{pseudonym}\"  # the odd one\\n' > debug.py && git add debug.py "
                                   "&& git commit -qm 'Debug one patient' "
                                   "&& enclave-export code --justification 'analysis code for the paper' --json")
    assert rc == 0, text
    output = text[text.index("7))X") + 4:]  # what came after the typed line
    answer = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert answer["kind"] == "code"
    findings = answer["files"][0]["findings"]
    assert any(f["check"] == "pseudonyms" and f["outcome"] == "fail" for f in findings), findings

    # A plain file of the workspace is not code: a code request takes patches only.
    rc, text = shell(alice, "lab", "cd ~/work && printf 'a,b\\n1,2\\n' > t.csv && python -c \"import json, enclave_export as e; "
                                   "print(e._call('POST', 'api/requests', {'project': '%s', 'kind': 'code', 'paths': ['t.csv'], "
                                   "'justification': 'x'}))\"" % slug("lab"))
    assert rc != 0 and ".csv files may not leave" in text, text


def test_a_closed_projects_repository_is_retired(tooled, tmp_path):
    project_dir = tooled.settings().project_dir(slug("gone"))
    repository = repository_dir(project_dir)
    clone = tmp_path / "clone"
    git = ["git", "-c", "user.name=ops", "-c", "user.email=ops@example.invalid"]
    subprocess.run([*git, "clone", "-q", str(repository), str(clone)], check=True)
    (clone / "notes.md").write_text("methods\n")
    subprocess.run([*git, "-C", str(clone), "add", "notes.md"], check=True)
    subprocess.run([*git, "-C", str(clone), "commit", "-qm", "Methods"], check=True)
    subprocess.run([*git, "-C", str(clone), "push", "-q", "origin", "HEAD:main"], check=True)
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()

    since = last_seq(tooled)
    closed = tooled.enclave("project", "close", slug("gone"), "--reason", "study finished")
    assert "git repository retired" in closed.stdout, closed.stdout
    assert not repository.exists()
    retired = project_dir / RETIRED_CODE / "repository.git"
    assert code_repository.branches(retired) == {"refs/heads/main": head}
    event = audit_events(tooled, "project.close", since)[0]
    assert event["repository_retired"]["refs"] == {"refs/heads/main": head}, event
