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
    """What to fit.  ``eps``/``eps_variant`` belong to the eps smoother and ``k`` to lidstone: given with another
    smoother they would be ignored, so they are refused (None: not given; the defaults are "recursive" and
    :data:`~lmstats.ngram.smoothing.DEFAULT_ADD_K`)."""

    order: int = 3
    smoothing: str = "mkn"
    eps: float | tuple[float, ...] | None = None  # None with smoothing "eps": tune ε per order on valid
    eps_variant: str | None = None
    k: float | None = None
    mode: str = "sentence"
    prune: tuple[int, ...] | None = None  # lmplz's count thresholds per order from the unigrams (abs, kn, mkn)

    def __post_init__(self) -> None:
        for name, owner in (("eps", "eps"), ("eps_variant", "eps"), ("k", "lidstone")):
            if getattr(self, name) is not None and self.smoothing != owner:
                flag = "--" + name.replace("_", "-")
                raise LmstatsError(f"{flag} applies to --smoothing {owner} only, not {self.smoothing}; drop {flag} or choose "
                                   f"--smoothing {owner}")
        self.model(Vocab.build([]))  # every parameter checked now, before any corpus is read

    @property
    def label(self) -> str:
        """A short name of the recipe for default file names: order, smoother and the values given
        (``3mkn``, ``3eps0.1``, ``3eps1-0.1-0.01``, ``3eps-tuned``, ``3lidstone0.5``, ``-textbook``, ``-prune0-1-1``, ``-stream``)."""
        label = f"{self.order}{self.smoothing}"
        if self.smoothing == "eps":
            eps = self.eps if isinstance(self.eps, tuple) else (self.eps,)
            label += "-tuned" if self.eps is None else "-".join(f"{e:g}" for e in eps)
            label += "-textbook" if self.variant == "textbook" else ""
        elif self.smoothing == "lidstone":
            label += f"{self.add_k:g}"
        if self.prune and any(self.prune):
            label += "-prune" + "-".join(str(t) for t in self.prune)
        return label + ("-stream" if self.mode == "stream" else "")

    @property
    def variant(self) -> str:
        """The eps variant the model gets (``eps_variant``, or its default)."""
        return self.eps_variant or "recursive"

    @property
    def add_k(self) -> float:
        """The lidstone constant the model gets (``k``, or :data:`~lmstats.ngram.smoothing.DEFAULT_ADD_K`)."""
        return DEFAULT_ADD_K if self.k is None else self.k

    @property
    def tunes_eps(self) -> bool:
        return self.smoothing == "eps" and self.eps is None

    def model(self, vocab: Vocab) -> NgramLM:
        """The unfitted model of this recipe (ε 1.0 as the starting point when ε is tuned)."""
        eps = 1.0 if self.eps is None else (self.eps[0] if isinstance(self.eps, tuple) and len(self.eps) == 1 else self.eps)
        return NgramLM(vocab, self.order, self.smoothing, eps=eps, eps_variant=self.variant, k=self.add_k, mode=self.mode,
                       prune=self.prune)


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
