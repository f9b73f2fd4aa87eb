"""The stewards' and researchers' tools in the gate's pages: queue, landing, figures, not found.

Through the real gate service (see service_fixtures.py); figures are built byte by byte.
"""

from __future__ import annotations

from .hostile_files import png_text_chunk, tiny_png
from .test_verdicts import submit


def test_the_queue_shows_the_worst_finding_first_and_filters(gate_server):
    failing = submit(gate_server)["id"]
    clean = submit(gate_server, ("outputs/table1.csv",))["id"]
    page = gate_server.page("sven", "queue").text
    assert page.index(f"requests/{failing}\"") < page.index(f"requests/{clean}\"")  # worst first
    assert 'class="worst-fail"' in page and "ids.csv/pseudonyms" in page
    only_fail = gate_server.page("sven", "queue?worst=fail").text
    assert f"requests/{failing}\"" in only_fail and f"requests/{clean}\"" not in only_fail
    oldest = gate_server.page("sven", "queue?sort=oldest").text
    assert oldest.index(f"requests/{failing}\"") < oldest.index(f"requests/{clean}\"")
    assert f"requests/{clean}\"" not in gate_server.page("sven", "queue?project=other").text


def test_stewards_land_on_the_queue_and_researchers_on_their_requests(gate_server):
    steward = gate_server.browser("sven").get(gate_server.url + "/services/egress/", allow_redirects=False, timeout=30)
    researcher = gate_server.browser("remi").get(gate_server.url + "/services/egress/", allow_redirects=False, timeout=30)
    assert steward.headers["Location"].endswith("/queue") and researcher.headers["Location"].endswith("/requests")


def test_another_projects_request_is_not_found(gate_server):
    rid = submit(gate_server, ("outputs/table1.csv",))["id"]
    page = gate_server.page("nora", f"requests/{rid}")
    assert page.status_code == 404 and "does not exist" in page.text and "cohort-a" not in page.text



def test_figures_are_shown_re_encoded_without_metadata_or_trailing_bytes(gate_server):
    secret = b"age,sex,cause\n67,M,I21\n"
    held = tiny_png(png_text_chunk("Comment", "patient list attached"), trailing=secret)
    (gate_server.workspace() / "outputs" / "figure.png").write_bytes(held)
    rid = submit(gate_server, ("outputs/figure.png",))["id"]
    page = gate_server.page("sven", f"requests/{rid}").text
    assert f'src="/services/egress/requests/{rid}/files/figure.png/figure"' in page
    shown = gate_server.page("sven", f"requests/{rid}/files/figure.png/figure")
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert shown.content.startswith(b"\x89PNG") and shown.content.endswith(b"IEND\xaeB`\x82")
    assert b"tEXt" not in shown.content and secret not in shown.content
    assert gate_server.gate.quarantine.open(__import__("hashlib").sha256(held).hexdigest()) == held  # held as submitted
    # only a steward who may review it sees the figure
    assert gate_server.page("remi", f"requests/{rid}/files/figure.png/figure").status_code == 403


def _client(gate_server, monkeypatch, user: str = "remi"):
    """The in-container client (images/python/enclave_export.py), pointed at the in-process gate."""
    import importlib.util

    from ..conftest import REPO
    spec = importlib.util.spec_from_file_location("enclave_export_under_test", REPO / "images/python/enclave_export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("ENCLAVE_EGRESS_URL", gate_server.url + "/services/egress/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", gate_server.tokens[user])
    monkeypatch.setenv("ENCLAVE_PROJECT", "cohort-a")
    monkeypatch.setenv("ENCLAVE_WORK_DIR", str(gate_server.workspace()))
    monkeypatch.chdir(gate_server.workspace())
    return module


def test_status_without_an_id_lists_the_callers_requests_and_what_happens_next(gate_server, monkeypatch, capsys):
    client = _client(gate_server, monkeypatch)
    assert client.main(["status"]) == 0
    assert "no request yet" in capsys.readouterr().out
    rid = submit(gate_server, ("outputs/table1.csv",))["id"]
    assert client.main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"request {rid}  cohort-a  submitted: waiting for a steward" in out


def test_submit_without_a_justification_asks_for_one(gate_server, monkeypatch, capsys):
    client = _client(gate_server, monkeypatch)
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # not a terminal: say which flag is missing
    assert client.main(["submit", "outputs/table1.csv"]) == 1
    assert "--justification" in capsys.readouterr().err

    class Terminal:  # a researcher at a terminal, typing the justification when asked
        def isatty(self):
            return True

        def readline(self):
            return "Table 1 of the paper: counts by age band, all >= 10\n"

    monkeypatch.setattr("sys.stdin", Terminal())
    assert client.main(["submit", "outputs/table1.csv"]) == 0
    out = capsys.readouterr().out
    assert "Justification" in out and ": submitted" in out


def test_a_steward_sees_the_pending_count_on_the_home_page(gate_server):
    submit(gate_server, ("outputs/table1.csv",))
    submit(gate_server)
    page = gate_server.page("sven", "requests").text
    assert "2 request(s) waiting for a steward" in page


def test_the_link_the_api_returns_is_absolute_when_the_public_address_is_known(gate_server):
    import dataclasses
    relative = submit(gate_server, ("outputs/table1.csv",))["url"]
    assert relative.startswith("/services/egress/requests/")
    app_config = gate_server.gate.config
    public = dataclasses.replace(app_config, public_url="https://enclave.example.org")
    from egress_gate.service import GateConfig
    assert GateConfig.from_env({"ENCLAVE_HOME": str(gate_server.root / "home"),
                                "ENCLAVE_PUBLIC_URL": "https://enclave.example.org/"}).public_url == public.public_url
    assert GateConfig.from_env({"ENCLAVE_HOME": str(gate_server.root / "home"),
                                "ENCLAVE_PUBLIC_URL": "http://0.0.0.0:8000"}).public_url is None


def test_the_new_request_form_offers_only_the_researchers_own_files(gate_server):
    work = gate_server.workspace()
    for name in (".git/hooks/pre-commit", ".ipynb_checkpoints/table1-checkpoint.csv", ".hidden.csv"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text("a\n1\n")
    page = gate_server.page("remi", "requests/new")
    assert page.status_code == 200, page.text
    assert 'value="outputs/table1.csv"' in page.text
    for hidden in (".git", ".ipynb_checkpoints", ".hidden.csv", "pre-commit"):
        assert hidden not in page.text.split("not offered")[0], hidden  # only named in the note that explains
    assert "other file(s) or folder(s) not offered" in page.text


def test_states_show_in_words(gate_server):
    rid = submit(gate_server, ("outputs/table1.csv",))["id"]
    assert gate_server.decide("sven", rid, vote="request_changes", reason="round the counts to 5").status_code == 302
    answer = gate_server.api("remi", "GET", f"requests/{rid}").json()
    assert (answer["state"], answer["state_words"]) in (("under_review", "under review"),
                                                          ("changes_requested", "changes requested"))
    for path in ("requests", f"requests/{rid}"):
        text = gate_server.page("remi", path).text
        assert answer["state_words"] in text and f">{answer['state']}<" not in text, path


def test_jupyterlab_s_submit_for_export_ticks_only_the_researcher_s_own_offered_files(gate_server):
    """?file= as JupyterLab names files (work/...): ticked only when the form offers exactly that file;
    a hidden file, a path climbing out, a file absent or named without work/ is ignored and named."""
    from egress_gate.submission import preselected
    from tests.egress.service_fixtures import SLUG

    work = gate_server.workspace()
    (work / ".hidden.csv").write_text("a\n1\n")
    asked = ["work/outputs/table1.csv", "work/.hidden.csv", "work/../secret.csv", "work/none.csv", "outputs/table1.csv"]
    page = gate_server.page("remi", "requests/new", params={"project": SLUG, "file": asked})
    assert page.status_code == 200, page.text
    assert 'value="outputs/table1.csv" checked' in page.text
    assert page.text.count(" checked>") == 1, page.text
    note = page.text.split(f'id="ignored-{SLUG}">', 1)[1].split("</p>", 1)[0]
    for ignored in asked[1:]:
        assert ignored in note, (ignored, note)
    assert "work/outputs/table1.csv" not in note

    # Positive control: without the parameters nothing is ticked and no note is shown.
    plain = gate_server.page("remi", "requests/new")
    assert " checked>" not in plain.text and "ignored-" not in plain.text
    # Another project's name: nothing ticked, and said.
    other = gate_server.page("remi", "requests/new", params={"project": "not-mine", "file": asked[0]})
    assert " checked>" not in other.text and 'id="unknown-project"' in other.text
    # The same reading, pure.
    assert preselected(["work/a.csv", "work/a.csv", "a.csv", ""], ["a.csv"]) == (["a.csv"], ["a.csv"])
