"""What to fit: an n-gram order, a smoother and its parameters, ε given or tuned on valid.

:class:`NgramRecipe` is what ``lmstats ngram`` asks for, checked when it is made (by building
the unfitted :class:`~lmstats.ngram.model.NgramLM`); :func:`fit_recipe` counts the training
split once, tunes ε per order on the validation split when the recipe says so, and returns
the fitted model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lmstats.errors import LmstatsError
from lmstats.ngram.model import NgramLM
from lmstats.ngram.smoothing import DEFAULT_ADD_K
from lmstats.ngram.tune import EpsTuning, tune_eps
from lmstats.text.corpus import Splits
from lmstats.vocab import Vocab


@dataclass(frozen=True)
class NgramRecipe:
    order: int = 3
    smoothing: str = "mkn"
    eps: float | tuple[float, ...] | None = None  # None with smoothing "eps": tune ε per order on valid
    eps_variant: str = "recursive"
    k: float = DEFAULT_ADD_K
    mode: str = "sentence"

    def __post_init__(self) -> None:
        if self.eps is not None and self.smoothing != "eps":
            raise LmstatsError(f"--eps applies to --smoothing eps only, not {self.smoothing}")
        self.model(Vocab.build([]))  # every parameter checked now, before any corpus is read

    @property
    def tunes_eps(self) -> bool:
        return self.smoothing == "eps" and self.eps is None

    def model(self, vocab: Vocab) -> NgramLM:
        """The unfitted model of this recipe (ε 1.0 as the starting point when ε is tuned)."""
        eps = 1.0 if self.eps is None else (self.eps[0] if isinstance(self.eps, tuple) and len(self.eps) == 1 else self.eps)
        return NgramLM(vocab, self.order, self.smoothing, eps=eps, eps_variant=self.eps_variant, k=self.k, mode=self.mode)


def fit_recipe(recipe: NgramRecipe, splits: Splits, *, on_trial: Callable[[int, float, float], None] | None = None,
               **fit_options) -> tuple[NgramLM, EpsTuning | None]:
    """The fitted model of ``recipe`` on ``splits.train`` (ε tuned on ``splits.valid`` if asked) and the tuning.

    ``fit_options`` go to :meth:`NgramLM.fit`: ``on_order``, ``on_plan``, and where and within what
    the n-grams are counted (``memory``, ``tmp``, ``engine``, ``scheduler``).
    """
    model = recipe.model(splits.vocab).fit(splits.train, **fit_options)
    if not recipe.tunes_eps:
        return model, None
    tuning = tune_eps(model, splits.valid, on_trial=on_trial)
    return model.resmooth(eps=tuning.eps), tuning
