"""Confidence intervals for perplexity, and paired comparisons, by bootstrap over the scored units.

A test perplexity ``exp(Σ nll / Σ n)`` is one number from one draw of test text.  How much it would move with other
text of the same kind is estimated by resampling the *units* that were scored (Efron's bootstrap; for language
models and MT, Koehn 2004 and Berg-Kirkpatrick et al. 2012):

* the units are the lines in sentence mode (each scored from ``<s>``), and blocks of :data:`STREAM_BLOCK` consecutive
  tokens in stream mode (:func:`stream_block`: fewer in a short text, so that there are :data:`MIN_BLOCKS` at least).
  A stream is one unit, and resampling one unit says nothing; blocks of tokens that follow each other keep most of
  the dependence between neighbours (a moving-block bootstrap without overlap);
* each replicate draws as many units as there are, with replacement, and computes ``exp(Σ nll* / Σ n*)`` from the
  per-unit sums, so nothing is scored again (the cost is a few gathers over one array per model);
* more than :data:`MAX_UNITS` units are merged into runs of consecutive units first (:func:`grouped`), so a replicate
  costs at most that many draws whatever the text's size;
* the interval is the percentile interval of the replicates (2.5% and 97.5% for 95%);
* two models scored on the same units are compared **paired**: the same resampled units for both, the interval of
  the difference ``ppl_a - ppl_b``, and the p-value of Berg-Kirkpatrick et al. (2012, §3): the share of replicates
  whose difference exceeds twice the observed one (``δ* > 2δ``), i.e. how often a difference as large as the
  observed one arises by chance around a true difference of 0 (one-sided: that ``b`` is better than ``a``).

Every function takes a ``seed``: the same seed, the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError

STREAM_BLOCK = 256  # tokens per resampled block in stream mode (fewer in a text of under MIN_BLOCKS such blocks)
BASE_BLOCK = 16  # a stream block is a whole number of these (the streaming scorer keeps sums of them)
MIN_BLOCKS = 20  # blocks a stream is cut into at least, when it is long enough for blocks of BASE_BLOCK tokens
REPLICATES = 1000
MAX_UNITS = 100_000  # units resampled at most; more are merged into runs of consecutive ones (grouped)
LEVEL = 0.95
_CHUNK = 1 << 24  # unit draws made at a time (replicates x units), so memory stays bounded


@dataclass(frozen=True)
class UnitSums:
    """Per-unit sums of one model on one text: ``nll[u]`` (−Σ ln P of the unit's tokens) and ``n[u]`` (its tokens)."""

    nll: NDArray[np.float64]
    n: NDArray[np.int64]
    unit: str  # "line" or f"block of {STREAM_BLOCK} tokens"

    @property
    def ppl(self) -> float:
        return float(np.exp(self.nll.sum() / self.n.sum()))


def plural(count: int, unit: str) -> str:
    """``count`` units in words: the first word of ``unit`` takes an s when ``count`` is not 1."""
    head, _, rest = unit.partition(" ")
    return f"{count:,} {head}{'' if count == 1 else 's'}{' ' + rest if rest else ''}"


def stream_block(n_tokens: int) -> int:
    """Tokens per bootstrap block of a stream of ``n_tokens``: :data:`STREAM_BLOCK`, or fewer (a multiple of
    :data:`BASE_BLOCK`) so that a short text still gives :data:`MIN_BLOCKS` blocks."""
    return max(BASE_BLOCK, min(STREAM_BLOCK, n_tokens // MIN_BLOCKS // BASE_BLOCK * BASE_BLOCK))


def unit_sums(units: Lines, lp: NDArray[np.float64], mode: str, block: int | None = None) -> UnitSums:
    """The per-unit sums of the scored ``units`` (:func:`lmstats.evaluation.token_logprobs`) and their ln P ``lp``:
    one per line in sentence mode, one per ``block`` tokens in stream mode (default :func:`stream_block`; the last
    block shorter)."""
    block = stream_block(len(lp)) if block is None else block
    nll = -np.asarray(lp, dtype=np.float64)
    if mode == "sentence":
        starts = np.asarray(units.bounds[:-1], dtype=np.int64)
        keep = np.diff(units.bounds) > 0
        return UnitSums(np.add.reduceat(nll, starts[keep]) if len(nll) else nll, np.diff(units.bounds)[keep].astype(np.int64), "line")
    if block < 1:
        raise LmstatsError(f"a bootstrap block must hold at least one token, got {block}")
    starts = np.arange(0, len(nll), block, dtype=np.int64)
    n = np.diff(np.append(starts, len(nll)))
    return UnitSums(np.add.reduceat(nll, starts) if len(nll) else nll, n.astype(np.int64), f"block of {block} tokens")


def grouped(sums: UnitSums, max_units: int = MAX_UNITS) -> UnitSums:
    """``sums`` with runs of consecutive units merged so that at most ``max_units`` remain (a block bootstrap over
    them): the cost of a replicate is one draw per unit, and a text of millions of lines would take minutes."""
    if len(sums.n) <= max_units:
        return sums
    size = -(-len(sums.n) // max_units)
    starts = np.arange(0, len(sums.n), size)
    return UnitSums(np.add.reduceat(sums.nll, starts), np.add.reduceat(sums.n, starts), f"run of {size} {sums.unit}s")


def resamplable(*sums: UnitSums) -> bool:
    """Whether intervals of ``sums`` can be given: every perplexity finite (no token of probability 0) and 2 units or
    more (one unit resampled is always itself)."""
    return all(len(s.n) >= 2 and np.isfinite(s.ppl) for s in sums)


def interval_of(sums: UnitSums, *, replicates: int = REPLICATES, seed: int = 0) -> dict:
    """``{"ppl_interval": ...}`` (:func:`perplexity_interval` of :func:`grouped` ``sums``), or ``{}`` when ``sums`` is not
    :func:`resamplable`: the one rule of ``lmstats score``, ``lmstats mix`` and the report."""
    if not resamplable(sums):
        return {}
    return {"ppl_interval": perplexity_interval(grouped(sums), replicates=replicates, seed=seed).to_dict()}


def _replicates(columns: list[NDArray], n: NDArray[np.int64], replicates: int, seed: int) -> list[NDArray[np.float64]]:
    """For each ``columns[i]`` (per-unit nll), the perplexity of every replicate: ``exp(Σ col[idx] / Σ n[idx])`` with
    ``idx`` the same draw of units for every column."""
    units = len(n)
    if units < 2:
        raise LmstatsError(f"a bootstrap needs at least 2 scored units, got {units}; give a larger test split")
    if replicates < 1:
        raise LmstatsError(f"the bootstrap needs at least one replicate, got {replicates}")
    rng = np.random.default_rng(seed)
    out = [np.empty(replicates, dtype=np.float64) for _ in columns]
    step = max(1, _CHUNK // units)
    for at in range(0, replicates, step):
        idx = rng.integers(0, units, size=(min(step, replicates - at), units))
        tokens = n[idx].sum(axis=1)
        for col, values in zip(columns, out, strict=True):
            values[at : at + len(idx)] = np.exp(col[idx].sum(axis=1) / tokens)
    return out


def _percentiles(values: NDArray[np.float64], level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise LmstatsError(f"a confidence level is between 0 and 1, got {level}")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Interval:
    """A perplexity and its bootstrap interval."""

    ppl: float
    low: float
    high: float
    level: float
    replicates: int
    units: int
    unit: str
    seed: int

    def over(self) -> str:
        """What was resampled, in words: "3,761 lines", "958 blocks of 256 tokens"."""
        return plural(self.units, self.unit)

    def to_dict(self) -> dict:
        return {"ppl": self.ppl, "low": self.low, "high": self.high, "level": self.level, "replicates": self.replicates,
                "units": self.units, "unit": self.unit, "seed": self.seed}


def perplexity_interval(sums: UnitSums, *, level: float = LEVEL, replicates: int = REPLICATES, seed: int = 0) -> Interval:
    """The percentile bootstrap interval of the perplexity of ``sums``."""
    (values,) = _replicates([sums.nll], sums.n, replicates, seed)
    low, high = _percentiles(values, level)
    return Interval(sums.ppl, low, high, level, replicates, len(sums.n), sums.unit, seed)


@dataclass(frozen=True)
class Comparison:
    """Model ``a`` against model ``b`` on the same units: the difference of their perplexities and its interval."""

    ppl_a: float
    ppl_b: float
    low: float  # interval of ppl_a - ppl_b
    high: float
    p_value: float  # Berg-Kirkpatrick et al. 2012: share of replicates with δ* > 2δ (δ = ppl_a - ppl_b > 0: b better)
    level: float
    replicates: int
    units: int
    unit: str
    seed: int

    @property
    def difference(self) -> float:
        return self.ppl_a - self.ppl_b

    def to_dict(self) -> dict:
        return {"ppl_a": self.ppl_a, "ppl_b": self.ppl_b, "difference": self.difference, "low": self.low, "high": self.high,
                "p_value": self.p_value, "level": self.level, "replicates": self.replicates, "units": self.units,
                "unit": self.unit, "seed": self.seed}


def paired_bootstrap(a: UnitSums, b: UnitSums, *, level: float = LEVEL, replicates: int = REPLICATES,
                     seed: int = 0) -> Comparison:
    """``a`` against ``b``, both scored on the same units (the same tokens per unit): the paired bootstrap."""
    if a.unit != b.unit or not np.array_equal(a.n, b.n):
        raise LmstatsError("a paired bootstrap compares two models scored on the same units of the same text, in the same "
                           "mode; score both on the same split")
    va, vb = _replicates([a.nll, b.nll], a.n, replicates, seed)
    delta = a.ppl - b.ppl
    low, high = _percentiles(va - vb, level)
    p = float(np.mean(va - vb > 2 * delta)) if delta > 0 else 1.0
    return Comparison(a.ppl, b.ppl, low, high, p, level, replicates, len(a.n), a.unit, seed)
