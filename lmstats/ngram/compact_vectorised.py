"""A compact n-gram model's scorer in whole-array numpy: short texts, with no compiler in the process.

The compiled trie scorer (:mod:`lmstats.ngram.compact_kernel`) costs a fresh process numba's start
(0.35-0.6 s, :mod:`lmstats.jit`), more than scoring a test text of a few hundred thousand tokens
takes; as :class:`~lmstats.ngram.model.NgramLM` does with :mod:`lmstats.ngram.vectorised`, a compact
model gives its first :data:`~lmstats.ngram.compact.SHORT_POSITIONS` positions to this scorer (fewer than
the full model: a trie search takes several probes where a hash lookup takes one; the WikiText-2
5-gram's test text, 250 K positions, in 0.25 s against 0.08-0.1 s, 2-core machine).  The
trie is searched order by order over whole arrays: the children range of each position's context
row (sampled pointers), then an interpolation search of the word's code in it (as the kernel's), one
probe of every position per round; then the rule of :mod:`lmstats.ngram.model` in the same floating-point operations, so
both scorers give the same numbers bit for bit (tested), and an unquantised compact model the full
model's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.ngram.bitpack import read_field
from lmstats.ngram.counts import Positions, layout

_GOLDEN, _MIX = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)


def word_codes(ids: NDArray, bits: int) -> NDArray[np.int64]:
    """:func:`lmstats.ngram.compact_kernel.word_code` of every id, in numpy (uint64 products wrap as the kernel's)."""
    mask, r = np.uint64((1 << bits) - 1), np.uint64((bits + 1) >> 1)
    x = (np.asarray(ids).astype(np.uint64) * _GOLDEN) & mask
    x ^= x >> r
    x = (x * _MIX) & mask
    x ^= x >> r
    return x.astype(np.int64)


class TrieTables:
    """One order's arrays and layout (:mod:`lmstats.ngram.compact`), read with numpy."""

    def __init__(self, lay: dict, records, pointers, probs, backoffs):
        from lmstats.ngram.compact import FIELDS

        self.rows, self.coded, self.shift = lay["rows"], lay["coded"], lay["pointer_shift"]
        widths = [lay[f] for f in FIELDS]
        self.record = sum(widths)
        self.fields = {f: (sum(widths[:i]), widths[i]) for i, f in enumerate(FIELDS)}
        plain = np.asarray  # ndarray views of memory-mapped arrays: indexing a np.memmap costs more
        self.records, self.pointers, self.probs, self.backoffs = plain(records), plain(pointers), plain(probs), plain(backoffs)

    def field(self, name: str, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        return read_field(self.records, rows, self.record, *self.fields[name])

    def children(self, rows: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The range ``[begin, end)`` of the next order's rows that extend each of ``rows`` (rows of this order)."""
        ends = np.stack([rows, rows + 1])
        starts = self.pointers[ends >> self.shift] + self.field("next_bits", ends.ravel()).reshape(ends.shape)
        return starts[0], starts[1]

    def values(self, which: str, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """The probabilities or backoff weights (``which``: ``prob`` or ``backoff``) of ``rows``."""
        table = self.probs if which == "prob" else self.backoffs
        return table[self.field(f"{which}_bits", rows)] if self.coded else table[rows]


def find_rows(orders: list[TrieTables], pos: Positions) -> list[NDArray[np.int64]]:
    """For every order k, the trie row of the k-gram ending at each position (-1 if not stored); order 1: the word id."""
    ids = pos.ids
    rows = [ids.astype(np.int64)]
    for k in range(2, len(orders) + 1):
        out = np.full(len(ids), -1, dtype=np.int64)
        cand = np.flatnonzero(pos.depth >= k - 1)
        cand = cand[rows[-1][cand - 1] >= 0]
        table = orders[k - 1]
        if len(cand) and table.rows:
            begin, end = orders[k - 2].children(rows[-1][cand - 1])
            width = table.fields["word_bits"][1]
            code = word_codes(ids[cand], width)
            lo, hi = begin - 1, end  # the row is strictly between lo and hi, its code between lo_v and hi_v
            lo_v, hi_v = np.full(len(cand), -1, dtype=np.int64), np.full(len(cand), 1 << width, dtype=np.int64)
            active = np.flatnonzero(hi - lo > 1)
            while len(active):  # interpolation search (as the kernel's), every search one probe per round
                x, a, z = code[active], lo[active], hi[active]
                pivot = a + 1 + (x - lo_v[active] - 1) * (z - a - 1) // (hi_v[active] - lo_v[active] - 1)
                v = table.field("word_bits", pivot)
                below, above, hit = v < x, v > x, v == x
                lo[active[below]], lo_v[active[below]] = pivot[below], v[below]
                hi[active[above]], hi_v[active[above]] = pivot[above], v[above]
                out[cand[active[hit]]] = pivot[hit]
                active = active[~hit]
                active = active[hi[active] - lo[active] > 1]
        rows.append(out)
    return rows


def compact_probs(orders: list[TrieTables], low: str, gamma_unseen: float, units: Lines, bos_id: int,
                  mask: NDArray[np.bool_], piece: int) -> NDArray[np.float64]:
    """P of every token of every unit (each from ``<s>``; 0 for unpredictable words), in pieces of whole lines of
    about ``piece`` positions (the rule and operations of :func:`lmstats.ngram.vectorised.vectorised_probs`)."""
    out = np.empty(units.n_tokens, dtype=np.float64)
    uniform = 1.0 / int(mask.sum())
    at = 0
    for part in units.chunks(piece):
        pos = layout(part, bos_id)
        rows = find_rows(orders, pos)
        ids = pos.ids
        p = orders[0].probs[ids]
        p1 = p.copy()
        for k in range(2, len(orders) + 1):
            where = np.flatnonzero(pos.depth >= k - 1)
            if len(where) == 0:
                continue
            h, g = rows[k - 2][where - 1], rows[k - 1][where]
            gamma = np.full(len(where), gamma_unseen, dtype=np.float64)
            gamma[h >= 0] = orders[k - 2].values("backoff", h[h >= 0])
            found = np.zeros(len(where), dtype=np.float64)
            found[g >= 0] = orders[k - 1].values("prob", g[g >= 0])
            low_p = {"lower": p[where], "unigram": p1[where], "uniform": uniform}[low]
            p[where] = np.where(g >= 0, found, gamma * low_p)
        p[~mask[ids]] = 0.0
        out[at : at + part.n_tokens] = p[pos.scored]
        at += part.n_tokens
    return out


def matched_lengths(orders: list[TrieTables], units: Lines, bos_id: int) -> NDArray[np.int64]:
    """The longest stored n-gram ending at every token of ``units`` (each from ``<s>``), ``<s>`` counted."""
    pos = layout(units, bos_id)
    found = np.stack([r >= 0 for r in find_rows(orders, pos)])
    return (len(found) - np.argmax(found[::-1], axis=0))[pos.scored].astype(np.int64)
