"""Every HTTP channel of a researcher's browser session that gave a whole extract before the seal —
``/files/`` (plain, percent-encoded, through a symlink made in ``~/work``), the contents API (base64,
a CSV made in ``~/work``, a copy made with ``copy_from``), nbconvert exports, ``?download=1``,
``/view/`` — tried with the user's own hub token (as a token made in the browser, used without
cookies): each is refused at the seal with an audit event, and no answer carries the extract's
bytes. What JupyterLab needs (listings, the data dictionary, small text files, notebooks) still works.
"""

from __future__ import annotations

import base64
import json

from ..enclave.platform import slug
from .conftest import last_seq, wait_for_audit

PREPARE = r"""
import json, os
from enclave_data import read_extract
home = os.path.expanduser("~")
os.symlink(home + "/data/ER_PRS_F.parquet", home + "/work/link.parquet")
read_extract("ER_PRS_F").to_csv(home + "/work/full.csv", index=False)
open(home + "/work/notes.txt", "w").write("cohort notes\n")
nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
json.dump(nb, open(home + "/work/analysis.ipynb", "w"))
print(json.dumps({"csv": os.path.getsize(home + "/work/full.csv"),
                  "first_row": open(home + "/work/full.csv").read().splitlines()[1]}))
"""

REFUSED = [
    ("GET", "files/data/ER_PRS_F.parquet"),
    ("GET", "files/data%2FER_PRS_F.parquet"),
    ("GET", "%66iles/data/ER_PRS_F.parquet"),
    ("GET", "files/work/link.parquet"),
    ("GET", "files/work/full.csv"),
    ("GET", "api/contents/data/ER_PRS_F.parquet?type=file&format=base64"),
    ("GET", "api/contents/data%2FER_PRS_F.parquet"),
    ("GET", "api/contents/work/link.parquet"),            # judged on the answer: binary
    ("GET", "api/contents/work/full.csv?type=file&format=text"),
    ("GET", "api/contents/work/full.csv"),                 # judged on the answer: a large text
    ("GET", "api/contents/work/copied.parquet"),
    ("GET", "nbconvert/html/work/analysis.ipynb?download=true"),
    ("GET", "nbconvert/notebook/work/analysis.ipynb"),
    ("GET", "nbconvert/script/work/analysis.ipynb"),
    ("GET", "view/data/ER_PRS_F.parquet"),
    ("GET", "lab/tree/work/full.csv?download=1"),
    ("GET", "api/contents/work/notes.txt?download=1"),
]


def test_raw_transfers_are_refused_at_the_seal_and_audited(sealed, bob):
    container = bob.start("open")
    result = container.exec_run(["python3", "-c", PREPARE], user="1000:100")
    assert result.exit_code == 0, result.output.decode()
    prepared = json.loads(result.output.decode().strip().splitlines()[-1])
    extract = (sealed.settings().project_dir(slug("open")) / "extracts" / "ER_PRS_F.parquet").read_bytes()
    assert prepared["csv"] > 256 * 1024  # larger than a text file JupyterLab may open

    # copy_from: the server copies inside the container (allowed); the copy is as sealed as the original.
    copied = bob.request("POST", "open", "api/contents/work", json={"copy_from": "data/ER_PRS_F.parquet"})
    assert copied.status_code == 201, copied.text
    moved = bob.request("PATCH", "open", f"api/contents/{copied.json()['path']}", json={"path": "work/copied.parquet"})
    assert moved.status_code == 200, moved.text

    since = last_seq(sealed)
    for method, path in REFUSED:
        response = bob.request(method, "open", path)
        assert response.status_code == 403, (path, response.status_code, response.text[:300])
        assert "Refused by the enclave" in response.text, (path, response.text[:300])
        assert b"PAR1" not in response.content and extract[:64] not in response.content, path
        assert prepared["first_row"].encode() not in response.content, path
    events = wait_for_audit(sealed, "seal.refused", since, hits=len(REFUSED))
    total = sum(e.get("hits", 1) if e.get("folded") else 1 for e in events)
    assert total == len(REFUSED), events
    assert all(e["actor"] == "bob" and e["project"] == slug("open") and e["reason"] for e in events), events
    assert events[0]["path"] == f"/user/bob/{slug('open')}/{REFUSED[0][1]}"


def test_what_jupyterlab_needs_still_works(sealed, bob):
    bob.start("open")
    listing = bob.get("open", "api/contents/data?content=1")
    assert listing.status_code == 200 and {"ER_PRS_F.parquet", "DATA_DICTIONARY.md"} <= {
        item["name"] for item in listing.json()["content"]}
    dictionary = bob.get("open", "api/contents/data/DATA_DICTIONARY.md")
    assert dictionary.status_code == 200 and dictionary.json()["content"].startswith("#")
    metadata = bob.get("open", "api/contents/data/ER_PRS_F.parquet?content=0")
    assert metadata.status_code == 200 and metadata.json()["content"] is None
    notes = bob.request("PUT", "open", "api/contents/work/small.txt",
                        json={"type": "file", "format": "text", "content": "a small note\n"})
    assert notes.status_code in (200, 201), notes.text
    assert bob.get("open", "api/contents/work/small.txt").json()["content"] == "a small note\n"
    notebook = bob.request("PUT", "open", "api/contents/work/new.ipynb", json={"type": "notebook"})
    assert notebook.status_code in (200, 201), notebook.text
    assert bob.get("open", "api/contents/work/new.ipynb").json()["type"] == "notebook"
    lab = bob.get("open", "lab")
    assert lab.status_code == 200 and "JupyterLab" in lab.text


UPLOADS = {  # what JupyterLab's file browser sends when a file is dropped on it (FileBrowserModel.upload)
    "base64": {"type": "file", "format": "base64", "name": "cohort.csv",
               "content": base64.b64encode(b"id,age\n1,40\n2,41\n").decode()},
    "named text": {"type": "file", "format": "text", "name": "cohort.csv", "content": "id,age\n1,40\n2,41\n"},
    "chunk": {"type": "file", "format": "base64", "chunk": 1, "content": base64.b64encode(b"id,age\n").decode()},
}


def test_a_browser_upload_is_refused_at_the_seal_pointing_to_the_airlock(sealed, bob):
    container = bob.start("open")
    since = last_seq(sealed)
    for kind, model in UPLOADS.items():
        answer = bob.request("PUT", "open", "api/contents/work/cohort.csv", json=model)
        assert answer.status_code == 403, (kind, answer.status_code, answer.text[:300])
        assert "import airlock" in answer.text, (kind, answer.text[:300])
    landed = container.exec_run(["test", "-e", "/home/jovyan/work/cohort.csv"], user="1000:100")
    assert landed.exit_code != 0  # nothing reached the project
    events = wait_for_audit(sealed, "seal.refused", since, hits=len(UPLOADS))
    assert all(e["actor"] == "bob" and "airlock" in e["reason"] for e in events), events
    # Positive control: the same file saved as JupyterLab's editor saves it (no name, no base64, no chunk).
    saved = bob.request("PUT", "open", "api/contents/work/cohort.csv",
                        json={"type": "file", "format": "text", "content": "id,age\n1,40\n2,41\n"})
    assert saved.status_code in (200, 201), saved.text
    # Approved imports appear at ~/imports, read-only: the airlock is the only way in.
    probe = container.exec_run(["sh", "-c", "test -d ~/imports && touch ~/imports/x"], user="1000:100")
    assert probe.exit_code != 0 and b"Read-only" in probe.output, probe.output
