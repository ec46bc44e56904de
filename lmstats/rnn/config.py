"""``RNNConfig``: every choice of an RNN language model run, in one frozen dataclass.

The CLI builds it; :func:`lmstats.rnn.model.build_net` and :func:`lmstats.rnn.train.train_rnn`
read it.  Fields split in two groups: the *architecture* (:data:`ARCH_FIELDS`, what a
checkpoint's parameters depend on: loading a checkpoint under another architecture is an
error) and the *training* settings (which a resumed run may change, e.g. a longer budget).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from lmstats.errors import LmstatsError
from lmstats.units import EVAL_MODES

CELLS = ("lstm", "gru", "rnn", "scratch")
SOFTMAXES = ("full", "adaptive")
BATCHINGS = ("sequential", "random")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("plateau", "linear", "cosine")
DEVICES = ("auto", "cpu", "cuda")
ARCH_FIELDS = ("cell", "embed_size", "hidden_size", "num_layers", "tie", "softmax", "cutoffs", "div_value")


@dataclass(frozen=True)
class RNNConfig:
    # architecture
    cell: str = "lstm"  # lstm | gru | rnn (torch's nn.LSTM/GRU/RNN) | scratch (explicit one-hot tanh RNN)
    embed_size: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    dropout: float = 0.2
    tie: bool = False  # output word vectors = input embedding (full softmax, or adaptive with full-dimension tails)
    softmax: str = "full"  # full | adaptive (nn.AdaptiveLogSoftmaxWithLoss over frequency-sorted ids)
    cutoffs: tuple[int, ...] = (2000, 10000)  # adaptive softmax cluster boundaries (ids); those >= |V| are dropped
    div_value: float = 4.0
    # data
    seq_len: int = 35
    batch_size: int = 20
    batching: str = "sequential"  # sequential (state carried, detached) | random (state reset per batch)
    # optimisation
    optimizer: str = "adam"
    lr: float = 2e-3
    lr_schedule: str = "plateau"  # plateau: lr *= lr_decay when validation does not improve | linear, cosine: lr -> 0 over the budget
    lr_decay: float = 0.25  # lr *= lr_decay when validation perplexity does not improve (plateau schedule)
    clip: float = 0.25  # max global gradient norm (0: no clipping)
    epochs: int = 10
    time_budget: float | None = None  # seconds of wall clock (training + per-epoch validation)
    valid_mode: str = "sentence"  # evaluator mode of the per-epoch validation perplexity
    valid_tokens: int | None = None  # validate during the run on a fixed seeded sample of about this many tokens (None: all)
    start_share: float = 0.0  # share of the training steps spent on line starts from the zero state (sentence mode's case)
    seed: int = 0

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise LmstatsError(message)

        need(self.cell in CELLS, f"cell must be one of {CELLS}, got {self.cell!r}")
        need(self.softmax in SOFTMAXES, f"softmax must be one of {SOFTMAXES}, got {self.softmax!r}")
        need(self.batching in BATCHINGS, f"batching must be one of {BATCHINGS}, got {self.batching!r}")
        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        need(self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        need(self.valid_mode in EVAL_MODES, f"valid_mode must be one of {EVAL_MODES}, got {self.valid_mode!r}")
        for name in ("embed_size", "hidden_size", "num_layers", "seq_len", "batch_size", "epochs"):
            need(int(getattr(self, name)) >= 1, f"{name} must be >= 1, got {getattr(self, name)!r}")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout!r}")
        need(self.lr > 0 and math.isfinite(self.lr), f"lr must be > 0, got {self.lr!r}; e.g. --lr 2e-3 with adam, 20 with sgd")
        need(0 < self.lr_decay <= 1, f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        need(self.clip >= 0, f"clip must be >= 0 (0 disables clipping), got {self.clip!r}")
        need(self.time_budget is None or self.time_budget > 0, f"time_budget must be > 0 seconds, got {self.time_budget!r}")
        need(self.valid_tokens is None or self.valid_tokens >= 1, f"valid_tokens must be >= 1, got {self.valid_tokens!r}")
        need(0 <= self.start_share < 1, f"start_share must be in [0, 1), got {self.start_share!r}")
        need(self.div_value > 1, f"div_value must be > 1, got {self.div_value!r}")
        need(all(int(c) > 0 for c in self.cutoffs) and list(self.cutoffs) == sorted(set(self.cutoffs)),
             f"cutoffs must be increasing positive ids, got {self.cutoffs!r}; e.g. --cutoffs 2000,10000")
        if self.cell == "scratch":
            need(self.num_layers == 1, f"the scratch RNN has one layer, got num_layers={self.num_layers}; use --layers 1 or --cell rnn")
            need(not self.tie, "the scratch RNN has one-hot inputs and no embedding to tie; drop --tie")

    def architecture(self) -> dict:
        return {name: getattr(self, name) for name in ARCH_FIELDS}

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cutoffs"] = list(self.cutoffs)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> RNNConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "cutoffs" in values:
            values["cutoffs"] = tuple(values["cutoffs"])
        return cls(**values)
