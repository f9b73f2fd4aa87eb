"""Julia from a local tarball (JULIA_TARBALL, scripts/build_images.sh): `julia` and read_extract()
in the stack image, and the Julia kernel when the build had a depot with IJulia (JULIA_DEPOT).
Julia is on neither Debian nor PyPI, so without a tarball these tests are skipped, saying why."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HOME = "/home/jovyan"
HARDENING = ("--read-only", "--tmpfs", "/tmp", "--tmpfs", f"{HOME}:uid=1000,gid=100", "--cap-drop", "ALL",
             "--security-opt", "no-new-privileges", "--user", "1000:100", "--network", "none")
NO_TARBALL = ("JULIA_TARBALL is not set: no Julia tarball on this machine (Julia is packaged neither by Debian nor on "
              "PyPI, the registries reachable here); set JULIA_TARBALL=/path/julia-x.y.z-linux-x86_64.tar.gz to build "
              "the stack image with Julia and run these tests")
NO_DEPOT = ("JULIA_DEPOT is not set: IJulia, the Julia kernel, comes only from Julia's package registry; set "
            "JULIA_DEPOT=/path/depot.tar.gz (a depot where IJulia was added) to test the kernel")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.environ.get("JULIA_TARBALL"), reason=NO_TARBALL)]


def run_hardened(image: str, data: Path, *command: str) -> subprocess.CompletedProcess:
    name = f"enclave-test-julia-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run(["docker", "run", "--rm", "--name", name, *HARDENING, "-v", f"{data}:{HOME}/data:ro", image, *command],
                              check=False, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    table = pa.table({"patient": ["p1", None, "p3é"], "amount": [1.5, 2.5, None],
                      "visit": pa.array([18000, None, 18002], pa.date32())})
    pq.write_table(table, data / "consultations.parquet")
    (data / "consultations.parquet").chmod(0o644)
    return data


def test_julia_reads_an_extract_in_the_stack_image(stack_image, extract):
    script = ('t = read_extract("consultations"); '
              'println(length(t.patient), " ", count(ismissing, t.patient), " ", sum(skipmissing(t.amount)), " ", t.visit[1], " ", t.patient[3]); '
              'println(list_extracts())')
    result = run_hardened(stack_image, extract, "julia", "-e", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["3 1 4.0 2019-04-14 p3é", '["consultations"]'], result.stdout


@pytest.mark.skipif(not os.environ.get("JULIA_DEPOT"), reason=NO_DEPOT)
def test_julia_kernel_runs_a_notebook(stack_image, extract, tmp_path):
    specs = json.loads(run_hardened(stack_image, extract, "jupyter", "kernelspec", "list", "--json").stdout)["kernelspecs"]
    (kernel,) = [name for name in specs if name.startswith("julia")]
    assert kernel != "julia-not-in-this-build"
    notebook = {"cells": [{"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": None, "outputs": [],
                           "source": 'println(length(read_extract("consultations").amount) * 14)'}],
                "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": "julia"}},
                "nbformat": 4, "nbformat_minor": 5}
    (extract / "run.ipynb").write_text(json.dumps(notebook))
    (extract / "run.ipynb").chmod(0o644)
    code = ("import nbclient, nbformat; nb = nbformat.read('/home/jovyan/data/run.ipynb', as_version=4); "
            "nbclient.NotebookClient(nb, timeout=600, kernel_name=nb.metadata.kernelspec.name).execute(); "
            "print(''.join(o.get('text', '') for c in nb.cells for o in c.outputs))")
    result = run_hardened(stack_image, extract, "python", "-c", code)
    assert result.returncode == 0, result.stderr
    assert "42" in result.stdout, result.stdout
