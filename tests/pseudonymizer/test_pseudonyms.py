"""The pseudonym cache: whatever path a batch takes (fingerprint index, generic lookup, a real
fingerprint collision, mixed widths, a cache that starts over, hashing on two processes), every row
gets exactly HMAC-SHA256(key, domain || 0x00 || id), cut to 128 bits."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pyarrow as pa

from pseudonymizer.pseudonyms import _GOLDEN, PARALLEL_MIN, Pseudonymizer, _fingerprint, _fixed_width_words

KEY = bytes(range(32))
DOMAIN = "BEN_NIR_PSA"


def reference(values: list[str | None]) -> list[str | None]:
    return [None if v is None else hmac.new(KEY, DOMAIN.encode() + b"\0" + v.encode(), hashlib.sha256).hexdigest()[:32]
            for v in values]


def ids(n: int, start: int = 0, width: int = 17) -> list[str]:
    return [f"{i:0{width}d}" for i in range(start, start + n)]


def check(pseudonymizer: Pseudonymizer, batches: list[list[str | None]]) -> None:
    for batch in batches:
        assert pseudonymizer.pseudonymize(DOMAIN, pa.array(batch, pa.string())).to_pylist() == reference(batch)


def test_repeated_and_new_ids_across_batches():
    rng = np.random.default_rng(1)
    pool = ids(5000)
    batches = [[pool[i] for i in rng.integers(0, 1000 * (b + 1), 3000)] for b in range(5)]  # new ids keep coming
    with Pseudonymizer(KEY) as p:
        check(p, batches)
        assert p.hashed == len(set().union(*batches))  # each distinct id hashed once


def test_nulls_mixed_widths_and_non_ascii():
    with Pseudonymizer(KEY) as p:
        check(p, [ids(10), ids(10, 5, width=20), [None, "é€", None, *ids(3)], [None, None], ids(4, 2)])


def test_a_cache_that_starts_over_gives_the_same_pseudonyms():
    with Pseudonymizer(KEY, cache_limit=100) as p:
        check(p, [ids(80), ids(80, 40), ids(80)])


def test_new_ids_hashed_on_two_processes():
    with Pseudonymizer(KEY, workers=2) as p:
        check(p, [ids(PARALLEL_MIN + 10), ids(20, PARALLEL_MIN)])


def colliding_pair() -> tuple[str, str]:
    """Two different 17-character ASCII ids with one fingerprint, found by solving for the first
    word (multiplication by an odd constant is invertible modulo 2^64) over many second words."""
    a = "AAAAAAAAAAAAAAAAA"
    (a0, a1, a2), = _fixed_width_words(pa.array([a]))
    golden = _GOLDEN[:2]  # the fingerprint's multipliers of the first two words
    inverse = np.uint64(pow(int(golden[0]), -1, 1 << 64))
    rng = np.random.default_rng(0)
    second = rng.integers(0x41, 0x5B, size=(200_000, 8), dtype=np.uint8).view(np.uint64).ravel()  # 8 capital letters
    with np.errstate(over="ignore"):
        first = ((a0 * golden[0]) ^ (a1 * golden[1]) ^ (second * golden[1])) * inverse
    printable = ((first.view(np.uint8).reshape(-1, 8) >= 0x21) & (first.view(np.uint8).reshape(-1, 8) <= 0x7E)).all(axis=1)
    printable &= second != a1
    i = int(np.flatnonzero(printable)[0])
    b = (first[i : i + 1].tobytes() + second[i : i + 1].tobytes()).decode("ascii") + a[16:]
    return a, b


def test_a_fingerprint_collision_merges_no_one():
    a, b = colliding_pair()
    assert a != b and len(b) == 17
    prints = _fingerprint(_fixed_width_words(pa.array([a, b])))
    assert prints[0] == prints[1]  # a real collision: the index alone would give both one pseudonym
    with Pseudonymizer(KEY) as p:
        check(p, [ids(50) + [a], [b, *ids(5)], [a, b, *ids(60)]])
    with Pseudonymizer(KEY) as p:
        check(p, [[a, b, a], [b]])  # in one batch, as new ids


def test_pseudonyms_are_fixed_width_hex():
    with Pseudonymizer(KEY) as p:
        out = p.pseudonymize(DOMAIN, pa.array(ids(3)))
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in out.to_pylist())
