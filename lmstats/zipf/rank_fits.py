"""Rank-frequency fits: the textbook least-squares line, the rank MLE, Zipf–Mandelbrot.

Each takes a frequency list or its :class:`~lmstats.zipf.spectrum.Spectrum` and sums over the
ranks in blocks, so its memory does not grow with the number of types.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

import lmstats.zipf.spectrum as _spectrum
from lmstats.errors import LmstatsError
from lmstats.zipf.results import LeastSquaresFit, MandelbrotFit, RankMLEFit
from lmstats.zipf.spectrum import Spectrum

MIN_TYPES = 5  # fewer n-gram types than this is not a frequency distribution


def check_frequencies(freqs, what: str = "the frequency list") -> Spectrum:
    """The :class:`Spectrum` of a frequency list (or a spectrum, checked); LmstatsError when no law can be fitted to it."""
    if isinstance(freqs, Spectrum):
        spectrum = Spectrum(freqs.values[freqs.values > 0], freqs.counts[freqs.values > 0])
    else:
        freqs = np.asarray(freqs)
        if freqs.ndim != 1 or (len(freqs) and (not np.issubdtype(freqs.dtype, np.integer) and not np.all(freqs == np.round(freqs)))):
            raise LmstatsError(f"{what}: frequencies must be a 1-D list of whole counts")
        spectrum = Spectrum.of(freqs[freqs > 0].astype(np.int64))
    n_types = spectrum.n_types
    if n_types < MIN_TYPES:
        raise LmstatsError(
            f"{what} has only {n_types} type(s); Zipf fits need at least {MIN_TYPES} distinct types "
            "to say anything about a rank-frequency law — give more text (or a lower --n)"
        )
    if len(spectrum.values) == 1:
        raise LmstatsError(
            f"{what}: all {n_types:,} types occur equally often ({spectrum.values[0]} time(s) each), so there is no "
            "rank-frequency slope to fit — give more text (or a lower --n)"
        )
    return spectrum


class _Ranks:
    """The (ranks, frequencies) blocks of a spectrum, kept in memory when there is one block."""

    def __init__(self, freqs):
        self.spectrum = Spectrum.of(freqs)
        self._one = list(self.spectrum.blocks()) if self.spectrum.n_types <= _spectrum.BLOCK else None

    def __iter__(self):
        return iter(self._one) if self._one is not None else self.spectrum.blocks()


def fit_least_squares(freqs, min_rank: int = 1, max_rank: int | None = None) -> LeastSquaresFit:
    """Textbook slope of ``ln f_r`` on ``ln r`` for ranks ``min_rank..max_rank`` (default: all).

    ``freqs``: a frequency list (ranks in descending order) or its :class:`Spectrum`.  The
    regression is ``scipy.stats.linregress``'s, from centred sums over the ranks in blocks.
    """
    spectrum = Spectrum.of(freqs)
    V = spectrum.n_types
    max_rank = V if max_rank is None else min(max_rank, V)
    if min_rank < 1 or max_rank - min_rank + 1 < 3:
        raise LmstatsError(f"least-squares rank range {min_rank}..{max_rank} has fewer than 3 ranks; widen --min-rank/--max-rank")
    n = max_rank - min_rank + 1
    sum_x = sum_y = 0.0
    for ranks, values in spectrum.blocks(min_rank, max_rank):
        sum_x += float(np.log(ranks).sum())
        sum_y += float(np.log(values).sum())
    mean_x, mean_y = sum_x / n, sum_y / n
    sxx = syy = sxy = 0.0
    for ranks, values in spectrum.blocks(min_rank, max_rank):
        dx, dy = np.log(ranks) - mean_x, np.log(values) - mean_y
        sxx += float(np.dot(dx, dx))
        syy += float(np.dot(dy, dy))
        sxy += float(np.dot(dx, dy))
    if syy == 0:
        raise LmstatsError(f"least squares: frequencies are constant over ranks {min_rank}..{max_rank}; widen the rank range")
    slope = sxy / sxx
    r = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
    stderr = math.sqrt(max(0.0, (1 - r * r) * syy / sxx / (n - 2)))
    return LeastSquaresFit(-slope, stderr, mean_y - slope * mean_x, r * r, int(min_rank), int(max_rank))


def _rank_loglik_terms(alpha: float, ranks: _Ranks, n: float, data_log: float):
    """Log-likelihood, score and observed information of ``r^-alpha / H(V, alpha)`` (``alpha >= 0``).

    ``n``: the sum of the frequencies; ``data_log``: their sum weighted by ln r.  The sums over
    the ranks are made block by block (``w = -alpha ln r`` is largest, 0, at rank 1), the mean and
    variance of ln r merged across blocks (Chan et al.).  (``np.dot``, not ``@``: 1-D ``@`` is
    ~100x slower with some OpenBLAS builds.)
    """
    z = mean_log = m2 = 0.0
    for block, _ in ranks:
        log_r = np.log(block)
        e = np.exp(-alpha * log_r)
        zb = float(e.sum())
        mb = float(np.dot(e, log_r)) / zb
        m2b = float(np.dot(e, (log_r - mb) ** 2))
        total = z + zb
        delta = mb - mean_log
        m2 += m2b + delta * delta * z * zb / total
        mean_log += delta * zb / total
        z = total
    var_log = m2 / z
    loglik = -alpha * data_log - n * math.log(z)
    score = -data_log + n * mean_log
    return loglik, score, n * var_log


def fit_rank_mle(freqs) -> RankMLEFit:
    """MLE of ``alpha`` in ``P(rank r) = r^-alpha / H(V, alpha)``, ``r = 1..V``.

    The score ``n (E_alpha[ln r] - mean ln r)`` is decreasing in alpha, so the root is found
    by Brent's method; SE = ``1 / sqrt(n Var_alpha[ln r])`` (observed Fisher information).
    ``freqs``: a frequency list (descending) or its :class:`Spectrum`.
    """
    ranks = _Ranks(freqs)
    n = ranks.spectrum.total
    data_log = sum(float(np.dot(values, np.log(block))) for block, values in ranks)
    score = lambda a: _rank_loglik_terms(a, ranks, n, data_log)[1]  # noqa: E731
    hi = 8.0
    while score(hi) > 0 and hi < 1e3:
        hi *= 2
    alpha = 0.0 if score(0.0) <= 0 else optimize.brentq(score, 0.0, hi, xtol=1e-12)
    loglik, _, info = _rank_loglik_terms(alpha, ranks, n, data_log)
    return RankMLEFit(float(alpha), 1 / math.sqrt(info), ranks.spectrum.n_types, float(loglik))


def rank_log_normaliser(alpha: float, n_types: int, b: float = 0.0) -> float:
    """``ln sum_{r=1..V} (r + b)^-alpha`` (the Zipf and Zipf–Mandelbrot normaliser), in blocks."""
    shift = -alpha * math.log(1 + b)  # the largest term, at rank 1
    total = 0.0
    block = _spectrum.BLOCK
    for start in range(1, n_types + 1, block):
        ranks = np.arange(start, min(start + block, n_types + 1), dtype=np.float64)
        total += float(np.exp(-alpha * np.log(ranks + b) - shift).sum())
    return shift + math.log(total)


def _mandelbrot_negloglik(params: NDArray, ranks: _Ranks, n: float) -> tuple[float, NDArray]:
    """Negative log-likelihood of ``(r + b)^-alpha / Z`` and its gradient in ``(alpha, b)``."""
    alpha, b = params
    w_max = -alpha * math.log(1 + b)  # the largest weight, at rank 1
    z = p_log = p_inv = c_log = c_inv = 0.0
    for block, counts in ranks:
        shifted = block + b
        log_s = np.log(shifted)
        inv = 1 / shifted
        e = np.exp(-alpha * log_s - w_max)
        z += float(e.sum())
        p_log += float(np.dot(e, log_s))
        p_inv += float(np.dot(e, inv))
        c_log += float(np.dot(counts, log_s))
        c_inv += float(np.dot(counts, inv))
    nll = alpha * c_log + n * (w_max + math.log(z))
    d_alpha = c_log - n * p_log / z
    d_b = alpha * c_inv - n * alpha * p_inv / z
    return float(nll), np.array([d_alpha, d_b])


def fit_mandelbrot(freqs, *, alpha0: float | None = None) -> MandelbrotFit:
    """MLE of Zipf–Mandelbrot ``P(rank r) ∝ (r + b)^-alpha``, ``r = 1..V``, ``b > -1``.

    L-BFGS-B with the analytic gradient; SEs from the inverse of the observed information
    (the Hessian, by central differences of the analytic gradient).  ``freqs``: a frequency
    list (descending) or its :class:`Spectrum`.
    """
    ranks = _Ranks(freqs)
    n = ranks.spectrum.total
    b_hi = 10.0 * ranks.spectrum.n_types
    start = np.array([alpha0 if alpha0 is not None else 1.0, 1.0])
    res = optimize.minimize(_mandelbrot_negloglik, start, args=(ranks, n), jac=True, method="L-BFGS-B",
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
        hess[i] = (_mandelbrot_negloglik(up, ranks, n)[1] - _mandelbrot_negloglik(down, ranks, n)[1]) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
        alpha_se, b_se = (math.sqrt(v) if v > 0 else math.nan for v in np.diag(cov))
    except np.linalg.LinAlgError:
        alpha_se = b_se = math.nan
    at_bound = b <= -1 + 1e-6 or b >= b_hi * 0.999 or alpha >= 49.9
    return MandelbrotFit(float(alpha), alpha_se, float(b), b_se, float(-res.fun), bool(res.success and not at_bound))
