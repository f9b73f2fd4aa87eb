"""An ordinary analysis day on the demo's extracts, and the ways of printing the extracts out, as code
cells — and what a Jupyter kernel sends the browser for each (built here with the same libraries,
or recorded from a real kernel by tests/bench/content_bench.py).

The day: read the five tables, ``head()`` and ``describe()`` each, groupbys, twenty matplotlib
plots, and one 250-row aggregated table — about what a researcher reads in a day.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import io
import json
import uuid
from pathlib import Path

TABLES = ("ER_PRS_F", "IR_BEN_R", "KI_CCI_R", "T_MCOaaB", "T_MCOaaC")
SETUP = """\
import pandas as pd, numpy as np, matplotlib
import matplotlib.pyplot as plt
from pathlib import Path
DATA = Path.home() / "data"
t = {p.stem: pd.read_parquet(p) for p in sorted(DATA.glob("*.parquet"))}
prs, ben = t["ER_PRS_F"], t["IR_BEN_R"]
{k: v.shape for k, v in t.items()}"""

PLOTS = [
    'prs["BSE_REM_MNT"].plot.hist(bins=40, title="amount reimbursed")',
    'prs["PRS_PAI_MNT"].plot.hist(bins=40, title="amount paid")',
    'prs.groupby("PRS_NAT_REF").size().plot.bar(title="acts by nature")',
    'prs.groupby("PSE_SPE_COD").size().plot.bar(title="acts by speciality")',
    'prs.groupby(pd.to_datetime(prs["EXE_SOI_DTD"]).dt.to_period("M")).size().plot(title="acts per month")',
    'prs.groupby(pd.to_datetime(prs["EXE_SOI_DTD"]).dt.to_period("M"))["PRS_PAI_MNT"].sum().plot(title="paid per month")',
    'ben["BEN_NAI_ANN"].plot.hist(bins=30, title="year of birth")',
    'ben.groupby("BEN_SEX_COD").size().plot.pie(title="sex")',
    't["T_MCOaaB"]["SEJ_NBJ"].plot.hist(bins=20, title="length of stay")',
    't["T_MCOaaB"].groupby("SOR_MOI").size().plot.bar(title="discharges by month")',
    't["KI_CCI_R"]["BEN_NAI_ANN"].plot.hist(bins=20, title="deaths: year of birth")',
    'prs.plot.scatter(x="BSE_REM_MNT", y="PRS_PAI_MNT", s=2, title="paid vs base", ax=ax)',
    'prs.boxplot(column="PRS_PAI_MNT", by="PRS_NAT_REF")',
    'prs["PRS_ACT_QTE"].value_counts().sort_index().plot.bar(title="quantity")',
    'prs.groupby("BEN_RNG_GEM")["PRS_PAI_MNT"].mean().plot.bar(title="mean paid by rank")',
    'np.log1p(prs["PRS_PAI_MNT"]).plot.hist(bins=50, title="log paid")',
    't["T_MCOaaB"].groupby("AGE_ANN").size().sort_index().plot(title="stays by age")',
    'prs.groupby(pd.to_datetime(prs["EXE_SOI_DTD"]).dt.day_of_week).size().plot.bar(title="acts by weekday")',
    'ben.groupby("BEN_NAI_ANN").size().cumsum().plot(title="cumulative births")',
    'prs.groupby("PSE_SPE_COD")["BSE_REM_MNT"].median().plot.barh(title="median base by speciality")',
]
DAY = (
    [SETUP]
    + [f't["{name}"].head()' for name in TABLES]
    + [f't["{name}"].describe()' for name in TABLES]
    + ['prs.groupby("PRS_NAT_REF")[["BSE_REM_MNT", "PRS_PAI_MNT"]].agg(["count", "mean", "sum"]).round(1)',
       'prs.groupby("PSE_SPE_COD").size().sort_values(ascending=False)',
       'ben.groupby(["BEN_SEX_COD", (ben["BEN_NAI_ANN"] // 10) * 10]).size().unstack(fill_value=0)',
       't["T_MCOaaB"].groupby("DGN_PAL")["SEJ_NBJ"].describe().round(1).head(30)',
       'prs.merge(ben[["BEN_NIR_PSA", "BEN_SEX_COD"]], on="BEN_NIR_PSA").groupby("BEN_SEX_COD")["PRS_PAI_MNT"].sum().round()']
    + [f"fig, ax = plt.subplots(figsize=(6.4, 4.8))\n{plot}\nplt.show()" for plot in PLOTS]
    + ['pd.set_option("display.max_rows", 300)\n'
       'agg = prs.groupby(["PSE_SPE_COD", "PRS_NAT_REF", pd.to_datetime(prs["EXE_SOI_DTD"]).dt.year])'
       '["PRS_PAI_MNT"].agg(["count", "sum"]).round(0).reset_index()\nagg.head(250)']
)
# The whole extract set printed out, each way a researcher would try (as the issue reports them).
ATTACKS = {
    "hex": 'for p in sorted(DATA.glob("*.parquet")): print(p.read_bytes().hex())',
    "base64": 'import base64\nfor p in sorted(DATA.glob("*.parquet")): print(base64.b64encode(p.read_bytes()).decode())',
    "to_csv": 'for k, v in t.items(): print(v.to_csv())',
    "bytes_list": 'for p in sorted(DATA.glob("*.parquet")): print(list(p.read_bytes()))',
    "png": ("from PIL import Image\n"  # display(): IPython puts it in every kernel's namespace
            "for p in sorted(DATA.glob('*.parquet')):\n    b = p.read_bytes(); side = int(np.ceil(np.sqrt(len(b) / 3)))\n"
            "    display(Image.frombytes('RGB', (side, side), b + bytes(side * side * 3 - len(b))))"),
}


# --- what a kernel sends the browser, built locally ---------------------------------------------

def _envelope(msg_type: str, content: dict, parent: str, session: str, channel: str = "iopub") -> str:
    now = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    msg_id = f"{uuid.uuid4()}_1234_{uuid.uuid4().int % 1000}"
    return json.dumps({"header": {"msg_id": msg_id, "msg_type": msg_type, "username": "jovyan", "session": session,
                                  "date": now, "version": "5.3"},
                       "msg_id": msg_id, "msg_type": msg_type,
                       "parent_header": {"msg_id": parent, "msg_type": "execute_request", "username": "jovyan",
                                         "session": session, "date": now, "version": "5.3"},
                       "metadata": {}, "content": content, "buffers": [], "channel": channel})


def _bundle(value) -> dict:
    data = {"text/plain": repr(value)}
    html = getattr(value, "_repr_html_", None)
    if html is not None:
        data["text/html"] = html()
    return data


def _image_bundle(image) -> dict:
    """What IPython's display() sends for a PIL image."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return {"image/png": base64.b64encode(out.getvalue()).decode("ascii"), "text/plain": repr(image)}


def _figure_bundles(plt) -> list[dict]:
    bundles = []
    for number in plt.get_fignums():
        figure = plt.figure(number)
        out = io.BytesIO()
        figure.savefig(out, format="png", bbox_inches="tight")  # what matplotlib's inline backend sends
        bundles.append({"image/png": base64.b64encode(out.getvalue()).decode("ascii"),
                        "text/plain": f"<Figure size {int(figure.get_figwidth() * 100)}x{int(figure.get_figheight() * 100)} with 1 Axes>"})
    plt.close("all")
    return bundles


def run_locally(cells: list[str], extracts: Path) -> list[list[str]]:
    """For each cell, the messages a kernel sends the browser (iopub and the shell reply), run here."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown: list[dict] = []
    namespace: dict = {"plt": plt, "display": lambda value: shown.append(_image_bundle(value))}
    session = uuid.uuid4().hex
    out = []
    for count, code in enumerate(cells, 1):
        code = code.replace('Path.home() / "data"', f"Path({str(extracts)!r})")
        parent = uuid.uuid4().hex
        messages = [_envelope("status", {"execution_state": "busy"}, parent, session),
                    _envelope("execute_input", {"code": code, "execution_count": count}, parent, session)]
        stdout = io.StringIO()
        lines = code.rstrip().split("\n")
        body, last = ("\n".join(lines[:-1]), lines[-1]) if not lines[-1][:1].isspace() else (code, "None")
        with contextlib.redirect_stdout(stdout):
            exec(compile(body, "<cell>", "exec"), namespace)  # noqa: S102 - the test's own cells
            try:
                value = eval(compile(last, "<cell>", "eval"), namespace)  # noqa: S307
            except SyntaxError:
                exec(compile(last, "<cell>", "exec"), namespace)  # noqa: S102
                value = None
        if stdout.getvalue():
            messages.append(_envelope("stream", {"name": "stdout", "text": stdout.getvalue()}, parent, session))
        for bundle in shown + _figure_bundles(plt):
            messages.append(_envelope("display_data", {"data": bundle, "metadata": {}, "transient": {}}, parent, session))
        if value is not None and not (last.startswith("plt.show") or type(value).__module__.startswith("matplotlib")):
            messages.append(_envelope("execute_result", {"data": _bundle(value), "metadata": {}, "execution_count": count},
                                      parent, session))
        messages.append(_envelope("status", {"execution_state": "idle"}, parent, session))
        shown.clear()
        messages.append(_envelope("execute_reply", {"status": "ok", "execution_count": count, "user_expressions": {},
                                                    "payload": []}, parent, session, channel="shell"))
        out.append(messages)
    return out


# --- JupyterLab's own answers, recorded from a real server -----------------------------------------

LAB_STARTUP = Path(__file__).resolve().parent / "data" / "lab_startup.json.gz"


def lab_startup() -> list[dict]:
    """[{"path", "content_type", "body"}] of what JupyterLab fetched at start (recorded by the bench)."""
    return json.loads(gzip.decompress(LAB_STARTUP.read_bytes()))
