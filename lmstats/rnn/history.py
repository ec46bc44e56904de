"""What an RNN run reports: one :class:`EpochRecord` per epoch, the run's :class:`TrainHistory`, and
:class:`BatchProgress` for progress callbacks.  Training perplexity is ``exp(Σ nll / Σ tokens)`` over
the epoch (sums, not a mean of batch means)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    complete: bool  # False when the time budget ended the epoch early
    steps: int
    train_tokens: int
    train_nll_sum: float
    train_seconds: float  # training steps only (validation excluded)
    valid_ppl: float  # shared evaluator, config.valid_mode
    lr: float  # learning rate at the start of the epoch (constant through it under the plateau schedule)
    elapsed: float  # wall-clock seconds since the run began (resumed runs included), after validation
    planned_steps: int = 0  # batches in a whole epoch (0 in checkpoints written before it was recorded)

    @property
    def share(self) -> float:
        """How much of a whole epoch this one covered (1.0 for a complete epoch)."""
        return 1.0 if self.complete or not self.planned_steps else self.steps / self.planned_steps

    @property
    def train_ppl(self) -> float:
        return math.exp(self.train_nll_sum / self.train_tokens) if self.train_tokens else math.nan

    @property
    def tokens_per_s(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else math.nan

    def to_dict(self) -> dict:
        return asdict(self) | {"train_ppl": self.train_ppl, "tokens_per_s": self.tokens_per_s}


@dataclass(frozen=True)
class TrainHistory:
    epochs: tuple[EpochRecord, ...]
    stopped: str  # "epochs" | "time budget"
    elapsed: float  # wall-clock seconds of training and validation (resumed runs included)
    valid_seconds: float = 0.0  # of which per-epoch validation (and the budget probe)
    resumed_from: dict | None = None  # {"epoch": finished epochs, "step": batches into the next} when resumed
    checkpoint_seconds: float = 0.0  # of which checkpoint writes
    best_epoch: int | None = None  # the epoch whose validation was best: its weights are the network's at the end
    restored: bool = False  # True when those weights replaced the last epoch's (a later validation was worse)
    valid_tokens: int = 0  # tokens of the per-epoch validation (a fixed sample when config.valid_tokens is set)
    curve: tuple[dict, ...] = ()  # {"elapsed", "tokens", "valid_ppl"} every config.curve_every seconds (none when unset)

    @property
    def epochs_done(self) -> float:
        """Epochs trained, counting an epoch the budget cut short by the share of its batches done."""
        return sum(e.share for e in self.epochs)

    @property
    def best_valid_ppl(self) -> float:
        return min((e.valid_ppl for e in self.epochs), default=math.nan)

    @property
    def tokens_seen(self) -> int:
        """Training tokens of the whole run."""
        return sum(e.train_tokens for e in self.epochs)

    @property
    def tokens_per_s(self) -> float:
        """Mean training speed of the run: all training tokens over all training seconds."""
        seconds = sum(e.train_seconds for e in self.epochs)
        return sum(e.train_tokens for e in self.epochs) / seconds if seconds > 0 else math.nan

    def time_split(self) -> dict:
        """Where the wall clock went: training steps, validation (and the budget probe), checkpoint writes, the rest."""
        train = sum(e.train_seconds for e in self.epochs)
        other = self.elapsed - train - self.valid_seconds - self.checkpoint_seconds
        return {"train_s": train, "valid_s": self.valid_seconds, "checkpoint_s": self.checkpoint_seconds, "other_s": other,
                "total_s": self.elapsed}

    def to_dict(self) -> dict:
        return {"epochs": [e.to_dict() for e in self.epochs], "stopped": self.stopped, "elapsed": self.elapsed,
                "valid_seconds": self.valid_seconds, "checkpoint_seconds": self.checkpoint_seconds, "resumed_from": self.resumed_from,
                "best_valid_ppl": self.best_valid_ppl, "best_epoch": self.best_epoch, "restored": self.restored,
                "valid_tokens": self.valid_tokens, "tokens_per_s": self.tokens_per_s, "time_split": self.time_split(),
                "epochs_done": self.epochs_done, "curve": list(self.curve),
                "tokens_seen": self.tokens_seen}


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    step: int  # batches done in this epoch
    n_steps: int
    n_tokens: int  # target tokens of this batch
    nll_sum: float  # their summed NLL
    elapsed: float


def epoch_record(data: dict) -> EpochRecord:
    """An :class:`EpochRecord` from its :meth:`~EpochRecord.to_dict` (derived figures dropped)."""
    return EpochRecord(**{k: v for k, v in data.items() if k not in ("train_ppl", "tokens_per_s")})
