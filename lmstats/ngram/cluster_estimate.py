"""Smoothing on a Dask cluster, key range by key range: no process holds a whole table (issue 25, step 3).

The count tables stay where :func:`lmstats.ngram.distributed.count_on_cluster` reduced them: order
k >= 2 is a list of key ranges on the workers, cut at context boundaries, so the n-grams of one
context (and so its sums and its backoff weight) lie in one range.  Order 1 is dense over the
vocabulary and small; the client holds it.  The arithmetic is :mod:`lmstats.ngram.smoothing`'s,
element for element and in the same order of additions, so the estimate equals the in-memory one
bit for bit (tested).  Per order k, with one task per range unless said:

1. **First words** (``first_k = first_{k-1}[context]``): a range's contexts are a contiguous run of
   rows of order k-1, which lies in one or two of its ranges; those slices are joined.
2. **Adjusted counts** (Kneser-Ney below the top order): the continuation count of a k-gram is
   the number of (k+1)-grams whose suffix it is.  Each range of order k+1 counts its suffix rows and
   cuts them by the ranges of order k (a shuffle of small sparse arrays); each range of order k sums
   its pieces.
3. **Discounts**: each range's counts-of-counts (4 integers), summed on the client.
4. **Per context** (in the range): the sums, the backoff weight γ and each n-gram's discounted
   share u.  The backoff weights of order k-1 are then assembled range by range from the
   contiguous runs of contexts of the ranges of order k that overlap it.
5. **Interpolation**, P = u + γ(context)·P_{k-1}(suffix): the suffix rows are anywhere in order k-1,
   so this is a distributed join (Heafield et al. 2013 stream the n-grams in suffix order for the
   same join): each range sends the distinct suffix rows it needs to the ranges of order k-1 that
   hold them, each of those answers with their probabilities, and the range puts them in place.
   Order k waits for order k-1's probabilities; within an order every range runs at once.

Smoothers: abs, kn, mkn and wb (:data:`CLUSTER_SMOOTHERS`), without ``--prune`` (dropping n-grams
renumbers rows across ranges; a pruned fit gathers the tables and smooths them on the client).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.ngram.counts import unique_keys
from lmstats.ngram.distributed import ClusterOrder, ClusterTables
from lmstats.ngram.lmplz import shift_counts_of_counts
from lmstats.ngram.prune import backoff_mass
from lmstats.ngram.smoothing import (
    Estimate,
    SmoothingSpec,
    _check_no_underflow,
    _counts_of_counts,
    _discount_of,
    _discounted_unigrams,
    _discounts_from,
    _ratio,
    witten_bell_unigrams,
)

CLUSTER_SMOOTHERS = {"abs": ("single", False), "kn": ("single", True), "mkn": ("modified", True), "wb": ("wb", False)}


@dataclass(eq=False)
class ClusterEstimate:
    """The estimate of :class:`ClusterTables`: order 1's arrays here; per order k >= 2 and key range, futures of its
    first words, probabilities and (below the top order) backoff weights."""

    tables: ClusterTables
    prob1: NDArray[np.float64]
    backoff1: NDArray[np.float64] | None
    first: dict[int, list]
    probs: dict[int, list]
    backoffs: dict[int, list]
    discounts: dict[int, list[float]]
    warnings: tuple[str, ...]
    held: list  # scattered data the futures above need, kept while they may be recomputed

    def facts(self) -> Estimate:
        """The estimate's scalars (``low``, ``gamma_unseen``, discounts, warnings) with order 1's arrays only."""
        return Estimate((self.prob1,), () if self.backoff1 is None else (self.backoff1,), "lower", 1.0, True,
                        self.discounts, self.warnings)


# -- the tasks (module-level functions: the workers import them) ---------------------------------
def _context_words(table: tuple, V: int) -> NDArray[np.int64]:
    return table[0] // V


def _rows_slice(values: NDArray, a: int, b: int) -> NDArray:
    return values[a:b]


def _first_task(table: tuple, V: int, lo: int, *pieces: NDArray) -> NDArray[np.int64]:
    """first_k of a range from the first words of its context rows ``lo``.. (the joined slices of order k-1)."""
    lower = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    return lower[table[0] // V - lo]


def _suffixes_task(table: tuple) -> dict:
    """A range's distinct suffix rows (sorted), where each n-gram's suffix is among them, and how many n-grams have each:
    what both of its joins with the order below need (one sort, :func:`~lmstats.ngram.counts.unique_keys`)."""
    rows, inverse, counts = unique_keys(table[2], inverse=True)
    return {"rows": rows, "inverse": inverse, "counts": counts}


def _suffix_counts_task(suffixes: dict, offsets: NDArray[np.int64]) -> list[tuple[NDArray, NDArray]]:
    """A range of order k+1's suffix rows counted, cut by the ranges of order k (rows local to each range)."""
    rows, counts = suffixes["rows"], suffixes["counts"]
    cuts = np.searchsorted(rows, offsets)
    return [(rows[a:b] - offsets[q], counts[a:b]) for q, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))]


def _continuation(n: int, pieces) -> NDArray[np.int64]:
    cont = np.zeros(n, dtype=np.int64)
    for rows, counts in pieces:
        cont[rows] += counts  # the rows of one piece are distinct
    return cont


def _adjusted_task(table: tuple, first: NDArray, bos_id: int, *pieces) -> NDArray[np.float64]:
    """Kneser-Ney's adjusted counts of a range: continuation counts, raw for n-grams that start with ``<s>``."""
    return np.where(first == bos_id, table[1].astype(np.float64), _continuation(len(table[0]), pieces).astype(np.float64))


def _raw_task(table: tuple) -> NDArray[np.float64]:
    return table[1].astype(np.float64)


def _coc_task(a: NDArray) -> list[int]:
    return _counts_of_counts(a)


def _local_task(table: tuple, a: NDArray | None, lo: int, hi: int, V: int, kind: str, d: list[float] | None) -> dict:
    """A range's backoff weights for its contexts ``lo..hi-1`` and each n-gram's share u (the smoothers' arithmetic)."""
    keys, counts = table[0], table[1]
    ctx = keys // V - lo
    n = hi - lo
    if kind == "wb":
        C = np.bincount(ctx, weights=counts, minlength=n).astype(np.float64)
        T = np.bincount(ctx, minlength=n).astype(np.float64)
        return {"gamma": _ratio(T, C + T, 1.0), "u": counts / (C + T)[ctx]}
    D = _discount_of(a, d)
    S = np.bincount(ctx, weights=a, minlength=n).astype(np.float64)
    gamma = _ratio(np.bincount(ctx, weights=backoff_mass(a, D, counts, 0), minlength=n).astype(np.float64), S, 1.0)
    return {"gamma": gamma, "u": (a - D) / S[ctx]}


def _gamma_min(local: dict) -> float:
    return float(local["gamma"].min()) if len(local["gamma"]) else 1.0


def _gamma_slice(local: dict, a: int, b: int) -> NDArray[np.float64]:
    return local["gamma"][a:b]


def _backoff_task(n: int, row_lo: int, *placed) -> NDArray[np.float64]:
    """The backoff weights of one range of order k-1 (1 for a context no k-gram follows) from ``(start, values)`` pieces."""
    out = np.ones(n, dtype=np.float64)
    for start, values in zip(placed[::2], placed[1::2], strict=True):
        out[start - row_lo : start - row_lo + len(values)] = values
    return out


def _prob_by_word(table: tuple, local: dict, lo: int, V: int, prob1: NDArray) -> NDArray[np.float64]:
    keys = table[0]
    return local["u"] + local["gamma"][keys // V - lo] * prob1[keys % V]


def _requests_task(suffixes: dict, offsets: NDArray[np.int64]) -> dict:
    """The distinct suffix rows a range needs, cut by the ranges of order k-1 (rows local to each), and where each goes."""
    rows = suffixes["rows"]
    cuts = np.searchsorted(rows, offsets)
    return {"inverse": suffixes["inverse"],
            "pieces": [rows[a:b] - offsets[q] for q, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))]}


def request_piece(requests: dict, q: int) -> NDArray[np.int64]:
    """Piece ``q`` of a join's requests (the values bound for range or shard ``q``)."""
    return requests["pieces"][q]


def exchange(client, requests: list, ranges: int, answer, assemble) -> list:
    """A batched join: piece q of each partition's requests (futures of records with ``pieces``) goes to range q, whose one
    task ``answer(q, *pieces)`` answers them all; ``assemble(p, requests, *answers)`` puts partition p's answers in place."""
    answers = [answer(q, *[client.submit(request_piece, req, q) for req in requests]) for q in range(ranges)]
    return [assemble(p, req, *[client.submit(operator.getitem, ans, p) for ans in answers]) for p, req in enumerate(requests)]


def _answer_task(prob: NDArray, *requests: NDArray) -> list[NDArray[np.float64]]:
    return [prob[rows] for rows in requests]


def _prob_task(table: tuple, local: dict, lo: int, V: int, requests: dict, *answers: NDArray) -> NDArray[np.float64]:
    low = np.concatenate(answers)[requests["inverse"]] if answers else np.zeros(0)
    return local["u"] + local["gamma"][table[0] // V - lo] * low


# -- the driver ------------------------------------------------------------------------------------
def _overlaps(order: ClusterOrder, lo: int, hi: int):
    """The ranges q of ``order`` whose rows meet [lo, hi), with the rows [a, b) they share."""
    off = order.offsets
    for q in range(len(order.ranges)):
        a, b = max(lo, int(off[q])), min(hi, int(off[q + 1]))
        if a < b:
            yield q, a, b


def _slices_of(client, futures: list, order: ClusterOrder, lo: int, hi: int) -> list:
    return [client.submit(_rows_slice, futures[q], a - int(order.offsets[q]), b - int(order.offsets[q])) for q, a, b in
            _overlaps(order, lo, hi)]


def estimate_on_cluster(client, tables: ClusterTables, spec: SmoothingSpec, mask: NDArray[np.bool_],
                        lmplz_last: dict[int, tuple[int, int]]) -> ClusterEstimate:
    """The estimate of ``spec`` (:data:`CLUSTER_SMOOTHERS`, no pruning) of ``tables``, computed where they lie."""
    kind, kneser_ney = CLUSTER_SMOOTHERS[spec.name]
    N, V, submit = tables.order, tables.vocab_size, client.submit
    first: dict[int, list] = {}
    for k in range(2, N + 1):
        order = tables.table(k)
        if k == 2:  # order 1's rows are the word ids
            first[k] = [submit(_context_words, t, V) for t in order.ranges]
            continue
        lower = tables.table(k - 1)
        first[k] = [submit(_first_task, t, V, int(lo), *_slices_of(client, first[k - 1], lower, int(lo), int(hi)))
                    for t, (lo, hi) in zip(order.ranges, order.contexts, strict=True)]
    suffixes = {k: [submit(_suffixes_task, t) for t in tables.table(k).ranges] for k in range(2, N + 1) if k >= 3 or kneser_ney}
    adjusted: dict[int, list] = {}
    a1 = tables.unigram.astype(np.float64)
    for k in range(1, N):
        if not kneser_ney:
            break
        offsets = np.asarray([0, V], dtype=np.int64) if k == 1 else tables.table(k).offsets
        counted = [submit(_suffix_counts_task, x, offsets) for x in suffixes[k + 1]]
        if k == 1:
            cont = _continuation(V, [pieces[0] for pieces in client.gather(counted)])
            a1 = np.where(np.arange(V) == tables.bos_id, a1, cont.astype(np.float64))
            continue
        adjusted[k] = [submit(_adjusted_task, t, f, tables.bos_id, *[submit(operator.getitem, c, q) for c in counted])
                       for q, (t, f) in enumerate(zip(tables.table(k).ranges, first[k], strict=True))]
    for k in range(2, N + 1):
        if k not in adjusted and kind != "wb":
            adjusted[k] = [submit(_raw_task, t) for t in tables.table(k).ranges]
    warnings: list[str] = []
    what = lambda k: "continuation count" if kneser_ney and k < N else "count"  # noqa: E731
    discounts: dict[int, list[float]] = {}
    if kind == "wb":
        prob1 = witten_bell_unigrams(np.where(mask, tables.unigram, 0).astype(np.float64), mask)
    else:
        prob1, discounts[1] = _discounted_unigrams(a1, kind, spec, mask, warnings, what(1), lmplz_last.get(1))
        for k in range(2, N + 1):
            n = np.sum(client.gather([submit(_coc_task, a) for a in adjusted[k]]), axis=0).tolist() if adjusted[k] else [0] * 4
            if kind == "modified" and k in lmplz_last:
                n = shift_counts_of_counts(n, *lmplz_last[k])
            discounts[k] = _discounts_from([int(x) for x in n], kind, k, spec.discount_fallback, warnings, what(k))
    local = {k: [submit(_local_task, t, adjusted.get(k, [None] * len(tables.table(k).ranges))[r], int(lo), int(hi), V, kind,
                        discounts.get(k))
                 for r, (t, (lo, hi)) in enumerate(zip(tables.table(k).ranges, tables.table(k).contexts, strict=True))]
             for k in range(2, N + 1)}
    del adjusted
    backoffs: dict[int, list] = {}
    backoff1 = None
    for k in range(2, N + 1):  # the backoff weights of order k-1, from order k's contexts
        order = tables.table(k)
        if k == 2:
            backoff1 = np.ones(V, dtype=np.float64)
            for (lo, hi), piece in zip(order.contexts, client.gather(local[2]), strict=True):
                backoff1[lo:hi] = piece["gamma"]
            continue
        lower = tables.table(k - 1)
        backoffs[k - 1] = []
        for q in range(len(lower.ranges)):
            row_lo, row_hi = int(lower.offsets[q]), int(lower.offsets[q + 1])
            placed = []
            for r, (lo, hi) in enumerate(order.contexts):
                a, b = max(row_lo, int(lo)), min(row_hi, int(hi))
                if a < b:
                    placed += [a, submit(_gamma_slice, local[k][r], a - int(lo), b - int(lo))]
            backoffs[k - 1].append(submit(_backoff_task, row_hi - row_lo, row_lo, *placed))
    gammas = [np.asarray([m]) for m in (min(client.gather([submit(_gamma_min, x) for x in local[k]]), default=1.0)
                                         for k in range(2, N + 1))]
    _check_no_underflow(Estimate((prob1,), tuple(gammas), "lower", 1.0, True), mask, spec)
    probs: dict[int, list] = {}
    shared = client.scatter(prob1, broadcast=True)  # held by the estimate: scattered data a client lets go cannot be rebuilt
    for k in range(2, N + 1):
        order = tables.table(k)
        if k == 2:
            probs[2] = [submit(_prob_by_word, t, x, int(lo), V, shared) for t, x, (lo, _) in zip(order.ranges, local[2], order.contexts,
                                                                                                   strict=True)]
            continue
        lower = tables.table(k - 1)
        requests = [submit(_requests_task, x, lower.offsets) for x in suffixes[k]]
        probs[k] = exchange(client, requests, len(lower.ranges),
                            lambda q, *pieces, k=k: submit(_answer_task, probs[k - 1][q], *pieces),
                            lambda r, req, *answers, k=k, order=order: submit(_prob_task, order.ranges[r], local[k][r],
                                                                               int(order.contexts[r][0]), V, req, *answers))
    return ClusterEstimate(tables, prob1, backoff1, first, probs, backoffs, discounts, tuple(warnings), [shared])
