"""Count pruning, as KenLM's ``lmplz --prune``: drop the n-grams seen at most T_k times.

The rules, each read in KenLM 0.3.0's source (``lm/builder/``) and checked against lmplz's
ARPA output (``benchmarks/bench_prune.py``, ``tests/data/README.md``):

1. **Thresholds** (``lmplz_main.cc``, ``ParsePruning``): one count per order *starting at the
   unigrams*, ``T1,T2,...``; fewer values than orders repeat the last one for the remaining orders
   (``--prune 0 1`` on a 5-gram model is ``0 1 1 1 1``), more are an error, and the values must not
   decrease ("otherwise substrings would be removed").  lmplz would prune unigrams under T1 > 0
   (all but ``<s> </s> <unk>``, ``adjust_counts.cc``); here the unigrams are the vocabulary, fixed
   before counting and dense, so T1 must be 0 (rare words leave the vocabulary by its options).
   All thresholds 0 is no pruning (lmplz's default, ``--prune 0``).
2. **What is dropped** (``adjust_counts.cc``, ``AdjustCounts::Run`` and ``CollapseStream``): a
   k-gram whose **raw count** (how often it occurs; lmplz's ``actual_counts``) is at or below T_k.
   At the top order the raw count is the adjusted count; below it, it is *not* the Kneser-Ney
   continuation count (a bigram seen 3 times after one word only is kept by ``--prune 0 1``).
3. **Adjusted counts and discounts** (``adjust_counts.cc``, ``StatCollector::Add`` and
   ``CalculateDiscounts``): computed from every n-gram, dropped ones included: the continuation
   counts count every left extension, and the counts-of-counts n1..n4 behind the three discounts
   per order are taken before pruning.  A pruned model has the unpruned model's discounts.
4. **A kept n-gram's own term** (``initial_probabilities.cc``, ``MergeRight``): (a - D(a)) / S(h),
   where S(h) sums the adjusted counts of *all* the children of its context h, dropped ones included.
5. **Backoff weights** (``initial_probabilities.cc``, ``AddRight``):
   γ(h) = (Σ_kept D(a) + Σ_dropped a) / S(h): the whole adjusted count of a dropped child moves
   into its context's backoff (:func:`backoff_mass`).  A kept context whose children were all
   dropped gets γ = 1 (log10 0 in ARPA).
6. **Interpolation** (``interpolate.cc``, ``Callback::Enter``): P(w | h) = term + γ(h)·P(w | h'),
   with the lower order's probability of the pruned model, and an n-gram that is not stored scores
   γ(h)·P(w | h') as in any backoff model.  Every context then sums to 1:
   Σ_kept (a - D) / S + γ(h) = Σ_all a / S.
7. **What is kept for structure: nothing extra.**  With raw counts and non-decreasing thresholds
   the kept set is closed under prefixes and suffixes (an n-gram's context and its suffix occur at
   least as often as it does, and their thresholds are no higher), so every kept n-gram's context
   (which holds its backoff) and suffix (where scoring backs off to) are kept.  lmplz drops the
   marked entries and adds none back (``PruneNGramStream``); the ARPA header counts the kept ones
   (``pipeline.cc``, ``counts_pruned``).

Where it happens: :mod:`lmstats.ngram.smoothing` and :mod:`lmstats.ngram.chunked` compute the
estimate over the full tables with rule 5's backoffs; :func:`prune_tables` then keeps the rows
above the thresholds and renumbers them (in memory, or slice by slice into a folder of ``.npy``
files).  The counts a pruned model keeps are those of its kept n-grams: it cannot be smoothed
again or cut to a lower order (refit for that).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.ngram.counts import NgramCounts, OrderTable
from lmstats.npyfile import NpyAppender, take

if TYPE_CHECKING:
    from lmstats.ngram.smoothing import Estimate

PRUNABLE = ("mkn", "kn", "abs")  # the smoothers whose backoff weight is the discounted mass of a context's children


def check_thresholds(values: Sequence[int], order: int, smoothing: str) -> tuple[int, ...] | None:
    """lmplz's thresholds (rule 1) for a model of ``order`` and ``smoothing``: one per order, the last value
    repeated to the top order; None when every threshold is 0 (nothing is pruned)."""
    if smoothing not in PRUNABLE:
        raise LmstatsError(f"--prune applies to --smoothing {', '.join(PRUNABLE)} only, not {smoothing}: count pruning moves a "
                           "dropped n-gram's count into its context's backoff weight, which only the discounting smoothers "
                           "have; drop --prune or choose --smoothing mkn")
    text = ",".join(str(v) for v in values)
    if not 1 <= len(values) <= order:
        raise LmstatsError(f"--prune takes 1 to {order} thresholds for a {order}-gram model (one per order from the unigrams, "
                           f"as lmplz's --prune; the last applies to the orders above it), got {len(values)}: {text or 'none'}")
    if any(isinstance(v, (bool, np.bool_)) or not float(v).is_integer() for v in values):
        raise LmstatsError(f"--prune thresholds are whole counts, got {text}; e.g. --prune 0,1,1")
    thresholds = [int(v) for v in values]
    if any(t < 0 for t in thresholds):
        raise LmstatsError(f"--prune thresholds are counts >= 0, got {text}; e.g. --prune 0,1,1 drops the bigrams and trigrams seen once")
    if thresholds[0] != 0:
        raise LmstatsError(f"--prune: the unigram threshold must be 0, got {thresholds[0]}: the unigrams are the vocabulary, which "
                           "lmstats fixes before counting; give --prune 0,... and drop rare words with the vocabulary options "
                           "(--min-count)")
    if any(b < a for a, b in zip(thresholds, thresholds[1:], strict=False)):
        raise LmstatsError(f"--prune thresholds must not decrease from one order to the next, got {text}: a lower order would "
                           "lose n-grams that a kept higher-order n-gram needs as its context or suffix (lmplz refuses this too)")
    padded = tuple(thresholds + [thresholds[-1]] * (order - len(thresholds)))
    return padded if any(padded) else None


def threshold(thresholds: Sequence[int] | None, k: int) -> int:
    """T_k (0 without pruning); beyond the values given, the last one (rule 1)."""
    return int(thresholds[min(k, len(thresholds)) - 1]) if thresholds else 0


def backoff_mass(adjusted: NDArray, discount: NDArray, raw: NDArray | None, t: int) -> NDArray:
    """What each n-gram gives its context's backoff weight (rule 5): its discount when kept, its whole adjusted count
    when dropped (raw count <= ``t``)."""
    return discount if not t else np.where(raw > t, discount, adjusted)


def prune_tables(counts: NgramCounts, est: Estimate, thresholds: Sequence[int], *, folder: Path | None = None,
                 slice_rows: int | None = None) -> tuple[NgramCounts, Estimate]:
    """The tables and estimate of the n-grams above ``thresholds`` (rules 2 and 7), renumbered.

    ``est`` is the :class:`~lmstats.ngram.smoothing.Estimate` of ``counts`` with pruned backoff weights.
    Order 1 is kept whole.  A kept k-gram's context and suffix rows are renumbered to their rows among the kept
    (k-1)-grams, so the packed keys stay sorted.  With ``folder`` the tables and estimate are ``.npy`` files there
    (those of the unpruned model are replaced) written ``slice_rows`` rows at a time and returned memory-mapped;
    in memory a table in one piece.
    """
    N, V = counts.order, counts.vocab_size
    tables, probs, backoffs = [counts.table(1)], [est.probs[0]], list(est.backoffs[:1])
    rows = None  # the new row of each row of the order below (None: order 1, whose row is the word id)
    for k in range(2, N + 1):
        table, t = counts.table(k), threshold(thresholds, k)
        names = ["keys", "counts", "suffix", "first", "prob"] + (["backoff"] if k < N else [])
        sources = [table.keys, table.counts, table.suffix, table.first, est.probs[k - 1]] + ([est.backoffs[k - 1]] if k < N else [])
        sinks = [_Sink(folder, f"{name}{k}", np.asarray(src[:0]).dtype) for name, src in zip(names, sources, strict=True)]
        new_rows = np.empty(len(table), dtype=np.int64) if k < N else None
        kept = 0
        for lo in range(0, len(table), slice_rows or max(len(table), 1)):
            hi = min(lo + (slice_rows or len(table)), len(table))
            parts = [_part(src, lo, hi) for src in sources]
            keep = parts[1] > t
            parts = [p[keep] for p in parts]
            if rows is not None:
                parts[0] = rows[parts[0] // V] * V + parts[0] % V
                parts[2] = rows[parts[2]]
            for sink, part in zip(sinks, parts, strict=True):
                sink.append(part)
            if new_rows is not None:  # a dropped row gets its kept predecessor's number; no kept n-gram refers to it (rule 7)
                np.cumsum(keep, out=new_rows[lo:hi])
                new_rows[lo:hi] += kept - 1
            kept += int(keep.sum())
        arrays = [sink.close() for sink in sinks]
        tables.append(OrderTable(k, *arrays[:4]))
        probs.append(arrays[4])
        if k < N:
            backoffs.append(arrays[5])
        rows = new_rows
    pruned = NgramCounts(counts.vocab_size, counts.bos_id, tuple(tables), counts.n_units, counts.lmplz_last)
    return pruned, dataclasses.replace(est, probs=tuple(probs), backoffs=tuple(backoffs))


def _part(values, lo: int, hi: int) -> NDArray:
    """Rows ``lo .. hi-1``: a view of an array in memory, a read of a memory-mapped one (one slice in memory at a time)."""
    return take(values, lo, hi) if isinstance(values, np.memmap) else values[lo:hi]


class _Sink:
    """One pruned array: collected in memory, or appended to ``NAME.npy`` in ``folder`` (through a temporary name, so the
    unpruned file it replaces is read until the end)."""

    def __init__(self, folder: Path | None, name: str, dtype):
        self.folder, self.name, self.dtype = folder, name, dtype
        self.parts: list[NDArray] = []
        self.file = NpyAppender(folder / f"pruned-{name}.npy", dtype) if folder is not None else None

    def append(self, values: NDArray) -> None:
        if self.file is not None:
            self.file.append(values)
        else:
            self.parts.append(values)

    def close(self) -> NDArray:
        if self.file is None:
            return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=self.dtype)
        os.replace(self.file.close(), self.folder / f"{self.name}.npy")
        return np.load(self.folder / f"{self.name}.npy", mmap_mode="r")
