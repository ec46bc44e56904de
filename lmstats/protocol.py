"""The one contract every language model in lmstats meets, so one evaluator scores them all.

``logprobs(ids)``
    ``ids`` is one sequence of vocabulary ids (a sentence, or a whole stream).  It does not
    contain ``<s>``; it ends with ``</s>`` where the evaluator marks a line end.  The model
    supplies its own start context: an n-gram model pads with ``<s>``, the RNN starts from
    its initial state fed ``<s>`` (KenLM's convention: condition on ``<s>``, predict ``</s>``).
    It returns ``out`` with ``out.shape == ids.shape``, float64 **natural** logs:
    ``out[t] = ln P(ids[t] | <s>, ids[:t])``.  The call is deterministic and has no side
    effects.  ``-inf`` is allowed only for a model that can give zero probability (MLE); the
    evaluator counts those tokens.

Predictable set
    ``vocab`` minus ``<s>`` (and ``<pad>``): ``<unk>`` and ``</s>`` are predictable, and for
    every context ``exp(logprobs)`` over the predictable set sums to 1 (tests check this for
    every model).  A model that is not a distribution (stupid backoff) says so in its
    ``is_distribution`` attribute.

Optional fast path
    ``logprobs_lines(lines)``: the same values as calling ``logprobs`` on each line of a
    :class:`~lmstats.lines.Lines` separately, concatenated; vectorised models provide it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from lmstats.vocab import Vocab


@runtime_checkable
class LanguageModel(Protocol):
    @property
    def vocab(self) -> Vocab: ...

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]); shape (T,)."""
        ...
