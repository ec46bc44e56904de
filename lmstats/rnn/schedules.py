"""Learning-rate schedules of an RNN run: a rate cut on a validation plateau, or one that falls to 0 over the budget.

``lr_schedule="plateau"`` multiplies the rate by ``lr_decay`` after every validation that did not
improve (torch's ``ReduceLROnPlateau`` with patience 0).  ``"linear"`` and ``"cosine"`` set the
rate before every step from the share of the budget used (:func:`budget_lr`), so that it reaches
0 when the run ends and a resumed run continues the same curve.
"""

from __future__ import annotations

import math

import torch

from lmstats.rnn.recipe import RNNConfig

BUDGET_SCHEDULES = ("linear", "cosine")  # the rate is a function of the share of the budget used


def budget_lr(config: RNNConfig, epoch: int, step: int, n_steps: int, elapsed: float) -> float:
    """The rate of a budget schedule at this point of the run: ``lr · (1 - progress)`` (linear) or
    ``lr · (1 + cos(π · progress)) / 2`` (cosine), progress being the used share of the budget.

    The budget is ``config.epochs`` (progress counted in steps) and, when set, ``config.time_budget``
    (progress counted in wall-clock seconds); whichever is further used up sets the rate, so the
    rate reaches 0 when the run ends; with ``config.warmup`` the rate first rises linearly from 0 over
    that share of the budget and the decay spans the rest (Li et al. 2020, "Budgeted training"; the cosine shape is
    Loshchilov & Hutter's SGDR without restarts).  Under an epoch budget the rates are a function
    of the step and a seeded run repeats exactly; under a time budget they follow the clock, so
    two runs agree only as far as their timings do.
    """
    progress = (epoch + step / max(n_steps, 1)) / config.epochs
    if config.time_budget is not None:
        progress = max(progress, elapsed / config.time_budget)
    progress = min(1.0, progress)
    if progress < config.warmup:  # a linear warm-up from 0 over the first share of the budget, then the decay over the rest
        return config.lr * progress / config.warmup
    progress = (progress - config.warmup) / (1.0 - config.warmup)
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr * (1.0 - progress)


class Schedule:
    """The rate of one run's optimizer under ``config.lr_schedule`` (see the module docstring)."""

    def __init__(self, optimizer: torch.optim.Optimizer, config: RNNConfig):
        self.optimizer, self.config = optimizer, config
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.lr_decay, patience=0,
                                                                  threshold=0.0)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def before_step(self, epoch: int, step: int, n_steps: int, elapsed: float) -> None:
        """Set the rate of a budget schedule for the next step (nothing under the plateau schedule)."""
        if self.config.lr_schedule in BUDGET_SCHEDULES:
            for group in self.optimizer.param_groups:
                group["lr"] = budget_lr(self.config, epoch, step, n_steps, elapsed)

    def after_validation(self, valid_ppl: float) -> None:
        """Cut the rate after a validation that did not improve (the plateau schedule only)."""
        if self.config.lr_schedule == "plateau":
            self.plateau.step(valid_ppl)

    def state_dict(self) -> dict:
        return self.plateau.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.plateau.load_state_dict(state)
