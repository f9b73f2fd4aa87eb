"""Invariant 6: only members of an active, unexpired project start its server; the reconciler stops
servers that must not run; Python and R notebooks run in a real enclave."""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta

import nbformat
import pytest
from sqlalchemy import update

from .platform import ADMIN_TOKEN, slug


def refused(platform, user: str, project: str) -> str:
    """Try to start the server; return the hub's words if it was refused, else fail."""
    response = platform.start_server(user, project, timeout=60)
    state = platform.api("GET", f"/users/{user}").json()
    assert not state.get("servers", {}).get(project, {}).get("ready"), f"{user} got a server for {project}"
    return response.text + platform.hub_log()[-20000:]


def test_a_refusal_reaches_the_person_in_its_own_words():
    """The hub's spawn pages show a spawner's error only through ``jupyterhub_message`` (otherwise
    "Failed to start your server ... contact admin"): the spawner's refusals carry it."""
    from jupyterhub.utils import format_exception

    from spawner_config.access import SpawnRefused
    from spawner_config.spawner import refused as refusal

    words = str(SpawnRefused("you are not a member of project alpha", "ask its principal investigator to add you"))
    error = refusal(403, words)
    assert error.status_code == 403 and format_exception(error, only_jupyterhub=True)[0] == words
    assert format_exception(RuntimeError(words), only_jupyterhub=True)[0] is None  # the control: hidden otherwise


def test_non_member_refused(platform):
    text = refused(platform, "eve", slug("alpha"))
    assert f"you are not a member of project {slug('alpha')}" in text


def test_suspended_project_refused(platform):
    platform.enclave("project", "suspend", slug("gamma"), "--reason", "test")
    text = refused(platform, "alice", slug("gamma"))
    assert f"project {slug('gamma')} is suspended" in text


def test_expired_project_refused(platform):
    from enclave.db import make_engine, session_scope
    from enclave.models import Project

    settings = platform.settings()
    engine = make_engine(settings.db_url)
    with session_scope(engine, settings.audit_head) as session:  # time passes: the authorisation ends
        session.execute(update(Project).where(Project.slug == slug("delta")).values(expires_on=date.today() - timedelta(days=1)))
    engine.dispose()
    text = refused(platform, "alice", slug("delta"))
    assert f"project {slug('delta')}'s authorisation expired" in text


def test_reconciler_stops_removed_member(platform):
    response = platform.start_server("carol", slug("alpha"))
    assert response.status_code < 400
    assert platform.api("GET", "/users/carol").json()["servers"][slug("alpha")]["ready"]
    manifest = platform.settings().projects_dir / f"{slug('alpha')}.toml"
    manifest.write_text(manifest.read_text().replace('members = ["alice", "carol"]', 'members = ["alice"]'))
    platform.enclave("provision", slug("alpha"), "--quiet")

    from enclave.db import make_engine
    from spawner_config.reconciler import Hub, reconcile

    settings = platform.settings()
    engine = make_engine(settings.db_url)
    stopped = reconcile(settings, engine, Hub(f"{platform.hub_url}/hub/api", ADMIN_TOKEN))
    engine.dispose()
    assert ("carol", slug("alpha"), f"you are not a member of project {slug('alpha')}") in stopped
    deadline = time.time() + 60
    while slug("alpha") in platform.api("GET", "/users/carol").json().get("servers", {}) and time.time() < deadline:
        time.sleep(1)
    assert slug("alpha") not in platform.api("GET", "/users/carol").json().get("servers", {})
    assert "server.stop" in platform.enclave("audit", "tail", "--project", slug("alpha")).stdout


READ_PY = """
from enclave_data import read_extract
frame = read_extract("ER_PRS_F")
print(len(frame))
"""
READ_R = """
frame <- read_extract("ER_PRS_F")
cat(nrow(frame), "\\n")
"""


@pytest.mark.parametrize("kernel, source", [("python3", READ_PY), ("ir", READ_R)])
def test_notebook_reads_extract_in_enclave(platform, kernel, source):
    project = slug("beta")
    response = platform.start_server("bob", project)
    assert response.status_code < 400
    container = platform.container("bob", project)
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": kernel}
    path = f"/home/jovyan/work/read-{kernel}.ipynb"
    host_path = platform.settings().project_dir(project) / "workspace" / f"read-{kernel}.ipynb"
    host_path.write_text(nbformat.writes(notebook))
    os.chown(host_path, 1000, 100)  # as if the researcher had saved it
    run = ("import nbclient, nbformat, sys; nb = nbformat.read(sys.argv[1], 4); "
           "nbclient.NotebookClient(nb, kernel_name=sys.argv[2], timeout=120).execute(); nbformat.write(nb, sys.argv[1])")
    result = container.exec_run(["python3", "-c", run, path, kernel], user="1000:100")
    assert result.exit_code == 0, result.output.decode()
    executed = nbformat.reads((platform.settings().project_dir(project) / "workspace" / f"read-{kernel}.ipynb").read_text(), 4)
    printed = "".join(o.get("text", "") for o in executed.cells[0].outputs)
    manifest = json.loads((platform.settings().project_dir(project) / "extracts" / "manifest.json").read_text())
    assert int(printed.strip()) == manifest["tables"]["ER_PRS_F"]["rows_out"]
