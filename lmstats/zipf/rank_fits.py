"""Rank-frequency fits: the textbook least-squares line, the rank MLE, Zipf–Mandelbrot."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

from lmstats.errors import LmstatsError
from lmstats.zipf.results import LeastSquaresFit, MandelbrotFit, RankMLEFit

MIN_TYPES = 5  # fewer n-gram types than this is not a frequency distribution


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
