"""The Clauset–Shalizi–Newman discrete power law of the frequency distribution.

``P(f) = f^-beta / zeta(beta, x_min)`` for ``f >= x_min`` (``beta`` is the
``freq_exponent`` of :class:`~lmstats.zipf.results.PowerLawFit`): the exact MLE for every
candidate ``x_min``, the ``x_min`` minimising the KS distance (as ``powerlaw`` 2.0.0 chooses
it), the semi-parametric bootstrap p-value, and Vuong likelihood-ratio tests of the tail
against a discrete lognormal and a discrete exponential.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

from lmstats.errors import LmstatsError
from lmstats.zipf.results import LikelihoodRatio, PowerLawFit
from lmstats.zipf.spectrum import Spectrum

POWERLAW_ALPHA_CAP = 3.0  # powerlaw 2.0.0's exclusive upper bound on its exponent


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
    return _scan_values(*np.unique(freqs, return_counts=True))


def _scan_values(values: NDArray, counts: NDArray):
    """:func:`_scan` of the distinct frequencies (ascending) and how many types have each."""
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
    freqs,
    *,
    bootstrap: int = 0,
    rng: np.random.Generator | None = None,
    compare: bool = True,
) -> PowerLawFit:
    """CSN discrete power-law fit of the frequency distribution (see the module docstring).

    ``bootstrap``: number of
    semi-parametric bootstrap samples for the goodness-of-fit p-value (needs ``rng``).
    ``compare``: Vuong likelihood-ratio tests against a discrete lognormal and exponential.
    ``freqs``: the frequency list or its :class:`~lmstats.zipf.spectrum.Spectrum`.
    """
    spectrum = Spectrum.of(freqs if isinstance(freqs, Spectrum) else np.asarray(freqs, dtype=np.int64))
    n_types = spectrum.n_types
    xmins, betas, ks, tail_n, best, values, counts = _scan_values(spectrum.values[::-1].astype(np.int64), spectrum.counts[::-1])
    beta, x0, n_tail = float(betas[best]), int(xmins[best]), int(tail_n[best])
    beta_se = (beta - 1) / math.sqrt(n_tail)
    alpha = 1 / (beta - 1)
    alpha_se = beta_se / (beta - 1) ** 2
    notes = []
    if n_tail < 50:
        notes.append(f"only {n_tail} types have frequency >= x_min={x0}; the CSN exponent is poorly determined")
    if beta >= POWERLAW_ALPHA_CAP:
        notes.append(f"beta = {beta:.3f} >= {POWERLAW_ALPHA_CAP:g}: "
                     "powerlaw 2.0.0 would discard this fit (it caps its exponent below 3); lmstats does not")
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
        p_value = bootstrap_p_value(spectrum.expand(), x0, beta, float(ks[best]), bootstrap, rng)
    return PowerLawFit(
        beta, beta_se, x0, n_tail, n_types, float(ks[best]), alpha, alpha_se, len(xmins), p_value, int(bootstrap),
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
        synthetic = np.concatenate([rng.choice(below, n_below) if n_below else np.zeros(0, np.int64),
                                    sample_power_law(n - n_below, beta, xmin, rng)])
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
