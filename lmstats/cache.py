"""The unigram cache (Kuhn & De Mori 1990): a word seen lately is likely again.

``CacheLM(vocab, window=W, alpha=α)`` gives every token the share of the last ``W`` tokens of its unit that are the
same word, smoothed towards the uniform distribution over the predictable words ``u``:

    P(w | h) = (c_W(w, h) + α · u(w)) / (n_W(h) + α)

``c_W(w, h)``: how often ``w`` is among the last ``W`` tokens of the history ``h``; ``n_W(h)``: how many tokens that
window holds (``min(W, |h|)``; ``<s>`` is not a token of it).  Every history token is a predictable word, so the
probabilities over the predictable vocabulary sum to 1 for every history (tested), and with an empty history it is
the uniform model.  Alone it is a weak model; its use is as a component of a mixture with a model of the language
(``lmstats mix MODEL cache:W``: the weights tuned by EM on valid), where it captures the burstiness that an n-gram or
an RNN trained on other text cannot.

The history is the unit's, as the one evaluator gives it: in sentence mode every line is scored from ``<s>``, so the
cache starts empty at each line; in stream mode the whole text is one unit, and the cache runs across lines.

Computed for all positions at once: the tokens sorted by (word, position) put each word's occurrences side by side,
so the occurrences of ``w`` in the window before position ``t`` are a count of sorted positions between
``max(t - W, unit start)`` and ``t``, one ``searchsorted`` for every token.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.protocol import LanguageModel
from lmstats.vocab import Vocab

DEFAULT_ALPHA = 1.0
WINDOWS = (100, 300, 1000, 3000, 10000)  # the windows ChosenCache tries on valid


def check_window(window, example: str = "cache:500") -> None:
    """A cache window (this cache's, the neural cache's): a whole number of tokens >= 1."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise LmstatsError(f"a cache window is a whole number of tokens >= 1, got {window!r}; e.g. {example}")


class CacheLM(LanguageModel):
    """The unigram cache over the last ``window`` tokens of each unit (see the module docstring)."""

    def __init__(self, vocab: Vocab, window: int = 500, alpha: float = DEFAULT_ALPHA):
        check_window(window)
        if not (isinstance(alpha, (int, float)) and np.isfinite(alpha) and alpha > 0):
            raise LmstatsError(f"the cache's smoothing alpha must be a number > 0, got {alpha!r}")
        self._vocab, self.window, self.alpha = vocab, int(window), float(alpha)

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def describe(self) -> str:
        return f"unigram cache, window {self.window:,}"

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]); shape (T,)."""
        return self.logprobs_lines(Lines.single(np.asarray(ids, dtype=np.int64)))

    def logprobs_lines(self, lines: Lines) -> NDArray[np.float64]:
        ids = np.asarray(lines.ids, dtype=np.int64)
        n = len(ids)
        if n == 0:
            return np.zeros(0)
        bounds = np.asarray(lines.bounds, dtype=np.int64)
        pos = np.arange(n, dtype=np.int64)
        start = np.repeat(bounds[:-1], np.diff(bounds))  # the first position of each token's unit
        lo = np.maximum(pos - self.window, start)  # the window before t: positions lo .. t-1
        key = ids * (n + 1) + pos  # sorted: each word's positions in order
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        count = rank - np.searchsorted(sorted_key, ids * (n + 1) + lo)  # occurrences of ids[t] at lo .. t-1
        held = pos - lo
        mask = self.vocab.predictable_mask
        u = mask[ids] / int(mask.sum())
        return np.log((count + self.alpha * u) / (held + self.alpha))


class ChosenCache:
    """A unigram cache whose window is chosen on valid (``lmstats mix MODEL cache``): :meth:`settle` gives the
    :class:`CacheLM` of :data:`WINDOWS` whose mixture with the other components (weights by EM) has the lowest valid
    perplexity, never looking at test.  Not a model until settled."""

    def __init__(self, vocab: Vocab, windows=WINDOWS):
        self._vocab, self.windows = vocab, tuple(windows)

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def describe(self) -> str:
        return "unigram cache, window chosen on valid"

    def settle(self, valid, mode: str, others: NDArray[np.float64]) -> CacheLM:
        """The cache of the best window for a mixture with ``others`` (their ln P of valid's tokens in ``mode``)."""
        from lmstats.evaluation import token_logprobs
        from lmstats.mixture import tune_weights

        def mixed_ppl(window: int) -> float:
            own = token_logprobs(CacheLM(self.vocab, window), valid, mode)[1]
            return tune_weights(np.vstack([others, own[None]])).ppl if len(others) else float(np.exp(-own.mean()))

        return CacheLM(self.vocab, min(self.windows, key=mixed_ppl))
