"""The compiled scorer of a compact n-gram model: trie lookups order by order, then the probabilities.

The loop runs in C where the install built ``lmstats/kernels.c`` (``lm_compact_score``, through
:mod:`lmstats.native`: nothing to start), else in numba (compiled at the first call); the C is this
module's :func:`_score` statement for statement, so the numbers are the same either way.

The scoring rule and its two passes are :mod:`lmstats.ngram.kernel`'s (the same rows, the same
floating-point operations, so an unquantised compact model scores bit for bit as the full one);
only the lookups differ:

* the row of the k-gram (h, w) is found among the children of its context h, a row of order
  k-1: the children are the rows ``[start(h), start(h+1))`` of order k, a start being a
  sampled pointer (a base from the order's small table plus a field of h's record,
  :mod:`lmstats.ngram.bitpack`), and the code of ``w`` (:func:`word_code`) is found among their
  word fields by interpolation search, as KenLM's trie does;
* a probability or backoff weight is its row's code looked up in the order's codebook (or, in an
  unquantised model and for unigrams, the row's own value).

Every read is bounded by the order's row count and the codebook's length (a codebook has an
entry for every code of its width), so no array content, damaged or not, reads out of bounds
(the C computes the interpolation step in 128 bits where the product would overflow int64, which
only layout widths no model has can cause).
Pieces of lines run on threads as in :class:`lmstats.ngram.kernel.Scorer`, whose piece-cutting
this scorer inherits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lmstats import native
from lmstats.jit import njit, read_only
from lmstats.ngram.kernel import LOW_MODES, Scorer

# The columns of an order's layout row (lmstats.ngram.compact.order_layout)
RECORD, WORD_OFF, WORD_W, PROB_OFF, PROB_W, BACK_OFF, BACK_W, NEXT_OFF, NEXT_W, ROWS, CODED, SHIFT = range(12)
LAYOUT_COLUMNS = 12
GROUP = 32  # tokens searched together, one probe of each per round (their cache misses overlap)


@njit(nogil=True, inline="always")
def read_bits(words, pos, width):
    """The ``width``-bit field (at most 63 bits) starting at bit ``pos`` of ``words``, as an int64
    (the reader of :func:`lmstats.ngram.bitpack.pack_records`'s layout)."""
    i = pos >> 6
    shift = np.uint64(pos & 63)
    value = (words[i] >> shift) | ((words[i + 1] << (np.uint64(63) - shift)) << np.uint64(1))  # no branch: a word of padding ends
    return np.int64(value & ((np.uint64(1) << np.uint64(width)) - np.uint64(1)))  # the array


@njit(nogil=True, inline="always")
def word_code(w, bits):
    """The trie's code of word id ``w``: a bijection of 0..2^bits - 1 (odd multiplications and xor-shifts,
    each invertible modulo 2^bits) that spreads the ids of a context's children evenly over the range,
    so that interpolation search finds a word in a few probes (KenLM gets the same from hashed ids)."""
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    r = np.uint64((bits + 1) >> 1)
    x = (np.uint64(w) * np.uint64(0x9E3779B97F4A7C15)) & mask
    x ^= x >> r
    x = (x * np.uint64(0xBF58476D1CE4E5B9)) & mask
    x ^= x >> r
    return np.int64(x)


@njit(nogil=True)
def word_codes(ids, bits, out):
    """:func:`word_code` of every id of ``ids`` into ``out``."""
    for i in range(ids.shape[0]):
        out[i] = word_code(ids[i], bits)


@njit(nogil=True, inline="always")
def _children(words, lay, base, h, next_rows):
    """The rows ``[begin, end)`` of the next order that extend row ``h`` (sampled pointers), clamped to
    ``next_rows``; an empty range for a row out of bounds."""
    if h < 0 or h >= lay[ROWS]:
        return 0, 0
    shift, record, offset, width = lay[SHIFT], lay[RECORD], lay[NEXT_OFF], lay[NEXT_W]
    begin = base[h >> shift] + read_bits(words, h * record + offset, width)
    end = base[(h + 1) >> shift] + read_bits(words, (h + 1) * record + offset, width)
    return max(begin, 0), min(end, next_rows)


@njit(nogil=True, inline="always")
def _value(table, words, lay, offset_column, width_column, row):
    """The value of ``row``: its code's codebook entry, or its own entry where the order is not coded."""
    if lay[CODED] == 0:
        return table[row]
    return table[read_bits(words, row * lay[RECORD] + lay[offset_column], lay[width_column])]


@njit(nogil=True)
def _score(ids, bounds, depth0, bos_id, records, layout, pointers, probs, backoffs, low_mode, gamma_unseen, uniform, mask, rows, spans,
           found, search, out):
    """P of every token of every line into ``out`` (see :func:`lmstats.ngram.kernel._score`, whose
    rule and arguments this follows); ``records``/``pointers``/``probs``/``backoffs`` have one
    entry per order, ``layout`` one row per order; ``rows`` (order x n_tokens) and ``spans``
    (2 x 2 x n_tokens) are scratch space.  When the row of a k-gram is found, the range of its
    children is read from its record at once (while it is in cache), for the next order's pass."""
    order = len(probs)
    n_lines = bounds.shape[0] - 1
    n = ids.shape[0]
    lo, hi, lo_v, hi_v, code = search[0], search[1], search[2], search[3], search[4]  # the state of GROUP searches
    depths = rows[0]  # order 1 has no rows to find: its line of the scratch holds each token's depth
    for line in range(n_lines):
        base = bounds[line] - (depth0 if line == 0 else 0) - 1
        for t in range(bounds[line], bounds[line + 1]):
            depths[t] = t - base
    for k in range(2, order + 1):
        ctx_words, ctx_lay, ctx_base = records[k - 2], layout[k - 2], pointers[k - 2]
        words, lay, next_base = records[k - 1], layout[k - 1], pointers[k - 1]
        rows_k, next_rows = lay[ROWS], layout[k, ROWS] if k < order else 0
        record, offset, width = lay[RECORD], lay[WORD_OFF], lay[WORD_W]
        ctx_spans, own_spans = spans[k % 2], spans[(k + 1) % 2]  # ranges of the rows found at k-1 / found now
        for block in range(0, n, GROUP):
            stop = min(block + GROUP, n)
            for t in range(block, stop):  # each token's rows to search: the children of its context (none if not stored)
                j, depth = t - block, depths[t]
                begin, end = 0, 0
                if depth >= k - 1 and (depth == 1 or t > 0):
                    if depth == 1 or k == 2:
                        h = np.int64(bos_id) if depth == 1 else np.int64(ids[t - 1])
                        begin, end = _children(ctx_words, ctx_lay, ctx_base, h, rows_k)
                    else:
                        begin, end = ctx_spans[0, t - 1], ctx_spans[1, t - 1]
                lo[j], hi[j], lo_v[j], hi_v[j] = begin - 1, end, -1, np.int64(1) << width  # the row is strictly between lo and hi
                code[j] = word_code(np.int64(ids[t]), width)
                rows[k - 1, t] = -1
            active = True
            while active:  # interpolation search, one probe of every unfinished search per round: their loads overlap
                active = False
                for j in range(stop - block):
                    if hi[j] - lo[j] > 1:
                        x = code[j]
                        pivot = lo[j] + 1 + (x - lo_v[j] - 1) * (hi[j] - lo[j] - 1) // (hi_v[j] - lo_v[j] - 1)
                        v = read_bits(words, pivot * record + offset, width)
                        if v < x:
                            lo[j], lo_v[j] = pivot, v
                        elif v > x:
                            hi[j], hi_v[j] = pivot, v
                        else:
                            rows[k - 1, block + j] = pivot
                            hi[j] = lo[j]
                        active |= hi[j] - lo[j] > 1
            for t in range(block, stop):  # a row found gives its values and its children while its record is in cache
                g = rows[k - 1, t]
                if g >= 0:
                    found[0, k - 1, t] = _value(probs[k - 1], words, lay, PROB_OFF, PROB_W, g)
                    if k < order:
                        found[1, k - 1, t] = _value(backoffs[k - 1], words, lay, BACK_OFF, BACK_W, g)
                if k < order:
                    own_spans[0, t], own_spans[1, t] = _children(words, lay, next_base, g, next_rows)
    for line in range(n_lines):
        start = bounds[line]
        base = start - (depth0 if line == 0 else 0) - 1
        for t in range(start, bounds[line + 1]):
            w = np.int64(ids[t])
            depth = t - base
            p1 = probs[0][w]
            p = p1
            for k in range(2, order + 1):
                if depth < k - 1:
                    break
                if rows[k - 1, t] >= 0:
                    p = found[0, k - 1, t]
                else:
                    if depth == 1 or (k == 2 and t > 0):  # the context is a unigram: <s> or the word before
                        gamma = backoffs[0][np.int64(bos_id) if depth == 1 else np.int64(ids[t - 1])]
                    elif t > 0 and rows[k - 2, t - 1] >= 0:
                        gamma = found[1, k - 2, t - 1]
                    else:
                        gamma = gamma_unseen
                    low = p if low_mode == 0 else (p1 if low_mode == 1 else uniform)
                    p = gamma * low
            out[t] = p if mask[w] else 0.0


class CompactScorer(Scorer):
    """The arrays of a compact model as :func:`_score` takes them (read-only views, nothing copied).

    ``records``/``pointers``/``probs``/``backoffs``: one array per order (the highest order's
    pointers and backoffs are placeholders, never read); ``layout``: (order, LAYOUT_COLUMNS) int64.
    """

    def __init__(self, records, layout, pointers, probs, backoffs, *, low: str, gamma_unseen: float, vocab_size: int, bos_id: int,
                 mask: NDArray[np.bool_]):
        self.order = len(records)
        self.records = tuple(read_only(r) for r in records)
        self.layout = read_only(np.asarray(layout, dtype=np.int64))
        self.pointers = tuple(read_only(p) for p in pointers)
        self.prob_tables = tuple(read_only(p) for p in probs)
        self.backoff_tables = tuple(read_only(b) for b in backoffs)
        self.low_mode = LOW_MODES[low]
        self.gamma_unseen = float(gamma_unseen)
        self.uniform = 1.0 / int(mask.sum())
        self.mask = read_only(mask)
        self.vocab_size, self.bos_id = int(vocab_size), int(bos_id)
        self.native = None  # the same loop in C (lmstats.native), when the install built it
        if native.available():
            self.native = native.CompactTables(self.records, self.layout, self.pointers, self.prob_tables, self.backoff_tables)

    def _score_piece(self, ids: NDArray, bounds: NDArray, depth0: int, out: NDArray[np.float64]) -> None:
        if self.native is not None:
            native.compact_score(self.native, ids, bounds, depth0, self.bos_id, self.low_mode, self.gamma_unseen, self.uniform, self.mask,
                                 out)
            return
        rows = np.empty((self.order, max(len(ids), 1)), dtype=np.int64)
        spans = np.empty((2, 2, max(len(ids), 1)), dtype=np.int64)
        found = np.empty((2, self.order, max(len(ids), 1)), dtype=np.float64)
        search = np.empty((5, GROUP), dtype=np.int64)
        ids = read_only(np.asarray(ids, dtype=np.int32))
        bounds = read_only(np.asarray(bounds, dtype=np.int64))
        _score(ids, bounds, depth0, self.bos_id, self.records, self.layout, self.pointers, self.prob_tables, self.backoff_tables,
               self.low_mode, self.gamma_unseen, self.uniform, self.mask, rows, spans, found, search, out)
