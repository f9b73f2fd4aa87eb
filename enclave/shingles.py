"""Fingerprints of byte shingles: does a piece of bytes come from a known file?

Every window of :data:`SHINGLE` bytes of a file is hashed (vectorised, no Python loop per byte);
a fixed share of the hashes is kept (those whose low bits are zero), so a probe and a file agree on
which windows they keep whatever the alignment — the same bytes found anywhere in a probe (after
decoding a hex or base64 run, say) give the same kept hashes. Hashes that occur twice or more in the
known files are dropped: they are structure (Parquet's headers and footers, runs of zeros) that any
file of the same format shares, not content.

Memory is bounded: the keep rate halves until at most :data:`MAX_FINGERPRINTS` hashes remain (8 bytes
each). On the demo's extracts (509 KB) one window in 16 is kept; a probe of 192 bytes then carries
about 11, and :data:`MIN_MATCHES` of them name a match.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

SHINGLE = 16  # bytes per window
KEEP_BITS = 4  # keep one hash in 2**KEEP_BITS (at most: fewer on large files, see MAX_FINGERPRINTS)
MAX_FINGERPRINTS = 2_000_000  # hashes kept in memory (16 MB)
MIN_MATCHES = 2  # kept hashes a probe must share with the known files to be a match
MIN_BINARY = 3  # bytes outside printable ASCII a window needs to be fingerprinted (see `binary_windows`)
_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0xFF51AFD7ED558CCD)


def window_hashes(data: bytes) -> np.ndarray:
    """A 64-bit hash of every :data:`SHINGLE`-byte window of ``data`` (len(data) - 15 of them)."""
    b = np.frombuffer(data, np.uint8)
    n = len(b) - SHINGLE + 1
    if n <= 0:
        return np.zeros(0, np.uint64)
    # the little-endian 8-byte word at every offset: eight strided views, one per offset modulo 8
    w = np.empty(len(b) - 7, np.uint64)
    for k in range(8):
        count = (len(b) - k) // 8
        w[k::8] = np.frombuffer(data, "<u8", count=count, offset=k)
    with np.errstate(over="ignore"):
        h = w[:n] * _K1 ^ (w[8: 8 + n] * _K2)
        h ^= h >> np.uint64(31)
        h *= _K3
        h ^= h >> np.uint64(29)
    return h


def binary_windows(data: bytes) -> np.ndarray:
    """Which windows hold :data:`MIN_BINARY` bytes or more outside printable ASCII.

    Plain strings inside a file (a Parquet dictionary of pseudonyms or codes) are what a researcher
    legitimately prints (``df.head()``): they are judged as pseudonyms, not as the file's bytes. Only
    windows of binary content are fingerprinted and probed."""
    b = np.frombuffer(data, np.uint8)
    if len(b) < SHINGLE:
        return np.zeros(0, bool)
    odd = ((b < 0x20) & (b != 0x09) & (b != 0x0A) & (b != 0x0D)) | (b > 0x7E)
    total = np.concatenate(([0], np.cumsum(odd, dtype=np.int64)))
    return (total[SHINGLE:] - total[:-SHINGLE]) >= MIN_BINARY


def binary_hashes(data: bytes) -> np.ndarray:
    """The window hashes of ``data``'s binary windows only (with their positions dropped)."""
    return window_hashes(data)[binary_windows(data)]


def kept(hashes: np.ndarray, bits: int) -> np.ndarray:
    return hashes[(hashes & np.uint64((1 << bits) - 1)) == 0]


class Fingerprints:
    """The kept shingle hashes of some files, answering "how many does this probe share?"."""

    def __init__(self, hashes: np.ndarray, bits: int):
        self.hashes, self.bits = hashes, bits

    @classmethod
    def of_files(cls, files: Iterable[Path], max_fingerprints: int = MAX_FINGERPRINTS) -> Fingerprints:
        bits, parts = KEEP_BITS, []
        for path in files:
            parts.append(kept(binary_hashes(Path(path).read_bytes()), bits))
            while sum(map(len, parts)) > 2 * max_fingerprints:  # a big extract: keep fewer as we go
                bits += 1
                parts = [kept(p, bits) for p in parts]
        every = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        values, counts = np.unique(every, return_counts=True)
        unique = values[counts == 1]
        while len(unique) > max_fingerprints:
            bits += 1
            unique = kept(unique, bits)
        return cls(unique, bits)

    def __len__(self) -> int:
        return len(self.hashes)

    def matches(self, data: bytes) -> int:
        """How many of the probe's kept window hashes are among the known files' (distinct ones)."""
        if len(data) < SHINGLE or not len(self.hashes):
            return 0
        probe = np.unique(kept(binary_hashes(data), self.bits))
        return int(np.count_nonzero(np.isin(probe, self.hashes, assume_unique=True)))

    def matched_span(self, data: bytes) -> tuple[int, int] | None:
        """(start, end) in ``data`` from the first to the last matching window, when MIN_MATCHES match."""
        if len(data) < SHINGLE or not len(self.hashes):
            return None
        binary = binary_windows(data)
        if not binary.any():  # plain text: nothing to fingerprint
            return None
        h = window_hashes(data)
        where = np.flatnonzero(binary & ((h & np.uint64((1 << self.bits) - 1)) == 0) & np.isin(h, self.hashes))
        if len(np.unique(h[where])) < MIN_MATCHES:
            return None
        return int(where[0]), int(where[-1]) + SHINGLE
