"""The neural cache (Grave, Joulin & Usunier 2017): an RNN's own recent hidden states point at the words they predicted.

``NeuralCacheLM(rnn, window=W, theta=θ, lam=λ)`` over an :class:`~lmstats.rnn.lm.RNNLM`:

    P(w | h) = (1 − λ) · P_rnn(w | h) + λ · P_cache(w | h),
    P_cache(w | h) ∝ Σ_{i in the last W positions} 1[x_i = w] · exp(θ · h_t · h_i)

``h_i``: the network's top output that predicted the token ``x_i`` (:meth:`RNNLM.features`), so the cache holds the
pairs (state, word that followed) of the last ``W`` positions of the unit.  Both parts sum to 1 over the vocabulary,
so the mixture does for every history (tested); before the first token of a unit the cache is empty and the RNN
alone predicts.  As with :mod:`lmstats.cache`, the history is the unit's: every line from ``<s>`` in sentence mode
(the cache empty at each line), the whole text in stream mode.  No retraining: θ, λ and W are chosen on valid
(:func:`tune_neural_cache`), never on test.

Computed in blocks of positions: the dot products of a block with the states of its window (a block × (block + W)
matrix), a softmax over the valid ones, and the share of it on the positions that hold the target word.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from lmstats.cache import check_window
from lmstats.encoded import EncodedSplit, Lines
from lmstats.errors import LmstatsError
from lmstats.protocol import LanguageModel
from lmstats.vocab import Vocab

BLOCK = 512  # positions whose cache is computed at a time
# the grid of tune_neural_cache.  Widened after the WikiText-2 report of 2026-12-04 chose the largest θ, λ and W of
# (0.1, 0.3, 1) × (0.05 .. 0.3) × (100, 500, 2000): an edge of the grid is no choice
THETAS = (0.1, 0.3, 1.0, 2.0, 4.0)
LAMBDAS = (0.05, 0.1, 0.2, 0.3, 0.4)
WINDOWS = (100, 500, 2000, 4000)


class NeuralCacheLM(LanguageModel):
    """An RNN with the neural cache over its hidden states (see the module docstring)."""

    def __init__(self, rnn, window: int = 500, theta: float = 0.3, lam: float = 0.1):
        from lmstats.rnn.lm import RNNLM

        if not isinstance(rnn, RNNLM):
            raise LmstatsError(f"a neural cache keys on an RNN's hidden states, and a {type(rnn).__name__} has none; give an RNN "
                               "checkpoint (for an n-gram model, use the unigram cache: cache:W)")
        check_window(window, "window=500")
        if not (isinstance(theta, (int, float)) and np.isfinite(theta) and theta >= 0):
            raise LmstatsError(f"the neural cache's theta (the flatness of its softmax) must be a number >= 0, got {theta!r}")
        if not (isinstance(lam, (int, float)) and 0 <= lam < 1):
            raise LmstatsError(f"the neural cache's weight lambda must be in [0, 1), got {lam!r}")
        self.rnn, self.window, self.theta, self.lam = rnn, int(window), float(theta), float(lam)

    @property
    def vocab(self) -> Vocab:
        return self.rnn.vocab

    def describe(self) -> str:
        return f"neural cache (window {self.window:,}, theta {self.theta:g}, lambda {self.lam:g})"

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.logprobs_lines(Lines.single(np.asarray(ids, dtype=np.int64)))

    def logprobs_lines(self, lines: Lines) -> NDArray[np.float64]:
        out = np.zeros(lines.n_tokens, dtype=np.float64)
        for i in range(len(lines)):
            ids = np.asarray(lines[i], dtype=np.int64)
            if len(ids):
                lp, feats = self.rnn.features(ids)
                out[lines.bounds[i] : lines.bounds[i + 1]] = self.mix(ids, lp, feats)
        return out

    def mix(self, ids: NDArray[np.int64], lp: NDArray[np.float64], feats: NDArray[np.float64]) -> NDArray[np.float64]:
        """ln P of the unit ``ids`` from the RNN's ln P ``lp`` and its features ``feats`` (T, D)."""
        return combined(lp, *cache_probs(ids, feats, self.window, self.theta), self.lam)


def combined(lp: NDArray[np.float64], p_cache: NDArray[np.float64], seen: NDArray[np.bool_], lam: float) -> NDArray[np.float64]:
    """ln((1 − λ) P_rnn + λ P_cache) where the window held something (``seen``), ln P_rnn before."""
    p = np.exp(lp)
    with np.errstate(divide="ignore"):
        return np.log(np.where(seen, (1 - lam) * p + lam * p_cache, p))


def cache_probs(ids: NDArray[np.int64], feats: NDArray[np.float64], window: int,
                theta: float) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """P_cache(ids[t] | ...) for every position t of one unit, and whether its window held anything (t > 0)."""
    T = len(ids)
    p = np.zeros(T)
    for a in range(0, T, BLOCK):
        b = min(a + BLOCK, T)
        k0 = max(0, a - window)
        t = np.arange(a, b)[:, None]
        i = np.arange(k0, b)[None, :]
        valid = (i < t) & (i >= t - window)
        s = np.where(valid, theta * (feats[a:b] @ feats[k0:b].T), -np.inf)
        top = s.max(axis=1, keepdims=True)
        e = np.exp(s - np.where(np.isfinite(top), top, 0.0))
        den = e.sum(axis=1)
        num = (e * (ids[k0:b][None, :] == ids[a:b][:, None])).sum(axis=1)
        p[a:b] = np.divide(num, den, out=np.zeros(b - a), where=den > 0)
    seen = np.arange(T) > 0
    return p, seen


def tune_neural_cache(rnn, valid: EncodedSplit, mode: str, *, windows=WINDOWS, thetas=THETAS,
                      lambdas=LAMBDAS) -> tuple[NeuralCacheLM, float]:
    """The neural cache of the grid whose perplexity on ``valid`` in ``mode`` is lowest, and that perplexity: the RNN
    scores valid once, and each setting only recomputes the cache (Grave et al. chose θ and λ on valid the same way)."""
    from lmstats.units import scored_units

    units = scored_units(valid, mode)
    pieces = [(np.asarray(units[i], dtype=np.int64), *rnn.features(units[i])) for i in range(len(units)) if len(units[i])]
    n = sum(len(ids) for ids, _, _ in pieces)
    best = None
    for window, theta in itertools.product(windows, thetas):
        caches = [cache_probs(ids, feats, window, theta) for ids, _, feats in pieces]
        for lam in lambdas:
            nll = -sum(combined(lp, pc, seen, lam).sum() for (_, lp, _), (pc, seen) in zip(pieces, caches, strict=True))
            ppl = float(np.exp(nll / n))
            if best is None or ppl < best[1]:
                best = ((window, theta, lam), ppl)
    (window, theta, lam), ppl = best
    return NeuralCacheLM(rnn, window, theta, lam), ppl


class ChosenNeuralCache:
    """The neural cache of an RNN with W, θ and λ chosen on valid (``lmstats mix ... neural-cache:CKPT``): :meth:`settle`
    gives :func:`tune_neural_cache`'s model for the mode.  Not a model until settled."""

    def __init__(self, rnn):
        NeuralCacheLM(rnn)  # the same checks (an RNN, not an n-gram model)
        self.rnn = rnn

    @property
    def vocab(self) -> Vocab:
        return self.rnn.vocab

    def describe(self) -> str:
        return "neural cache, settings chosen on valid"

    def settle(self, valid: EncodedSplit, mode: str, others=None) -> NeuralCacheLM:
        return tune_neural_cache(self.rnn, valid, mode)[0]
