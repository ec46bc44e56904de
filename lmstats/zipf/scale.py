"""Zipf and Heaps counts of a corpus too large to count in memory: the n-gram engine's tables, out of core.

What the fits need of each order k is (a) the frequency list, one count per distinct k-gram,
and (b) the Heaps curve, the number of distinct k-grams among the first N occurrences at
log-spaced N.  In memory both come from one dense type id per occurrence
(:func:`~lmstats.zipf.counting.ngram_type_ids`), which costs about 40 bytes a token per order;
beyond ``--memory`` this module gets them from the n-gram engine instead:

1. **Frequencies.**  The lines of type ids are counted by
   :func:`~lmstats.ngram.external.count_ngrams_external` (blocks counted, sorted runs spilled to
   ``--tmp`` and merged; bounded by ``--memory``) with one extra id ``n_types`` as the ``<s>``
   the engine puts before every line.  Its table of order k holds every k-gram within a line
   (those whose first word is not ``<s>``) with its raw count, plus the k-grams that start with
   ``<s>``, which are dropped; no ``</s>`` is added, so none ends past the line.
2. **Heaps curve.**  One pass over the text in chunks of whole lines looks up the table row of
   the k-gram ending at every position (the engine's scoring lookup,
   :func:`~lmstats.ngram.counts.lookup_rows`), in text order; a byte per table row says whether
   that k-gram was seen already, so the number of distinct k-grams so far is known at every
   occurrence and read off at the sampled N.

Both equal the in-memory results exactly (``tests/test_zipf.py``): the same multiset of
frequencies and the same ``V(N)`` at the same ``N``.  Memory: the byte map (one byte per
distinct k-gram of each order), the frequency lists the fits need anyway (8 bytes per distinct
k-gram) and one chunk of positions sized to what ``--memory`` leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.ngram.counts import build_indexes, layout, lookup_rows
from lmstats.npyfile import release
from lmstats.resources import working_memory
from lmstats.zipf.spectrum import Spectrum

SPECTRUM_SLICE = 1 << 22  # table rows read at a time into the frequency spectrum
HEAPS_POINTS = 64  # log-spaced prefix lengths of the Heaps curve (heaps.heaps_curve's default)
MIN_CHUNK = 1 << 16  # positions per chunk of the Heaps pass at least
LOOKUP_BYTES_PER_POSITION = 200  # a chunk's layout, rows of every order and the sorted lookups, per position (order <= 5)


@dataclass(frozen=True, eq=False)
class OrderCounts:
    """What the fits of one order need: occurrences, frequency list (descending) and the Heaps curve."""

    order: int
    n_occurrences: int
    freqs: Spectrum  # the frequency list as (frequency, types) pairs
    heaps_positions: NDArray[np.int64]
    heaps_types: NDArray[np.int64]


def heaps_positions(n: int, n_points: int = HEAPS_POINTS) -> NDArray[np.int64]:
    """The prefix lengths N at which the Heaps curve is sampled (log-spaced, 1..n, distinct)."""
    return np.unique(np.round(np.geomspace(1, n, n_points)).astype(np.int64))


def occurrences(lines: Lines, order: int) -> int:
    """Number of ``order``-grams within the lines."""
    return int(np.maximum(lines.lengths - order + 1, 0).sum())


def zipf_counts_on_disk(lines: Lines, n_types: int, orders: Sequence[int], *, memory: int, workdir: Path,
                        on_order: Callable[[int], None] | None = None) -> list[OrderCounts]:
    """:class:`OrderCounts` of every order in ``orders`` for lines of type ids ``0..n_types-1``, within ``memory`` bytes,
    files in ``workdir``.  Equal to the in-memory counts."""
    from lmstats.ngram.external import count_ngrams_external

    top = max(orders)
    bos = n_types  # the <s> the engine puts before every line: an id no token has
    counts = count_ngrams_external(lines, top, n_types + 1, bos, memory=memory, workdir=workdir, on_order=on_order)
    freqs = {}
    for k in orders:  # the frequency spectrum of each order, read in slices of the tables
        table = counts.table(k)
        rows = n_types if k == 1 else len(table)
        freqs[k] = Spectrum.of_counts(_counted(table, bos, lo, min(lo + SPECTRUM_SLICE, rows))
                                      for lo in range(0, rows, SPECTRUM_SLICE))
        release(table.counts, table.first)
    curves = _heaps_pass(lines, counts, orders, memory)
    return [OrderCounts(k, curves[k][0], freqs[k], curves[k][1], curves[k][2]) for k in orders]


def _counted(table, bos: int, lo: int, hi: int) -> NDArray[np.int64]:
    """Counts of the table's rows ``lo .. hi-1`` that are n-grams of the text (not starting with ``<s>``)."""
    c = np.asarray(table.counts[lo:hi])
    return c if table.order == 1 else c[np.asarray(table.first[lo:hi]) != bos]


def _heaps_pass(lines: Lines, counts, orders: Sequence[int], memory: int) -> dict[int, tuple[int, NDArray, NDArray]]:
    """For every order: occurrences, sampled prefix lengths N and distinct k-grams among the first N."""
    indexes = build_indexes(counts)
    total = {k: occurrences(lines, k) for k in orders}
    points = {k: heaps_positions(total[k]) if total[k] else np.zeros(0, dtype=np.int64) for k in orders}
    types = {k: np.zeros(len(points[k]), dtype=np.int64) for k in orders}
    seen = {k: np.zeros(len(counts.table(k)), dtype=bool) for k in orders}
    done = dict.fromkeys(orders, 0)  # occurrences passed so far
    distinct = dict.fromkeys(orders, 0)  # distinct k-grams among them
    chunk = max(MIN_CHUNK, working_memory(memory) // LOOKUP_BYTES_PER_POSITION)
    for part in lines.chunks(chunk):
        pos = layout(part, counts.bos_id)
        rows = lookup_rows(counts, pos, indexes)
        for k in orders:
            r = rows[k - 1][pos.depth >= k]  # the k-grams within a line, in text order
            if len(r) == 0:
                continue
            uniq, first_at = np.unique(r, return_index=True)
            fresh = first_at[~seen[k][uniq]]
            seen[k][uniq] = True
            is_new = np.zeros(len(r), dtype=np.int64)
            is_new[fresh] = 1
            running = distinct[k] + np.cumsum(is_new)
            inside = (points[k] > done[k]) & (points[k] <= done[k] + len(r))
            types[k][inside] = running[points[k][inside] - done[k] - 1]
            done[k] += len(r)
            distinct[k] = int(running[-1])
        del pos, rows
        release(lines.ids)  # a disk-backed text: the pages of this chunk leave the process
    return {k: (total[k], points[k], types[k]) for k in orders}

