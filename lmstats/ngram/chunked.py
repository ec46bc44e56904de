"""The discounting smoothers (abs, kn, mkn) computed chunk by chunk over tables on disk.

The arithmetic of :func:`lmstats.ngram.smoothing._discounted` (its helpers are shared), with
the n-grams of each order read in slices of the memory-mapped ``.npy`` tables that
:mod:`lmstats.ngram.external` writes, and the results written as ``.npy`` files beside them:
``prob{k}.npy`` for every order and ``backoff{k}.npy`` below the top order.  In memory at a
time: one slice of order k and, for the order below, its probabilities, backoff weights and the
two sums per context (4 floats per (k-1)-gram).  The probabilities equal the in-memory
estimate's up to the order of floating-point additions in the per-context sums (tested to 1e-12).

Under ``--prune`` the backoff weights take the dropped n-grams' mass (:func:`lmstats.ngram.prune.backoff_mass`),
and :func:`prune_on_disk` then writes the kept rows over the tables, slice by slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmstats.ngram.counts import NgramCounts
from lmstats.ngram.lmplz import shift_counts_of_counts
from lmstats.ngram.prune import backoff_mass, prune_tables, threshold
from lmstats.ngram.smoothing import (
    Estimate,
    SmoothingSpec,
    _counts_of_counts,
    _discount_of,
    _discounted_unigrams,
    _discounts_from,
    _ratio,
)
from lmstats.npyfile import NpyAppender, take
from lmstats.resources import working_memory

ON_DISK = {"abs": ("single", False), "kn": ("single", True), "mkn": ("modified", True)}
BYTES_PER_ROW = 160  # what one n-gram of a slice costs while its probability is computed
BYTES_PER_CONTEXT = 32  # held per (k-1)-gram while order k is estimated: two sums, backoff, probability


MIN_SLICE = 1 << 16  # rows per slice at least


def _slices(n: int, size: int):
    for a in range(0, n, size):
        yield a, min(a + size, n)


def _context_slices(keys, V: int, size: int):
    """Slices of about ``size`` rows of a sorted table that never cut a context (the n-grams of a
    context are contiguous rows): each context's sums come from one ``bincount`` in row order, as
    in memory, so the estimate does not depend on the slice size (nor on the memory left)."""
    n, lo = len(keys), 0
    while lo < n:
        hi = min(lo + size, n)
        if hi < n:
            hi = int(np.searchsorted(keys, (int(keys[hi - 1]) // V + 1) * V))  # the first row of the next context
        yield lo, hi
        lo = hi


def _slice_size(memory: int, held: int) -> int:
    """Rows per slice: what the budget leaves after the process's memory and the arrays held."""
    return max(MIN_SLICE, (working_memory(memory) - held) // BYTES_PER_ROW)


def estimate_on_disk(counts: NgramCounts, spec: SmoothingSpec, mask, folder: Path, memory: int) -> Estimate:
    """The estimate of ``spec`` (abs, kn or mkn) with its arrays as ``.npy`` files in ``folder``, memory-mapped."""
    kind, kneser_ney = ON_DISK[spec.name]
    N, V = counts.order, counts.vocab_size
    warnings: list[str] = []
    what = lambda k: "continuation count" if kneser_ney and k < N else "count"  # noqa: E731
    adjusted = [_adjusted(counts, k, kneser_ney, folder, memory) for k in range(1, N + 1)]
    probs1, d1 = _discounted_unigrams(np.asarray(adjusted[0], dtype=np.float64), kind, spec, mask, warnings, what(1),
                                      counts.lmplz_last.get(1))
    np.save(folder / "prob1.npy", probs1)
    discounts = {1: d1}
    for k in range(2, N + 1):
        table, a = counts.table(k), adjusted[k - 1]
        n_contexts = len(counts.table(k - 1))
        size = _slice_size(memory, BYTES_PER_CONTEXT * n_contexts)
        n = np.zeros(4, dtype=np.int64)
        for lo, hi in _slices(len(a), size):
            n += _counts_of_counts(take(a, lo, hi))
        n = n.tolist() if kind != "modified" or k not in counts.lmplz_last else shift_counts_of_counts(n.tolist(), *counts.lmplz_last[k])
        d = _discounts_from(n, kind, k, spec.discount_fallback, warnings, what(k))
        discounts[k] = d
        S = np.zeros(n_contexts)
        DS = np.zeros(n_contexts)
        t = threshold(spec.prune, k)
        for lo, hi in _context_slices(table.keys, V, size):
            ctx = take(table.keys, lo, hi) // V
            ak = take(a, lo, hi).astype(np.float64)
            S += np.bincount(ctx, weights=ak, minlength=n_contexts)
            mass = backoff_mass(ak, _discount_of(ak, d), take(table.counts, lo, hi) if t else None, t)
            DS += np.bincount(ctx, weights=mass, minlength=n_contexts)
        gamma = _ratio(DS, S, 1.0)
        del DS
        np.save(folder / f"backoff{k - 1}.npy", gamma)
        lower = np.load(folder / f"prob{k - 1}.npy")  # in memory: gathered at random
        out = NpyAppender(folder / f"prob{k}.npy", np.float64)
        for lo, hi in _slices(len(a), size):
            keys = take(table.keys, lo, hi)
            ctx = keys // V
            ak = take(a, lo, hi).astype(np.float64)
            low = lower[keys % V] if k == 2 else lower[take(table.suffix, lo, hi)]
            out.append((ak - _discount_of(ak, d)) / S[ctx] + gamma[ctx] * low)
        out.close()
        del S, gamma, lower
    for k in range(1, N):
        (folder / f"adjusted{k}.npy").unlink(missing_ok=True)
    probs = tuple(np.load(folder / f"prob{k}.npy", mmap_mode="r") for k in range(1, N + 1))
    backoffs = tuple(np.load(folder / f"backoff{k}.npy", mmap_mode="r") for k in range(1, N))
    return Estimate(probs, backoffs, "lower", 1.0, True, discounts, tuple(warnings))


def _adjusted(counts: NgramCounts, k: int, kneser_ney: bool, folder: Path, memory: int):
    """Order k's raw counts, or Kneser-Ney's adjusted counts (continuation counts, raw for n-grams
    starting with ``<s>``) written to ``adjusted{k}.npy`` and memory-mapped."""
    table = counts.table(k)
    if not kneser_ney or k == counts.order:
        return table.counts
    upper = counts.table(k + 1)
    size = _slice_size(memory, 16 * len(table))  # the continuation counts and one bincount of them
    cont = np.zeros(len(table), dtype=np.int64)
    for lo, hi in _slices(len(upper), size):
        cont += np.bincount(take(upper.suffix, lo, hi), minlength=len(table))
    out = NpyAppender(folder / f"adjusted{k}.npy", np.int64)
    for lo, hi in _slices(len(table), size):
        out.append(np.where(take(table.first, lo, hi) == counts.bos_id, take(table.counts, lo, hi), cont[lo:hi]))
    out.close()
    del cont
    return np.load(folder / f"adjusted{k}.npy", mmap_mode="r")


def prune_on_disk(counts: NgramCounts, est: Estimate, thresholds, folder: Path, memory: int) -> tuple[NgramCounts, Estimate]:
    """:func:`~lmstats.ngram.prune.prune_tables` over tables on disk in ``folder``, in slices that fit ``memory``
    beside the renumbering it holds (8 bytes a row of two consecutive orders)."""
    held = max((len(counts.table(k - 1)) + len(counts.table(k)) for k in range(2, counts.order + 1)), default=0) * 8
    return prune_tables(counts, est, thresholds, folder=folder, slice_rows=_slice_size(memory, held))
