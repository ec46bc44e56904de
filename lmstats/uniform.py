"""The uniform baseline: P(w | anything) = 1 / |predictable set|, whose perplexity is that size."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.protocol import LanguageModel
from lmstats.vocab import Vocab


class UniformLM(LanguageModel):
    """P(w | anything) = 1 / |predictable set|; its perplexity is exactly that size."""

    def __init__(self, vocab: Vocab):
        self._vocab = vocab

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]) = -ln |predictable|; shape (T,)."""
        return np.full(len(ids), -math.log(self.vocab.n_predictable))

    def logprobs_lines(self, lines: Lines) -> NDArray[np.float64]:
        return self.logprobs(lines.ids)
