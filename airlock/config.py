"""The airlock's settings, read once from the environment.

Every variable's default and meaning is written once, in :mod:`enclave.configuration` (``docs/configuration.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from enclave.errors import EnclaveError

VARIABLES = ("ENCLAVE_CLAMAV_DB", "ENCLAVE_IMPORT_MAX_RATIO", "ENCLAVE_IMPORT_MAX_UNPACKED_MB",
             "ENCLAVE_IMPORT_SCAN_SECONDS", "ENCLAVE_IMPORT_SCAN_MEMORY_MB")  # passed to the gate's service


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name) or str(default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise EnclaveError(f"{name}={text!r} is not a positive number", f"e.g. {default:g}")
    return value


@dataclass(frozen=True)
class ScanConfig:
    clamav_db: Path = Path("/var/lib/clamav")
    max_ratio: float = 100.0
    max_unpacked_bytes: int = 4096 * 2 ** 20
    seconds: float = 900.0
    memory_bytes: int = 2048 * 2 ** 20

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScanConfig:
        env = os.environ if environ is None else environ
        return cls(clamav_db=Path(env.get("ENCLAVE_CLAMAV_DB") or cls.clamav_db),
                   max_ratio=_positive(env, "ENCLAVE_IMPORT_MAX_RATIO", cls.max_ratio),
                   max_unpacked_bytes=int(_positive(env, "ENCLAVE_IMPORT_MAX_UNPACKED_MB", 4096) * 2 ** 20),
                   seconds=_positive(env, "ENCLAVE_IMPORT_SCAN_SECONDS", cls.seconds),
                   memory_bytes=int(_positive(env, "ENCLAVE_IMPORT_SCAN_MEMORY_MB", 2048) * 2 ** 20))

    def to_dict(self) -> dict:
        return {"clamav_db": str(self.clamav_db), "max_ratio": self.max_ratio,
                "max_unpacked_bytes": self.max_unpacked_bytes, "seconds": self.seconds,
                "memory_bytes": self.memory_bytes}

    @classmethod
    def from_dict(cls, values: dict) -> ScanConfig:
        return cls(**{**values, "clamav_db": Path(values["clamav_db"])})
