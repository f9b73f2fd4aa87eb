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

from .id_index import FingerprintIndex, GrowingArray, GrowingStrings

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
    return hash_bytes(key, domain, [value.encode() for value in values])


def hash_bytes(key: bytes, domain: str, values: list[bytes]) -> bytes:
    """As :func:`hash_values`, for UTF-8 encoded values: the hot loop, a handful of C calls per id."""
    inner, outer = _hmac_states(key)
    inner.update(domain.encode() + b"\0")  # the message's common prefix, absorbed once
    inner_copy, outer_copy = inner.copy, outer.copy
    out = []
    append = out.append
    for value in values:
        i = inner_copy()
        i.update(value)
        o = outer_copy()
        o.update(i.digest())
        append(o.digest())
    return b"".join(digest[: PSEUDONYM_HEX // 2] for digest in out).hex().encode("ascii")


def _hash_chunk(args: tuple[bytes, str, pa.Array]) -> bytes:
    key, domain, ids = args
    return hash_bytes(key, domain, _utf8(ids))


def _utf8(ids: pa.Array) -> list[bytes]:
    return ids.cast(pa.binary()).to_pylist()  # UTF-8 bytes, as the HMAC reads them


def fixed_width_strings(data, width: int) -> pa.StringArray:
    """A string array over `data` (bytes or a contiguous array), cut in pieces of `width` bytes, no copy."""
    data = memoryview(data).cast("B")
    n = len(data) // width
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def random_pseudonyms(n: int) -> pa.StringArray:
    """Fresh random values shaped like pseudonyms (test and bench input)."""
    return fixed_width_strings(os.urandom(n * PSEUDONYM_HEX // 2).hex().encode("ascii"), PSEUDONYM_HEX)


def row_pseudonyms(key: bytes, domain: str, table: str, column: str, rows: np.ndarray) -> pa.StringArray:
    """Pseudonyms that link nothing, one per source cell, the same on every run: keyed on the project
    key and the cell's source identity (table, column, row number), in a namespace no identifier
    can reach (an identifier's message never starts with 0x00)."""
    values = [f"\0row\0{table}\0{column}\0{row}" for row in rows.tolist()]
    return fixed_width_strings(hash_values(key, domain, values), PSEUDONYM_HEX)


_GOLDEN = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5] * 2, dtype=np.uint64)
MAX_FAST_WIDTH = 64  # bytes; longer identifiers take the generic path


def _fixed_width_words(ids: pa.Array) -> np.ndarray | None:
    """The ids' bytes as rows of uint64 words, when every id is non-null and has one byte length.

    SNDS identifiers are fixed-width (17 characters): this view lets a batch be looked up with a
    persistent integer hash index instead of rebuilding a string hash table per batch."""
    if ids.null_count or not len(ids) or not pa.types.is_string(ids.type):
        return None
    offsets = np.frombuffer(ids.buffers()[1], np.int32, len(ids) + 1, ids.offset * 4)
    width = int(offsets[1] - offsets[0])
    if not 0 < width <= MAX_FAST_WIDTH or int(offsets[-1] - offsets[0]) != width * len(ids) or (np.diff(offsets) != width).any():
        return None
    data = np.frombuffer(ids.buffers()[2], np.uint8, width * len(ids), int(offsets[0])).reshape(len(ids), width)
    rows = np.zeros((len(ids), -(-width // 8) * 8), np.uint8)
    rows[:, :width] = data
    return rows.view(np.uint64)


def _fingerprint(words: np.ndarray) -> np.ndarray:
    mixed = words[:, 0] * _GOLDEN[0]
    for i in range(1, words.shape[1]):  # column by column: a reduce along rows of 3 words is 3x slower
        mixed ^= words[:, i] * _GOLDEN[i]
    return mixed ^ (mixed >> np.uint64(29))


class _Cache:
    """Identifiers already hashed in one domain, and their pseudonyms.

    Every identifier is in `keys` (Arrow strings: the generic lookup); fixed-width identifiers are
    also indexed by width in `fast` (a fingerprint index, see :mod:`.id_index`)."""

    def __init__(self, capacity: int = 0):
        self.capacity = capacity  # rows reserved in the arrays (address space until written)
        self.keys = GrowingStrings()
        self.values = GrowingArray((PSEUDONYM_HEX,), np.uint8, capacity)
        self.fast: dict[int, FingerprintIndex] = {}
        self.fast_ok = True  # off for good after a fingerprint collision (never seen; handled anyway)

    def __len__(self) -> int:
        return len(self.keys)


class Pseudonymizer:
    """Maps identifier arrays to pseudonyms under one project key."""

    def __init__(self, key: bytes, cache_limit: int = 4_000_000, workers: int | None = None, eager: bool = False):
        """`eager`: a large extraction: start the hashing process now, not at the first large batch,
        and reserve the cache's arrays at their cap (they never copy themselves to grow)."""
        self._key = key
        self._cache_limit = cache_limit
        self._caches: dict[str, _Cache] = {}
        self._reserve = cache_limit if eager else 0
        self._workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self.hashed = 0  # identifiers hashed so far (each distinct one once, while cached)
        if self._workers >= 2 and eager:
            self._start_pool()

    def _start_pool(self) -> None:
        """Fork the hashing process now, while this one is small: pages shared with a forked child
        are copied when written, and forking after the first batches made the kernel copy hundreds
        of MiB of batch buffers (profiled as system time)."""
        self._pool = ProcessPoolExecutor(max_workers=self._workers - 1)
        self._pool.submit(int).result()  # the fork happens on the first task

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> "Pseudonymizer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def key(self) -> bytes:
        return self._key

    def pseudonymize(self, domain: str, ids: pa.Array) -> pa.Array:
        """Per row: the pseudonym of `ids` (null where the id is null)."""
        ids = pc.cast(ids, pa.string())
        cache = self._caches.get(domain)
        if cache is None or len(cache) + len(ids) > self._cache_limit:  # start over rather than grow past the cap
            cache = self._caches[domain] = _Cache(self._reserve)
        words = _fixed_width_words(ids) if cache.fast_ok else None
        position = self._lookup_fast(domain, cache, ids, words) if words is not None else None
        if position is None:
            position = self._lookup_generic(domain, cache, ids)
        valid = position >= 0
        if not valid.any():  # no rows, or only null ids (perhaps before any id was hashed)
            return pa.nulls(len(ids), pa.string())
        safe = position if valid.all() else np.where(valid, position, 0)
        pseudonyms = fixed_width_strings(np.take(cache.values.view, safe, axis=0), PSEUDONYM_HEX)
        if not valid.all():
            pseudonyms = pc.if_else(pa.array(valid), pseudonyms, pa.scalar(None, pa.string()))
        return pseudonyms

    def _lookup_generic(self, domain: str, cache: _Cache, ids: pa.Array) -> np.ndarray:
        """Positions in the cache (-1 for a null id), adding unseen ids; any string ids."""
        position = pc.index_in(ids, value_set=cache.keys.array)
        missing = pc.and_(pc.is_null(position), pc.is_valid(ids))
        result = pc.fill_null(position, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        if pc.any(missing).as_py():
            unseen = ids.filter(missing)
            new = pc.unique(unseen)
            offset = self._append(domain, cache, new)
            where = np.flatnonzero(missing.to_numpy(zero_copy_only=False))
            result[where] = offset + pc.index_in(unseen, value_set=new).to_numpy()
            cache.fast.clear()  # rebuilt from `keys` when next needed
        return result

    def _lookup_fast(self, domain: str, cache: _Cache, ids: pa.Array, words: np.ndarray) -> np.ndarray | None:
        """As `_lookup_generic`, for fixed-width ids, through the fingerprint index; None if unusable."""
        width = words.shape[1]
        if width not in cache.fast:
            self._index_width(cache, width)
            if not cache.fast_ok:
                return None
        index = cache.fast[width]
        prior = len(cache)
        slots = index.slots(_fingerprint(words))
        new_rows = np.flatnonzero(slots >= prior)
        if len(new_rows):
            order = slots[new_rows] - prior  # the new ids' slots, counted from 0, in order of first sight
            first = np.empty(int(order.max()) + 1, np.int64)
            first[order[::-1]] = new_rows[::-1]  # each new id's first row
            index.add_words(words[first])
        if not index.matches(slots, words):
            cache.fast_ok = False  # a fingerprint collision: exactness first
            return None
        if len(new_rows):
            self._append(domain, cache, ids.take(pa.array(first)))
        return slots

    def _index_width(self, cache: _Cache, width: int) -> None:
        index = cache.fast[width] = FingerprintIndex(width, cache.capacity)
        if not len(cache):
            return
        words = _fixed_width_words(cache.keys.array)
        if words is None or words.shape[1] != width:
            cache.fast_ok = False  # mixed widths in the cache: the generic path serves
            return
        if not (index.slots(_fingerprint(words)) == np.arange(len(cache))).all():
            cache.fast_ok = False  # two ids with one fingerprint (never seen; handled anyway)
            return
        index.add_words(words)

    def _append(self, domain: str, cache: _Cache, new: pa.Array) -> int:
        """Hash `new` (distinct, unseen ids) into the cache; return the position of the first."""
        offset = len(cache)
        cache.keys.append(new)
        cache.values.append(np.frombuffer(self._hash(domain, new), np.uint8).reshape(-1, PSEUDONYM_HEX))
        return offset

    def _hash(self, domain: str, ids: pa.Array) -> bytes:
        self.hashed += len(ids)
        if self._workers < 2 or len(ids) < PARALLEL_MIN:
            return hash_bytes(self._key, domain, _utf8(ids))
        if self._pool is None:
            self._start_pool()
        half = len(ids) // self._workers
        # The other half goes as an Arrow array (pickled as a few buffers, not 100,000s of bytes
        # objects: the queue's feeder thread spent seconds on those) and is decoded over there.
        remote = self._pool.submit(_hash_chunk, (self._key, domain, pa.concat_arrays([ids.slice(0, half)])))  # compact: a slice pickles whole buffers
        local = hash_bytes(self._key, domain, _utf8(ids.slice(half)))
        return remote.result() + local
