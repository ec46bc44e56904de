"""The result records of the Zipf and Heaps fits: frozen dataclasses with ``to_dict()``.

Notation, the same in the text output, the JSON and the report: ``alpha`` of the rank fits
(least squares, rank MLE, Zipf–Mandelbrot) is Zipf's rank exponent, ``f_r ∝ r^-alpha``.
The CSN power law is fitted to the frequency distribution, ``P(f) ∝ f^-freq_exponent``:
its ``freq_exponent`` is the exponent Clauset, Shalizi & Newman and the ``powerlaw`` package
call alpha, and ``rank_exponent = 1/(freq_exponent - 1)`` is the rank exponent the same law
implies.  Heaps' ``beta`` is the vocabulary growth exponent, ``V(N) = K N^beta``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import NDArray

from lmstats.jsonable import jsonable
from lmstats.zipf.spectrum import Spectrum

NOTATION = {
    "alpha": "Zipf's rank exponent of the rank fits: f_r ∝ r^-alpha",
    "power_law.freq_exponent": "exponent of the frequency distribution, P(f) ∝ f^-freq_exponent (Clauset et al.'s and powerlaw's alpha)",
    "power_law.rank_exponent": "1/(freq_exponent - 1): the rank exponent implied by the power law",
    "heaps.beta": "Heaps' vocabulary growth exponent: V(N) = K N^beta",
}


class _Result:
    """``to_dict()`` for the frozen result dataclasses: JSON-ready, non-finite floats as None."""

    def to_dict(self) -> dict:
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self) if f.repr}


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
    """CSN discrete power law ``P(f) = f^-freq_exponent / zeta(freq_exponent, x_min)`` of the frequencies ``f >= x_min``.

    ``freq_exponent`` is Clauset et al.'s and powerlaw's alpha; ``rank_exponent =
    1 / (freq_exponent - 1)`` is the rank exponent the same law implies (delta-method SE).
    ``p_value`` is NaN unless a bootstrap was asked for.
    """

    freq_exponent: float
    freq_exponent_se: float
    xmin: int
    n_tail: int
    n: int
    ks: float
    rank_exponent: float
    rank_exponent_se: float
    n_candidates: int
    p_value: float = math.nan
    n_bootstrap: int = 0
    comparisons: tuple[LikelihoodRatio, ...] = ()
    warnings: tuple[str, ...] = ()
    # The whole x_min scan (candidates, exponents, KS distances), for diagnostics and tests.
    scan_xmins: NDArray[np.float64] = field(default=None, repr=False, compare=False)
    scan_exponents: NDArray[np.float64] = field(default=None, repr=False, compare=False)
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
    spectrum: Spectrum = field(default=None, repr=False, compare=False)  # the frequency list as (frequency, types) pairs


@dataclass(frozen=True)
class ZipfAnalysis(_Result):
    """The fits of every requested order on one text."""

    corpus: str
    text: str  # which text was counted, in words
    level: str
    fits: tuple[ZipfFit, ...]
