"""Scoring compiled with numba: the rows of every order, then the probabilities, in plain loops.

A piece of text is scored in two compiled passes:

1. for k = 2..N, the row of the k-gram ending at each token, found from the row of the
   (k-1)-gram ending at the token before (a probe of the :class:`KeyIndex` hash table, or a
   binary search of a table too large to hash); one loop per order, so the probes of
   neighbouring tokens are independent and the processor overlaps their cache misses;
2. each token's probability, by the same rule and in the same floating-point operations as the
   whole-array numpy scorer (:mod:`lmstats.ngram.vectorised`, which scores a model's first
   positions; ``tests/test_scoring_kernel.py`` checks that the two agree bit for bit).  The
   natural log is taken afterwards by numpy on the whole array, for the same reason.

Where the install built ``lmstats/kernels.c`` (:mod:`lmstats.native`), the same loop runs in C, with no JIT to start
and the same numbers.  Pieces of whole lines are scored on a pool of threads (the functions release the GIL; their
number is :func:`lmstats.threads.resolve_threads`'s).  ``benchmarks/bench_scale.py``
(``reports/scale_wikitext2.md``), WikiText-2 test x 20 with the 5-gram: 8.69 M tokens/s on 2 threads, 4.29 M on one, KenLM ``query`` 3.55 M
in the same run (two passes beat one fused loop over the orders of each token, and pieces of 64K
positions beat 16K and 256K: ``reports/development_log.md``).  The functions are compiled on first use and cached on disk
(:mod:`lmstats.jit`), so later processes start scoring without compiling; numba itself is imported at the first
call, about 0.5 s in a fresh process, which is why short texts go to the numpy scorer instead.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from lmstats import native
from lmstats.encoded import Lines
from lmstats.jit import njit, read_only

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # the multiplier of KeyIndex._home
LOW_MODES = {"lower": 0, "unigram": 1, "uniform": 2}  # Estimate.low as the kernel's integer


@njit(nogil=True, inline="always")
def _row(keys, slots, bits, key):
    """Row of ``key`` in the sorted ``keys`` (-1 if absent): linear probes of a :class:`KeyIndex`
    slot table when ``slots`` is not empty (the same home slot as ``KeyIndex._home``), else a
    binary search."""
    n = keys.shape[0]
    if n == 0:
        return -1
    if slots.shape[0] > 0:
        probe = np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(64 - bits))
        while True:
            r = np.int64(slots[probe])
            if r < 0:
                return -1
            if keys[r] == key:
                return r
            probe += 1
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < n and keys[lo] == key:
        return lo
    return -1


@njit(nogil=True)
def _score(ids, bounds, depth0, bos_id, vocab_size, keys, slots, bits, probs, backoffs, low_mode, gamma_unseen, uniform, mask,
           rows, out):
    """P of every token of every line (each line from ``<s>``) into ``out``; ``rows`` (order x
    n_tokens) is scratch space.  ``keys``/``slots``/``bits``/``probs``/``backoffs`` have one entry
    per order (order 1's keys and slots, and the last backoffs, are not read).  ``depth0``: tokens
    of the first line that precede this piece (0 when the piece starts at a line start); the
    context of a first token that is not at a line start is unknown (see :meth:`Scorer.pieces`).

    The context of the k-gram ending at token t is the (k-1)-gram ending at t - 1 (its row:
    the word id for k = 2, else ``rows[k-2, t-1]``), or ``<s>`` (an order-1 row) at a line start.
    """
    order = len(probs)
    n_lines = bounds.shape[0] - 1
    for k in range(2, order + 1):
        table = keys[k - 1]
        table_slots = slots[k - 1]
        table_bits = bits[k - 1]
        for line in range(n_lines):
            start = bounds[line]
            base = start - (depth0 if line == 0 else 0) - 1  # depth = t - base: tokens before t in its unit, <s> included
            for t in range(start, bounds[line + 1]):
                depth = t - base
                if depth < k - 1:
                    rows[k - 1, t] = -1
                    continue
                if depth == 1:
                    h = np.int64(bos_id)
                elif t == 0:
                    h = -1
                else:
                    h = np.int64(ids[t - 1]) if k == 2 else rows[k - 2, t - 1]
                rows[k - 1, t] = _row(table, table_slots, table_bits, h * vocab_size + np.int64(ids[t])) if h >= 0 else -1
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
                if depth == 1:
                    h = np.int64(bos_id) if k == 2 else -1
                elif t == 0:
                    h = -1
                else:
                    h = np.int64(ids[t - 1]) if k == 2 else rows[k - 2, t - 1]
                g = rows[k - 1, t]
                if g >= 0:
                    p = probs[k - 1][g]
                else:
                    gamma = backoffs[k - 2][h] if h >= 0 else gamma_unseen
                    low = p if low_mode == 0 else (p1 if low_mode == 1 else uniform)
                    p = gamma * low
            out[t] = p if mask[w] else 0.0


class Scorer:
    """The arrays of a fitted model as the compiled scorer takes them (views, nothing copied).

    ``tables``: the count tables (their sorted keys); ``indexes``: :meth:`NgramLM.indexes
    <lmstats.ngram.model.NgramLM.indexes>` (a :class:`KeyIndex`, a :class:`SortedIndex` or None
    for order 1, stored with a saved model); ``est``: the :class:`~lmstats.ngram.smoothing.Estimate`.
    """

    def __init__(self, tables, indexes, est, vocab_size: int, bos_id: int, mask: NDArray[np.bool_]):
        empty = np.zeros(0, dtype=np.int32)
        self.order = len(tables)
        self.keys = tuple(read_only(t.keys) for t in tables)
        self.slots = tuple(read_only(getattr(ix, "slots", empty)) for ix in indexes)
        if any(s.dtype != np.int32 for s in self.slots):  # KeyIndex uses int32 below 2^31 keys, far above HASH_LIMIT
            raise ValueError("the compiled scorer takes int32 hash slots")
        self.bits = np.array([getattr(ix, "bits", 0) for ix in indexes], dtype=np.int64)
        self.prob_tables = tuple(read_only(p) for p in est.probs)
        self.backoff_tables = tuple(read_only(b) for b in est.backoffs) + (self.prob_tables[0],)  # one per order, never empty
        self.low_mode = LOW_MODES[est.low]
        self.gamma_unseen = float(est.gamma_unseen)
        self.uniform = 1.0 / int(mask.sum())
        self.mask = read_only(mask)
        self.vocab_size, self.bos_id = int(vocab_size), int(bos_id)
        self.native = None  # the same loop in C (lmstats.native), when the install built it
        if native.available():
            self.native = native.ScoreTables(self.keys, self.slots, self.bits, self.prob_tables, self.backoff_tables)

    def _score_piece(self, ids: NDArray, bounds: NDArray, depth0: int, out: NDArray[np.float64]) -> None:
        if self.native is not None:
            native.score(self.native, ids, bounds, depth0, self.bos_id, self.vocab_size, self.low_mode, self.gamma_unseen,
                         self.uniform, self.mask, out)
            return
        rows = np.empty((self.order, max(len(ids), 1)), dtype=np.int64)
        ids = read_only(np.asarray(ids, dtype=np.int32))  # one compiled signature for every caller
        bounds = read_only(np.asarray(bounds, dtype=np.int64))
        _score(ids, bounds, depth0, self.bos_id, self.vocab_size, self.keys, self.slots, self.bits, self.prob_tables,
               self.backoff_tables, self.low_mode, self.gamma_unseen, self.uniform, self.mask, rows, out)

    def pieces(self, units: Lines, piece: int):
        """(ids, bounds, depth0, lead, first token) of each piece: whole lines of about ``piece``
        positions, and a line longer than that (a stream) cut into pieces of ``piece`` tokens, each
        with the ``order - 1`` tokens before it as context (``lead``, scored and dropped)."""
        for part_start, part in _with_starts(units.chunks(piece)):
            if len(part) > 1 or part.n_tokens <= piece:
                yield part.ids, part.bounds, 0, 0, part_start
                continue
            for begin in range(0, part.n_tokens, piece):
                lead = min(begin, self.order - 1)
                ids = part.ids[begin - lead : begin + piece]
                yield ids, np.array([0, len(ids)], dtype=np.int64), begin - lead, lead, part_start + begin

    def probs(self, units: Lines, piece: int, threads: int = 1) -> NDArray[np.float64]:
        """P of every token (0 for unpredictable words), in pieces of about ``piece`` positions on
        ``threads`` threads; the same numbers whatever the piece size and thread count (tested)."""
        out = np.empty(units.n_tokens, dtype=np.float64)

        def one(spec) -> None:
            ids, bounds, depth0, lead, first = spec
            if lead == 0:
                self._score_piece(ids, bounds, depth0, out[first : first + len(ids)])
            else:
                scratch = np.empty(len(ids), dtype=np.float64)
                self._score_piece(ids, bounds, depth0, scratch)
                out[first : first + len(ids) - lead] = scratch[lead:]

        specs = self.pieces(units, piece)
        if threads <= 1:
            for spec in specs:
                one(spec)
        else:
            with ThreadPoolExecutor(threads) as pool:
                for _ in pool.map(one, specs):
                    pass
        return out


def _with_starts(parts):
    """Each part with the index of its first token in the whole text."""
    start = 0
    for part in parts:
        yield start, part
        start += part.n_tokens
