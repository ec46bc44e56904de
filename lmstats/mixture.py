"""Linear interpolation of language models: P(w | h) = Σ_i λ_i P_i(w | h), with λ on the simplex.

:class:`Mixture` is a :class:`~lmstats.protocol.LanguageModel` like any other (the evaluator and
the report take it), built from any models that share one vocabulary: n-gram models, RNN
language models, other mixtures.  The sum is taken in log space (log-sum-exp over
``ln λ_i + ln P_i``), so tiny probabilities neither underflow nor lose digits.

:func:`tune_weights` finds the λ that maximise the likelihood of a held-out text by EM, as
SRILM's ``compute-best-mix`` does: the E step gives each token's posterior over the components,
``r_it = λ_i P_i(t) / Σ_j λ_j P_j(t)``; the M step sets ``λ_i`` to the mean posterior.  Each
iteration never lowers the likelihood (EM's guarantee, tested), and the weights stay on the
simplex by construction.  It stops when no weight moves by more than ``tol`` (SRILM's
precision; default 1e-5) or after ``max_iter`` iterations.  The E and M steps only need the
components' log-probabilities of the held-out tokens, computed once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from lmstats.bootstrap import UnitSums, grouped, interval_of, paired_bootstrap, resamplable, unit_sums
from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.evaluation import EvalResult, reduce_logprobs, token_logprobs
from lmstats.protocol import LanguageModel
from lmstats.units import scored_units
from lmstats.vocab import Vocab, check_same_vocab


def check_weights(weights: Sequence[float], n_models: int) -> NDArray[np.float64]:
    """``weights`` as an array on the simplex: one per model, each >= 0, summing to 1 (within 1e-6)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_models,):
        raise LmstatsError(f"a mixture of {n_models} models needs {n_models} weights, got {w.size}; give one weight per model")
    if not np.isfinite(w).all() or (w < 0).any():
        raise LmstatsError(f"mixture weights must be finite and >= 0, got {', '.join(f'{x:g}' for x in w)}")
    if abs(w.sum() - 1.0) > 1e-6:
        raise LmstatsError(f"mixture weights must sum to 1, got {', '.join(f'{x:g}' for x in w)} (sum {w.sum():g}); "
                           "rescale them, or let the weights be tuned on the validation split")
    return w / w.sum()


def mix_logprobs(component_lp: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """ln Σ_i λ_i exp(component_lp[i]) per token; ``component_lp`` has shape (models, tokens)."""
    lp = np.asarray(component_lp, dtype=np.float64)
    with np.errstate(divide="ignore"):
        terms = lp + np.log(np.asarray(weights, dtype=np.float64))[:, None]  # (K, T); λ = 0 gives -inf
    top = terms.max(axis=0)  # (T,)
    finite = np.isfinite(top)
    shift = np.where(finite, top, 0.0)
    with np.errstate(under="ignore"):
        total = np.exp(terms - shift).sum(axis=0)
    with np.errstate(divide="ignore"):
        out = shift + np.log(total)
    return np.where(finite, out, top)  # every component gave 0: the mixture gives 0 (-inf) too


@dataclass(frozen=True)
class MixWeights:
    """The result of :func:`tune_weights`: the weights, and the held-out perplexity after each iteration."""

    weights: tuple[float, ...]
    ppl_history: tuple[float, ...]  # before any iteration (the start weights), then after each
    iterations: int
    converged: bool

    @property
    def ppl(self) -> float:
        return self.ppl_history[-1]


def tune_weights(component_lp: NDArray[np.float64], *, start: Sequence[float] | None = None, tol: float = 1e-5,
                 max_iter: int = 1000, on_iteration: Callable[[int, NDArray[np.float64], float], None] | None = None) -> MixWeights:
    """EM weights that maximise the likelihood of held-out tokens whose component ln P are ``component_lp`` (models, tokens).

    ``start``: the first weights (default uniform).  A token every component gives probability
    0 cannot be fitted; it is an error.  ``on_iteration(i, weights, ppl)`` is called after each.
    """
    lp = np.asarray(component_lp, dtype=np.float64)
    if lp.ndim != 2 or lp.shape[1] == 0:
        raise LmstatsError("tuning mixture weights needs the components' log-probabilities of at least one held-out token")
    n_models, n_tokens = lp.shape
    w = check_weights(np.full(n_models, 1.0 / n_models) if start is None else start, n_models)
    mixed = mix_logprobs(lp, w)
    if np.isneginf(mixed).any():
        raise LmstatsError(f"{int(np.isneginf(mixed).sum())} held-out tokens have probability 0 under every component; "
                           "mixture weights cannot be tuned — use smoothed models")
    history = [math.exp(-mixed.mean())]
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        with np.errstate(divide="ignore"):
            log_w = np.log(w)
        posterior = np.exp(lp + log_w[:, None] - mixed[None, :])  # (K, T): r_it, columns sum to 1
        new_w = posterior.mean(axis=1)
        new_w /= new_w.sum()  # removes the rounding drift of the sum, nothing else
        moved = float(np.abs(new_w - w).max())
        w = new_w
        mixed = mix_logprobs(lp, w)
        history.append(math.exp(-mixed.mean()))
        if on_iteration is not None:
            on_iteration(iterations, w, history[-1])
        if moved < tol:
            converged = True
            break
    return MixWeights(weights=tuple(float(x) for x in w), ppl_history=tuple(history), iterations=iterations, converged=converged)


class Mixture(LanguageModel):
    """Σ_i λ_i P_i(w | h) over ``models`` (one vocabulary), computed in log space.

    ``weights`` default to uniform.  The mixture is a distribution when every component is
    one; a component that is not (stupid backoff) makes the mixture not one either.
    """

    def __init__(self, models: Sequence[LanguageModel], weights: Sequence[float] | None = None, *,
                 names: Sequence[str] | None = None):
        if len(models) < 1:
            raise LmstatsError("a mixture needs at least one model")
        for i, model in enumerate(models):
            if not isinstance(model, LanguageModel):
                raise LmstatsError(f"component {i + 1} ({type(model).__name__}) does not implement the LanguageModel protocol")
            if i:
                check_same_vocab(models[0].vocab, model.vocab, f"component {i + 1} of the mixture",
                                 "train every component on the same corpus and vocabulary options", against="component 1")
        self.models = list(models)
        self.weights = check_weights(np.full(len(models), 1.0 / len(models)) if weights is None else weights, len(models))
        self.names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(models))]
        self.is_distribution = all(getattr(m, "is_distribution", True) for m in models)

    @property
    def vocab(self) -> Vocab:
        return self.models[0].vocab

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln Σ_i λ_i P_i(ids[t] | <s>, ids[:t]); shape (T,)."""
        return mix_logprobs(np.stack([np.asarray(m.logprobs(ids), dtype=np.float64) for m in self.models]), self.weights)

    def logprobs_lines(self, lines: Lines) -> NDArray[np.float64]:
        return mix_logprobs(self.component_logprobs(lines), self.weights)

    def component_logprobs(self, lines: Lines) -> NDArray[np.float64]:
        """Every component's ``logprobs_lines``, stacked: shape (models, lines.n_tokens)."""
        return np.stack([np.asarray(m.logprobs_lines(lines), dtype=np.float64) for m in self.models])


@dataclass(frozen=True)
class MixScore:
    """A mixture scored in one mode: its weights (tuned on valid unless fixed), the EM run, and for
    each split the mixture's :class:`EvalResult` and every component's."""

    mode: str
    weights: tuple[float, ...]
    fit: MixWeights | None  # None: fixed weights
    results: dict[str, EvalResult]
    components: dict[str, list[EvalResult]]
    units: dict[str, list[UnitSums]]  # per split, the per-unit sums of the mixture, then of each component (lmstats.bootstrap)
    chosen: dict[int, LanguageModel] = field(default_factory=dict)  # component index -> the model valid chose for it (settle)
    logprobs: dict[str, dict[int, NDArray[np.float64]]] = field(default_factory=dict, repr=False)  # split -> index -> ln P

    def gain_pct(self, split: str) -> float:
        """How much lower the mixture's perplexity is than its best component's, in percent."""
        best = min(r.ppl for r in self.components[split])
        return 100.0 * (1.0 - self.results[split].ppl / best)

    def statistics(self, split: str, seed: int = 0) -> dict:
        """The bootstrap interval of the mixture's perplexity on ``split``, the paired bootstrap of its best component
        against it (the difference best − mixture, its interval and p-value) and, for two components, of the first against
        the second; {} when a perplexity is infinite."""
        mixture, *parts = self.units[split]
        if not resamplable(mixture, *parts):
            return {}
        best = parts[int(np.argmin([r.ppl for r in self.components[split]]))]
        out = interval_of(mixture, seed=seed) | {
               "best_vs_mixture": paired_bootstrap(grouped(best), grouped(mixture), seed=seed).to_dict()}
        if len(parts) == 2:  # the two parts against each other (the first minus the second), on the same draws
            out["first_vs_second"] = paired_bootstrap(grouped(parts[0]), grouped(parts[1]), seed=seed).to_dict()
        return out


def settle(models: Sequence, valid, mode: str,
           scored: dict[int, NDArray[np.float64]]) -> tuple[list[LanguageModel], dict[int, LanguageModel]]:
    """The components with settings of their own chosen on ``valid`` in ``mode`` (a component with a ``settle`` method:
    the caches of :class:`~lmstats.cache.ChosenCache` and :class:`~lmstats.neural_cache.ChosenNeuralCache`), each against
    the others' ln P of valid (``scored``: index -> ln P, filled here for the fixed ones).  Returns the models and those
    chosen (index -> model)."""
    fixed = [i for i, m in enumerate(models) if not hasattr(m, "settle")]
    for i in fixed:
        if i not in scored:
            scored[i] = token_logprobs(models[i], valid, mode)[1]
    others = np.stack([scored[i] for i in fixed]) if fixed else np.zeros((0, 0))
    out, chosen = list(models), {}
    for i, m in enumerate(models):
        if hasattr(m, "settle"):
            out[i] = m.settle(valid, mode, others)
            chosen[i] = out[i]
    return out, chosen


def score_mixture(models: Sequence[LanguageModel], splits, mode: str, *, weights: Sequence[float] | None = None,
                  names: Sequence[str] = ("valid", "test"), tol: float = 1e-5, max_iter: int = 1000,
                  on_iteration: Callable[[int, NDArray[np.float64], float], None] | None = None,
                  on_split: Callable[[str], None] | None = None,
                  known: dict[str, dict[int, NDArray[np.float64]]] | None = None) -> MixScore:
    """Score every model once on each split of ``names`` (``splits[name]``) in ``mode``, tune the
    weights by EM on ``valid`` (unless ``weights`` are given), and mix: the components'
    log-probabilities are computed once and reused for the tuning and every figure.  Components whose own settings are
    chosen on valid (caches, :func:`settle`) are settled first, against the others.  ``known``: ln P already computed
    (split -> component index -> ln P of the split's tokens in ``mode``, e.g. :attr:`MixScore.logprobs` of an earlier
    mixture of the same models), used instead of scoring again."""
    known = {name: dict(known.get(name, {})) for name in names} if known else {name: {} for name in names}
    chosen = {}
    if any(hasattr(m, "settle") for m in models):
        if on_split is not None:
            on_split("valid")
        models, chosen = settle(models, splits["valid"], mode, known.setdefault("valid", {}))
    scored = {}
    for name in names:
        missing = [i for i in range(len(models)) if i not in known[name]]
        if missing and on_split is not None:
            on_split(name)
        for i in missing:
            known[name][i] = token_logprobs(models[i], splits[name], mode)[1]
        scored[name] = scored_units(splits[name], mode), np.stack([known[name][i] for i in range(len(models))])
    fit = None
    if weights is None:
        if "valid" not in scored:
            raise LmstatsError("tuning mixture weights needs the valid split; score it, or give fixed weights")
        fit = tune_weights(scored["valid"][1], tol=tol, max_iter=max_iter, on_iteration=on_iteration)
        weights = fit.weights
    w = tuple(float(x) for x in check_weights(weights, len(models)))
    results, components, per_unit = {}, {}, {}
    for name, (units, lp) in scored.items():
        mixed = mix_logprobs(lp, np.asarray(w))
        results[name] = reduce_logprobs(units, mixed, splits[name], mode)
        components[name] = [reduce_logprobs(units, row, splits[name], mode) for row in lp]
        per_unit[name] = [unit_sums(units, row, mode) for row in (mixed, *lp)]
    return MixScore(mode, w, fit, results, components, per_unit, chosen, {name: dict(enumerate(lp)) for name, (_, lp) in scored.items()})
