"""The stack image, in real enclaves: a platform whose two projects choose the slim and the stack
image in their manifests, notebooks (Python and R) executed inside the spawned containers with
nbclient, and a 10-million-row extract scanned lazily with its peak memory measured in there."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from enclave.layout import extracts_dir, workspace_dir

from ..enclave.platform import slug
from .conftest import STACK_IMAGE

pytestmark = pytest.mark.slow

HOME = "/home/jovyan"
MiB = 2**20
BIG_ROWS = 10_000_000
PEAK_LIMIT = 500 * MiB

# Runs a notebook with nbclient inside the container; prints every output as JSON.
RUN_NOTEBOOK = """
import json, sys
import nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=600, kernel_name=nb.metadata.kernelspec.name, allow_errors=True).execute()
print(json.dumps([output for cell in nb.cells for output in cell.outputs]))
"""


def run_notebook(platform, project: str, kernel: str, language: str, *sources: str) -> str:
    """Write a notebook into the project's workspace (~/work), execute it in alice's container of
    that project, and return its text output (streams and errors)."""
    cells = [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": s}
             for i, s in enumerate(sources)]
    metadata = {"kernelspec": {"name": kernel, "display_name": kernel, "language": language}}
    name = f"stack-test-{uuid.uuid4().hex[:8]}.ipynb"
    path = workspace_dir(platform.settings().project_dir(slug(project))) / name
    path.write_text(json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}))
    shutil.chown(path, 1000, 100)
    try:
        result = platform.container("alice", slug(project)).exec_run(
            ["python", "-c", RUN_NOTEBOOK, f"{HOME}/work/{name}"], user="1000:100", workdir=f"{HOME}/work", demux=True)
        stdout, stderr = (part.decode(errors="replace") if part else "" for part in result.output)
        assert result.exit_code == 0, stderr[-4000:]
        outputs = json.loads(stdout.strip().splitlines()[-1])
    finally:
        path.unlink(missing_ok=True)
    parts = []
    for output in outputs:
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] == "error":
            parts.append("\n".join([output["ename"], output["evalue"], *output["traceback"]]))
    return "".join(parts)


def marker(text: str, name: str) -> dict:
    """The JSON a notebook printed after `name=`."""
    for line in text.splitlines():
        if line.startswith(f"{name}="):
            return json.loads(line[len(name) + 1:])
    raise AssertionError(f"no {name}= line in the notebook's output:\n{text[-4000:]}")


@pytest.fixture(scope="module")
def servers(stack_platform):
    """alice's servers of both projects, started through the hub (the spawner picks each image)."""
    for project in ("slimproj", "stackproj"):
        response = stack_platform.start_server("alice", slug(project), timeout=180)
        assert response.status_code < 400, response.text
        state = stack_platform.api("GET", "/users/alice").json().get("servers", {}).get(slug(project)) or {}
        assert state.get("ready"), f"alice's server of {project} did not start; hub log: {stack_platform.log}"
    yield stack_platform
    for project in ("slimproj", "stackproj"):
        stack_platform.stop_server("alice", slug(project))


def test_each_project_runs_the_image_its_manifest_chose(servers, image):
    from enclave.db import make_engine, session_scope
    from enclave.registry import get_project

    settings = servers.settings()
    with session_scope(make_engine(settings.db_url), settings.audit_head) as session:
        recorded = {name: get_project(session, slug(name)).resources.get("image") for name in ("slimproj", "stackproj")}
    assert recorded == {"slimproj": "slim", "stackproj": "stack"}, "the choice is kept with the project's resources"
    for project, expected in (("slimproj", image), ("stackproj", STACK_IMAGE)):
        container = servers.container("alice", slug(project))
        assert container.attrs["Config"]["Image"] == expected
        check = container.exec_run(["python", "-c", "import importlib.util as u; print(bool(u.find_spec('keras')))"],
                                   user="1000:100")
        assert check.output.decode().strip() == str(project == "stackproj"), check.output
    # The hardening is the same whatever the image.
    options = []
    for project in ("slimproj", "stackproj"):
        host = servers.container("alice", slug(project)).attrs["HostConfig"]
        assert (host["ReadonlyRootfs"], host["CapDrop"]) == (True, ["ALL"])
        assert host["SecurityOpt"][0] == "no-new-privileges" and host["SecurityOpt"][1].startswith("seccomp="), host
        options.append(host["SecurityOpt"])
    assert options[0] == options[1], "the same seccomp profile for both images"


def big_extract(folder: Path, rows: int = BIG_ROWS) -> Path:
    """A 10-million-row care extract: a pseudonym among a million people, a year, an amount, a date."""
    rng = np.random.default_rng(15)
    person = pc.cast(pa.array(rng.integers(0, 1_000_000, rows)), pa.string())
    table = pa.table({
        "patient": pc.binary_join_element_wise("P", person, ""),
        "year": pa.array(rng.integers(2015, 2025, rows).astype("int16")),
        "amount": pa.array(np.round(rng.gamma(2.0, 20.0, rows), 2)),
        "day": pa.array(rng.integers(16436, 20089, rows).astype("int32")).cast(pa.date32()),
    })
    path = folder / "BIG.parquet"
    pq.write_table(table, path, row_group_size=1_000_000)
    path.chmod(0o644)
    return path


# Peak memory in the container: the process's own high-water mark (VmHWM) and the container's
# cgroup's (v2 memory.peak, v1 memory.max_usage_in_bytes: every process of the container).
PEAKS = """
def peaks():
    import pathlib
    hwm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    group = None
    for name in ("/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"):
        try:
            group = int(pathlib.Path(name).read_text())
            break
        except (OSError, ValueError):
            pass
    return {"process": hwm, "container": group}
"""


def test_open_dataset_scans_ten_million_rows_in_under_500_mib(servers):
    """Two notebooks, each in its own kernel: a pyarrow scan of open_dataset(), and a DuckDB query
    (duckdb_connect()). Each kernel's peak is measured in the container; the whole container's
    peak (cgroup: the Jupyter server, the notebook runner, page cache included) is reported."""
    extracts = extracts_dir(servers.settings().project_dir(slug("stackproj")))
    path = big_extract(extracts)
    file_mib = round(path.stat().st_size / MiB, 1)
    try:
        arrow = marker(run_notebook(servers, "stackproj", "python3", "python", PEAKS + """
import json, time
import pyarrow.compute as pc
from enclave_data import open_dataset
started = time.monotonic()
big = open_dataset("BIG")
rows = big.count_rows()
paid_2020 = 0.0
for batch in big.to_batches(columns=["amount"], filter=pc.field("year") == 2020):
    paid_2020 += pc.sum(batch.column(0)).as_py() or 0.0
print("arrow=" + json.dumps({"rows": rows, "paid_2020": paid_2020, "seconds": time.monotonic() - started, **peaks()}))
"""), "arrow")
        duck = marker(run_notebook(servers, "stackproj", "python3", "python", PEAKS + """
import json, time
from enclave_data import duckdb_connect
started = time.monotonic()
per_year = duckdb_connect(memory_limit="256MB").execute(
    'SELECT year, count(*), sum(amount), approx_count_distinct(patient) FROM "BIG" GROUP BY year ORDER BY year').fetchall()
print("duck=" + json.dumps({"years": [list(r) for r in per_year], "seconds": time.monotonic() - started, **peaks()}))
"""), "duck")
        # The baseline, in the same container: the whole extract loaded (read_extract), in a process of its own.
        container = servers.container("alice", slug("stackproj"))
        started = time.monotonic()
        full = container.exec_run(["python", "-c", PEAKS + """
import json
from enclave_data import read_extract
frame = read_extract("BIG")
print("full=" + json.dumps({"rows": len(frame), **peaks()}))
"""], user="1000:100", demux=True)
        full_s = time.monotonic() - started
        assert full.exit_code == 0, full.output[1]
        loaded = marker(full.output[0].decode(), "full")
    finally:
        path.unlink(missing_ok=True)

    report = {"rows": arrow["rows"], "file_MiB": file_mib,
              "arrow_kernel_MiB": round(arrow["process"] / MiB), "arrow_s": round(arrow["seconds"], 2),
              "duckdb_kernel_MiB": round(duck["process"] / MiB), "duckdb_s": round(duck["seconds"], 2),
              "container_peak_MiB_before_full_load": duck["container"] and round(duck["container"] / MiB),
              "full_load_process_MiB": round(loaded["process"] / MiB), "full_load_s": round(full_s, 1)}
    print(f"\nopen_dataset on {BIG_ROWS} rows: {report}")
    assert arrow["rows"] == loaded["rows"] == BIG_ROWS
    years = duck["years"]
    assert sum(row[1] for row in years) == BIG_ROWS and len(years) == 10
    assert 560_000 < years[0][3] < 710_000, "a million draws among a million people: about 632,000 distinct"
    assert arrow["paid_2020"] == pytest.approx(next(row[2] for row in years if row[0] == 2020), rel=1e-9)
    assert arrow["process"] < PEAK_LIMIT and duck["process"] < PEAK_LIMIT, report
    # The limit means something: loading the same extract whole takes more than it.
    assert loaded["process"] > PEAK_LIMIT, report


def test_python_notebook_uses_keras_on_jax_lifelines_polars_and_duckdb(servers):
    output = run_notebook(servers, "stackproj", "python3", "python", """\
import json, os
import numpy as np, pandas as pd
import keras, jax, lifelines, polars as pl, statsmodels.formula.api as smf
from enclave_data import read_extract, open_dataset, duckdb_connect
people = read_extract("IR_BEN_R")
care = read_extract("ER_PRS_F")
per_person = care.groupby("BEN_NIR_PSA").agg(visits=("PRS_NAT_REF", "size"), paid=("PRS_PAI_MNT", "sum")).reset_index()
data = people.merge(per_person, on="BEN_NIR_PSA", how="left").fillna({"visits": 0, "paid": 0.0})
data["female"] = (data.BEN_SEX_COD == 2).astype("float32")
data["age"] = (2024 - data.BEN_NAI_ANN).astype("float32")
""", """\
# Keras 3 on JAX (CPU): a small network predicting the number of visits.
keras.utils.set_random_seed(7)
x = np.stack([data.female, data.age / 100.0], axis=1).astype("float32")
y = np.log1p(data.visits.to_numpy(dtype="float32"))
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
losses = history.history["loss"]
print("keras=" + json.dumps({"backend": keras.backend.backend(), "devices": [d.platform for d in jax.devices()],
                             "first": losses[0], "last": losses[-1], "predictions": int(model.predict(x, verbose=0).shape[0])}))
""", """\
# Survival (lifelines), a regression (statsmodels), polars and DuckDB on the same extracts.
end = care.EXE_SOI_DTD.max()
first = care.groupby("BEN_NIR_PSA").EXE_SOI_DTD.min().rename("first")
cohort = people.join(first, on="BEN_NIR_PSA", how="inner")
cohort["died"] = cohort.BEN_DCD_DTE.notna()
cohort["days"] = ((cohort.BEN_DCD_DTE.fillna(end) - cohort["first"]).dt.days).clip(lower=1)
km = lifelines.KaplanMeierFitter().fit(cohort.days, cohort.died)
ols = smf.ols("np.log1p(visits) ~ female + age", data=data).fit()
by_nature = pl.from_pandas(care[["PRS_NAT_REF", "PRS_PAI_MNT"]]).group_by("PRS_NAT_REF").agg(pl.len().alias("n"))
duck = duckdb_connect().execute('SELECT count(*) FROM "ER_PRS_F"').fetchall()[0][0]
lazy = pl.scan_pyarrow_dataset(open_dataset("ER_PRS_F")).select(pl.len()).collect().item()
print("stats=" + json.dumps({"people": len(cohort), "events": int(cohort.died.sum()), "km_at_start": float(km.survival_function_.iloc[0, 0]),
                             "ols_params": len(ols.params), "natures": by_nature.height, "rows": len(care), "duck": duck, "lazy": lazy}))
""")
    fitted = marker(output, "keras")
    assert fitted["backend"] == "jax" and fitted["devices"] == ["cpu"], fitted
    assert np.isfinite(fitted["first"]) and fitted["last"] < fitted["first"], f"the network learnt nothing: {fitted}"
    assert fitted["predictions"] > 100
    stats = marker(output, "stats")
    assert stats["people"] > 100 and stats["km_at_start"] == pytest.approx(1.0, abs=0.05)
    assert stats["ols_params"] == 3 and stats["natures"] > 1
    assert stats["duck"] == stats["lazy"] == stats["rows"] > 1000, stats


def test_r_notebook_uses_ggplot2_dplyr_survival_and_sql_over_extracts(servers):
    output = run_notebook(servers, "stackproj", "ir", "R", """\
suppressPackageStartupMessages({
    library(dplyr); library(tidyr); library(readr); library(ggplot2)
    library(survival); library(data.table); library(lme4)
})
people <- read_extract("IR_BEN_R")
care <- read_extract("ER_PRS_F")
end <- max(care$EXE_SOI_DTD)
cohort <- care %>%
    group_by(BEN_NIR_PSA) %>%
    summarise(first = min(EXE_SOI_DTD), visits = n(), paid = sum(PRS_PAI_MNT), .groups = "drop") %>%
    inner_join(people, by = "BEN_NIR_PSA") %>%
    mutate(died = !is.na(BEN_DCD_DTE),
           days = pmax(as.numeric(coalesce(BEN_DCD_DTE, end) - first), 1),
           sex = factor(BEN_SEX_COD), age = 2024 - BEN_NAI_ANN)
""", """\
km <- survfit(Surv(days, died) ~ sex, data = cohort)
cox <- coxph(Surv(days, died) ~ age + sex, data = cohort)
plot <- ggplot(cohort, aes(x = age, y = visits, colour = sex)) + geom_point() + geom_smooth(method = "lm", formula = y ~ x)
path <- file.path(tempdir(), "visits.png")
ggsave(path, plot, width = 4, height = 3, dpi = 72)
wide <- cohort %>% count(sex, died) %>% pivot_wider(names_from = died, values_from = n, values_fill = 0)
csv <- read_csv(I("a,b\\n1,2\\n"), show_col_types = FALSE)
dt <- as.data.table(cohort)[, .(visits = sum(visits)), by = sex]
mixed <- lmer(log1p(visits) ~ age + (1 | BEN_RES_COM), data = cohort)
# SQL over the extracts without loading them (DuckDB through the enclave package).
counted <- query_extracts('SELECT PRS_NAT_REF, count(*) AS n, sum(PRS_PAI_MNT) AS paid FROM "ER_PRS_F" GROUP BY 1 ORDER BY 1')
stopifnot(sum(counted$n) == nrow(care), abs(sum(counted$paid) - sum(care$PRS_PAI_MNT)) < 1e-6, is.numeric(counted$paid))
cat(sprintf(paste0('r={"people": %d, "strata": %d, "cox_terms": %d, "png_bytes": %d, "wide_rows": %d, ',
                   '"csv": %d, "dt_rows": %d, "lmer_fixef": %d, "sql_groups": %d}\\n'),
            nrow(cohort), length(km$strata), length(coef(cox)), file.size(path), nrow(wide), csv$b, nrow(dt), length(fixef(mixed)),
            nrow(counted)))
""")
    r = marker(output, "r")
    assert r["people"] > 100 and r["strata"] == 2 and r["cox_terms"] == 2, r
    assert r["png_bytes"] > 1000, "ggplot2 drew nothing"
    assert (r["wide_rows"], r["csv"], r["dt_rows"], r["lmer_fixef"]) == (2, 2, 2, 2), r
    assert r["sql_groups"] > 1, r


def test_the_seal_knows_jupyterlab_files_of_each_image(image, stack_image, tmp_path):
    """The seal lets JupyterLab's own files through by their SHA-256, listed from the image of the
    server it forwards to (Target.image_id): the list must come out of the stack image too."""
    import docker

    from spawner_config.seal_targets import AssetIndex

    engine = docker.from_env()
    index = AssetIndex(tmp_path / "assets", engine)
    slim, stack = (index.hashes(engine.images.get(tag).id) for tag in (image, stack_image))
    assert len(slim) > 100, "JupyterLab's static files listed from the slim image"
    assert slim <= stack, "the stack layer adds packages, never changes JupyterLab's files"
    assert len(list((tmp_path / "assets").iterdir())) == 2, "one list per image, kept on disk"
