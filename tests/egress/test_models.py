"""Models as outputs (request kind "model"): attacked with sacroml against the rows the researcher names.

Real: the gate service (see service_fixtures.py), the sandboxed model worker, scikit-learn, sacroml.
A random forest with leaves of 10 rows is accepted with its attack report before the stewards; a
1-nearest-neighbour model (it remembers every training row) is refused; a pickle that runs code when
loaded is refused by name, and the sandbox contains it even when loaded without that wall.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

from egress_gate.model_loading import allowed

from .service_fixtures import SLUG

FEATURES = ["age", "bmi", "sbp", "chol"]
SPEC = {"training_data": "models/train.parquet", "holdout_data": "models/holdout.csv", "target": "event"}


def table(rows: int, seed: int, noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["event"] = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=noise, size=rows) > 0).astype(int)
    return frame


def write_data(server, rows: int, noise: float) -> pd.DataFrame:
    folder = server.workspace() / "models"
    folder.mkdir(exist_ok=True)
    train = table(rows, 1, noise)
    train.to_parquet(folder / "train.parquet")
    table(rows, 2, noise).to_csv(folder / "holdout.csv", index=False)
    return train


def submit_model(server, name: str, spec: dict = SPEC):
    return server.api("remi", "POST", "requests", json={
        "project": SLUG, "paths": [f"models/{name}"], "kind": "model", "model": spec,
        "justification": "risk score model for the paper's appendix"})


def model_findings(response) -> dict:
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "model"
    [file] = response.json()["files"]
    return {f["check"]: f for f in file["findings"]}


def test_a_regularised_forest_is_accepted_with_its_attack_report_before_the_stewards(gate_server):
    train = write_data(gate_server, 400, 1.0)
    forest = RandomForestClassifier(n_estimators=20, max_depth=3, min_samples_leaf=10, random_state=0)
    joblib.dump(forest.fit(train[FEATURES], train["event"]), gate_server.workspace() / "models" / "risk.joblib")

    response = submit_model(gate_server, "risk.joblib")
    found = model_findings(response)
    assert found["model_file"]["outcome"] == "pass" and "RandomForestClassifier" in found["model_file"]["message"]
    attacks = found["model_attacks"]
    assert attacks["outcome"] != "fail", attacks["message"]
    report = attacks["report"]
    auc = next(r for r in report["rows"] if r["metric"].startswith("attack AUC"))
    assert auc["result"] == "pass" and float(auc["value"]) <= 0.65 and auc["threshold"] == "≤ 0.65"
    assert {r["attack"] for r in report["rows"]} >= {"membership inference (worst case)", "structural"}
    assert report["training_data"]["name"] == "models/train.parquet" and report["training_data"]["rows"] == 400
    assert len(report["training_data"]["sha256"]) == 64 and report["target"] == "event"

    with gate_server.gate.session() as session:  # the audit log names the rows the model was attacked with
        from sqlalchemy import select

        from enclave.models import AuditEvent
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "egress.submit")).all()[-1]
        assert event.details["model_data"]["training_data"] == {"name": "models/train.parquet",
                                                                "sha256": report["training_data"]["sha256"]}

    page = gate_server.page("sven", f"requests/{response.json()['id']}")  # a steward outside the project
    assert page.status_code == 200
    before_findings = page.text[: page.text.index('<table class="findings">')]
    assert 'class="model-attacks"' in before_findings and "membership inference (worst case)" in before_findings
    assert auc["value"] in before_findings and "models/holdout.csv" in before_findings


def test_an_overfitted_model_is_refused(gate_server):
    train = write_data(gate_server, 120, 3.0)  # noisy labels: remembering the rows is all a 1-NN does
    model = KNeighborsClassifier(n_neighbors=1).fit(train[FEATURES], train["event"])
    (gate_server.workspace() / "models" / "knn.pkl").write_bytes(pickle.dumps(model))

    response = submit_model(gate_server, "knn.pkl")
    found = model_findings(response)
    attacks = found["model_attacks"]
    assert attacks["outcome"] == "fail", attacks["message"]
    auc = next(r for r in attacks["report"]["rows"] if r["metric"].startswith("attack AUC"))
    assert auc["result"] == "fail" and float(auc["value"]) > 0.65
    assert "may not leave" in attacks["message"]

    # No steward can approve it, even overriding the finding with a reason; rejecting it is recorded.
    rid = response.json()["id"]
    approve = gate_server.form_post("sven", f"requests/{rid}/decision", {
        "vote": "approve", "reason": "looks fine", "override_finding": ["knn.pkl/model_attacks"],
        "override_reason": ["small model, accepted"]}, from_page=f"requests/{rid}")
    assert approve.status_code == 409 and "no approval can release it" in approve.text
    assert gate_server.decide("sven", rid, vote="reject", reason="the model remembers its rows").status_code == 302


def test_a_model_request_names_its_data_or_is_refused(gate_server):
    write_data(gate_server, 50, 1.0)
    (gate_server.workspace() / "models" / "m.pkl").write_bytes(pickle.dumps(KNeighborsClassifier()))
    missing = submit_model(gate_server, "m.pkl", {"training_data": "models/train.parquet", "target": "event"})
    assert missing.status_code == 400 and "holdout_data" in missing.json()["error"]
    wrong = submit_model(gate_server, "m.pkl", {**SPEC, "holdout_data": "models/nowhere.csv"})
    assert wrong.status_code == 400 and "nowhere.csv" in wrong.json()["error"]
    table_as_model = gate_server.api("remi", "POST", "requests", json={
        "project": SLUG, "paths": ["outputs/table1.csv"], "kind": "model", "model": SPEC, "justification": "x"})
    assert table_as_model.status_code == 400 and ".csv files may not leave" in table_as_model.json()["error"]


# --- a pickle that runs code at load -------------------------------------------------------------------


class Listener:
    """A TCP listener on the host's loopback, counting the connections it accepts."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def evil_pickle(marker, port: int) -> bytes:
    """A pickle whose loading writes ``marker`` and connects to ``port`` on the loopback (what a hostile one would do)."""
    code = (f"open({str(marker)!r}, 'w').write('pwned')\n"
            f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3).close()")

    class Evil:
        def __reduce__(self):
            return (exec, (f"try:\n{textwrap.indent(code, '    ')}\nexcept BaseException as e:\n    print('blocked:', e)",))

    return pickle.dumps(Evil())


def test_a_pickle_that_runs_code_at_load_is_refused_by_name_and_does_nothing(gate_server, listener, tmp_path):
    write_data(gate_server, 60, 1.0)
    marker = tmp_path / "pwned-through-gate"
    (gate_server.workspace() / "models" / "evil.pkl").write_bytes(evil_pickle(marker, listener.port))

    found = model_findings(submit_model(gate_server, "evil.pkl"))
    assert found["model_file"]["outcome"] == "fail" and "builtins.exec" in found["model_file"]["message"]
    assert "model_attacks" not in found
    assert not marker.exists() and listener.accepted == 0


PROBE = """
import pickle, sys
data = open(sys.argv[1], "rb").read()
if sys.argv[2] == "sandboxed":
    from egress_gate.sandbox import enter
    enter()
pickle.loads(data)  # no allow-list here: only the sandbox stands between the pickle and the host
"""


@pytest.mark.parametrize("mode", ["sandboxed", "control"])
def test_the_sandbox_contains_a_pickle_loaded_without_the_allow_list(tmp_path, listener, mode):
    """The second wall alone: the file write and the connection happen without the sandbox (the positive
    control) and not inside it."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(evil_pickle(marker, listener.port))
    run = subprocess.run([sys.executable, "-c", PROBE, str(evil), mode], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    if mode == "control":
        assert marker.read_text() == "pwned" and listener.accepted == 1
    else:
        assert not marker.exists() and listener.accepted == 0
        assert "blocked:" in run.stdout  # the pickle's code ran, and failed on the walls


def test_the_sandboxed_process_has_no_network_no_writable_filesystem_no_capabilities(tmp_path):
    outside = Path(__file__).resolve().parent / f"sandbox-probe-{os.getpid()}"  # on the checkout's filesystem, not /tmp
    probe = textwrap.dedent(f"""
        import json, os, socket
        from egress_gate.sandbox import enter
        enter()
        out = {{"pid": os.getpid(), "others": sorted(p for p in os.listdir("/proc") if p.isdigit() and p != "1")}}
        out["write"] = []
        for path in ({str(outside)!r}, {str(tmp_path / "x")!r}):
            try:
                open(path, "w")
                out["write"].append("ok")
            except OSError as e:
                out["write"].append(e.errno)
        try:
            socket.socket().connect(("127.0.0.1", 1))
        except OSError as e:
            out["connect"] = e.errno
        out["caps"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapBnd"))]
        open("/tmp/scratch", "w").write("private")
        print(json.dumps(out))
    """)
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["pid"] == 1 and seen["others"] == []
    assert seen["write"] == [30, 2]  # EROFS; and the host's /tmp is hidden under the sandbox's own
    assert not outside.exists()
    assert seen["connect"] == 101  # ENETUNREACH: not even the host's loopback
    assert seen["caps"] == ["0000000000000000", "0000000000000000"]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("module, name, ok", [
    ("sklearn.tree._tree", "Tree", True), ("numpy._core.multiarray", "_reconstruct", True), ("numpy", "dtype", True),
    ("joblib.numpy_pickle", "NumpyArrayWrapper", True), ("builtins", "set", True),
    ("builtins", "exec", False), ("builtins", "eval", False), ("builtins", "getattr", False), ("os", "system", False),
    ("posix", "system", False), ("subprocess", "Popen", False), ("numpy", "load", False), ("numpy.lib.npyio", "loadtxt", False),
    ("numpy.testing", "assert_equal", False), ("joblib", "load", False), ("sklearn.utils._testing", "TempMemmap", False),
    ("scipy.io", "loadmat", False), ("sklearn.datasets", "fetch_openml", False),
])
def test_the_unpickler_resolves_only_what_a_model_is_made_of(module, name, ok):
    assert allowed(module, name) is ok


def test_a_project_sets_its_model_threshold_in_its_manifest(gate_server):
    from sqlalchemy import select

    from enclave.models import Project

    with gate_server.gate.session() as session:
        project = session.scalar(select(Project).where(Project.slug == SLUG))
        assert gate_server.gate.policy_for(project).model_attack_auc == 0.65  # the default
        project.egress_policy = {**project.egress_policy, "model_attack_auc": 0.8}
        assert gate_server.gate.policy_for(project).model_attack_auc == 0.8


@pytest.mark.parametrize("value, fragment", [(0.4, "0.4 is not between 0.5 and 1"), (True, "True is not between"),
                                             ("high", "is not a int or float")])
def test_a_bad_model_threshold_in_a_manifest_names_its_field(tmp_path, value, fragment):
    from enclave.manifest import ManifestError, load_manifest
    from enclave.settings import DEFAULT_CATALOG
    from pseudonymizer.catalog import load_catalog

    from ..registry.provisioning_support import USERS, write_manifest

    catalog = load_catalog(DEFAULT_CATALOG)
    good = load_manifest(write_manifest(tmp_path, "model-study", {"egress.model_attack_auc": 0.7}), catalog, set(USERS))
    assert good.egress["model_attack_auc"] == 0.7
    path = write_manifest(tmp_path, "model-study", {"egress.model_attack_auc": value})
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, catalog, set(USERS))
    assert str(caught.value).startswith(f"{path}: egress.model_attack_auc: ") and fragment in str(caught.value)


KERAS_MODEL = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras, pandas as pd
train = pd.read_parquet(sys.argv[1])
features = [c for c in train.columns if c != "event"]
model = keras.Sequential([keras.Input((len(features),)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile("adam", "binary_crossentropy")
model.fit(train[features].to_numpy("float32"), train["event"].to_numpy(), epochs=5, verbose=0)
model.save(sys.argv[2])
"""


@pytest.mark.slow  # trains a small network first (about 10 s)
def test_a_keras_model_is_attacked_by_its_outputs(gate_server):
    write_data(gate_server, 300, 1.0)
    folder = gate_server.workspace() / "models"
    made = subprocess.run([sys.executable, "-c", KERAS_MODEL, str(folder / "train.parquet"), str(folder / "net.keras")],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr

    found = model_findings(submit_model(gate_server, "net.keras"))
    assert found["model_file"]["outcome"] == "pass" and "Sequential" in found["model_file"]["message"]
    rows = found["model_attacks"]["report"]["rows"]
    auc = next(r for r in rows if r["metric"].startswith("attack AUC"))
    assert auc["result"] == "pass", found["model_attacks"]["message"]
    structural = next(r for r in rows if r["attack"] == "structural")  # sacroml's structural attack: scikit-learn only
    assert structural["result"] == "review" and structural["threshold"] == "scikit-learn models only"
    assert found["model_attacks"]["outcome"] == "review"


def test_a_skops_file_is_loaded_only_with_types_a_model_is_made_of():
    """skops never runs code at load; the types it would build beyond its defaults pass the same allow-list."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from egress_gate.model_loading import ModelFileError, load_model

    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(np.eye(4), [0, 1, 0, 1])
    assert type(load_model(sio.dumps(forest), "skops")) is RandomForestClassifier
    with pytest.raises(ModelFileError, match="system"):
        load_model(sio.dumps(FunctionTransformer(os.system)), "skops")


def test_the_new_request_page_submits_a_model_with_its_data(gate_server):
    train = write_data(gate_server, 200, 1.0)
    forest = RandomForestClassifier(n_estimators=10, max_depth=3, min_samples_leaf=10, random_state=0)
    joblib.dump(forest.fit(train[FEATURES], train["event"]), gate_server.workspace() / "models" / "form.joblib")
    page = gate_server.page("remi", "requests/new")
    assert page.status_code == 200 and f'id="model-form-{SLUG}"' in page.text and 'name="holdout_data"' in page.text

    posted = gate_server.form_post("remi", "requests", {
        "project": SLUG, "kind": "model", "paths": "models/form.joblib", "training_data": SPEC["training_data"],
        "holdout_data": SPEC["holdout_data"], "target": "event", "justification": "the risk score, for the appendix"},
        from_page="requests/new")
    assert posted.status_code == 302, posted.text
    request_id = int(posted.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    with gate_server.gate.session() as session:
        from egress_gate.workflow import get_request

        request = get_request(session, request_id)
        assert request.kind.value == "model" and [f.name for f in request.files] == ["form.joblib"]
        assert {f["check"] for f in request.files[0].findings} == {"model_file", "model_attacks"}


NO_NAMESPACES = """
import sys
from pathlib import Path
import egress_gate.sandbox as sandbox

def refused():
    raise sandbox.SandboxError("unshare failed: Operation not permitted (errno 1)")

sandbox.enter = refused  # as in a container without the right to create namespaces
from egress_gate.model_worker import _run
sys.exit(_run(Path(sys.argv[1])))
"""


def test_a_worker_that_cannot_enter_its_sandbox_loads_nothing(tmp_path, listener):
    """Fail closed: the hostile pickle is not touched (the allow-list is not even reached), one failing finding says why."""
    from egress_gate.check_worker import Budget
    from egress_gate.model_request import DataFile, ModelData
    from egress_gate.model_worker import write_job
    from egress_gate.policy import DEFAULT_POLICY

    marker = tmp_path / "pwned"
    (tmp_path / "evil.pkl").write_bytes(evil_pickle(marker, listener.port))
    table(20, 1, 1.0).to_csv(tmp_path / "rows.csv", index=False)
    rows = DataFile("rows.csv", "0" * 64, "csv", (tmp_path / "rows.csv").read_bytes())
    write_job(tmp_path, tmp_path / "evil.pkl", ModelData(rows, rows, "event"), DEFAULT_POLICY, Budget())
    run = subprocess.run([sys.executable, "-c", NO_NAMESPACES, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    [found] = json.loads(run.stdout)
    assert found["check"] == "sandbox" and found["outcome"] == "fail" and "Operation not permitted" in found["message"]
    assert not marker.exists() and listener.accepted == 0
