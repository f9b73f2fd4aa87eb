"""The pseudonym cache's storage: arrays that grow without copying everything on each batch, and a
64-bit fingerprint hash table over fixed-width identifiers.

Profiling the 10-million-row extraction showed the cache rebuilt per batch: each batch concatenated
the whole cache (keys, pseudonyms, words) and built a new pandas hash index over it, so the cost grew
with the square of the number of distinct ids. Here appends are amortised (capacity doubles, or is
reserved) and the index is a hash table probed for a whole batch in a few vectorised rounds. (A sorted
array with binary searches came before: sorting each batch's fingerprints and inserting new ones in
order took 1.2 s of 10 M rows' 5.4 s of transform.)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


class GrowingArray:
    """Rows appended at the end of a numpy array whose capacity doubles: `view` is the filled part."""

    def __init__(self, shape: tuple[int, ...], dtype, capacity: int = 0):
        """`capacity`: rows reserved up front. Untouched, they are address space only (the kernel
        gives pages at first write), and appends within them never copy."""
        self._data = np.empty((max(16, capacity), *shape), dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def view(self) -> np.ndarray:
        return self._data[: self._n]

    def append(self, rows: np.ndarray) -> None:
        need = self._n + len(rows)
        if need > len(self._data):
            grown = np.empty((max(need, 2 * len(self._data)), *self._data.shape[1:]), self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = rows
        self._n = need


class GrowingStrings:
    """An Arrow string array built by appending chunks, combined only when asked for."""

    def __init__(self):
        self._chunks: list[pa.Array] = []
        self._combined: pa.Array = pa.array([], pa.string())
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, values: pa.Array) -> None:
        self._chunks.append(values)
        self._n += len(values)

    @property
    def array(self) -> pa.Array:
        if self._chunks:
            self._combined = pa.concat_arrays([self._combined, *self._chunks])
            self._chunks = []
        return self._combined


class FingerprintIndex:
    """Fixed-width ids (as rows of uint64 words) -> cache slots, through a hash table of their fingerprints.

    Open addressing with linear probing, kept at most half full, probed for a whole batch at once:
    each round is a few numpy gathers over the ids not yet resolved (1.5 rounds on average for a
    found id, 2.5 for a new one). Exact: a fingerprint found is checked against the id's words by
    the caller, which also keeps fingerprints distinct (see `add`)."""

    def __init__(self, width_words: int, capacity: int = 0):
        self.words = GrowingArray((width_words,), np.uint64, capacity)  # per entry, in insertion order
        self.slots = GrowingArray((), np.int64, capacity)  # per entry: its cache slot
        self._fingerprints = GrowingArray((), np.uint64, capacity)  # per entry, to rebuild a bigger table
        self._table = np.zeros(MIN_TABLE, np.uint64)  # fingerprints (never 0: 0 marks a free place)
        self._entry = np.zeros(MIN_TABLE, np.int32)  # per place: its entry

    def __len__(self) -> int:
        return len(self.words)

    def _home(self, fingerprints: np.ndarray) -> np.ndarray:
        # The high bits: the fingerprint's best-mixed ones.
        return (fingerprints >> np.uint64(64 - (len(self._table).bit_length() - 1))).astype(np.int64)

    def find(self, fingerprints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, entry of each found fingerprint)."""
        fingerprints = _nonzero(fingerprints)
        found = np.zeros(len(fingerprints), bool)
        entries = np.empty(len(fingerprints), np.int64)
        todo = np.arange(len(fingerprints))
        place = self._home(fingerprints)
        wanted = fingerprints
        mask = len(self._table) - 1
        while len(todo):
            there = self._table[place]
            hit = there == wanted
            if hit.any():
                found[todo[hit]] = True
                entries[todo[hit]] = self._entry[place[hit]]
            going = ~hit & (there != 0)  # an occupied place holding another fingerprint: probe on
            todo, wanted, place = todo[going], wanted[going], (place[going] + 1) & mask
        return found, entries[found]

    def add(self, fingerprints: np.ndarray, words: np.ndarray, slots: np.ndarray) -> None:
        """Index new entries (fingerprints not yet in the index, distinct)."""
        fingerprints = _nonzero(fingerprints)
        first = len(self.words)
        self.words.append(words)
        self.slots.append(slots)
        self._fingerprints.append(fingerprints)
        if 2 * len(self.words) > len(self._table):
            size = len(self._table)
            while 2 * len(self.words) > size:
                size *= 2
            self._table = np.zeros(size, np.uint64)
            self._entry = np.zeros(size, np.int32)
            self._place(self._fingerprints.view, np.arange(len(self.words)))
        else:
            self._place(fingerprints, first + np.arange(len(fingerprints)))

    def _place(self, fingerprints: np.ndarray, entries: np.ndarray) -> None:
        """Write fingerprints into free places: where several claim one place, the last write wins
        and the others probe on (read back to see who won)."""
        mask = len(self._table) - 1
        place = self._home(fingerprints)
        while len(fingerprints):
            free = self._table[place] == 0
            self._table[place[free]] = fingerprints[free]
            won = np.zeros(len(fingerprints), bool)
            won[free] = self._table[place[free]] == fingerprints[free]
            self._entry[place[won]] = entries[won]
            going = ~won
            fingerprints, entries, place = fingerprints[going], entries[going], (place[going] + 1) & mask


MIN_TABLE = 1 << 10


def _nonzero(fingerprints: np.ndarray) -> np.ndarray:
    """Fingerprints with 0 (the free mark) moved to 1: one more collision in 2^64, caught like any."""
    return np.where(fingerprints == 0, np.uint64(1), fingerprints) if not fingerprints.all() else fingerprints
