"""Factories for the egress checks' tests: plain functions writing real files under tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from egress_gate import DEFAULT_POLICY, CheckContext, check_file


def pseudonym() -> str:
    return os.urandom(16).hex()


def write_csv(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text.strip() + "\n")
    return path


def write_extract(folder: Path, pseudonyms: list[str]) -> Path:
    """An extract folder as the pseudonymizer lays it out: one table whose linkage column holds
    ``pseudonyms``, and the manifest.json that names that column's role."""
    extracts = folder / "extracts"
    extracts.mkdir(exist_ok=True)
    pq.write_table(pa.table({"BEN_NIR_PSA": pseudonyms, "sexe": [1] * len(pseudonyms)}), extracts / "IR_BEN_R.parquet")
    columns = [{"name": "BEN_NIR_PSA", "role": "linkage", "type": "string"}, {"name": "sexe", "role": "quasi", "type": "int64"}]
    manifest = {"tables": {"IR_BEN_R": {"columns": columns, "output": {"file": "IR_BEN_R.parquet"}}}}
    (extracts / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return extracts


def write_acro_results(folder: Path, statuses: dict[str, str]) -> Path:
    results = {
        uid: {"uid": uid, "status": status, "type": "table", "properties": {"method": "crosstab"},
              "files": [{"name": f"{uid}_0.csv", "sdc": {"summary": {"threshold": 1},
                                                          "cells": {"threshold": [[2, 0]], "p-ratio": [], "nk-rule": []}}}],
              "outcome": {}, "command": "acro.crosstab(df.region, df.sex)", "summary": f"{status}; threshold: 1 cells",
              "timestamp": "2025-01-01T00:00:00", "comments": ["grouped by region"], "exception": ""}
        for uid, status in statuses.items()
    }
    path = folder / "results.json"
    path.write_text(json.dumps({"version": "0.4.8", "results": results}))
    return path


def by_check(path, policy=DEFAULT_POLICY, context=None) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in check_file(path, policy, context or CheckContext()):
        out.setdefault(f.check, []).append(f)
    return out


def outcome(findings: dict, check: str) -> str:
    """The worst outcome of `check` ('absent' when it did not run)."""
    found = findings.get(check)
    if not found:
        return "absent"
    return max((f.outcome for f in found), key=lambda o: o.rank).value
