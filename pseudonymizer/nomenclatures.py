"""SNDS nomenclatures (code lists such as IR_NIR_V), for the labels in the data dictionary.

A folder of ``<NAME>.csv`` files (semicolon-delimited, any subfolder) with ``<NAME>.json`` Table
Schemas whose fields marked ``"role": "code"`` and ``"role": "label"`` give the two columns.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

MAX_LISTED = 20  # longer code lists are named, not listed


class Nomenclatures:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._files = {p.stem: p for p in self.folder.rglob("*.csv")}

    def labels(self, name: str) -> dict[str, str]:
        """{code: label} of a code list; `name` as the schemas write it ("IR_NIR_V", or "IR_NIR_V:BEN_NIR_COD")."""
        path = self._files.get(name.split(":")[0].strip())
        return dict(_read(path)) if path else {}

    def summary(self, name: str) -> str:
        """'00 NIR NORMAL; 01 NIR FICTIF IVG; ...', or '' when unknown or too long to list."""
        labels = self.labels(name)
        if not labels or len(labels) > MAX_LISTED:
            return ""
        return "; ".join(f"{code} {label}" for code, label in labels.items())


@lru_cache(maxsize=256)
def _read(path: Path) -> tuple[tuple[str, str], ...]:
    code, label = 0, 1
    schema = path.with_suffix(".json")
    try:
        fields = json.loads(schema.read_text(encoding="utf-8")).get("fields", [])
        roles = {f.get("role"): i for i, f in enumerate(fields)}
        code, label = roles.get("code", 0), roles.get("label", 1)
    except (OSError, ValueError):
        pass
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))[1:]
    return tuple((r[code], r[label]) for r in rows if len(r) > max(code, label))
