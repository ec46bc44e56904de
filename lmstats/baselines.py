"""Reference models that need no training: the uniform distribution over the predictable set."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from lmstats.vocab import Vocab


class UniformLM:
    """P(w | anything) = 1 / |predictable set|; its perplexity is exactly that size."""

    is_distribution = True

    def __init__(self, vocab: Vocab):
        self.vocab = vocab

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]) = -ln |predictable|; shape (T,)."""
        return np.full(len(ids), -math.log(self.vocab.n_predictable))
