"""Quantising probabilities and backoff weights into per-order codebooks, with KenLM's binning.

The rule is KenLM's ``build_binary -q BITS -b BITS`` (``lm/quantize.cc``, after Federico and
Bertoldi 2006, "How many bits are needed to store probabilities for phrase-based translation?"):

* the values of one order are sorted and cut into B = 2^BITS bins of equal count: bin i holds
  the sorted values ``[n*i // B, n*(i+1) // B)``, and its codebook value is the mean of its
  values (a bin that receives none is left out: KenLM fills it with a copy of the previous
  bin's value, or -inf for the first, which no finite value is ever encoded to);
* the probabilities of each order 2..N get their own codebook, trained on every probability
  of that order; unigram probabilities and backoffs are not quantised (KenLM keeps them as floats);
* the backoffs of each order 2..N-1 get their own codebook: two codes are reserved for a
  backoff weight of exactly 1 (log 0; KenLM's -0.0 for an n-gram that is no context and +0.0
  for one that is), and the other B - 2 bins are trained on the backoffs that are not exactly 1;
  the highest order has no backoffs;
* a value is encoded as its nearest codebook value (KenLM's ``Encode``: the first codebook
  value at or above it, or the one below when that is strictly nearer).

Values are binned as natural logs (KenLM bins log10 values: proportional, so the bins are the
same and the means agree to rounding) in float64 (KenLM: float32).  A codebook keeps its
distinct values only, and a code is as wide as that many values need, so a codebook never has
more entries than values; it is stored as probabilities (e^mean, not logs), padded to
2^width entries so that any code of that width decodes.  Where an order has no more values
than bins, every value has a bin to itself and quantisation is exact.

There is no renormalisation (KenLM does none): the probabilities of a context sum to 1 within
the factor e^±(the largest log error of the codes a prediction reads), see :func:`sum_bound`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError

MIN_BITS, MAX_BITS = 2, 25  # KenLM refuses 0 and more than 25; a backoff codebook needs 2 bits beside its two reserved codes
RESERVED = 2  # backoff codes 0 (an n-gram that is no context) and 1 (a context) both mean γ = 1


def check_bits(bits) -> int:
    """``bits`` as an int in MIN_BITS..MAX_BITS, or an :class:`LmstatsError` saying why not."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise LmstatsError(f"--quantize takes the bits of a code, an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r} (KenLM's "
                           f"build_binary allows at most {MAX_BITS}, and a backoff code needs {MIN_BITS} bits beside its two "
                           "reserved values); e.g. --quantize 8, as build_binary -q 8 -b 8")
    return int(bits)


@dataclass(frozen=True)
class Codebook:
    """Codes of one order's values and what they decode to."""

    values: NDArray[np.float64]  # code -> probability or backoff weight (not a log); 2**bits entries
    codes: NDArray[np.int64]  # one per value quantised
    bits: int  # width of a code
    max_log_error: float  # the largest |ln value - ln decoded| over the values quantised


def bin_means(logs: NDArray[np.float64], n_bins: int) -> NDArray[np.float64]:
    """KenLM's bins of ``logs``: the mean of each non-empty bin of equal count, ascending, distinct."""
    values = np.sort(np.asarray(logs, dtype=np.float64))
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    ends = (n * np.arange(1, n_bins + 1, dtype=np.int64)) // n_bins  # bin i is [ends[i-1], ends[i])
    starts = np.concatenate([[0], ends[:-1]])
    full = ends > starts
    starts, ends = starts[full], ends[full]
    with np.errstate(invalid="ignore"):  # -inf values (zero weights) make a mean of -inf
        means = np.add.reduceat(values, starts) / (ends - starts)
    return np.unique(means)


def nearest(logs: NDArray[np.float64], means: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index of the codebook value each of ``logs`` is encoded to (KenLM's tie rule: the higher one)."""
    logs = np.asarray(logs, dtype=np.float64)
    above = np.searchsorted(means, logs, side="left")
    upper = np.minimum(above, len(means) - 1)
    lower = np.maximum(above - 1, 0)
    with np.errstate(invalid="ignore"):  # -inf - -inf
        below_nearer = (logs - means[lower]) < (means[upper] - logs)
    return np.where(above == 0, 0, np.where(above >= len(means), len(means) - 1, upper - below_nearer)).astype(np.int64)


def _codebook(logs: NDArray[np.float64], means: NDArray[np.float64], codes: NDArray[np.int64], reserved: int) -> Codebook:
    n_codes = reserved + len(means)
    bits = max(1, int(n_codes - 1).bit_length())
    decoded = np.concatenate([np.zeros(reserved), means])
    padded = np.concatenate([decoded, np.full((1 << bits) - n_codes, decoded[-1])])
    got = decoded[codes]
    with np.errstate(invalid="ignore"):
        errors = np.where(logs == got, 0.0, np.abs(logs - got))  # a zero weight decoded as zero is exact
    return Codebook(np.exp(padded), codes, bits, float(errors.max()) if len(errors) else 0.0)


def quantize_probs(probs: NDArray[np.float64], bits: int) -> Codebook:
    """One order's probabilities as codes of at most ``bits`` bits (see the module docstring)."""
    with np.errstate(divide="ignore"):
        logs = np.log(np.asarray(probs, dtype=np.float64))
    means = bin_means(logs, 1 << check_bits(bits))
    if len(means) == 0:
        means = np.zeros(1)
    return _codebook(logs, means, nearest(logs, means), 0)


def quantize_backoffs(backoffs: NDArray[np.float64], is_context: NDArray[np.bool_], bits: int) -> Codebook:
    """One order's backoff weights as codes of at most ``bits`` bits, codes 0 and 1 meaning a weight of
    exactly 1 for an n-gram that is no context, and one that is (see the module docstring)."""
    with np.errstate(divide="ignore"):
        logs = np.log(np.asarray(backoffs, dtype=np.float64))
    one = logs == 0.0
    means = bin_means(logs[~one], (1 << check_bits(bits)) - RESERVED)
    codes = np.where(one, np.asarray(is_context, dtype=np.int64), RESERVED)
    if len(means):
        codes[~one] += nearest(logs[~one], means)
    return _codebook(logs, means, codes, RESERVED)


def sum_bound(prob_errors, backoff_errors) -> float:
    """The most a context's probabilities can sum away from 1 after quantisation, as a factor's log:
    a prediction reads one probability and at most one backoff weight per order below it, so each
    term is off by at most e^D, D = max(prob errors) + sum(backoff errors), and the sum lies in
    [e^-D, e^D] (for a model whose unquantised sums are 1)."""
    return float(max(prob_errors, default=0.0) + sum(backoff_errors))
