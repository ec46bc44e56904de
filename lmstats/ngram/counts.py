"""Counting n-grams of every order 1..N with numpy: packed keys, sorting, ``searchsorted``.

The table of order k holds the distinct k-grams, sorted by the packed key

    key = row_{k-1}(w_1 .. w_{k-1}) * V + w_k

where ``row_{k-1}`` is the row of the (k-1)-gram prefix in the table of order k-1 (for k = 1
the row is the word id itself: the unigram table is dense over the vocabulary).  Keys therefore
stay below ``rows_{k-1} * V`` (< 2^63 for any realistic corpus), and all k-grams sharing a
context are contiguous.  For each k-gram the table also keeps the row of its suffix
(w_2 .. w_k) in the table of order k-1, which gives continuation counts and the backoff chain.

Sequences are counted as ``<s> w_1 .. w_T`` (the scored units of :mod:`lmstats.units`, which
end with ``</s>``): an n-gram never reaches before the ``<s>`` of its unit, so contexts at the
start of a sentence are shorter than N-1 (KenLM's convention), and ``<s>`` is never predicted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines, run_offsets
from lmstats.hashtable import hash_bits, slot_table, stored_bits
from lmstats.npyfile import release


@dataclass(frozen=True, eq=False)
class OrderTable:
    """The distinct k-grams of one order and their counts."""

    order: int
    keys: NDArray[np.int64]  # sorted packed keys (for order 1: the word ids 0..V-1)
    # The builder's arrays (None in a query-only model, which keeps what scoring needs):
    counts: NDArray[np.int64] | None  # raw count of each k-gram (order 1: 0 for unseen words)
    suffix: NDArray[np.int64] | None  # row of w_2..w_k in the table of order k-1 (order 1: -1)
    first: NDArray[np.int64] | None  # id of w_1 (to find n-grams that start with <s>)

    def __len__(self) -> int:
        return len(self.keys)

    def context(self, vocab_size: int) -> NDArray[np.int64]:
        """Row of the context w_1..w_{k-1} in the table of order k-1."""
        return self.keys // vocab_size

    def word(self, vocab_size: int) -> NDArray[np.int64]:
        return self.keys % vocab_size


@dataclass(frozen=True, eq=False)
class NgramCounts:
    """Count tables of orders 1..N over one vocabulary (``tables[k-1]`` has order k)."""

    vocab_size: int
    bos_id: int
    tables: tuple[OrderTable, ...]
    n_units: int
    # per lower order k: (adjusted, raw) count of the one k-gram lmplz's counts-of-counts take raw (lmstats.ngram.lmplz)
    lmplz_last: dict = field(default_factory=dict)

    @property
    def order(self) -> int:
        return len(self.tables)

    def table(self, k: int) -> OrderTable:
        return self.tables[k - 1]


@dataclass(frozen=True, eq=False)
class Positions:
    """Units laid out flat as ``<s> w_1 .. w_T <s> ...``, with each position's depth in its unit."""

    ids: NDArray[np.int64]  # (P,)
    depth: NDArray[np.int64]  # (P,) 0 at every <s>
    scored: NDArray[np.bool_]  # (P,) True where a token is predicted (every position but <s>)


def layout(units: Lines, bos_id: int) -> Positions:
    """Prepend ``<s>`` to every unit and flatten (vectorised)."""
    lengths = units.lengths + 1
    total = int(lengths.sum())
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    scored = np.ones(total, dtype=bool)
    scored[starts] = False
    ids = np.empty(total, dtype=np.int64)
    ids[starts] = bos_id
    ids[scored] = units.ids
    depth = run_offsets(lengths)
    return Positions(ids, depth, scored)


def unique_keys(keys: NDArray[np.int64], *, inverse: bool = True):
    """``np.unique(keys, return_inverse=True, return_counts=True)`` of non-negative keys, faster.

    When a key and its index fit in 63 bits together, the keys are sorted *with* their index
    packed in the low bits (one ``np.sort`` of int64, 2-3x faster than the ``argsort`` that
    ``np.unique`` does); otherwise it is ``np.unique``.  Returns (sorted distinct keys, the
    index of each key among them or None, the count of each distinct key).
    """
    n = len(keys)
    index_bits = max(1, int(n - 1).bit_length())
    if n == 0 or int(keys.max()) >= 1 << (63 - index_bits):
        if not inverse:
            uniq, counts = np.unique(keys, return_counts=True)
            return uniq, None, counts.astype(np.int64)
        uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
        return uniq, inv.reshape(-1), counts.astype(np.int64)
    packed = (keys.astype(np.int64) << index_bits) | np.arange(n, dtype=np.int64)
    packed.sort()
    ordered = packed >> index_bits
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    uniq = ordered[starts]
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    inv = None
    if inverse:
        group = np.zeros(n, dtype=np.int64)
        group[starts[1:]] = 1
        np.cumsum(group, out=group)
        inv = np.empty(n, dtype=np.int64)
        inv[packed & ((1 << index_bits) - 1)] = group
    return uniq, inv, counts


def count_ngrams(units: Lines, order: int, vocab_size: int, bos_id: int, on_order: Callable[[int], None] | None = None) -> NgramCounts:
    """Count all n-grams of orders 1..``order`` in ``units`` (each preceded by ``<s>``).

    ``on_order(k)`` is called after each order is counted (for a progress bar).
    """
    pos = layout(units, bos_id)
    ids = pos.ids
    V = vocab_size
    unigram = np.bincount(ids, minlength=V).astype(np.int64)
    arange = np.arange(V, dtype=np.int64)
    tables = [OrderTable(1, arange, unigram, np.full(V, -1, dtype=np.int64), arange)]
    if on_order is not None:
        on_order(1)
    rows = ids  # row of the (k-1)-gram ending at each position
    for k in range(2, order + 1):
        valid = np.flatnonzero(pos.depth >= k - 1)
        if len(valid) == 0:
            tables.append(OrderTable(k, *(np.zeros(0, dtype=np.int64) for _ in range(4))))
            rows = np.full(len(ids), -1, dtype=np.int64)
            continue
        keys = rows[valid - 1] * V + ids[valid]
        uniq, inverse, counts = unique_keys(keys)
        suffix = np.empty(len(uniq), dtype=np.int64)
        suffix[inverse] = rows[valid]
        prev = tables[-1]
        first = prev.first[uniq // V]
        tables.append(OrderTable(k, uniq, counts.astype(np.int64), suffix, first))
        new_rows = np.full(len(ids), -1, dtype=np.int64)
        new_rows[valid] = inverse
        rows = new_rows
        if on_order is not None:
            on_order(k)
    return NgramCounts(V, bos_id, tuple(tables), len(units))


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
KEY_SPREAD = 1.25  # home slots per key, at least: a load of 0.4-0.8 (a table twice as large made a saved 5-gram 13 MB larger
#                   and scored no faster; a walk stays within a cache line or two of int32 slots)


class KeyIndex:
    """An open-addressing hash table over a sorted key array: row of a key in ~1-2 probes.

    The slots hold rows of ``keys`` (:mod:`lmstats.hashtable`: linear probing, built in one
    vectorised pass; the home slot of a key is the top bits of ``key * 0x9E3779B97F4A7C15``).
    Lookups are vectorised gathers, several times faster than ``searchsorted`` on tables of
    millions of keys.  The slot array is all there is to the index: a saved model stores it
    (:meth:`stored`), so opening the model builds nothing.
    """

    def __init__(self, keys: NDArray[np.int64]):
        self.keys = keys
        self.bits = hash_bits(len(keys), KEY_SPREAD)
        self.slots = slot_table(self._home(keys), self.bits)

    @classmethod
    def stored(cls, keys: NDArray[np.int64], slots: NDArray) -> KeyIndex:
        """The index of ``keys`` from its slot array as built before (saved with the model; its size says its ``bits``,
        so a model saved when the table was sized otherwise opens the same)."""
        index = cls.__new__(cls)
        index.keys, index.bits, index.slots = keys, stored_bits(len(slots)), slots
        return index

    def _home(self, keys: NDArray[np.int64]) -> NDArray[np.int64]:
        with np.errstate(over="ignore"):
            h = (keys.astype(np.uint64) * _GOLDEN) >> np.uint64(64 - self.bits)
        return h.astype(np.int64)

    def find(self, queries: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row of each query key, -1 where absent."""
        out = np.full(len(queries), -1, dtype=np.int64)
        probe = self._home(queries)
        active = np.arange(len(queries), dtype=np.int64)
        while len(active):
            row = self.slots[probe].astype(np.int64)
            known = row >= 0
            hit = np.zeros(len(active), dtype=bool)
            hit[known] = self.keys[row[known]] == queries[active[known]]
            out[active[hit]] = row[hit]
            keep = known & ~hit
            active = active[keep]
            probe = probe[keep] + 1
        return out


class SortedIndex:
    """Lookups in a sorted key array (memory-mapped or not) without building anything.

    The queries are sorted first, so ``searchsorted`` walks the table forwards (NumPy carries
    each search's bounds into the next for increasing needles) and touches only the pages it
    needs: the way to score a few million tokens with a table of tens of millions of keys
    that is not worth hashing (the hash index needs about 10 bytes per key and seconds per
    10M keys to build).
    """

    def __init__(self, keys: NDArray[np.int64]):
        self.keys = keys

    def find(self, queries: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row of each query key, -1 where absent."""
        out = np.full(len(queries), -1, dtype=np.int64)
        if len(self.keys) == 0 or len(queries) == 0:
            return out
        order = np.argsort(queries, kind="stable")
        ordered = queries[order]
        idx = np.searchsorted(self.keys, ordered)
        inside = idx < len(self.keys)
        hit = np.zeros(len(ordered), dtype=bool)
        hit[inside] = np.asarray(self.keys[idx[inside]]) == ordered[inside]
        out[order[hit]] = idx[hit]
        return out


HASH_LIMIT = 8_000_000  # keys up to which a table gets a hash index (about 10 bytes a key); larger ones a SortedIndex


def build_indexes(counts: NgramCounts) -> list[KeyIndex | SortedIndex | None]:
    """Indexes of the tables of orders 2..N (order 1 is dense: row = word id): hashed up to
    :data:`HASH_LIMIT` keys, sorted search beyond and in the shards of a sharded model (:mod:`lmstats.ngram.sharded_array`)."""
    return [None] + [KeyIndex(t.keys) if len(t) <= HASH_LIMIT and isinstance(t.keys, np.ndarray) else SortedIndex(t.keys)
                     for t in counts.tables[1:]]


def open_indexes(counts: NgramCounts, slots: dict[int, NDArray]) -> list[KeyIndex | SortedIndex | None]:
    """The indexes of a saved model, built from nothing: the stored slot array of each hashed order
    (``slots[k]``), sorted search of the others."""
    return [None] + [KeyIndex.stored(t.keys, slots[t.order]) if t.order in slots else SortedIndex(t.keys) for t in counts.tables[1:]]


def lookup_rows(counts: NgramCounts, pos: Positions, indexes: list[KeyIndex | None]) -> list[NDArray[np.int64]]:
    """For every order k, the row of the k-gram ending at each position (-1 if not in the model)."""
    V = counts.vocab_size
    ids = pos.ids
    rows = [ids.copy()]
    for k in range(2, counts.order + 1):
        table = counts.table(k)
        out = np.full(len(ids), -1, dtype=np.int64)
        prev = rows[-1]
        cand = np.flatnonzero(pos.depth >= k - 1)
        cand = cand[prev[cand - 1] >= 0]
        if len(cand) and len(table):
            keys = prev[cand - 1] * V + ids[cand]
            out[cand] = indexes[k - 1].find(keys)
            release(table.keys)  # a memory-mapped table's pages leave this process's resident memory
        rows.append(out)
    return rows

