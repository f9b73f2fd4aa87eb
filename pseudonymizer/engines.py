"""Which engine runs an extraction: this process (local), a Dask cluster, or Spark.

Every engine writes the same extract folder, byte for byte: Dask and Spark only schedule slices of
the sources onto their workers, and each worker runs this package's own reading and transform code
(see :mod:`.distributed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import PseudonymizerError

ENGINES = ("local", "dask", "spark")
ADDRESS_HELP = "dask: the scheduler (tcp://host:8786), else a local cluster; spark: the master URL (spark://host:7077, k8s://...), else local[N]"


@dataclass(frozen=True)
class EngineSpec:
    name: str = "local"
    workers: int | None = None  # processes of the local cluster (Dask) or local[N] (Spark); default 2
    address: str | None = None  # an existing cluster's scheduler (Dask) or master URL (Spark)
    slice_rows: int | None = None  # source rows per task; default 4 batches
    session: Any = None  # an open SparkSession to use (tests and benches: one JVM for many runs)

    def __post_init__(self):
        if self.name not in ENGINES:
            raise PseudonymizerError(f"engine {self.name!r} is unknown", f"use one of {', '.join(ENGINES)}")
        if self.workers is not None and self.workers < 1:
            raise PseudonymizerError(f"{self.workers} workers: an engine needs at least one", "give --workers 1 or more")
        if self.name == "local" and (self.workers or self.address):
            raise PseudonymizerError("the local engine runs in this process: it takes no workers or address",
                                     "choose --engine dask or spark, or drop --workers/--address")

    @property
    def local_workers(self) -> int:
        return self.workers or 2
