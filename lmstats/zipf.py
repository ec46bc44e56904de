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
lines.  All counting is vectorised (token ids packed into integer keys, ``np.unique``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import chain

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, special, stats

from lmstats.errors import LmstatsError
from lmstats.lines import Lines

MIN_TYPES = 5  # fewer n-gram types than this is not a frequency distribution
POWERLAW_ALPHA_CAP = 3.0  # powerlaw 2.0.0's exclusive upper bound on its exponent
ORDER_NAMES = {1: "unigrams", 2: "bigrams", 3: "trigrams"}


def order_name(order: int) -> str:
    return ORDER_NAMES.get(order, f"{order}-grams")


# -- counting ----------------------------------------------------------------------------


def encode_sentences(sentences: Sequence[Sequence[str]]) -> Lines:
    """Token lists -> :class:`Lines` of dense ids (first-seen order); every type is kept.

    Unlike :class:`~lmstats.vocab.Vocab`, nothing is merged into ``<unk>``: Zipf statistics
    count every distinct token string, literal ``<unk>``/``<s>`` included.
    """
    flat = list(chain.from_iterable(sentences))
    index = {token: i for i, token in enumerate(dict.fromkeys(flat))}
    ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    bounds = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    return Lines(ids, bounds)


def ngram_type_ids(lines: Lines, order: int) -> NDArray[np.int64]:
    """Dense type id of every ``order``-gram occurrence within a line, in text order; shape (n_ngrams,).

    Ids are packed pairwise: the (k-1)-gram's dense id times the alphabet size plus the next
    token id, then re-densified with ``np.unique``, so keys never overflow int64.
    """
    if order < 1:
        raise LmstatsError(f"n-gram order must be >= 1, got {order}")
    ids = lines.ids
    if order == 1:
        return np.unique(ids, return_inverse=True)[1].astype(np.int64) if len(ids) else ids
    ends = np.repeat(lines.bounds[1:], lines.lengths)  # end of each token's line, shape (n_tokens,)
    starts = np.flatnonzero(np.arange(len(ids)) + order <= ends)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    base = int(ids.max()) + 1
    dense = ids[starts]
    for k in range(1, order):
        keys = dense * base + ids[starts + k]
        dense = np.unique(keys, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return dense


def frequencies(type_ids: NDArray[np.int64]) -> NDArray[np.int64]:
    """Count per type, sorted descending (index ``r - 1`` holds the frequency of rank ``r``)."""
    counts = np.bincount(type_ids)
    return np.sort(counts[counts > 0])[::-1].copy()


def heaps_curve(type_ids: NDArray[np.int64], n_points: int = 64) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Types ``V(N)`` seen in the first ``N`` occurrences, at log-spaced ``N`` up to the total."""
    n = len(type_ids)
    is_new = np.zeros(n, dtype=bool)
    is_new[np.unique(type_ids, return_index=True)[1]] = True
    seen = np.cumsum(is_new)
    positions = np.unique(np.round(np.geomspace(1, n, n_points)).astype(np.int64))
    return positions, seen[positions - 1]


# -- results -----------------------------------------------------------------------------


def _jsonable(value):
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


class _Result:
    """``to_dict()`` for the frozen result dataclasses: JSON-ready, non-finite floats as None."""

    def to_dict(self) -> dict:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self) if f.repr}


@dataclass(frozen=True)
class LeastSquaresFit(_Result):
    """The textbook line ``ln f_r = -alpha ln r + c`` over ranks ``min_rank..max_rank``."""

    alpha: float
    alpha_se: float
    intercept: float
    r_squared: float
    min_rank: int
    max_rank: int


@dataclass(frozen=True)
class RankMLEFit(_Result):
    """``P(rank r) = r^-alpha / H(V, alpha)``, ``r = 1..V``, by maximum likelihood."""

    alpha: float
    alpha_se: float
    n_types: int
    loglik: float


@dataclass(frozen=True)
class MandelbrotFit(_Result):
    """Zipf–Mandelbrot ``P(rank r) ∝ (r + b)^-alpha``, ``r = 1..V``, by maximum likelihood."""

    alpha: float
    alpha_se: float
    b: float
    b_se: float
    loglik: float
    converged: bool


@dataclass(frozen=True)
class LikelihoodRatio(_Result):
    """Vuong test of the power-law tail against ``alternative`` on ``x >= x_min``.

    ``R`` > 0 favours the power law.  ``normalized_R = R / (sqrt(n) sd)``; ``p`` is the
    two-sided p-value of ``R = 0`` (a small p means the sign of R is significant).
    """

    alternative: str
    R: float
    normalized_R: float
    p: float
    params: dict


@dataclass(frozen=True)
class PowerLawFit(_Result):
    """CSN discrete power law ``P(f) = f^-beta / zeta(beta, x_min)`` of the frequencies ``f >= x_min``.

    ``alpha = 1 / (beta - 1)`` is the rank exponent the same law implies (delta-method SE).
    ``p_value`` is NaN unless a bootstrap was asked for.
    """

    beta: float
    beta_se: float
    xmin: int
    n_tail: int
    n: int
    ks: float
    alpha: float
    alpha_se: float
    n_candidates: int
    p_value: float = math.nan
    n_bootstrap: int = 0
    comparisons: tuple[LikelihoodRatio, ...] = ()
    warnings: tuple[str, ...] = ()
    # The whole x_min scan (candidates, exponents, KS distances), for diagnostics and tests.
    scan_xmins: NDArray[np.float64] = field(default=None, repr=False, compare=False)
    scan_betas: NDArray[np.float64] = field(default=None, repr=False, compare=False)
    scan_ks: NDArray[np.float64] = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class HeapsFit(_Result):
    """Heaps' law ``V(N) = K N^beta``: least squares of ``ln V`` on ``ln N``, ``N`` in ``n_min..n_max``.

    The SE is the regression's; the curve's points are not independent, so it is optimistic.
    """

    k: float
    beta: float
    beta_se: float
    r_squared: float
    n_min: int
    n_max: int
    positions: NDArray[np.int64] = field(default=None, repr=False, compare=False)
    types: NDArray[np.int64] = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ZipfFit(_Result):
    """Every fit of one n-gram order's frequency list."""

    order: int
    n_tokens: int
    n_types: int
    n_hapax: int
    hapax_ratio: float  # types seen once / types
    least_squares: LeastSquaresFit
    rank_mle: RankMLEFit
    mandelbrot: MandelbrotFit
    power_law: PowerLawFit
    heaps: HeapsFit
    warnings: tuple[str, ...] = ()
    freqs: NDArray[np.int64] = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ZipfAnalysis(_Result):
    """The fits of every requested order on one text."""

    corpus: str
    text: str  # which text was counted, in words
    level: str
    fits: tuple[ZipfFit, ...]

    def to_frame(self) -> pd.DataFrame:
        return zipf_frame(self)


def zipf_frame(analysis: ZipfAnalysis) -> pd.DataFrame:
    """One row per n-gram order: counts and every exponent with its standard error."""
    rows = []
    for fit in analysis.fits:
        ls, mle, zm, pl, hp = fit.least_squares, fit.rank_mle, fit.mandelbrot, fit.power_law, fit.heaps
        rows.append({
            "order": fit.order, "n_tokens": fit.n_tokens, "n_types": fit.n_types, "hapax_ratio": fit.hapax_ratio,
            "ls_alpha": ls.alpha, "ls_alpha_se": ls.alpha_se, "ls_min_rank": ls.min_rank, "ls_max_rank": ls.max_rank, "ls_r_squared": ls.r_squared,
            "mle_alpha": mle.alpha, "mle_alpha_se": mle.alpha_se,
            "zm_alpha": zm.alpha, "zm_alpha_se": zm.alpha_se, "zm_b": zm.b, "zm_b_se": zm.b_se,
            "csn_beta": pl.beta, "csn_beta_se": pl.beta_se, "csn_xmin": pl.xmin, "csn_n_tail": pl.n_tail, "csn_ks": pl.ks,
            "csn_alpha": pl.alpha, "csn_alpha_se": pl.alpha_se, "csn_p_value": pl.p_value,
            "heaps_k": hp.k, "heaps_beta": hp.beta, "heaps_beta_se": hp.beta_se,
        })
    return pd.DataFrame(rows).set_index("order")


# -- checks ------------------------------------------------------------------------------


def check_frequencies(freqs: NDArray[np.int64], what: str = "the frequency list") -> NDArray[np.int64]:
    """Frequencies as int64 sorted descending; LmstatsError when no law can be fitted to them."""
    freqs = np.asarray(freqs)
    if freqs.ndim != 1 or (len(freqs) and (not np.issubdtype(freqs.dtype, np.integer) and not np.all(freqs == np.round(freqs)))):
        raise LmstatsError(f"{what}: frequencies must be a 1-D list of whole counts")
    freqs = np.sort(freqs[freqs > 0].astype(np.int64))[::-1].copy()
    if len(freqs) < MIN_TYPES:
        raise LmstatsError(
            f"{what} has only {len(freqs)} type(s); Zipf fits need at least {MIN_TYPES} distinct types "
            "to say anything about a rank-frequency law — give more text (or a lower --n)"
        )
    if freqs[0] == freqs[-1]:
        raise LmstatsError(
            f"{what}: all {len(freqs):,} types occur equally often ({freqs[0]} time(s) each), so there is no "
            "rank-frequency slope to fit — give more text (or a lower --n)"
        )
    return freqs


# -- least squares and rank likelihoods --------------------------------------------------


def fit_least_squares(freqs: NDArray[np.int64], min_rank: int = 1, max_rank: int | None = None) -> LeastSquaresFit:
    """Textbook slope of ``ln f_r`` on ``ln r`` for ranks ``min_rank..max_rank`` (default: all)."""
    freqs = np.asarray(freqs)
    max_rank = len(freqs) if max_rank is None else min(max_rank, len(freqs))
    if min_rank < 1 or max_rank - min_rank + 1 < 3:
        raise LmstatsError(f"least-squares rank range {min_rank}..{max_rank} has fewer than 3 ranks; widen --min-rank/--max-rank")
    ranks = np.arange(min_rank, max_rank + 1)
    y = np.log(freqs[min_rank - 1 : max_rank])
    if np.all(y == y[0]):
        raise LmstatsError(f"least squares: frequencies are constant over ranks {min_rank}..{max_rank}; widen the rank range")
    reg = stats.linregress(np.log(ranks), y)
    return LeastSquaresFit(-reg.slope, reg.stderr, reg.intercept, reg.rvalue**2, int(min_rank), int(max_rank))


def _rank_loglik_terms(alpha: float, log_ranks: NDArray, counts: NDArray):
    """Log-likelihood, score and observed information of ``r^-alpha / H(V, alpha)``.

    (``np.dot``, not ``@``: 1-D ``@`` is ~100x slower with some OpenBLAS builds.)
    """
    w = -alpha * log_ranks
    w_max = w.max()
    p = np.exp(w - w_max)
    z = p.sum()
    p /= z
    log_h = w_max + math.log(z)
    n = counts.sum()
    mean_log = np.dot(p, log_ranks)
    var_log = np.dot(p, (log_ranks - mean_log) ** 2)
    loglik = -alpha * np.dot(counts, log_ranks) - n * log_h
    score = -np.dot(counts, log_ranks) + n * mean_log
    return loglik, score, n * var_log


def fit_rank_mle(freqs: NDArray[np.int64]) -> RankMLEFit:
    """MLE of ``alpha`` in ``P(rank r) = r^-alpha / H(V, alpha)``, ``r = 1..V``.

    The score ``n (E_alpha[ln r] - mean ln r)`` is decreasing in alpha, so the root is found
    by Brent's method; SE = ``1 / sqrt(n Var_alpha[ln r])`` (observed Fisher information).
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    log_ranks = np.log(np.arange(1, len(freqs) + 1, dtype=np.float64))
    score = lambda a: _rank_loglik_terms(a, log_ranks, freqs)[1]  # noqa: E731
    hi = 8.0
    while score(hi) > 0 and hi < 1e3:
        hi *= 2
    alpha = 0.0 if score(0.0) <= 0 else optimize.brentq(score, 0.0, hi, xtol=1e-12)
    loglik, _, info = _rank_loglik_terms(alpha, log_ranks, freqs)
    return RankMLEFit(float(alpha), 1 / math.sqrt(info), len(freqs), float(loglik))


def _mandelbrot_negloglik(params: NDArray, ranks: NDArray, counts: NDArray) -> tuple[float, NDArray]:
    """Negative log-likelihood of ``(r + b)^-alpha / Z`` and its gradient in ``(alpha, b)``."""
    alpha, b = params
    shifted = ranks + b
    log_s = np.log(shifted)
    w = -alpha * log_s
    w_max = w.max()
    p = np.exp(w - w_max)
    z = p.sum()
    p /= z
    n = counts.sum()
    nll = alpha * np.dot(counts, log_s) + n * (w_max + math.log(z))
    d_alpha = np.dot(counts, log_s) - n * np.dot(p, log_s)
    d_b = alpha * np.dot(counts, 1 / shifted) - n * alpha * np.dot(p, 1 / shifted)
    return float(nll), np.array([d_alpha, d_b])


def fit_mandelbrot(freqs: NDArray[np.int64], *, alpha0: float | None = None) -> MandelbrotFit:
    """MLE of Zipf–Mandelbrot ``P(rank r) ∝ (r + b)^-alpha``, ``r = 1..V``, ``b > -1``.

    L-BFGS-B with the analytic gradient; SEs from the inverse of the observed information
    (the Hessian, by central differences of the analytic gradient).
    """
    counts = np.asarray(freqs, dtype=np.float64)
    ranks = np.arange(1, len(counts) + 1, dtype=np.float64)
    b_hi = 10.0 * len(counts)
    start = np.array([alpha0 if alpha0 is not None else 1.0, 1.0])
    res = optimize.minimize(_mandelbrot_negloglik, start, args=(ranks, counts), jac=True, method="L-BFGS-B",
                            bounds=[(1e-6, 50.0), (-1 + 1e-9, b_hi)], options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-9})
    alpha, b = res.x
    hess = np.empty((2, 2))
    for i in range(2):
        h = 1e-5 * max(1.0, abs(res.x[i]))
        if i == 1:
            h = min(h, (b + 1) / 2)
        up, down = res.x.copy(), res.x.copy()
        up[i] += h
        down[i] -= h
        hess[i] = (_mandelbrot_negloglik(up, ranks, counts)[1] - _mandelbrot_negloglik(down, ranks, counts)[1]) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
        alpha_se, b_se = (math.sqrt(v) if v > 0 else math.nan for v in np.diag(cov))
    except np.linalg.LinAlgError:
        alpha_se = b_se = math.nan
    at_bound = b <= -1 + 1e-6 or b >= b_hi * 0.999 or alpha >= 49.9
    return MandelbrotFit(float(alpha), alpha_se, float(b), b_se, float(-res.fun), bool(res.success and not at_bound))


# -- the CSN discrete power law ----------------------------------------------------------


def _log_zeta(beta: NDArray, xmin: NDArray) -> NDArray:
    with np.errstate(divide="ignore"):
        return np.log(special.zeta(beta, xmin))


def _mle_betas(xmins: NDArray, n_tail: NDArray, sum_log: NDArray) -> NDArray:
    """Exact MLE of beta for each candidate, vectorised over candidates.

    Given ``x_min`` the sufficient statistics are ``n_tail`` and ``sum ln x``.  The score
    ``s(beta) = -mean ln x - d/dbeta ln zeta(beta, x_min)`` decreases from +inf (beta -> 1) to
    ``ln x_min - mean ln x < 0``, so a root is bracketed; safeguarded Newton steps (derivatives
    of ``ln zeta`` by central differences) converge from the CSN closed-form start, with
    bisection on ``ln(beta - 1)`` whenever a step leaves the bracket.  Where ``zeta``
    underflows (beta ln x_min > ~700) the root lies lower and the bracket moves down.
    """
    mean_log = sum_log / n_tail
    lo = np.full(len(xmins), math.log(1e-9))  # bracket on t = ln(beta - 1)
    hi = np.full(len(xmins), math.log(500.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        start = 1 + 1 / np.maximum(mean_log - np.log(np.maximum(xmins - 0.5, 0.5)), 1e-9)  # CSN eq. 3.7
    t = np.clip(np.log(start - 1), lo + 1, hi - 1)
    for _ in range(100):
        beta = 1 + np.exp(t)
        h = 1e-4 * np.minimum(1.0, beta - 1)
        with np.errstate(invalid="ignore", over="ignore"):
            z_lo, z_mid, z_hi = _log_zeta(beta - h, xmins), _log_zeta(beta, xmins), _log_zeta(beta + h, xmins)
            score = -mean_log - (z_hi - z_lo) / (2 * h)
            slope = -(z_hi - 2 * z_mid + z_lo) / h**2  # d score / d beta < 0
        ok = np.isfinite(score)
        go_up = ok & (score > 0)
        lo = np.where(go_up, t, lo)
        hi = np.where(go_up, hi, t)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            newton = np.log(np.maximum(beta - score / slope - 1, 1e-300))
        inside = ok & np.isfinite(newton) & (slope < 0) & (newton >= lo) & (newton <= hi)
        t_next = np.where(inside, newton, 0.5 * (lo + hi))
        converged = np.all(np.abs(t_next - t) < 1e-11)
        t = t_next
        if converged:
            break
    return 1 + np.exp(t)


def _ks_rows(values: NDArray, below: NDArray, rows: NDArray, betas: NDArray, n_tail: NDArray, offsets: NDArray | None = None) -> NDArray:
    """KS distance of the fits in ``rows`` over the columns ``rows[i] + offsets`` (all columns >= the row if None)."""
    K = len(values)
    if offsets is None:
        k0 = int(rows.min())
        cols = np.broadcast_to(np.arange(k0, K), (len(rows), K - k0))
    else:
        cols = np.minimum(rows[:, None] + offsets[None, :], K - 1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = special.zeta(betas[:, None], values[cols].astype(np.float64))  # (rows, columns)
        fitted = 1 - z / special.zeta(betas, values[rows].astype(np.float64))[:, None]
        empirical = (below[cols] - below[rows, None]) / n_tail[:, None]
        diff = np.abs(fitted - empirical)
    diff[~np.isfinite(diff)] = np.inf
    diff[cols < rows[:, None]] = 0.0
    return diff.max(axis=1)


def _ks_distances(values: NDArray, counts: NDArray, cand: NDArray, betas: NDArray, n_tail: NDArray) -> NDArray:
    """KS distance of each candidate's fit, as powerlaw 2.0.0 computes it (NaN: provably not the minimum).

    ``values``: the distinct frequencies (ascending), ``counts`` how many types have each.
    For candidate ``j`` (``x_min = values[j]``) the empirical ``P(X < x | X >= x_min)`` and the
    fitted ``1 - zeta(beta, x) / zeta(beta, x_min)`` are compared at every ``values[k]``,
    ``k >= j``.  Branch and bound: the distance over a few columns of a row (the first 16 and
    32 log-spaced ones) is a lower bound of its KS; rows are completed in order of that bound
    until the bound exceeds the best KS found, and the rest are left NaN (they cannot win).
    The minimum and its index are exact.
    """
    K = len(values)
    below = (np.cumsum(counts) - counts).astype(np.float64)  # types with frequency < values[k]
    offsets = np.unique(np.concatenate([np.arange(16), np.geomspace(16, max(K, 17), 32).astype(np.int64)]))
    bound = _ks_rows(values, below, cand, betas, n_tail, offsets)
    out = np.full(len(cand), np.nan)
    best = np.inf
    order = np.argsort(bound, kind="stable")
    block = 8
    for s in range(0, len(order), block):
        idx = np.sort(order[s : s + block])
        idx = idx[bound[idx] <= best]
        if len(idx) == 0:
            break
        out[idx] = _ks_rows(values, below, cand[idx], betas[idx], n_tail[idx])
        best = min(best, float(np.nanmin(out[idx])))
    return out


def _scan(freqs: NDArray):
    """(candidate x_mins, betas, KS, n_tail, best index, distinct values, their counts) of the CSN scan."""
    values, counts = np.unique(freqs, return_counts=True)
    tail_n = np.cumsum(counts[::-1])[::-1]
    tail_log = np.cumsum((counts * np.log(values))[::-1])[::-1]
    cand = np.arange(max(len(values) - 2, 0))  # powerlaw: every distinct value but the two largest
    if len(cand) == 0:
        raise LmstatsError(
            f"the frequencies take only {len(values)} distinct value(s); the CSN power-law fit needs at least 3 "
            "(it never uses the two largest as x_min) — give more text (or a lower --n)"
        )
    xmins = values[cand].astype(np.float64)
    betas = _mle_betas(xmins, tail_n[cand].astype(np.float64), tail_log[cand])
    ks = _ks_distances(values, counts, cand, betas, tail_n[cand].astype(np.float64))
    best = int(np.nanargmin(ks))
    return xmins, betas, ks, tail_n[cand], best, values, counts


def fit_power_law(
    freqs: NDArray[np.int64],
    *,
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    compare: bool = True,
) -> PowerLawFit:
    """CSN discrete power-law fit of the frequency distribution (see the module docstring).

    ``bootstrap``: number of
    semi-parametric bootstrap samples for the goodness-of-fit p-value (needs ``rng``).
    ``compare``: Vuong likelihood-ratio tests against a discrete lognormal and exponential.
    """
    freqs = np.asarray(freqs, dtype=np.int64)
    xmins, betas, ks, tail_n, best, values, counts = _scan(freqs)
    beta, x0, n_tail = float(betas[best]), int(xmins[best]), int(tail_n[best])
    beta_se = (beta - 1) / math.sqrt(n_tail)
    alpha = 1 / (beta - 1)
    alpha_se = beta_se / (beta - 1) ** 2
    notes = []
    if n_tail < 50:
        notes.append(f"only {n_tail} types have frequency >= x_min={x0}; the CSN exponent is poorly determined")
    if beta >= POWERLAW_ALPHA_CAP:
        notes.append(f"beta = {beta:.3f} >= {POWERLAW_ALPHA_CAP:g}: powerlaw 2.0.0 would discard this fit (it caps its exponent below 3); lmstats does not")
    if len(xmins) > 1 and best == len(xmins) - 1:
        notes.append("x_min is the largest candidate: the KS scan found no tail larger than the last few points")
    if beta > 50:
        notes.append(f"beta = {beta:.1f}: the tail is essentially a point mass at x_min; the fit is degenerate")
    comparisons = ()
    if compare:
        tail = values >= x0
        comparisons, compare_notes = compare_tail(values[tail], counts[tail], x0, beta)
        notes.extend(compare_notes)
    p_value = math.nan
    if bootstrap > 0:
        if rng is None:
            raise LmstatsError("a bootstrap p-value needs a random generator: pass rng=np.random.default_rng(seed)")
        p_value = bootstrap_p_value(freqs, x0, beta, float(ks[best]), bootstrap, rng)
    return PowerLawFit(
        beta, beta_se, x0, n_tail, len(freqs), float(ks[best]), alpha, alpha_se, len(xmins), p_value, int(bootstrap),
        tuple(comparisons), tuple(notes), xmins, betas, ks,
    )


def power_law_pmf(x: NDArray, beta: float, xmin: int) -> NDArray[np.float64]:
    """``P(X = x) = x^-beta / zeta(beta, x_min)`` for integer ``x >= x_min`` (0 below)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= xmin, np.maximum(x, xmin) ** -beta / special.zeta(beta, xmin), 0.0)


def power_law_ccdf(x: NDArray, beta: float, xmin: int) -> NDArray[np.float64]:
    """``P(X >= x) = zeta(beta, x) / zeta(beta, x_min)`` for ``x >= x_min``."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= xmin, special.zeta(beta, np.maximum(x, xmin)) / special.zeta(beta, xmin), 1.0)


def sample_power_law(n: int, beta: float, xmin: int, rng: np.random.Generator, table: int = 100_000) -> NDArray[np.int64]:
    """``n`` draws from the discrete power law by exact inverse CDF up to ``x_min + table``.

    Draws beyond the table (probability ``P(X >= x_min + table)``) use the continuous
    approximation of CSN (Appendix D) started at the table's end, accurate there.
    """
    xs = np.arange(xmin, xmin + table, dtype=np.float64)
    ccdf = special.zeta(beta, xs) / special.zeta(beta, xmin)  # P(X >= x), decreasing, ccdf[0] = 1
    u = rng.random(n)
    # X = largest x with P(X >= x) >= u
    idx = np.searchsorted(-ccdf, -u, side="right") - 1
    out = (xmin + idx).astype(np.int64)
    x_end = xmin + table
    s_end = special.zeta(beta, x_end) / special.zeta(beta, xmin)
    far = u < s_end
    if far.any():
        out[far] = np.floor((x_end - 0.5) * (u[far] / s_end) ** (-1 / (beta - 1)) + 0.5).astype(np.int64)
    return out


def bootstrap_p_value(
    freqs: NDArray, xmin: int, beta: float, ks: float, n_samples: int, rng: np.random.Generator
) -> float:
    """CSN semi-parametric bootstrap: share of synthetic data sets fitting worse (KS >=) than the data.

    Each synthetic set has as many types as the data; with probability ``n_tail / n`` a value
    is drawn from the fitted power law, otherwise uniformly from the observed values below
    ``x_min``.  Each is refitted with its own ``x_min`` scan.
    """
    freqs = np.asarray(freqs)
    below = freqs[freqs < xmin]
    n = len(freqs)
    worse = 0
    done = 0
    for _ in range(n_samples):
        n_below = rng.binomial(n, len(below) / n) if len(below) else 0
        synthetic = np.concatenate([rng.choice(below, n_below) if n_below else np.zeros(0, np.int64), sample_power_law(n - n_below, beta, xmin, rng)])
        try:
            _, _, sks, _, sbest, _, _ = _scan(synthetic)
        except LmstatsError:
            continue
        done += 1
        worse += sks[sbest] >= ks
    return worse / done if done else math.nan


def _vuong(ll_a: NDArray, ll_b: NDArray, weights: NDArray) -> tuple[float, float, float]:
    """Vuong's non-nested test on per-observation log-likelihoods (weighted by multiplicity)."""
    d = ll_a - ll_b
    n = weights.sum()
    r = float(np.dot(weights, d))
    var = float(np.dot(weights, (d - r / n) ** 2)) / n
    if var <= 0:
        return r, math.nan, math.nan
    sd = math.sqrt(n * var)
    return r, r / sd, float(special.erfc(abs(r) / (math.sqrt(2) * sd)))


def _lognormal_logpmf(x: NDArray, mu: float, sigma: float, xmin: int) -> NDArray:
    """Discrete lognormal by rounding (as powerlaw): mass of ``[x - 1/2, x + 1/2]`` given ``X >= x_min - 1/2``."""
    lo = special.log_ndtr(-(np.log(x - 0.5) - mu) / sigma)  # ln P(Y > x - 1/2)
    hi = special.log_ndtr(-(np.log(x + 0.5) - mu) / sigma)
    norm = special.log_ndtr(-(math.log(xmin - 0.5) - mu) / sigma)
    with np.errstate(divide="ignore"):
        return lo + np.log1p(-np.exp(hi - lo)) - norm


def compare_tail(values: NDArray, counts: NDArray, xmin: int, beta: float) -> tuple[list[LikelihoodRatio], list[str]]:
    """Likelihood ratios of the power law against a discrete lognormal and exponential on the tail.

    ``values``/``counts``: the distinct tail frequencies (``>= x_min``) and their multiplicity.
    Both alternatives are fitted by maximum likelihood on the same tail.
    """
    x = values.astype(np.float64)
    w = counts.astype(np.float64)
    notes = []
    ll_pl = -beta * np.log(x) - math.log(special.zeta(beta, xmin))
    # Exponential (geometric from x_min): P(x) = (1 - e^-lam) e^{-lam (x - x_min)}; closed-form MLE.
    excess = np.dot(w, x - xmin) / w.sum()
    lam = math.log1p(1 / excess)
    ll_exp = math.log(-math.expm1(-lam)) - lam * (x - xmin)
    out = [LikelihoodRatio("exponential", *_vuong(ll_pl, ll_exp, w), {"lambda": lam})]
    # Lognormal: numerical MLE over (mu, ln sigma), started at the moments of ln x.
    logs = np.log(x)
    m = np.dot(w, logs) / w.sum()
    s = math.sqrt(max(np.dot(w, (logs - m) ** 2) / w.sum(), 1e-4))
    nll = lambda p: -np.dot(w, _lognormal_logpmf(x, p[0], math.exp(p[1]), xmin))  # noqa: E731
    res = optimize.minimize(nll, [m, math.log(s)], method="L-BFGS-B", bounds=[(-100.0, 100.0), (math.log(1e-3), math.log(100.0))])
    mu, sigma = float(res.x[0]), math.exp(res.x[1])
    if not res.success or mu <= -99.9 or sigma >= 99.9:
        notes.append(f"the lognormal fit of the tail degenerates (mu={mu:.3g}, sigma={sigma:.3g}); its likelihood ratio is unreliable")
    out.append(LikelihoodRatio("lognormal", *_vuong(ll_pl, _lognormal_logpmf(x, mu, sigma, xmin), w), {"mu": mu, "sigma": sigma}))
    return out, notes


# -- Heaps -------------------------------------------------------------------------------


def fit_heaps(positions: NDArray[np.int64], types: NDArray[np.int64], n_min: int = 10) -> HeapsFit:
    """Least squares of ``ln V`` on ``ln N`` over the sampled points with ``N >= n_min`` (all if too few)."""
    positions = np.asarray(positions)
    types = np.asarray(types)
    keep = positions >= n_min
    if keep.sum() < 3:
        keep = np.ones(len(positions), dtype=bool)
    if keep.sum() < 3 or np.all(types[keep] == types[keep][0]):
        raise LmstatsError("Heaps' law needs a vocabulary that grows over at least 3 prefix lengths; give more text")
    reg = stats.linregress(np.log(positions[keep]), np.log(types[keep]))
    return HeapsFit(math.exp(reg.intercept), reg.slope, reg.stderr, reg.rvalue**2, int(positions[keep][0]), int(positions[keep][-1]), positions, types)


# -- one order, one corpus ---------------------------------------------------------------


def fit_zipf(
    type_ids: NDArray[np.int64],
    *,
    order: int = 1,
    min_rank: int = 1,
    max_rank: int | None = None,
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    compare: bool = True,
) -> ZipfFit:
    """Every fit on one n-gram order, from the type id of each occurrence in text order."""
    what = order_name(order)
    freqs = check_frequencies(frequencies(type_ids), what)
    n_hapax = int(np.count_nonzero(freqs == 1))
    ls = fit_least_squares(freqs, min_rank, max_rank)
    mle = fit_rank_mle(freqs)
    zm = fit_mandelbrot(freqs, alpha0=mle.alpha)
    pl = fit_power_law(freqs, bootstrap=bootstrap, rng=rng, compare=compare)
    heaps = fit_heaps(*heaps_curve(type_ids))
    notes = []
    if not zm.converged:
        notes.append(f"Zipf–Mandelbrot fit did not converge inside its bounds (alpha={zm.alpha:.3g}, b={zm.b:.3g})")
    if mle.alpha < 0.05:
        notes.append(f"rank MLE alpha = {mle.alpha:.3g}: frequencies are nearly flat over ranks")
    return ZipfFit(order, len(type_ids), len(freqs), n_hapax, n_hapax / len(freqs), ls, mle, zm, pl, heaps, tuple(notes), freqs)


def analyse_zipf(
    sentences: Sequence[Sequence[str]],
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
) -> ZipfAnalysis:
    """Zipf and Heaps fits for each n-gram order of ``sentences`` (token lists, one per line).

    N-grams never cross a line.  Raises :class:`LmstatsError` when an order has no n-grams
    (every line shorter than ``order``), fewer than ``MIN_TYPES`` types or all-equal counts.
    """
    lines = encode_sentences(sentences)
    longest = int(lines.lengths.max()) if len(lines) else 0
    too_long = [order for order in orders if order > longest]
    if too_long:
        raise LmstatsError(
            f"no {order_name(min(too_long))}: the longest line has {longest} token(s) and n-grams are counted within lines; "
            f"use a smaller --n (at most {max(longest, 1)}), or --format stream to treat the text as one sequence"
        )
    fits = []
    for order in orders:
        fits.append(fit_zipf(ngram_type_ids(lines, order), order=order, min_rank=min_rank, max_rank=max_rank,
                             bootstrap=bootstrap, rng=rng, compare=compare))
    return ZipfAnalysis(corpus, text, level, tuple(fits))


# -- plot --------------------------------------------------------------------------------


def plot_zipf(analysis: ZipfAnalysis):
    """A matplotlib Figure: rank-frequency (with fitted lines), frequency CCDF (with the CSN tail), Heaps curves.

    Returns the figure; writing it is the caller's business.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 5.2), layout="constrained")
    ax_rank, ax_ccdf, ax_heaps = fig.subplots(1, 3)
    colours = ["C0", "C1", "C2", "C3", "C4", "C5"]
    for i, fit in enumerate(analysis.fits):
        c = colours[i % len(colours)]
        name = order_name(fit.order)
        freqs = fit.freqs
        V, n = len(freqs), int(freqs.sum())
        ranks = np.unique(np.round(np.geomspace(1, V, 1500)).astype(np.int64))
        ax_rank.loglog(ranks, freqs[ranks - 1], ".", ms=2.5, color=c, label=f"{name}")
        ls = fit.least_squares
        r_ls = np.array([ls.min_rank, ls.max_rank], dtype=float)
        ax_rank.loglog(r_ls, np.exp(ls.intercept) * r_ls**-ls.alpha, "-", color=c, lw=1.2, label=f"  LS α={ls.alpha:.2f} (ranks {ls.min_rank}–{ls.max_rank})")
        a = fit.rank_mle.alpha
        rr = np.geomspace(1, V, 200)
        log_h = special.logsumexp(-a * np.log(np.arange(1, V + 1)))
        ax_rank.loglog(rr, n * np.exp(-a * np.log(rr) - log_h), "--", color=c, lw=1.2, label=f"  rank MLE α={a:.2f}")
        zm = fit.mandelbrot
        log_z = special.logsumexp(-zm.alpha * np.log(np.arange(1, V + 1) + zm.b))
        ax_rank.loglog(rr, n * np.exp(-zm.alpha * np.log(rr + zm.b) - log_z), ":", color=c, lw=1.5, label=f"  Z–M α={zm.alpha:.2f}, b={zm.b:.2f}")

        values, counts = np.unique(freqs, return_counts=True)
        ccdf = np.cumsum(counts[::-1])[::-1] / V  # P(X >= x)
        ax_ccdf.loglog(values, ccdf, ".", ms=3, color=c, label=name)
        pl = fit.power_law
        xs = np.unique(np.round(np.geomspace(pl.xmin, values[-1], 200)))
        ax_ccdf.loglog(xs, pl.n_tail / V * power_law_ccdf(xs, pl.beta, pl.xmin), "-", color=c, lw=1.2,
                       label=f"  CSN β={pl.beta:.2f} (α={pl.alpha:.2f}), x_min={pl.xmin}")
        hp = fit.heaps
        ax_heaps.loglog(hp.positions, hp.types, ".", ms=3, color=c, label=name)
        nn = np.array([hp.n_min, hp.n_max], dtype=float)
        ax_heaps.loglog(nn, hp.k * nn**hp.beta, "-", color=c, lw=1.2, label=f"  V={hp.k:.2f}·N^{hp.beta:.3f}")
    ax_rank.set(xlabel="rank r", ylabel="frequency f_r", title="rank-frequency")
    ax_ccdf.set(xlabel="frequency f", ylabel="P(F ≥ f) over types", title="CCDF of frequencies, CSN tail fit")
    ax_heaps.set(xlabel="tokens N", ylabel="types V(N)", title="Heaps' law")
    for ax in (ax_rank, ax_ccdf, ax_heaps):
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"{analysis.corpus}: {analysis.text}", fontsize=10)
    return fig
