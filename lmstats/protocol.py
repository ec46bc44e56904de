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

``logprobs_lines(lines)``
    The values of ``logprobs`` on every line of a :class:`~lmstats.encoded.Lines`, each line
    scored from ``<s>``, concatenated; shape ``(lines.n_tokens,)``.  The base class gives a
    default that calls ``logprobs`` line by line; vectorised models (n-gram, RNN) override
    it.  The evaluator calls only this method.

Predictable set
    ``vocab`` minus ``<s>`` (and ``<pad>``): ``<unk>`` and ``</s>`` are predictable, and for
    every context ``exp(logprobs)`` over the predictable set sums to 1 (tests check this for
    every model).  A model that is not a distribution (stupid backoff) says so in
    ``is_distribution``.

``score_text(text)``
    The evaluator's figures of a text (a ``str``, or its lines) read as the model was trained,
    streamed in pieces (:mod:`lmstats.scoring`): what ``lmstats score`` prints.  The base class
    gives it to every model.

A model subclasses :class:`LanguageModel` (to inherit the defaults) or implements the
methods and ``vocab`` itself; ``isinstance(model, LanguageModel)`` checks the shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.vocab import Vocab

if TYPE_CHECKING:
    from lmstats.evaluation import EvalResult


@runtime_checkable
class LanguageModel(Protocol):
    is_distribution: bool = True

    @property
    def vocab(self) -> Vocab: ...

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]); shape (T,)."""
        ...

    def logprobs_lines(self, lines: Lines) -> NDArray[np.float64]:
        """``logprobs`` of every line, each from ``<s>``, concatenated; shape (lines.n_tokens,)."""
        if len(lines) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.concatenate([np.asarray(self.logprobs(line), dtype=np.float64) for line in lines])

    def score_text(self, text: str | Iterable[str], *, mode: str = "sentence") -> EvalResult:
        """The evaluator's figures of ``text`` (a ``str``, or an iterable of lines) in ``mode`` (sentence|stream), read as
        this model was trained (its ``trained_on_``, which :func:`lmstats.load` sets; words as they are when it has none):
        what ``lmstats score`` prints (:func:`lmstats.scoring.score_text`)."""
        from lmstats.scoring import score_text

        return score_text(self, text, mode=mode)
