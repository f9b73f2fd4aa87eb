"""The versioned disclosure policy: thresholds every check reads, recorded with every finding.

Defaults live here; a project's overrides (from its manifest or the gate's config) are laid over
them with `Policy.with_overrides`, which names any unknown key or wrong value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from enclave.models import default_egress_policy

from .errors import EgressError

ALL_TYPES = ("csv", "tsv", "parquet", "xlsx", "json", "txt", "md", "png", "jpg", "svg", "pdf")


@dataclass(frozen=True)
class Policy:
    version: str = "2025.1"
    threshold: int = default_egress_policy()["small_cell_threshold"]  # smallest count that may be released
    zeros_allowed: bool = False  # when False a zero count needs a steward (it may be structural)
    dominance_n: int = 2  # (n, k) rule: the n largest contributors ...
    dominance_k: float = 85.0  # ... must not make more than k% of a cell's total
    p_percent: float = 10.0  # p% rule: the rest must not estimate the largest within p%
    rounding_base: int = 5  # counts should be multiples of this (1 = no rounding expected)
    max_size_bytes: int = 50 * 1024 * 1024
    max_rows: int = 100_000
    allowed_types: tuple[str, ...] = ALL_TYPES
    row_level_min_rows: int = 100  # a table of fewer rows is never called row-level
    max_cells_listed: int = 100  # a finding lists at most this many cells (and counts them all)
    # A model (request kind "model") is refused when the worst-case membership-inference attack tells the
    # rows it was trained on from held-out rows with an AUC above this (0.5: guessing; a project's manifest
    # may set egress.model_attack_auc). 0.65: an overfitted 1-NN or unpruned tree scores 0.6-0.7 on small
    # tables, a regularised forest about 0.5.
    model_attack_auc: float = 0.65
    model_attack_reps: int = 10  # repetitions of that attack (each trains an attack model on a new split)

    def with_overrides(self, overrides: dict | None = None, **more) -> "Policy":
        """This policy with a project's `overrides` applied; the version says it was overridden."""
        changes = {**(overrides or {}), **more}
        known = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise EgressError(f"unknown policy setting(s) {', '.join(unknown)}", f"known settings: {', '.join(known)}")
        for name, value in changes.items():
            default = getattr(self, name)
            if name == "allowed_types":
                value = tuple(str(v).lower().lstrip(".") for v in value)
            elif isinstance(default, bool) and not isinstance(value, bool):
                raise EgressError(f"policy setting {name} must be true or false, not {value!r}")
            elif isinstance(default, (int, float)) and not isinstance(default, bool):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise EgressError(f"policy setting {name} must be a non-negative number, not {value!r}")
            changes[name] = value
        if "version" not in changes and changes:
            changes["version"] = f"{self.version}+{_digest(changes)}"
        return dataclasses.replace(self, **changes)

    def values(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("version")
        out["allowed_types"] = list(self.allowed_types)
        return out

    def record(self) -> dict:
        """What a finding carries: the version and every value, so a decision can be replayed."""
        return {"version": self.version, "values": self.values()}


def _digest(changes: dict) -> str:
    text = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


DEFAULT_POLICY = Policy()
