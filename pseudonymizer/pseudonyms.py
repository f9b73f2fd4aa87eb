"""Keyed pseudonyms for linkage identifiers, vectorised over Arrow arrays.

pseudonym = first 128 bits of HMAC-SHA256(project key, domain || 0x00 || identifier), in hex.
Each distinct identifier is hashed once per run: a per-domain cache (Arrow arrays, capped in
size) maps identifiers already seen to their pseudonyms, and only new ones are hashed, on both
cores when there are many.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PSEUDONYM_HEX = 32
PARALLEL_MIN = 50_000  # below this many new identifiers, a second process costs more than it saves


def _hmac_states(key: bytes) -> tuple:
    # HMAC's inner and outer hash states after absorbing the padded key, computed once.
    block = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def hash_values(key: bytes, domain: str, values: list[str]) -> bytes:
    """Concatenated hex pseudonyms of `values` (PSEUDONYM_HEX ASCII bytes each)."""
    inner, outer = _hmac_states(key)
    prefix = domain.encode() + b"\0"
    out = []
    append = out.append
    for value in values:
        i = inner.copy()
        i.update(prefix + value.encode())
        o = outer.copy()
        o.update(i.digest())
        append(o.hexdigest()[:PSEUDONYM_HEX])
    return "".join(out).encode("ascii")


def _hash_chunk(args: tuple[bytes, str, list[str]]) -> bytes:
    return hash_values(*args)


def fixed_width_strings(data: bytes, width: int) -> pa.StringArray:
    """A string array over `data`, cut in pieces of `width` bytes (no copy per value)."""
    n = len(data) // width
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def random_pseudonyms(n: int) -> pa.StringArray:
    """Pseudonyms that link nothing: one fresh random value per row."""
    return fixed_width_strings(os.urandom(n * PSEUDONYM_HEX // 2).hex().encode("ascii"), PSEUDONYM_HEX)


class Pseudonymizer:
    """Maps identifier arrays to pseudonyms under one project key."""

    def __init__(self, key: bytes, cache_limit: int = 4_000_000, workers: int | None = None):
        self._key = key
        self._cache_limit = cache_limit
        self._caches: dict[str, tuple[pa.Array, pa.Array]] = {}
        self._workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self.hashed = 0  # identifiers hashed so far (each distinct one once, while cached)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> "Pseudonymizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def pseudonymize_distinct(self, domain: str, distinct: pa.Array) -> pa.Array:
        """Pseudonyms of `distinct` (non-null, duplicate-free strings), in the same order."""
        keys, values = self._caches.get(domain, (pa.array([], pa.string()), pa.array([], pa.string())))
        position = pc.index_in(distinct, value_set=keys)
        is_new = pc.is_null(position)
        new = distinct.filter(is_new)
        if not len(new):
            return values.take(position)
        fresh = self._hash(domain, new.to_pylist())
        # New identifiers go to the end of the cache, in the order they appear in `distinct`.
        where = pc.fill_null(position, -1).to_numpy(zero_copy_only=False).copy()
        where[where < 0] = len(keys) + np.arange(len(new))
        keys = pa.concat_arrays([keys, new])
        values = pa.concat_arrays([values, fresh])
        result = values.take(pa.array(where))
        if len(keys) > self._cache_limit:
            keys, values = distinct, result  # keep only the latest identifiers rather than grow past the cap
        self._caches[domain] = (keys, values)
        return result

    def _hash(self, domain: str, values: list[str]) -> pa.StringArray:
        self.hashed += len(values)
        if self._workers < 2 or len(values) < PARALLEL_MIN:
            data = hash_values(self._key, domain, values)
        else:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self._workers - 1)
            half = len(values) // self._workers
            remote = self._pool.submit(_hash_chunk, (self._key, domain, values[:half]))
            local = hash_values(self._key, domain, values[half:])
            data = remote.result() + local
        return fixed_width_strings(data, PSEUDONYM_HEX)
