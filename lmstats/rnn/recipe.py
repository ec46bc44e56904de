"""The RNN recipe: every choice of an RNN language-model run (:class:`RNNConfig`), its defaults and its "auto" rules.

This module is the one home of the RNN defaults: the field defaults of :class:`RNNConfig` are
the WikiText-2 recipe of ``reports/rnn_targets.md`` (LSTM 2×200, dropout 0.2, SGD at lr 20
falling to 0 along a half cosine, clip 0.25, batch 20 × BPTT 35, 20% of the steps on line
starts, validation on a 50,000-token sample, 6 epochs), and ``lmstats rnn train``'s options,
``lmstats report``'s ``[rnn]`` table and the library all start from them.  Three choices are
"auto" until the vocabulary is known, each decided by one rule here (:meth:`RNNConfig.resolve`):

* ``softmax="auto"``: adaptive above :data:`ADAPTIVE_ABOVE` types (a full softmax over a large
  vocabulary dominates the step), full below;
* ``lr=None``: :data:`DEFAULT_LR` of the optimizer (SGD 20, pytorch/examples' rate; Adam 2e-3);
* ``num_layers=None``: 2, or 1 for the from-scratch RNN (which has one layer).

Named variants of the recipe (:data:`CHAR_RECIPE`, :data:`SHORT_RECIPE`, and per cell
:data:`CELL_RECIPES`, e.g. :data:`TRANSFORMER_RECIPE`) are stated changes to these defaults, each
with its reason.  Fields split in two groups: the *architecture*
(:data:`ARCH_FIELDS`, what a checkpoint's parameters depend on) and the *training* settings
(which a resumed run may change, e.g. a longer budget).  No torch here: the CLI imports this.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from lmstats.errors import LmstatsError
from lmstats.units import EVAL_MODES

CELLS = ("lstm", "gru", "rnn", "scratch", "transformer")
SOFTMAXES = ("full", "adaptive")
BATCHINGS = ("sequential", "random")
OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("plateau", "linear", "cosine")
DEVICES = ("auto", "cpu", "cuda")
ARCH_FIELDS = ("cell", "embed_size", "hidden_size", "num_layers", "heads", "tie", "softmax", "cutoffs", "div_value")
AUTO = "auto"

ADAPTIVE_ABOVE = 10_000  # softmax "auto": adaptive for vocabularies larger than this, full for the others
DEFAULT_LR = {"sgd": 20.0, "adam": 2e-3, "adamw": 1e-3}  # lr None: the rate of the optimizer

# The char-level recipe (Tiny Shakespeare, reports/rnn_targets.md: 1.98 bits/char in 5 minutes): 2x256,
# embedding 64, no dropout, batch 32 x BPTT 50 (four times the updates of 64 x 100 and faster per token on the
# CPU), Adam 3e-3 along the cosine, no line-start steps, the best epoch chosen in stream mode.
CHAR_RECIPE = {"embed_size": 64, "hidden_size": 256, "num_layers": 2, "dropout": 0.0, "tie": False, "softmax": "full", "seq_len": 50,
               "batch_size": 32, "optimizer": "adam", "lr": 3e-3, "lr_schedule": "cosine", "start_share": 0.0,
               "valid_mode": "stream"}
# The short recipe of the built-in report (the 52,667-token, 7,944-type built-in corpus): one layer of 200 tied to the
# embedding, dropout 0.4, Adam at 1e-2 along the cosine, batch 8, 30% of the steps on line starts (its lines are 6
# tokens long: sentence mode is mostly line starts), every validation on the whole (small) split.  The budget is 4
# epochs (about 35 s a cell on an idle 2-core machine), with 150 s as a ceiling: a budget in tokens gives the same
# model on a busy machine (only later), where 40 s of wall clock gave a third of the tokens and an LSTM near the
# unigram.  Chosen on valid in runs of the LSTM on 2 threads (reports/rnn_targets.md): in 40 s, 722.8 for the former 2
# layers at Adam 2e-3 on a plateau, 372.5 for one tied layer at 3e-3, 338.4 at 5e-3, 301.2 at 1e-2; in 4 epochs,
# 297.8 at batch 20 and 285.0 at batch 8.
SHORT_RECIPE = {"num_layers": 1, "tie": True, "dropout": 0.4, "optimizer": "adam", "lr": 1e-2, "lr_schedule": "cosine",
                "start_share": 0.3, "valid_tokens": None, "batch_size": 8, "epochs": 4, "time_budget": 150.0}
# The built-in report's changes to a cell's recipe, on top of it (ReportConfig.cell_recipes), chosen on valid in 4-epoch
# runs (reports/rnn_targets.md): the tanh RNN at its own Adam 2e-3 reached 385.7 at batch 8, and 281.7 at 3e-3,
# dropout 0.3 and batch 4; the GRU reached 261.4 at the short recipe's 1e-2 and 245.0 at 5e-3.
SHORT_CELL_CHANGES = {"rnn": {"lr": 3e-3, "dropout": 0.3, "batch_size": 4}, "gru": {"lr": 5e-3}}
# The built-in report's char-level LSTM: CHAR_RECIPE's two layers at 3e-3 (made for minutes) reached 3.18 bits/char on
# the built-in corpus's valid in 15 s; one layer at 1e-2 reached 1.95, and in 2 epochs (12 s idle) at batch 16 1.79
# (reports/rnn_targets.md).  The epochs are its budget, the report's cross_rnn_budget its ceiling.
SHORT_CHAR_CHANGES = {"num_layers": 1, "lr": 1e-2, "batch_size": 16, "epochs": 2}

# The decoder-only Transformer's recipe (cell "transformer", lmstats/rnn/transformer.py), the field's usual one at CPU
# scale: pre-norm blocks, a 64-token attention window with the memory carried across batches, dropout 0.1, the
# embedding tied to the (adaptive) softmax, AdamW (weight decay 0.1) rising over the first 5% of the budget and falling
# to 0 along a half cosine, clipping at 1.  The size and rate were chosen on WikiText-2's valid sample in 150 s runs on
# 2 threads (reports/rnn_targets.md): 4 blocks of 128 (feed-forward 512) at 2e-3 reached 340 at 7.1k tokens/s, against
# 361 for 3 blocks of 192 (5.5k tokens/s) and 409 for 3 blocks of 256 (3.8k tokens/s) at 1e-3: on a CPU budget the
# tokens seen count more than the width.
TRANSFORMER_RECIPE = {"embed_size": 128, "hidden_size": 512, "num_layers": 4, "heads": 4, "dropout": 0.1, "tie": True,
                      "seq_len": 64, "batch_size": 32, "optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.1, "warmup": 0.05,
                      "lr_schedule": "cosine", "clip": 1.0, "start_share": 0.1}
# The tanh RNN's (cell "rnn"): SGD at the LSTM's 20 diverges (training perplexity 4.6e7 in the first epoch of the
# 2026-12-03 report), so the rate was chosen on WikiText-2's valid sample in 90 s runs on 2 threads
# (reports/rnn_targets.md): Adam 2e-3 reached 380, SGD 5 396, SGD 2 504, SGD 10 885.
TANH_RECIPE = {"optimizer": "adam", "lr": 2e-3}
# Each cell's own changes to the defaults (the LSTM's recipe), and each level's, applied by :func:`for_cell`.
CELL_RECIPES = {"transformer": TRANSFORMER_RECIPE, "rnn": TANH_RECIPE}
LEVEL_RECIPES = {"word": {}, "char": CHAR_RECIPE, "bpe": {}, "unigram": {}}  # subword pieces take the word recipe
OPTIMIZER_FIELDS = ("lr", "weight_decay")  # recipe values that belong to the recipe's optimizer


@dataclass(frozen=True)
class RNNConfig:
    """Every choice of an RNN run; the defaults are the recipe (see the module docstring)."""

    # architecture
    cell: str = "lstm"  # lstm | gru | rnn (torch's nn.LSTM/GRU/RNN) | scratch (explicit one-hot tanh RNN)
    embed_size: int = 200
    hidden_size: int = 200
    num_layers: int | None = None  # None: 2 (1 for scratch)
    heads: int = 4  # attention heads of the Transformer (embed_size must be a multiple); unused by the RNNs
    dropout: float = 0.2
    tie: bool = False  # output word vectors = input embedding (full softmax, or adaptive with full-dimension tails)
    softmax: str = AUTO  # full | adaptive (over frequency-sorted ids) | auto (adaptive above ADAPTIVE_ABOVE types)
    cutoffs: tuple[int, ...] = (2000, 10000)  # adaptive softmax cluster boundaries (ids); those >= |V| are dropped
    div_value: float = 4.0
    # data
    seq_len: int = 35
    batch_size: int = 20
    batching: str = "sequential"  # sequential (state carried, detached) | random (state reset per batch)
    # optimisation
    optimizer: str = "sgd"
    weight_decay: float = 0.0  # AdamW's decoupled weight decay on the matrices (adamw only)
    warmup: float = 0.0  # share of the budget over which a linear/cosine rate first rises linearly from 0
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    lr_schedule: str = "cosine"  # plateau: lr *= lr_decay when validation does not improve | linear, cosine: lr -> 0 over the budget
    lr_decay: float = 0.25  # lr *= lr_decay when validation perplexity does not improve (plateau schedule)
    clip: float = 0.25  # max global gradient norm (0: no clipping)
    epochs: int = 6
    time_budget: float | None = None  # seconds of wall clock (training + per-epoch validation)
    valid_mode: str = "sentence"  # evaluator mode of the per-epoch validation perplexity
    valid_tokens: int | None = 50_000  # validate during the run on a fixed seeded sample of about this many tokens (None or 0: all)
    curve_every: float | None = None  # seconds of training between points of the validation curve (None: per epoch only)
    curve_tokens: int = 5_000  # tokens of the curve's fixed seeded validation sample
    start_share: float = 0.2  # share of the training steps spent on line starts from the zero state (sentence mode's case)
    seed: int = 0

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise LmstatsError(message)

        need(self.cell in CELLS, f"cell must be one of {CELLS}, got {self.cell!r}")
        need(self.softmax in (*SOFTMAXES, AUTO), f"softmax must be one of {(*SOFTMAXES, AUTO)}, got {self.softmax!r}")
        need(self.batching in BATCHINGS, f"batching must be one of {BATCHINGS}, got {self.batching!r}")
        need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        need(self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        need(self.valid_mode in EVAL_MODES, f"valid_mode must be one of {EVAL_MODES}, got {self.valid_mode!r}")
        for name in ("embed_size", "hidden_size", "seq_len", "batch_size", "epochs"):
            need(int(getattr(self, name)) >= 1, f"{name} must be >= 1, got {getattr(self, name)!r}")
        need(self.num_layers is None or self.num_layers >= 1, f"num_layers must be >= 1, got {self.num_layers!r}")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout!r}")
        need(self.lr is None or (self.lr > 0 and math.isfinite(self.lr)),
             f"lr must be > 0, got {self.lr!r}; e.g. --lr 2e-3 with adam, 20 with sgd")
        need(0 < self.lr_decay <= 1, f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        need(self.clip >= 0 and math.isfinite(self.clip), f"clip must be >= 0 (0 disables clipping), got {self.clip!r}")
        need(self.time_budget is None or (self.time_budget > 0 and math.isfinite(self.time_budget)),
             f"time_budget must be > 0 seconds, got {self.time_budget!r}")
        need(self.valid_tokens is None or self.valid_tokens >= 0, f"valid_tokens must be >= 0 (0: all), got {self.valid_tokens!r}")
        if self.valid_tokens == 0:
            object.__setattr__(self, "valid_tokens", None)
        need(self.curve_every is None or (self.curve_every > 0 and math.isfinite(self.curve_every)),
             f"curve_every must be > 0 seconds, got {self.curve_every!r}")
        need(self.curve_tokens >= 1, f"curve_tokens must be >= 1, got {self.curve_tokens!r}")
        need(0 <= self.start_share < 1, f"start_share must be in [0, 1), got {self.start_share!r}")
        need(self.heads >= 1 and (self.cell != "transformer" or self.embed_size % self.heads == 0),
             f"the Transformer's --embed-size {self.embed_size} must be a multiple of --heads {self.heads}")
        need(self.weight_decay >= 0 and (self.weight_decay == 0 or self.optimizer == "adamw"),
             f"weight_decay {self.weight_decay!r} needs --optimizer adamw and must be >= 0")
        need(0 <= self.warmup < 1 and (self.warmup == 0 or self.lr_schedule in ("linear", "cosine")),
             f"warmup must be in [0, 1) and goes with --lr-schedule linear or cosine, got {self.warmup!r}")
        need(self.div_value > 1, f"div_value must be > 1, got {self.div_value!r}")
        need(all(int(c) > 0 for c in self.cutoffs) and list(self.cutoffs) == sorted(set(self.cutoffs)),
             f"cutoffs must be increasing positive ids, got {','.join(map(str, self.cutoffs))}; e.g. --cutoffs 2000,10000")
        if self.cell == "scratch":
            need(self.num_layers in (None, 1),
                 f"the scratch RNN has one layer, got num_layers={self.num_layers}; use --layers 1 or --cell rnn")
            need(not self.tie, "the scratch RNN has one-hot inputs and no embedding to tie; drop --tie")
        object.__setattr__(self, "cutoffs", tuple(int(c) for c in self.cutoffs))

    def resolve(self, vocab_size: int) -> RNNConfig:
        """This config with every "auto" choice decided for a vocabulary of ``vocab_size`` types (see the module docstring)."""
        return replace(self, softmax=auto_softmax(vocab_size) if self.softmax == AUTO else self.softmax,
                       lr=DEFAULT_LR[self.optimizer] if self.lr is None else self.lr,
                       num_layers=(1 if self.cell == "scratch" else 2) if self.num_layers is None else self.num_layers)

    def architecture(self) -> dict:
        return {name: getattr(self, name) for name in ARCH_FIELDS}

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cutoffs"] = list(self.cutoffs)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> RNNConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def for_cell(config: RNNConfig, cell: str, typed=(), level: str = "word") -> RNNConfig:
    """``config`` for ``cell`` at ``level``: the level's recipe (:data:`LEVEL_RECIPES`) and the cell's
    (:data:`CELL_RECIPES`, which wins where both set a field) replace every field not named in ``typed`` (the settings
    the user gave); when the optimizer was given, the recipes' rate and decay are left out too (the rate then follows
    :data:`DEFAULT_LR`)."""
    skip = set(typed) | (set(OPTIMIZER_FIELDS) if "optimizer" in typed else set())
    recipe = LEVEL_RECIPES.get(level, {}) | CELL_RECIPES.get(cell, {})
    changes = {k: v for k, v in recipe.items() if k not in skip}
    if "optimizer" in typed and "lr" not in typed:
        changes["lr"] = None
    return replace(config, cell=cell, **changes)


def auto_softmax(vocab_size: int) -> str:
    """The softmax of ``softmax="auto"``: adaptive above :data:`ADAPTIVE_ABOVE` types, else full."""
    return "adaptive" if vocab_size > ADAPTIVE_ABOVE else "full"
