"""What a request of kind ``model`` names besides its model files: the data the model was trained on.

The researcher names, in the project workspace, the training rows (``training_data``), rows held
out from training (``holdout_data``: membership inference compares the two) and the ``target``
column; every other column is a feature, as the model saw it. Both files are CSV or Parquet with
the same columns. They are opened like any submitted path (no symlink followed, no hard link, no
special file: :func:`~egress_gate.submission.open_submission`) and read, with their SHA-256, for
the model worker (each at most the policy's file size): they never leave and are not quarantined,
but the attack report and the audit log name their hashes, so a steward knows which rows were used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
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
    type: str  # csv or parquet
    data: bytes = field(repr=False)  # read once, from the descriptor that was checked


@dataclass(frozen=True)
class ModelData:
    training: DataFile
    holdout: DataFile
    target: str

    def record(self) -> dict:
        """What the audit log keeps: which rows the model was attacked with."""
        return {"target": self.target, **{role: {"name": f.name, "sha256": f.sha256}
                                          for role, f in (("training_data", self.training), ("holdout_data", self.holdout))}}


def parse_spec(spec: Any) -> dict[str, str]:
    """The request's ``model`` field checked: {"training_data", "holdout_data", "target"}, each a short string."""
    if not isinstance(spec, dict):
        raise EgressError("a model request names its training data: model = {training_data, holdout_data, target}",
                          "e.g. {\"training_data\": \"work/train.parquet\", \"holdout_data\": \"work/test.parquet\", "
                          "\"target\": \"outcome\"}")
    out = {}
    for name in ("training_data", "holdout_data", "target"):
        value = spec.get(name)
        if not isinstance(value, str) or not value.strip():
            raise EgressError(f"the model request names no {name}",
                              "name the training rows, the rows held out from training (both CSV or Parquet in "
                              "the workspace) and the target column")
        free_text.check_length("path" if name != "target" else "name", value)
        out[name] = value.strip()
    unknown = sorted(set(spec) - set(out))
    if unknown:
        raise EgressError(f"unknown model request field(s) {', '.join(map(str, unknown))[:100]}",
                          "known: training_data, holdout_data, target")
    return out


def read_model_data(workspace: Path, spec: dict[str, str], max_bytes: int) -> ModelData:
    """Open the two data files ``spec`` names in ``workspace`` and read them, hashed."""
    files = []
    for role in ("training_data", "holdout_data"):
        requested = spec[role]
        kind = file_type(Path(requested))
        if kind not in DATA_TYPES:
            raise EgressError(f"{role} {requested}: a .{kind or '(no extension)'} file is not training data",
                              "save the rows as CSV or Parquet")
        with open_submission(workspace, requested, max_bytes) as opened:
            data = _read(opened.fd)
        files.append(DataFile(opened.relative, hashlib.sha256(data).hexdigest(), kind, data))
    return ModelData(files[0], files[1], spec["target"])


def _read(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
