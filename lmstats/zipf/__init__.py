"""Zipf and Heaps statistics of n-gram frequencies, with estimators a statistician accepts.

For every n-gram order the frequency list (one count per n-gram type) is fitted five ways:

* **least squares** (the textbook line): ``ln f_r = -alpha ln r + c`` over a rank range,
  standard error from the regression.  Biased and over-confident (the points are neither
  independent nor homoscedastic); it is reported because it is what the textbooks draw.
* **rank MLE, finite vocabulary**: ``P(rank r) = r^-alpha / H(V, alpha)`` for ``r = 1..V``
  (``V`` = number of types, ``H`` the generalised harmonic number), maximised over the
  counts; standard error from the observed Fisher information.
* **Zipf–Mandelbrot**: ``P(rank r) ∝ (r + b)^-alpha`` for ``r = 1..V``, maximum likelihood
  over ``(alpha, b)``; standard errors from the observed information matrix.
* **CSN discrete power law** (Clauset, Shalizi & Newman 2009) of the *frequency
  distribution*: ``P(f) = f^-beta / zeta(beta, x_min)`` for ``f >= x_min``, exact MLE of
  ``beta`` for every candidate ``x_min`` and the ``x_min`` minimising the KS distance;
  ``se(beta) = (beta - 1) / sqrt(n_tail)``.  A rank exponent ``alpha`` and a frequency
  exponent ``beta`` describe the same law when ``beta = 1 + 1/alpha`` (``alpha = 1/(beta-1)``);
  both are reported.  Optional: the semi-parametric bootstrap p-value of the fit and Vuong
  likelihood-ratio tests of the tail against a discrete lognormal and a discrete exponential.
* **Heaps' law** ``V(N) = K N^beta``: least squares of ``ln V`` on ``ln N`` over log-spaced
  prefix lengths ``N`` of the text (n-gram types against n-gram tokens for order > 1).

Agreement with ``powerlaw`` 2.0.0 (``powerlaw.Fit(freqs, discrete=True)``): the same
candidate set (every distinct frequency except the two largest), the same KS statistic (the
empirical and fitted ``P(X < x)`` compared at the distinct data values ``x >= x_min``) and the
same selection (smallest KS, first on ties).  Two deliberate differences:

1. powerlaw restricts its exponent to ``0 < alpha < 3`` and silently discards every ``x_min``
   whose fit reaches ``2.99``; here ``beta`` is unbounded above (a tail steeper than 3 is
   fitted, not rejected).  Where powerlaw's chosen fit is valid, the two agree.
2. For ``x_min >= 10`` powerlaw uses the closed-form approximation
   ``1 + n / sum(ln(x / (x_min - 1/2)))`` (CSN eq. 3.7) whenever it lands in (1.5, 3]; here
   the MLE is always exact.  The two differ by up to a few 1e-3 near ``x_min = 10`` and by
   about 1e-5 at the ``x_min`` values chosen on real text.

N-grams are counted within lines (no boundary tokens): an ``order``-gram never spans two
lines.  All counting is vectorised (token ids packed into integer keys, ``np.unique``); a corpus
too large for that under ``--memory`` is counted out of core by the n-gram engine
(:mod:`lmstats.zipf.scale`), with the same results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines, reduce_pieces
from lmstats.errors import LmstatsError
from lmstats.ngram.plan import CountingPlan, plan_counting
from lmstats.resources import work_dir
from lmstats.zipf.counting import encode_sentences, frequencies, ngram_type_ids, order_name
from lmstats.zipf.heaps import fit_heaps, heaps_curve
from lmstats.zipf.plots import plot_zipf
from lmstats.zipf.powerlaw import fit_power_law
from lmstats.zipf.rank_fits import check_frequencies, fit_least_squares, fit_mandelbrot, fit_rank_mle
from lmstats.zipf.results import NOTATION, ZipfAnalysis, ZipfFit
from lmstats.zipf.scale import HEAPS_POINTS, OrderCounts, zipf_counts_on_disk
from lmstats.zipf.spectrum import Spectrum

__all__ = ["NOTATION", "Spectrum", "ZipfAnalysis", "ZipfFit", "analyse_zipf", "encode_sentences", "fit_zipf", "order_name", "plot_zipf"]


def fit_zipf(type_ids: NDArray[np.int64], *, order: int = 1, **options) -> ZipfFit:
    """Every fit on one n-gram order, from the type id of each occurrence in text order
    (``options``: those of :func:`fit_order`)."""
    return fit_order(order_counts(type_ids, order), **options)


def order_counts(type_ids: NDArray[np.int64], order: int) -> OrderCounts:
    """Frequencies and Heaps curve of one order from the type id of each occurrence (in memory)."""
    return OrderCounts(order, len(type_ids), Spectrum.of(frequencies(type_ids)), *heaps_curve(type_ids, HEAPS_POINTS))


def fit_order(
    counts: OrderCounts,
    *,
    min_rank: int = 1,
    max_rank: int | None = None,
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    compare: bool = True,
) -> ZipfFit:
    """Every fit on one n-gram order from its frequency list and Heaps curve."""
    what = order_name(counts.order)
    spectrum = check_frequencies(counts.freqs, what)
    n_hapax = spectrum.count_of(1)
    ls = fit_least_squares(spectrum, min_rank, max_rank)
    mle = fit_rank_mle(spectrum)
    zm = fit_mandelbrot(spectrum, alpha0=mle.alpha)
    pl = fit_power_law(spectrum, bootstrap=bootstrap, rng=rng, compare=compare)
    heaps = fit_heaps(counts.heaps_positions, counts.heaps_types)
    notes = []
    if not zm.converged:
        notes.append(f"Zipf–Mandelbrot fit did not converge inside its bounds (alpha={zm.alpha:.3g}, b={zm.b:.3g})")
    if mle.alpha < 0.05:
        notes.append(f"rank MLE alpha = {mle.alpha:.3g}: frequencies are nearly flat over ranks")
    n_types = spectrum.n_types
    return ZipfFit(counts.order, counts.n_occurrences, n_types, n_hapax, n_hapax / n_types, ls, mle, zm, pl, heaps,
                   tuple(notes), spectrum)


def analyse_zipf(
    lines: Lines,
    orders: Sequence[int] = (1, 2, 3),
    *,
    corpus: str = "",
    text: str = "",
    level: str = "word",
    min_rank: int = 1,
    max_rank: int | None = None,
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    compare: bool = True,
    memory: int | None = None,
    tmp: str | Path | None = None,
    on_plan: Callable[[CountingPlan], None] | None = None,
    on_order: Callable[[int], None] | None = None,
) -> ZipfAnalysis:
    """Zipf and Heaps fits for each n-gram order of ``lines`` (dense type ids, one id per token string:
    ``Corpus.type_lines()``, or :func:`~lmstats.zipf.counting.encode_sentences` of token lists).

    N-grams never cross a line.  With ``memory`` (bytes) the counting is planned as the n-gram
    engine's (``on_plan`` receives the plan): in memory when it fits, otherwise out of core with
    files in ``tmp`` (:mod:`lmstats.zipf.scale`; the same results).  Raises :class:`LmstatsError`
    when an order has no n-grams (every line shorter than ``order``), fewer than ``MIN_TYPES``
    types or all-equal counts, or when ``memory`` cannot work at all.
    """
    longest = int(lines.lengths.max()) if len(lines) else 0
    too_long = [order for order in orders if order > longest]
    if too_long:
        raise LmstatsError(
            f"no {order_name(min(too_long))}: the longest line has {longest} token(s) and n-grams are counted within lines; "
            f"use a smaller --n (at most {max(longest, 1)}), or --format stream to treat the text as one sequence"
        )
    plan = plan_counting(lines.n_tokens + len(lines), max(orders), memory, tmp)
    if on_plan is not None:
        on_plan(plan)
    if plan.in_memory:
        counted = []
        for order in orders:
            counted.append(order_counts(ngram_type_ids(lines, order), order))
            if on_order is not None:
                on_order(order)
    else:
        with work_dir(tmp) as work:
            n_types = max(reduce_pieces(lines.ids, lambda part: int(part.max()) if len(part) else -1)) + 1
            counted = zipf_counts_on_disk(lines, n_types, orders, memory=memory, workdir=work, on_order=on_order)
    fits = [fit_order(c, min_rank=min_rank, max_rank=max_rank, bootstrap=bootstrap, rng=rng, compare=compare) for c in counted]
    return ZipfAnalysis(corpus, text, level, tuple(fits))
