"""The n-gram scorer in whole-array numpy: short texts, with no compiler in the process.

The compiled kernel (:mod:`lmstats.ngram.kernel`) scores 5-8 M tokens/s but costs a fresh process
about 0.5 s before its first token: importing numba and loading its registries (see
:mod:`lmstats.jit`).  This scorer computes the same probabilities, in the same floating-point
operations, order by order over whole arrays: the rows of every order's n-grams by vectorised
index lookups (:func:`~lmstats.ngram.counts.lookup_rows`), then the rule of
:mod:`lmstats.ngram.model` for all positions at once.  The two agree bit for bit
(``tests/test_scoring_kernel.py``, every smoother, hashed and sorted tables, streams).

Measured on the 2-core development machine with the WikiText-2 5-gram (MKN, 5.7 M n-grams,
its hash indexes in memory): numpy 3.4 M tokens/s on the test text (245 K tokens, 72 ms), the
kernel 7.8 M tokens/s on 2 threads (31 ms) once loaded; 0.6 ms against 0.1 ms on one line of 352
tokens.  numba's start (0.35-0.6 s) is worth paying only beyond about 2-3 M tokens, so
:class:`~lmstats.ngram.model.NgramLM` gives a model's first :data:`~lmstats.ngram.model.SHORT_POSITIONS`
positions to this scorer and the rest to the kernel.

One sentence from the shell, measured as a whole process (``python -c``: import lmstats, open the
saved WikiText-2 5-gram with ``NgramLM.load``, encode one 166-word line, score it; bytecode
compiled; idle machine): 1.7-1.9 s when opening built the hash indexes (0.85 s) and the text table
(0.3 s, numba's start included) and scoring started numba; 0.19-0.22 s with the stored indexes and
this scorer (python 0.03 s, numpy 0.06-0.08, lmstats' modules 0.07-0.08, opening 0.02, encoding
0.3 ms, scoring 1.4 ms), numba never imported.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.ngram.counts import NgramCounts, layout, lookup_rows
from lmstats.ngram.smoothing import Estimate


def vectorised_probs(counts: NgramCounts, indexes: list, est: Estimate, units: Lines, bos_id: int,
                     mask: NDArray[np.bool_], piece: int) -> NDArray[np.float64]:
    """P of every token of every unit (each from ``<s>``; 0 for unpredictable words), shape (n_tokens,);
    in pieces of whole lines of about ``piece`` positions, so memory follows the piece, not the text."""
    out = np.empty(units.n_tokens, dtype=np.float64)
    at = 0
    for part in units.chunks(piece):
        out[at : at + part.n_tokens] = _probs(counts, indexes, est, part, bos_id, mask)
        at += part.n_tokens
    return out


def _take(values: NDArray, rows: NDArray[np.int64], missing: float) -> NDArray[np.float64]:
    """``values[rows]`` where a row is found (>= 0), ``missing`` elsewhere; an order pruned to nothing has no values."""
    if len(values) == 0:
        return np.full(len(rows), missing, dtype=np.float64)
    return np.where(rows >= 0, values[np.maximum(rows, 0)], missing)


def _probs(counts: NgramCounts, indexes: list, est: Estimate, units: Lines, bos_id: int, mask: NDArray[np.bool_]) -> NDArray:
    pos = layout(units, bos_id)
    rows = lookup_rows(counts, pos, indexes)
    ids = pos.ids
    p = est.probs[0][ids]
    p1 = p.copy()
    uniform = 1.0 / int(mask.sum())
    for k in range(2, counts.order + 1):
        at = np.flatnonzero(pos.depth >= k - 1)
        if len(at) == 0:
            continue
        h = rows[k - 2][at - 1]
        g = rows[k - 1][at]
        gamma = _take(est.backoffs[k - 2], h, est.gamma_unseen)
        low = {"lower": p[at], "unigram": p1[at], "uniform": uniform}[est.low]
        p[at] = np.where(g >= 0, _take(est.probs[k - 1], g, 0.0), gamma * low)
    p[~mask[ids]] = 0.0
    return p[pos.scored]
