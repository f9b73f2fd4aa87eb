"""Pseudonyms (32 hex characters: the pseudonymizer's width) as pairs of 64-bit integers, for sort-based set work.

Hashing a million 32-byte strings costs more than reading the CSV they came in; turning them into
two uint64 words and sorting is several times faster and gives membership and distinct counts
together.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymizer.pseudonyms import PSEUDONYM_HEX

WIDTH = PSEUDONYM_HEX  # the pseudonymizer's width
if WIDTH != 32:  # hex_words packs a pseudonym into exactly two 64-bit words
    raise ImportError(f"egress_gate.hexkeys handles 32-character pseudonyms, the pseudonymizer writes {WIDTH}")
LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
BIT_SIX = np.uint64(0x0101010101010101)
BLOCK = 16_384  # rows decoded at a time (two 512 KiB temporaries)


def hex_words(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, hi, lo): the rows of a string array holding 32 characters, and a 128-bit key of each.

    The key is injective over hex strings and ignores case, so an upper-cased pseudonym still
    matches (other letters may alias a hex digit: harmless for membership, and shape is checked
    apart, by `looks_hex`). Eight characters are decoded per 64-bit operation."""
    empty = np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    if not len(array) or not pa.types.is_string(array.type):
        return empty
    exact = pc.equal(pc.utf8_length(array), WIDTH).fill_null(False)
    n_exact = pc.sum(exact).as_py() or 0
    if not n_exact:
        return empty
    if n_exact == len(array):
        rows, sub = np.arange(len(array)), array
    else:
        rows, sub = np.flatnonzero(exact.to_numpy(zero_copy_only=False)), array.filter(exact)
    offsets = np.frombuffer(sub.buffers()[1], np.int32, len(sub) + 1, sub.offset * 4)
    data = np.frombuffer(sub.buffers()[2], np.uint8)[offsets[0]: offsets[0] + WIDTH * len(sub)]
    w = np.frombuffer(data.tobytes() if data.ctypes.data % 8 else data, "<u8").reshape(-1, 4)
    hi, lo = np.empty(len(w), np.uint64), np.empty(len(w), np.uint64)
    # By blocks: the temporaries stay in cache and are reused, where whole-column ones would be
    # fresh memory each time (first-touch page faults cost more than the arithmetic).
    nibbles, low = np.empty((BLOCK, 4), np.uint64), np.empty((BLOCK, 4), np.uint64)
    for start in range(0, len(w), BLOCK):
        block = w[start:start + BLOCK]
        n, x, y = len(block), nibbles[:len(block)], low[:len(block)]
        # '0'-'9' -> 0-9, 'a'-'f' -> 10-15, eight characters per operation
        np.right_shift(block, np.uint64(6), out=x)
        x &= BIT_SIX
        x *= np.uint64(9)
        np.bitwise_and(block, LOW_NIBBLES, out=y)
        x += y
        x[:, 1::2] <<= np.uint64(4)
        np.bitwise_or(x[:, 0], x[:, 1], out=hi[start:start + n])
        np.bitwise_or(x[:, 2], x[:, 3], out=lo[start:start + n])
    return rows, hi, lo


def looks_hex(array: pa.Array, sample: int = 10_000) -> float:
    """Share of a sample of `array`'s 32-character values that are lowercase hex."""
    head = array.slice(0, sample).drop_null()
    if not len(head):
        return 0.0
    return (pc.sum(pc.match_substring_regex(head, f"^[0-9a-f]{{{WIDTH}}}$")).as_py() or 0) / len(head)


class SortedKeys:
    """A set of 128-bit keys sorted by (hi, lo), answering membership for many keys at once."""

    def __init__(self, hi: np.ndarray, lo: np.ndarray):
        order = np.lexsort((lo, hi))
        self.hi, self.lo = hi[order], lo[order]
        # With two keys sharing a hi word, a single probe could miss: fall back to a wider search.
        self.unique_hi = not len(self.hi) or bool(np.all(np.diff(self.hi) != 0))

    def __len__(self) -> int:
        return len(self.hi)

    def count_in(self, sorted_hi: np.ndarray) -> int:
        """How many of the already sorted probe words are a key's high word (the 64-bit argument of
        :func:`distinct_count`: a stranger sharing one is a 2^-64 chance): no sort, one merge walk."""
        if not len(sorted_hi) or not len(self.hi):
            return 0
        keys = np.unique(self.hi) if not self.unique_hi else self.hi
        idx = np.minimum(np.searchsorted(keys, sorted_hi), len(keys) - 1)
        return int(np.count_nonzero(keys[idx] == sorted_hi))

    def contains(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        if not len(hi) or not len(self.hi):
            return np.zeros(len(hi), bool)
        order = np.argsort(hi)  # sorted probes walk the set in order: cache-friendly
        hs, ls = hi[order], lo[order]
        if self.unique_hi:
            idx = np.minimum(np.searchsorted(self.hi, hs), len(self.hi) - 1)
            found_sorted = (self.hi[idx] == hs) & (self.lo[idx] == ls)
        else:
            key = self.hi.astype(object) * (1 << 64) + self.lo.astype(object)
            probe = hs.astype(object) * (1 << 64) + ls.astype(object)
            found_sorted = np.isin(probe, key)
        found = np.empty(len(hi), bool)
        found[order] = found_sorted
        return found


def distinct_count(hi: np.ndarray, lo: np.ndarray, sorted_hi: np.ndarray | None = None) -> int:
    """Distinct keys, counted on their high 64 bits (two random 128-bit keys share them with
    probability 2^-64 per pair: negligible, and sorting one word is several times faster)."""
    if not len(hi):
        return 0
    h = np.sort(hi) if sorted_hi is None else sorted_hi
    return int(1 + np.count_nonzero(np.diff(h)))
