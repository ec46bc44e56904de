"""Tuning ε per order of the additive smoother on the validation split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lmstats.encoded import EncodedSplit
from lmstats.errors import LmstatsError
from lmstats.ngram.model import NgramLM
from lmstats.units import scored_units

LOG10_BOUNDS = (-4.0, 7.0)


@dataclass(frozen=True)
class EpsTuning:
    eps: tuple[float, ...]
    valid_ppl: float
    evaluations: int
    curve: tuple[tuple[int, float, float], ...]  # (order, eps, valid ppl) of every evaluation


def tune_eps(model: NgramLM, valid: EncodedSplit, *, sweeps: int = 2, start: float | tuple[float, ...] = 1.0,
             on_trial: Callable[[int, float, float], None] | None = None) -> EpsTuning:
    """ε per order minimising validation perplexity (coordinate descent, bounded search on log10 ε).

    ``model`` must be fitted (its counts are reused: no recount per trial).  ``start``: one
    value for every order, or a starting value per order (e.g. the tuned ε of a lower-order
    model followed by 1.0).  Deterministic.
    """
    from scipy.optimize import minimize_scalar  # here: scipy costs every command 0.1-0.2 s of start-up

    model.check_fitted()
    units = scored_units(valid, model.mode)
    eps = [float(e) for e in start] if isinstance(start, tuple) else [float(start)] * model.order
    if len(eps) != model.order:
        raise LmstatsError(f"start needs one ε or {model.order} (one per order), got {len(eps)}")
    curve: list[tuple[int, float, float]] = []

    def valid_ppl(order_idx: int, log_e: float) -> float:
        trial = list(eps)
        trial[order_idx] = 10.0**log_e
        lp = model.resmooth(smoothing="eps", eps=tuple(trial)).logprobs_lines(units)
        ppl = float(np.exp(-lp.mean()))
        curve.append((order_idx + 1, trial[order_idx], ppl))
        if on_trial is not None:
            on_trial(order_idx + 1, trial[order_idx], ppl)
        return ppl

    for _ in range(sweeps):
        for j in range(model.order):
            res = minimize_scalar(lambda x, j=j: valid_ppl(j, x), bounds=LOG10_BOUNDS, method="bounded", options={"xatol": 0.02})
            eps[j] = float(10.0**res.x)
    best = model.resmooth(smoothing="eps", eps=tuple(eps))
    ppl = float(np.exp(-best.logprobs_lines(units).mean()))
    return EpsTuning(tuple(eps), ppl, len(curve) + 1, tuple(curve))
