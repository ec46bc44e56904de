"""``ReportConfig``: everything a report run depends on, validated whole before any work starts.

A TOML file (``lmstats report --config FILE``) sets any field; the corpus and its vocabulary
are the nested tables ``[corpus]`` (:class:`~lmstats.text.spec.CorpusSpec`) and ``[vocab]``
(:class:`~lmstats.text.spec.VocabSpec`), the same objects the other commands use::

    orders = [1, 2, 3, 4, 5]
    rnn_cells = ["lstm", "gru"]
    rnn_budget = 300.0           # seconds per RNN ...
    cross_levels = ["char"]

    [rnn_budgets]                # ... unless its cell has its own budget
    lstm = 900.0

    [corpus]
    source = "ptb"

The RNN baselines' training recipe is set by the ``rnn_*`` keys (the defaults: Adam 2e-3, the
plateau rule, a budget of 40 s each, sized for the built-in corpus; the committed WikiText-2 and
PTB configs use the CLI's WikiText-2 recipe: SGD at lr 20 along a cosine, line starts 20%).
``cross_levels`` adds the same text at other tokenisations (char, bpe, unigram), each with a
modified Kneser-Ney model (orders up to ``char_order`` at char level, ``subword_order`` at
subword levels, the order chosen on valid) and an LSTM trained for ``cross_rnn_budget`` seconds,
all scored in bits per character of the one test text.

Every value is checked for its type and range when the config is made (a wrong-typed value
or an unknown cell is one clear error, not a traceback minutes into the run).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import tomllib

from lmstats.errors import LmstatsError
from lmstats.ngram.model import MAX_ORDER
from lmstats.ngram.smoothing import SMOOTHERS
from lmstats.rnn.config import CELLS, SOFTMAXES, RNNConfig
from lmstats.text.spec import CorpusSpec, VocabSpec
from lmstats.units import EVAL_MODES

NGRAM_SMOOTHERS = ("eps", "laplace", "wb", "kn", "mkn")
RNN_SOFTMAXES = ("auto", *SOFTMAXES)  # auto: adaptive for vocabularies over 20k types
ADAPTIVE_ABOVE = 20_000
CROSS_LEVELS = ("char", "bpe", "unigram")
# The char-level LSTM of cross_levels: the Tiny Shakespeare recipe of reports/rnn_targets.md (1.98 bits/char in
# 5 minutes there): 2x256, embedding 64, no dropout, batch 32 x BPTT 50, Adam 3e-3 along the cosine.
CHAR_RECIPE = {"embed_size": 64, "hidden_size": 256, "num_layers": 2, "dropout": 0.0, "softmax": "full", "seq_len": 50,
               "batch_size": 32, "optimizer": "adam", "lr": 3e-3, "lr_schedule": "cosine", "start_share": 0.0,
               "valid_mode": "stream"}

# The type of every scalar field, and of the items of every tuple field (TOML gives lists).
_SCALARS = {
    "data_dir": (str, type(None)), "zipf_orders": (int,), "rnn_budget": (int, float), "rnn_epochs": (int,),
    "rnn_hidden": (int,), "rnn_layers": (int,), "rnn_embed": (int,), "rnn_softmax": (str,), "rnn_seq_len": (int,),
    "rnn_batch_size": (int,), "rnn_lr": (int, float), "rnn_dropout": (int, float), "threads": (int, type(None)), "seed": (int,),
    "rnn_optimizer": (str,), "rnn_lr_schedule": (str,), "rnn_clip": (int, float), "rnn_start_share": (int, float),
    "rnn_valid_tokens": (int, type(None)), "char_order": (int,), "subword_order": (int,), "cross_rnn_budget": (int, float),
}
_TUPLES = {"modes": str, "orders": int, "smoothers": str, "rnn_cells": str, "cross_levels": str}


@dataclass(frozen=True)
class ReportConfig:
    """Everything a report run depends on (``--config report.toml`` sets any field)."""

    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    vocab: VocabSpec = field(default_factory=VocabSpec)
    data_dir: str | None = None
    modes: tuple[str, ...] = EVAL_MODES
    orders: tuple[int, ...] = (1, 2, 3, 4, 5)
    smoothers: tuple[str, ...] = NGRAM_SMOOTHERS
    zipf_orders: int = 3
    rnn_cells: tuple[str, ...] = ("rnn", "gru", "lstm")
    rnn_budget: float = 40.0  # seconds per RNN: training and per-epoch validation (wall clock)
    rnn_epochs: int = 50
    rnn_hidden: int = 200
    rnn_layers: int = 2
    rnn_embed: int = 200
    rnn_softmax: str = "auto"
    rnn_seq_len: int = 35
    rnn_batch_size: int = 20
    rnn_lr: float = 2e-3
    rnn_dropout: float = 0.2
    rnn_optimizer: str = "adam"
    rnn_lr_schedule: str = "plateau"  # plateau | linear | cosine (the last two decay to 0 over the budget)
    rnn_clip: float = 0.25
    rnn_start_share: float = 0.0  # share of training steps on line starts from the zero state
    rnn_valid_tokens: int | None = None  # per-epoch validation on a sample of about this many tokens (None or 0: all)
    rnn_budgets: dict = field(default_factory=dict)  # cell -> seconds, overriding rnn_budget for that cell
    cross_levels: tuple[str, ...] = ("char", "bpe")  # the same text at other levels, for the bits-per-character table
    char_order: int = 10  # highest MKN order at char level (the order is chosen on valid)
    subword_order: int = 5  # highest MKN order at subword levels
    cross_rnn_budget: float = 15.0  # seconds of each cross-level LSTM (0: none)
    threads: int | None = None  # torch threads; None: lmstats.rnn.threads.default_threads()
    seed: int = 0  # seed of the RNN runs (the split's seed is corpus.seed)

    def __post_init__(self) -> None:
        _check_types(self)

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise LmstatsError(f"report config: {message}")

        need(bool(self.modes) and all(m in EVAL_MODES for m in self.modes), f"modes must be among {EVAL_MODES}, got {list(self.modes)}")
        need(bool(self.orders) and all(1 <= o <= MAX_ORDER for o in self.orders),
             f"orders must be in 1..{MAX_ORDER}, got {list(self.orders)}")
        unknown = [s for s in self.smoothers if s not in SMOOTHERS]
        need(not unknown, f"unknown smoothers {unknown}; choose among {', '.join(SMOOTHERS)}")
        unknown = [c for c in self.rnn_cells if c not in CELLS]
        need(not unknown, f"unknown rnn_cells {unknown}; choose among {', '.join(CELLS)} (or [] for no RNN)")
        need(self.rnn_softmax in RNN_SOFTMAXES, f"rnn_softmax must be one of {RNN_SOFTMAXES}, got {self.rnn_softmax!r}")
        need(self.rnn_budget > 0 and math.isfinite(self.rnn_budget), f"rnn_budget must be > 0 seconds, got {self.rnn_budget}")
        need(self.zipf_orders >= 1, f"zipf_orders must be >= 1, got {self.zipf_orders}")
        need(self.threads is None or self.threads >= 1, f"threads must be >= 1 (or absent for the default), got {self.threads}")
        need(isinstance(self.rnn_budgets, dict),
             f"rnn_budgets must be a table of cell = seconds ([rnn_budgets] with lines like lstm = 900.0), got {self.rnn_budgets!r}")
        unknown = [c for c in self.rnn_budgets if c not in CELLS]
        need(not unknown, f"rnn_budgets: unknown cells {unknown}; choose among {', '.join(CELLS)}")
        for cell, seconds in self.rnn_budgets.items():
            need(isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0 and math.isfinite(seconds),
                 f"rnn_budgets: {cell} = {seconds!r} must be a number of seconds > 0")
        unknown = [lv for lv in self.cross_levels if lv not in CROSS_LEVELS]
        need(not unknown, f"unknown cross_levels {unknown}; choose among {', '.join(CROSS_LEVELS)} (or [] for none)")
        need(len(set(self.cross_levels)) == len(self.cross_levels), f"cross_levels repeats a level: {list(self.cross_levels)}")
        need(1 <= self.char_order <= MAX_ORDER, f"char_order must be in 1..{MAX_ORDER}, got {self.char_order}")
        need(1 <= self.subword_order <= MAX_ORDER, f"subword_order must be in 1..{MAX_ORDER}, got {self.subword_order}")
        need(self.cross_rnn_budget >= 0 and math.isfinite(self.cross_rnn_budget),
             f"cross_rnn_budget must be >= 0 seconds (0: no LSTM at the other levels), got {self.cross_rnn_budget}")
        for cell in self.rnn_cells:  # every RNN setting is checked now, not after the n-gram stages
            self.rnn_config(cell, vocab_size=0)
        if self.cross_rnn_budget:
            for level in self.cross_levels:
                self.cross_rnn_config(level, vocab_size=0)

    def budget(self, cell: str) -> float:
        """Seconds of training (and per-epoch validation) for the RNN baseline ``cell``."""
        return float(self.rnn_budgets.get(cell, self.rnn_budget))

    def rnn_config(self, cell: str, vocab_size: int) -> RNNConfig:
        """The RNN baseline's configuration for ``cell`` (the softmax follows ``vocab_size`` under ``auto``)."""
        softmax = self.rnn_softmax if self.rnn_softmax != "auto" else ("adaptive" if vocab_size > ADAPTIVE_ABOVE else "full")
        try:
            return RNNConfig(
                cell=cell, embed_size=self.rnn_embed, hidden_size=self.rnn_hidden,
                num_layers=1 if cell == "scratch" else self.rnn_layers, dropout=self.rnn_dropout, softmax=softmax,
                seq_len=self.rnn_seq_len, batch_size=self.rnn_batch_size, optimizer=self.rnn_optimizer, lr=self.rnn_lr,
                lr_schedule=self.rnn_lr_schedule, clip=float(self.rnn_clip), start_share=float(self.rnn_start_share),
                valid_tokens=self.rnn_valid_tokens or None, epochs=self.rnn_epochs, time_budget=self.budget(cell), seed=self.seed,
            )
        except LmstatsError as exc:
            raise LmstatsError(f"report config, RNN settings: {exc}") from None

    def cross_rnn_config(self, level: str, vocab_size: int) -> RNNConfig:
        """The LSTM of a cross level: at char level :data:`CHAR_RECIPE`, at subword levels the word LSTM's
        settings; ``cross_rnn_budget`` seconds either way (called only when it is above 0)."""
        base = self.rnn_config("lstm", vocab_size)
        changes = CHAR_RECIPE if level == "char" else {}
        try:
            return RNNConfig.from_dict(base.to_dict() | changes | {"time_budget": float(self.cross_rnn_budget)})
        except LmstatsError as exc:
            raise LmstatsError(f"report config, {level}-level LSTM: {exc}") from None

    def to_dict(self) -> dict:
        return asdict(self) | {"rnn_budgets": dict(self.rnn_budgets), "corpus": self.corpus.to_dict(), "vocab": self.vocab.to_dict()}

    @classmethod
    def from_toml(cls, path: str | Path) -> ReportConfig:
        """The config a TOML file describes (unknown keys and wrong types are errors)."""
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise LmstatsError(f"{path}: no such config file") from None
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise LmstatsError(f"{path}: not a readable TOML file ({exc})") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "report config") -> ReportConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LmstatsError(f"{source}: unknown keys {unknown}; known keys: {sorted(known)}")
        values = dict(data)
        for name, spec_cls in (("corpus", CorpusSpec), ("vocab", VocabSpec)):
            if name in values:
                values[name] = _nested(spec_cls, values[name], f"{source}: [{name}]")
        for name in _TUPLES:
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        try:
            return cls(**values)
        except LmstatsError as exc:
            raise LmstatsError(f"{source}: {exc}") from None


def _nested(spec_cls, table, where: str):
    if not isinstance(table, dict):
        raise LmstatsError(f"{where} must be a table of settings, got {table!r}")
    known = {f.name for f in fields(spec_cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise LmstatsError(f"{where}: unknown keys {unknown}; known keys: {sorted(known)}")
    types = {"source": (str,), "level": (str,), "lower": (bool,), "letters_only": (bool,), "format": (str,), "split": (list, tuple),
             "seed": (int,), "bpe_vocab": (int,), "min_count": (int,), "max_size": (int,)}
    for key, value in table.items():
        if not isinstance(value, types[key]) or (isinstance(value, bool) and bool not in types[key]):
            raise LmstatsError(f"{where}: {key} = {value!r} has the wrong type; expected {' or '.join(t.__name__ for t in types[key])}")
    try:
        return spec_cls.from_dict(table)
    except (LmstatsError, TypeError, ValueError) as exc:
        raise LmstatsError(f"{where}: {exc}") from None


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("none" if t is type(None) else t.__name__ for t in types)


def _check_types(config: ReportConfig) -> None:
    """Every field has its type (bool is not accepted as a number, a string not as a list)."""
    if not isinstance(config.corpus, CorpusSpec) or not isinstance(config.vocab, VocabSpec):
        raise LmstatsError("report config: corpus must be a CorpusSpec and vocab a VocabSpec ([corpus] and [vocab] tables in TOML)")
    for name, types in _SCALARS.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, types):
            raise LmstatsError(f"report config: {name} = {value!r} has the wrong type; expected {_type_names(types)}")
    for name, item in _TUPLES.items():
        value = getattr(config, name)
        if not isinstance(value, tuple) or any(isinstance(v, bool) or not isinstance(v, item) for v in value):
            raise LmstatsError(f"report config: {name} = {value!r} must be a list of {item.__name__} values, "
                               f"e.g. {list(getattr(ReportConfig, name))}")
