"""check_model: a model file's findings — loadable safely, data as the model saw it, and its attack report.

Runs in the model worker's sandbox only (:mod:`egress_gate.model_worker`); the model and the two
data files arrive as bytes already read. One ``model_attacks`` finding carries the report table
(``report.rows``: attack, metric, value, threshold, result) with the data's names and hashes;
its outcome is the worst row's: ``fail`` when the membership-inference AUC passes the project's
threshold, ``review`` when a structural risk is found.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..findings import Finding, Outcome
from ..model_attack import MIA, attack_model
from ..model_loading import ModelFileError, load_model
from ..policy import Policy
from ._base import finding


def check_model(model: bytes, kind: str, training: dict, holdout: dict, target: str, policy: Policy) -> list[Finding]:
    """``training`` and ``holdout``: {"name", "sha256", "type", "data": bytes}."""
    try:
        fitted = load_model(model, kind)
    except ModelFileError as exc:
        return [finding("model_file", Outcome.FAIL, f"refused: {exc}", policy)]
    found = [finding("model_file", Outcome.PASS, f"loaded safely: {type(fitted).__module__}.{type(fitted).__name__}", policy)]
    try:
        x_train, y_train = _features(training, target)
        x_test, y_test = _features(holdout, target)
    except ValueError as exc:
        return found + [finding("model_data", Outcome.FAIL, str(exc), policy)]
    if list(x_train.columns) != list(x_test.columns):
        return found + [finding("model_data", Outcome.FAIL, f"{training['name']} and {holdout['name']} have different columns",
                                policy)]
    try:
        rows = attack_model(fitted, x_train, y_train, x_test, y_test, policy)
    except Exception as exc:  # the model does not fit the data it names (columns, classes), or cannot predict
        return found + [finding("model_check", Outcome.FAIL, f"the attacks could not run on this model and data "
                                f"({type(exc).__name__}: {str(exc)[:300]}): check the data is what the model was trained on",
                                policy)]
    outcome = max((r.result for r in rows), key=lambda o: o.rank)
    auc = next(r for r in rows if r.attack == MIA)
    risks = [f"{r.attack}: {r.metric}" + (f" ({r.threshold})" if r.value == "—" else "") for r in rows if r.result is Outcome.REVIEW]
    message = (f"membership-inference attack AUC {auc.value} (refused above {policy.model_attack_auc:g})"
               + ("" if auc.result is not Outcome.FAIL else ": the model tells its training rows apart, it may not leave")
               + (f"; for a steward: {'; '.join(risks)}" if risks else ""))
    report = {"rows": [r.to_dict() for r in rows], "target": target, "sacroml": _version(),
              "training_data": _described(training, len(y_train)), "holdout_data": _described(holdout, len(y_test))}
    return found + [Finding("model_attacks", outcome, message, policy.record(), report=report)]


def import_libraries() -> None:
    """Import what loading and attacking a model needs (sacroml brings torch), so the budget measures the work."""
    import sacroml.attacks.structural_attack  # noqa: F401
    import sacroml.attacks.worst_case_attack  # noqa: F401
    import sklearn.ensemble  # noqa: F401


def _features(data: dict, target: str):
    """(features as a DataFrame, target as an array) of one data file; ValueError naming the problem."""
    name = data["name"]
    try:
        buffer = pa.BufferReader(data["data"])
        table = pq.read_table(buffer) if data["type"] == "parquet" else pacsv.read_csv(buffer)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{name} cannot be read as {data['type'].upper()} ({str(exc)[:200]})") from None
    if target not in table.column_names:
        raise ValueError(f"{name} has no column {target!r} (the target named): its columns are "
                         f"{', '.join(table.column_names[:20])}")
    if table.num_rows == 0 or table.num_columns < 2:
        raise ValueError(f"{name} has {table.num_rows} rows and {table.num_columns} columns: a model needs rows and features")
    frame = table.to_pandas()
    return frame.drop(columns=[target]), frame[target].to_numpy()


def _described(data: dict, rows: int) -> dict:
    return {"name": data["name"], "sha256": data["sha256"], "rows": rows}


def _version() -> str:
    from importlib.metadata import version

    return version("sacroml")

