"""The researcher image, run as the spawner runs it: read-only root filesystem,
tmpfs home and /tmp, all capabilities dropped, no new privileges, uid 1000, and
(here) no network at all. Extracts are mounted read-only at ~/data.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

HOME = "/home/jovyan"
HARDENING = (
    "--read-only",
    "--tmpfs", "/tmp",
    "--tmpfs", f"{HOME}:uid=1000,gid=100",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--user", "1000:100",
    "--network", "none",
)
NO_INSTALL = "Packages come from your project's own index"

# Runs a notebook with nbclient inside the container; prints every output as JSON.
RUN_NOTEBOOK = """
import json, sys
import nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=180, kernel_name=nb.metadata.kernelspec.name, allow_errors=True).execute()
print(json.dumps([output for cell in nb.cells for output in cell.outputs]))
"""


@pytest.fixture
def run_hardened(image):
    """run_hardened(*command, mounts={host: container}) -> CompletedProcess, in a hardened
    container of the image. Mounts are read-only. Every container started is removed,
    whatever happens (--rm, and `docker rm -f` by name at teardown)."""
    names: list[str] = []

    def run(*command: str, mounts: dict[Path, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        name = f"enclave-test-image-{uuid.uuid4().hex[:12]}"
        names.append(name)
        volumes = [arg for host, target in (mounts or {}).items() for arg in ("-v", f"{host}:{target}:ro")]
        return subprocess.run(
            ["docker", "run", "--rm", "--name", name, *HARDENING, *volumes, image, *command],
            check=False, capture_output=True, text=True, timeout=timeout,
        )

    yield run
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)


@pytest.fixture
def extract(tmp_path: Path) -> dict:
    """A project's data folder with one extract (1234 rows, nulls in `visit_date`)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    rows = 1234
    table = pa.table({
        "patient": pa.array([f"p{i:05d}" for i in range(rows)]),
        "age_band": pa.array(["30-34", "35-39", None, "40-44"] * (rows // 4) + ["30-34"] * (rows % 4)),
        "amount": pa.array([i * 0.5 for i in range(rows)]),
        "visit_date": pa.array([None if i % 7 == 0 else 18000 + i for i in range(rows)], pa.date32()),
    })
    pq.write_table(table, data / "consultations.parquet")
    (data / "DATA_DICTIONARY.md").write_text("# consultations\n")
    for path in data.iterdir():
        path.chmod(0o644)
    return {"dir": data, "rows": rows, "null_dates": table.column("visit_date").null_count}


def notebook(folder: Path, kernel: str, language: str, *sources: str) -> Path:
    folder.mkdir(mode=0o755, exist_ok=True)
    path = folder / f"{kernel}.ipynb"
    cells = [
        {"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": s}
        for i, s in enumerate(sources)
    ]
    metadata = {"kernelspec": {"name": kernel, "display_name": kernel, "language": language}}
    path.write_text(json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}))
    path.chmod(0o644)
    return path


def run_notebook(run_hardened, path: Path, data: Path | None = None) -> list[dict]:
    mounts = {path.parent: f"{HOME}/work", **({data: f"{HOME}/data"} if data else {})}
    result = run_hardened("python", "-c", RUN_NOTEBOOK, f"{HOME}/work/{path.name}", mounts=mounts)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def text_of(outputs: list[dict]) -> str:
    parts = []
    for output in outputs:
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] == "error":
            parts.append("\n".join([output["ename"], output["evalue"], *output["traceback"]]))
    return "".join(parts)


def kernelspecs(run_hardened) -> dict:
    result = run_hardened("jupyter", "kernelspec", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["kernelspecs"]


def test_kernels_python_r_and_a_julia_entry(run_hardened):
    specs = kernelspecs(run_hardened)
    assert {"python3", "ir"} <= specs.keys()
    julia = [name for name in specs if name.startswith("julia")]
    assert len(julia) == 1, sorted(specs)
    spec = specs[julia[0]]["spec"]
    if "not in this build" in spec["display_name"]:
        assert "enclave_unavailable_kernel" in spec["argv"], "the placeholder must not pretend to run Julia"


@pytest.mark.parametrize(("kernel", "language", "source"), [
    ("python3", "python", (
        "from enclave_data import read_extract\n"
        "df = read_extract('consultations')\n"
        "print(f'rows={len(df)} null_dates={df.visit_date.isna().sum()}')"
    )),
    ("ir", "R", (
        "df <- read_extract('consultations')\n"
        "stopifnot(inherits(df$visit_date, 'Date'))\n"
        "cat(sprintf('rows=%d null_dates=%d\\n', nrow(df), sum(is.na(df$visit_date))))"
    )),
])
def test_notebook_reads_the_mounted_extract(run_hardened, extract, tmp_path, kernel, language, source):
    path = notebook(tmp_path / "notebooks", kernel, language, source)
    output = text_of(run_notebook(run_hardened, path, data=extract["dir"]))
    assert f"rows={extract['rows']} null_dates={extract['null_dates']}" in output, output


def test_julia_entry_runs_julia_or_says_plainly_it_is_not_there(run_hardened, tmp_path):
    (name,) = [name for name in kernelspecs(run_hardened) if name.startswith("julia")]
    output = text_of(run_notebook(run_hardened, notebook(tmp_path / "notebooks", name, "julia", "println(6 * 7)")))
    if name == "julia-not-in-this-build":
        assert "Julia is not in this build" in output and "nothing in this cell was run" in output, output
        assert "BASE_IMAGE=" in output, output
    else:
        assert "42" in output, output


def test_extracts_are_read_only(run_hardened, extract):
    # Writable for everyone on the host: only the read-only mount can stop the writes.
    extract["dir"].chmod(0o777)
    (extract["dir"] / "consultations.parquet").chmod(0o666)
    result = run_hardened(
        "sh", "-c", f"echo x > {HOME}/data/new.csv; echo x >> {HOME}/data/consultations.parquet",
        mounts={extract["dir"]: f"{HOME}/data"},
    )
    assert result.stderr.count("Read-only file system") == 2, result.stderr
    assert not (extract["dir"] / "new.csv").exists()


def test_root_filesystem_is_read_only_home_and_tmp_are_writable(run_hardened):
    script = (
        "for path in /usr/local/x /opt/enclave-venv/x /etc/x /home/x; do"
        " touch $path 2>/dev/null && echo wrote $path; done;"
        f"touch {HOME}/x /tmp/x && echo home-and-tmp-ok; id -u; id -g"
    )
    result = run_hardened("sh", "-c", script)
    assert result.stdout.split() == ["home-and-tmp-ok", "1000", "100"], result.stdout + result.stderr


def test_home_has_the_welcome_page(run_hardened):
    result = run_hardened("cat", f"{HOME}/WELCOME.md")
    assert result.returncode == 0, result.stderr
    for words in ("~/data", "DATA_DICTIONARY.md", "~/work", "egress gate"):
        assert words in result.stdout


def test_pip_install_fails_at_once_and_says_how_to_ask(run_hardened, tmp_path):
    """Without the project tools (no hub here) nothing installs; with them, see tests/tooling."""
    started = time.monotonic()
    result = run_hardened("sh", "-c", "pip install polars; echo rc=$?; pip3 install --user polars; echo rc=$?;"
                                      "python -m pip install polars; echo rc=$?; pip list")
    assert time.monotonic() - started < 60
    assert result.stdout.count("rc=1") == 3, result.stdout + result.stderr
    assert result.stderr.count(NO_INSTALL) == 2 and "enclave-package request NAME" in result.stderr
    assert re.search(r"^pandas\s", result.stdout, re.MULTILINE), "pip list must still work"

    outputs = run_notebook(run_hardened, notebook(tmp_path / "notebooks", "python3", "python", "%pip install polars"))
    assert NO_INSTALL in text_of(outputs)


def test_r_install_packages_fails_at_once_and_says_how_to_ask(run_hardened):
    result = run_hardened("Rscript", "-e", "install.packages('data.table')")
    assert result.returncode != 0
    assert NO_INSTALL in result.stderr and "r-cran-" in result.stderr, result.stderr


def test_jupyterhub_singleuser_is_the_pinned_version(run_hardened):
    pins = (REPO / "images" / "requirements.txt").read_text()
    pinned = re.search(r"^jupyterhub==(\S+)$", pins, re.MULTILINE).group(1)
    result = run_hardened("jupyterhub-singleuser", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pinned
    try:  # the hub's own version, when this environment has the hub installed
        hub = importlib.metadata.version("jupyterhub")
    except importlib.metadata.PackageNotFoundError:
        hub = None
    assert hub in (None, pinned), f"the hub runs jupyterhub {hub}, the image {pinned}: pin the same"


# Starts JupyterLab, opens the landing page, starts a kernel, and prints its log.
SERVE_LAB = """
import json, os, subprocess, time, urllib.request
token = "enclave-test"
server = subprocess.Popen(["jupyter", "lab", "--no-browser", "--ip=127.0.0.1", "--port=8888",
                           "--IdentityProvider.token=" + token],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
def call(path, method="GET"):
    request = urllib.request.Request("http://127.0.0.1:8888" + path, method=method,
                                     data=b"{}" if method == "POST" else None,
                                     headers={"Authorization": "token " + token})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.geturl(), response.read().decode()
for _ in range(240):
    try:
        call("/api/status")
        break
    except OSError:
        time.sleep(0.5)
status, landing, _ = call("/")
kernel = json.loads(call("/api/kernels", "POST")[2])
for _ in range(120):  # until the kernel has started (or died): a poll, not a fixed wait
    kernels = json.loads(call("/api/kernels")[2])
    if kernels and all(k["execution_state"] not in ("starting", "restarting") for k in kernels):
        break
    time.sleep(0.5)
server.terminate()
print(json.dumps({"landing": landing, "hub_default_url": os.environ.get("JUPYTERHUB_DEFAULT_URL"),
                  "kernel_state": [k["execution_state"] for k in kernels],
                  "log": server.communicate(timeout=60)[0]}))
"""


def test_jupyterlab_runs_on_the_read_only_root(run_hardened, extract):
    result = run_hardened("python", "-c", SERVE_LAB, mounts={extract["dir"]: f"{HOME}/data"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # `jupyter lab` lands on the welcome page, and so does jupyterhub-singleuser unless
    # the hub sets c.Spawner.default_url (its JUPYTERHUB_DEFAULT_URL replaces the image's).
    # The file browser opens in the shared workspace.
    assert "/lab/tree/WELCOME.md?file-browser-path=/work" in report["landing"], report["landing"]
    assert report["hub_default_url"] == "/lab/tree/WELCOME.md?file-browser-path=/work"
    assert report["kernel_state"] and "dead" not in report["kernel_state"], report
    for trouble in ("Read-only file system", "Permission denied", "Errno 30", "Traceback"):
        assert trouble not in report["log"], report["log"]
