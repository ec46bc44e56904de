"""The smoothing family: small pieces of arithmetic over one :class:`NgramCounts`.

Every smoother produces the same thing, an :class:`Estimate`:

* ``probs[k-1]``: P(w | h) of every stored k-gram (h, w) of order k (order 1: dense over the
  vocabulary, 0 for ``<s>``/``<pad>``);
* ``backoffs[k-1]`` (k < N): the weight γ(h) given to the lower distribution when the k-gram
  h is the context of an (k+1)-gram that is not stored;
* ``low``: what γ(h) multiplies: ``lower`` (the next-lower order's probability, the recursive
  form every interpolated smoother and the ARPA format use), ``unigram`` (the d2l textbook
  form, which interpolates every order with the unigram) or ``uniform`` (add-k, 1 / |V|);
* ``gamma_unseen``: the weight when the context itself was never seen (1 for distributions,
  0 for MLE, 0.4 for stupid backoff).

Scoring (:mod:`lmstats.ngram.model`) is then one rule for all smoothers: a stored n-gram
gets its probability, otherwise γ(context) × low, and a context that is shorter than N-1
(the start of a sentence) simply uses the lower order.

Smoothers (V = the predictable set: vocabulary minus ``<s>``; c = counts; C(h) = Σ_w c(h w);
T(h) = number of distinct w after h):

``eps``      d2l's additive interpolation with one ε per order:
             P(w) = (c(w) + ε₁/V) / (n + ε₁), P(w|h) = (c(hw) + ε_k·P_low(w)) / (C(h) + ε_k);
             P_low is the next-lower order (``recursive``, default) or the unigram
             (``textbook``, exactly d2l's formulas).
``laplace``  NLTK's Laplace: (c(hw) + 1) / (C(h) + V); ``lidstone``: add-k with any k > 0
             (default :data:`DEFAULT_ADD_K` = 0.5, the Jeffreys-Perks "expected likelihood" value).
``mle``      c(hw) / C(h); unseen events get probability 0 (infinite perplexity, counted).
``wb``       interpolated Witten-Bell: (c(hw) + T(h)·P_low(w)) / (C(h) + T(h)), uniform below unigrams.
``abs``      interpolated absolute discounting, D_k = n₁/(n₁ + 2n₂) per order.
``kn``       interpolated Kneser-Ney: adjusted counts (continuation counts below the top
             order, raw counts for n-grams starting with ``<s>``), one discount per order.
``mkn``      interpolated modified Kneser-Ney with three discounts per order from the
             counts-of-counts of adjusted counts, as KenLM's lmplz computes them.
``stupid``   stupid backoff (Brants et al. 2007): relative frequency, else 0.4 × lower
             order.  A scorer, **not a distribution** (``is_distribution = False``).

``prune`` (abs, kn, mkn; lmplz's ``--prune``): the n-grams seen at most T_k times give their whole
adjusted count to their context's backoff weight instead of their discount, and
:func:`lmstats.ngram.prune.prune_tables` then drops them (the rules: :mod:`lmstats.ngram.prune`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.ngram.counts import NgramCounts
from lmstats.ngram.lmplz import shift_counts_of_counts
from lmstats.ngram.prune import backoff_mass, check_thresholds, threshold

SMOOTHERS = ("eps", "laplace", "lidstone", "mle", "wb", "abs", "kn", "mkn", "stupid")
EPS_VARIANTS = ("recursive", "textbook")
# KenLM's --discount_fallback defaults, used where counts-of-counts leave a discount undefined
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
STUPID_ALPHA = 0.4
DEFAULT_ADD_K = 0.5  # lidstone's k, the same in the library, the CLI and reports


@dataclass(frozen=True, eq=False)
class Estimate:
    probs: tuple[NDArray[np.float64], ...]
    backoffs: tuple[NDArray[np.float64], ...]
    low: str  # lower | unigram | uniform
    gamma_unseen: float
    is_distribution: bool
    discounts: dict = field(default_factory=dict)  # order -> list of discounts (abs, kn, mkn only)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmoothingSpec:
    """Which smoother and its parameters (validated; see the module docstring)."""

    name: str = "mkn"
    eps: tuple[float, ...] | float = 1.0
    eps_variant: str = "recursive"
    k: float = DEFAULT_ADD_K  # lidstone's additive constant
    discount_fallback: bool = True
    prune: tuple[int, ...] | None = None  # lmplz's count thresholds per order from the unigrams (abs, kn, mkn)

    def __post_init__(self) -> None:
        if self.name not in SMOOTHERS:
            raise LmstatsError(f"unknown smoothing {self.name!r}; choose one of {', '.join(SMOOTHERS)}")
        if self.prune is not None:
            check_thresholds(self.prune, len(self.prune), self.name)
        if self.eps_variant not in EPS_VARIANTS:
            raise LmstatsError(f"eps variant must be one of {EPS_VARIANTS}, got {self.eps_variant!r}")
        eps = self.eps if isinstance(self.eps, tuple) else (self.eps,)
        if any(not np.isfinite(e) or e <= 0 for e in eps):
            raise LmstatsError(
                f"eps must be > 0 for every order, got {self.eps!r}: eps=0 gives unseen n-grams probability 0 "
                "and infinite perplexity; use e.g. --eps 0.1"
            )
        if not np.isfinite(self.k) or self.k <= 0:
            raise LmstatsError(f"the add-k constant must be > 0, got {self.k!r}; k=0 is MLE (use --smoothing mle)")

    def eps_for(self, order: int) -> tuple[float, ...]:
        eps = self.eps if isinstance(self.eps, tuple) else (self.eps,) * order
        if len(eps) != order:
            raise LmstatsError(f"--eps needs one value or one per order ({order} values), got {len(eps)}: {eps}")
        return tuple(float(e) for e in eps)


def estimate(counts: NgramCounts, spec: SmoothingSpec, mask: NDArray[np.bool_]) -> Estimate:
    """Probabilities and backoff weights of every stored n-gram under ``spec``.

    ``mask`` is the vocabulary's predictable set (``Vocab.predictable_mask``).  Raises
    :class:`LmstatsError` when a parameter is so small that some probability underflows to 0.
    """
    est = _SMOOTHERS[spec.name](counts, spec, mask)
    if est.is_distribution and est.gamma_unseen > 0:  # not MLE (zeros by design) nor stupid backoff
        _check_no_underflow(est, mask, spec)
    return est


def _check_no_underflow(est: Estimate, mask: NDArray[np.bool_], spec: SmoothingSpec) -> None:
    """The smallest probability the model can give a predictable word must be a positive float.

    A lower bound of every probability: the smallest unigram, then per order the smallest
    backoff weight times the bound of what it multiplies (the order below, the unigram or
    the uniform 1/V); stored n-grams get at least that much.
    """
    with np.errstate(divide="ignore"):
        log_p1 = float(np.log(est.probs[0][mask].min()))
        log_bound = log_p1
        for gamma in est.backoffs:
            low = {"lower": log_bound, "unigram": log_p1, "uniform": -math.log(mask.sum())}[est.low]
            log_gamma = float(np.log(gamma.min())) if len(gamma) else 0.0
            log_bound = min(log_bound, log_gamma + low)
    if not log_bound > math.log(np.finfo(np.float64).tiny):
        what = {"eps": f"eps={spec.eps!r}", "lidstone": f"k={spec.k!r}"}.get(spec.name, f"the {spec.name} smoothing")
        raise LmstatsError(
            f"{what} is so small that some probabilities underflow to 0 in float64 (the smallest would be e^{log_bound:.4g}); "
            "give a larger value (e.g. --eps 1e-6), or use --smoothing mle for zero probabilities on purpose"
        )


# -- helpers -------------------------------------------------------------------------------


def _context_sums(counts: NgramCounts, k: int, values: NDArray) -> NDArray[np.float64]:
    """Σ over the stored k-grams sharing a context, indexed by the context's row (order k-1)."""
    ctx = counts.table(k).context(counts.vocab_size)
    return np.bincount(ctx, weights=values, minlength=len(counts.table(k - 1))).astype(np.float64)


def _context_types(counts: NgramCounts, k: int, select: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    ctx = counts.table(k).context(counts.vocab_size)
    if select is not None:
        ctx = ctx[select]
    return np.bincount(ctx, minlength=len(counts.table(k - 1))).astype(np.float64)


def _unigram_counts(counts: NgramCounts, mask) -> NDArray[np.float64]:
    return np.where(mask, counts.table(1).counts, 0).astype(np.float64)


def _ratio(num, den, default):
    """num / den elementwise, ``default`` where den == 0."""
    out = np.full(np.broadcast(num, den).shape, default, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _interpolate(counts, k, probs, u, gamma, low, mask):
    """P of the stored k-grams: u + γ(h)·low(w), low from the lower order or the unigram."""
    V = counts.vocab_size
    table = counts.table(k)
    ctx = table.context(V)
    if low == "lower":
        low_p = probs[k - 2][table.suffix] if k > 2 else probs[0][table.word(V)]
    elif low == "unigram":
        low_p = probs[0][table.word(V)]
    else:  # uniform
        low_p = np.full(len(table), 1.0 / mask.sum())
    return u + gamma[ctx] * low_p


def _additive(counts, spec, mask, eps_per_order, low, unigram_eps=None):
    """c(hw) + ε_k·low over C(h) + ε_k at every order (eps and add-k share this)."""
    N = counts.order
    B = mask.sum()
    c1 = _unigram_counts(counts, mask)
    e1 = eps_per_order[0]
    probs = [np.where(mask, (c1 + (unigram_eps if unigram_eps is not None else e1 / B)) / (c1.sum() + e1), 0.0)]
    backoffs = []
    for k in range(2, N + 1):
        e = eps_per_order[k - 1]
        table = counts.table(k)
        C = _context_sums(counts, k, table.counts)
        ctx = table.context(counts.vocab_size)
        gamma = e / (C + e)
        backoffs.append(gamma)
        probs.append(_interpolate(counts, k, probs, table.counts / (C[ctx] + e), gamma, low, mask))
    return probs, backoffs


# -- the smoothers --------------------------------------------------------------------------


def _eps(counts, spec, mask):
    eps = spec.eps_for(counts.order)
    low = "lower" if spec.eps_variant == "recursive" else "unigram"
    probs, backoffs = _additive(counts, spec, mask, eps, low)
    return Estimate(tuple(probs), tuple(backoffs), low, 1.0, True)


def _add_k(counts, spec, mask, k):
    B = int(mask.sum())
    # add-k at every order: (c + k) / (C + kB); the unigram is the same with ε₁ = kB, ε₁/B = k.
    probs, backoffs = _additive(counts, spec, mask, (k * B,) * counts.order, "uniform", unigram_eps=k)
    return Estimate(tuple(probs), tuple(backoffs), "uniform", 1.0, True)


def _laplace(counts, spec, mask):
    return _add_k(counts, spec, mask, 1.0)


def _lidstone(counts, spec, mask):
    return _add_k(counts, spec, mask, spec.k)


def _relative_frequencies(counts, mask, backoff: float):
    """c(hw) / C(h) at every order, and a constant backoff weight for every context."""
    c1 = _unigram_counts(counts, mask)
    probs = [c1 / c1.sum()]
    backoffs = []
    for k in range(2, counts.order + 1):
        table = counts.table(k)
        C = _context_sums(counts, k, table.counts)
        probs.append(table.counts / C[table.context(counts.vocab_size)])
        backoffs.append(np.full(len(counts.table(k - 1)), backoff))
    return tuple(probs), tuple(backoffs)


def _mle(counts, spec, mask):
    probs, backoffs = _relative_frequencies(counts, mask, 0.0)
    return Estimate(probs, backoffs, "lower", 0.0, True)


def witten_bell_unigrams(c1: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Witten-Bell's unigram probabilities from the unigram counts ``c1`` (0 outside the predictable set)."""
    T1 = np.count_nonzero(c1)
    return np.where(mask, (c1 + T1 / mask.sum()) / (c1.sum() + T1), 0.0)


def _witten_bell(counts, spec, mask):
    probs = [witten_bell_unigrams(_unigram_counts(counts, mask), mask)]
    backoffs = []
    for k in range(2, counts.order + 1):
        table = counts.table(k)
        C = _context_sums(counts, k, table.counts)
        T = _context_types(counts, k)
        gamma = _ratio(T, C + T, 1.0)
        backoffs.append(gamma)
        u = table.counts / (C + T)[table.context(counts.vocab_size)]
        probs.append(_interpolate(counts, k, probs, u, gamma, "lower", mask))
    return Estimate(tuple(probs), tuple(backoffs), "lower", 1.0, True)


def _counts_of_counts(values: NDArray, upto: int = 4) -> list[int]:
    v = values[values > 0].astype(np.int64)
    return np.bincount(np.minimum(v, upto + 1), minlength=upto + 2)[1 : upto + 1].tolist()


def _discounts(values: NDArray, kind: str, order: int, fallback: bool, warnings: list, what: str = "count",
               lmplz_last: tuple[int, int] | None = None) -> list[float]:
    """Discounts from the counts-of-counts of ``values`` (see :func:`_discounts_from`); for modified Kneser-Ney, with the
    one n-gram lmplz counts raw moved to its raw count's bucket (``lmplz_last``, :mod:`lmstats.ngram.lmplz`)."""
    n = _counts_of_counts(values)
    if kind == "modified" and lmplz_last is not None:
        n = shift_counts_of_counts(n, *lmplz_last)
    return _discounts_from(n, kind, order, fallback, warnings, what)


def _discounts_from(n: list[int], kind: str, order: int, fallback: bool, warnings: list, what: str = "count") -> list[float]:
    """Discounts from counts-of-counts n1..n4 (Chen & Goodman's estimates, as in lmplz).

    ``what`` names the counted quantity ("count", or "continuation count" for Kneser-Ney's
    lower orders) in the message that explains a fallback.
    """
    n1, n2, n3, n4 = n
    needed = 2 if kind == "single" else 4
    if kind == "single":
        ok = n1 > 0 and n2 > 0
        d = [n1 / (n1 + 2 * n2)] if ok else [np.nan]
        valid = ok and 0 < d[0] < 1
        fb = [FALLBACK_DISCOUNTS[0]]
    else:
        ok = n1 > 0 and n2 > 0 and n3 > 0 and n4 > 0
        if ok:
            y = n1 / (n1 + 2 * n2)
            d = [1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3]
        else:
            d = [np.nan] * 3
        valid = ok and all(0 < di < j + 1 for j, di in enumerate(d))
        fb = list(FALLBACK_DISCOUNTS)
    if valid:
        return d
    missing = [i + 1 for i in range(needed) if n[i] == 0]
    if missing:
        why = (f"no {order}-gram has a {what} of exactly {' or '.join(map(str, missing))} (counts-of-counts n1..n4 = {n}), "
               "so Chen and Goodman's discount estimates are undefined")
        if len(missing) == needed:
            why += "; this happens on synthetic or heavily repeated text, where every n-gram is seen (or follows) many times"
    else:
        why = (f"the discount estimates {[round(x, 4) for x in d]} from counts-of-counts n1..n4 = {n} "
               "fall outside their range (0, 1), (0, 2), (0, 3)")
    msg = f"order {order}: {why}"
    if not fallback:
        raise LmstatsError(f"{msg}; use a lower order, more text, or allow the fallback discounts {fb}")
    warnings.append(f"{msg}: used the fallback discounts {fb} (KenLM's --discount_fallback)")
    return fb


def _discount_of(a: NDArray, d: list[float]) -> NDArray[np.float64]:
    """The discount of every (adjusted) count ``a``: D = min(a, d) (one discount) or d[min(a, 3) - 1]; 0 where a = 0."""
    if len(d) == 1:
        return np.where(a > 0, np.minimum(a, d[0]), 0.0)
    idx = np.clip(a, 1, 3).astype(np.int64) - 1
    return np.where(a > 0, np.asarray(d)[idx], 0.0)


def _discounted_unigrams(a1: NDArray, kind: str, spec, mask, warnings: list, what: str,
                         lmplz_last: tuple[int, int] | None = None) -> tuple[NDArray[np.float64], list[float]]:
    """Unigram probabilities of the discounting smoothers, interpolated with the uniform distribution over the predictable set."""
    a1 = np.where(mask, a1, 0.0)
    d1 = _discounts(a1, kind, 1, spec.discount_fallback, warnings, what, lmplz_last)
    D1 = _discount_of(a1, d1)
    total = a1.sum()
    return np.where(mask, (a1 - D1) / total + D1.sum() / total / mask.sum(), 0.0), d1


def _adjusted_counts(counts: NgramCounts, kneser_ney: bool) -> list[NDArray[np.float64]]:
    """Raw counts, or Kneser-Ney adjusted counts: continuation counts N1+(• g) below the top
    order, except raw counts for n-grams that start with ``<s>`` (nothing can precede them)."""
    N = counts.order
    out = []
    for k in range(1, N + 1):
        table = counts.table(k)
        raw = table.counts.astype(np.float64)
        if not kneser_ney or k == N:
            out.append(raw)
            continue
        cont = np.bincount(counts.table(k + 1).suffix, minlength=len(table)).astype(np.float64)
        out.append(np.where(table.first == counts.bos_id, raw, cont))
    return out


def _discounted(counts, spec, mask, kind: str, kneser_ney: bool):
    """Absolute discounting (kind single) and Kneser-Ney (single or three discounts)."""
    N = counts.order
    V = counts.vocab_size
    warnings: list[str] = []
    adjusted = _adjusted_counts(counts, kneser_ney)
    what = lambda k: "continuation count" if kneser_ney and k < N else "count"  # noqa: E731
    probs1, d1 = _discounted_unigrams(adjusted[0], kind, spec, mask, warnings, what(1), counts.lmplz_last.get(1))
    probs, backoffs, discounts = [probs1], [], {1: d1}
    for k in range(2, N + 1):
        table = counts.table(k)
        a = adjusted[k - 1]
        d = _discounts(a, kind, k, spec.discount_fallback, warnings, what(k), counts.lmplz_last.get(k))
        discounts[k] = d
        D = _discount_of(a, d)
        S = _context_sums(counts, k, a)
        gamma = _ratio(_context_sums(counts, k, backoff_mass(a, D, table.counts, threshold(spec.prune, k))), S, 1.0)
        backoffs.append(gamma)
        u = (a - D) / S[table.context(V)]
        probs.append(_interpolate(counts, k, probs, u, gamma, "lower", mask))
    return Estimate(tuple(probs), tuple(backoffs), "lower", 1.0, True, discounts, tuple(warnings))


def _abs(counts, spec, mask):
    return _discounted(counts, spec, mask, "single", kneser_ney=False)


def _kn(counts, spec, mask):
    return _discounted(counts, spec, mask, "single", kneser_ney=True)


def _mkn(counts, spec, mask):
    return _discounted(counts, spec, mask, "modified", kneser_ney=True)


def _stupid(counts, spec, mask):
    probs, backoffs = _relative_frequencies(counts, mask, STUPID_ALPHA)
    return Estimate(probs, backoffs, "lower", STUPID_ALPHA, False)


_SMOOTHERS = {
    "eps": _eps, "laplace": _laplace, "lidstone": _lidstone, "mle": _mle, "wb": _witten_bell,
    "abs": _abs, "kn": _kn, "mkn": _mkn, "stupid": _stupid,
}
