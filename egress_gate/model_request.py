"""What a request of kind ``model`` names besides its model files: the data the model was trained on.

The researcher names, in the project workspace, the training rows (``training_data``), rows held
out from training (``holdout_data``: membership inference compares the two) and the ``target``
column; every other column is a feature, as the model saw it. Both files are CSV or Parquet with
the same columns. They are opened like any submitted path (no symlink followed, no hard link, no
special file: :func:`~egress_gate.submission.open_submission`) and copied, with their SHA-256,
into the gate's scratch folder for the model worker: they never leave and are not quarantined,
but the attack report names their hashes so a steward knows exactly which rows were used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import free_text
from .errors import EgressError
from .submission import open_submission
from .tables import file_type

DATA_TYPES = ("csv", "parquet")


@dataclass(frozen=True)
class DataFile:
    name: str  # as the researcher named it, in the workspace
    sha256: str
    copy: Path  # the copy in the gate's scratch folder


@dataclass(frozen=True)
class ModelData:
    training: DataFile
    holdout: DataFile
    target: str


def parse_spec(spec: Any) -> dict[str, str]:
    """The request's ``model`` field checked: {"training_data", "holdout_data", "target"}, each a short string."""
    if not isinstance(spec, dict):
        raise EgressError("a model request names its training data: model = {training_data, holdout_data, target}",
                          "e.g. {\"training_data\": \"work/train.parquet\", \"holdout_data\": \"work/test.parquet\", "
                          "\"target\": \"outcome\"}")
    out = {}
    for field in ("training_data", "holdout_data", "target"):
        value = spec.get(field)
        if not isinstance(value, str) or not value.strip():
            raise EgressError(f"the model request names no {field}",
                              "name the training rows, the rows held out from training (both CSV or Parquet in "
                              "the workspace) and the target column")
        free_text.check_length("path" if field != "target" else "name", value)
        out[field] = value.strip()
    unknown = sorted(set(spec) - set(out))
    if unknown:
        raise EgressError(f"unknown model request field(s) {', '.join(map(str, unknown))}",
                          "known: training_data, holdout_data, target")
    return out


def copy_model_data(workspace: Path, spec: dict[str, str], folder: Path, max_bytes: int) -> ModelData:
    """Open the two data files in ``workspace`` and copy them into ``folder``, hashed."""
    files = []
    for field in ("training_data", "holdout_data"):
        requested = spec[field]
        kind = file_type(Path(requested))
        if kind not in DATA_TYPES:
            raise EgressError(f"{field} {requested}: a .{kind or '(no extension)'} file is not training data",
                              "save the rows as CSV or Parquet")
        with open_submission(workspace, requested, max_bytes) as opened:
            copy = folder / f"{field}.{kind}"
            files.append(DataFile(opened.relative, _copy(opened.fd, copy), copy))
    return ModelData(files[0], files[1], spec["target"])


def _copy(fd: int, dest: Path) -> str:
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        offset = 0
        while chunk := os.pread(fd, 1 << 20, offset):
            digest.update(chunk)
            out.write(chunk)
            offset += len(chunk)
    return digest.hexdigest()
