"""``ReportConfig``: everything a report run depends on, validated whole before any work starts.

A TOML file (``lmstats report --config FILE``) sets any field; the corpus, its vocabulary and the
RNN recipe are the nested tables ``[corpus]`` (:class:`~lmstats.text.spec.CorpusSpec`),
``[vocab]`` (:class:`~lmstats.text.spec.VocabSpec`) and ``[rnn]``
(:class:`~lmstats.rnn.recipe.RNNConfig`), the same objects the other commands use::

    orders = [1, 2, 3, 4, 5]
    rnn_cells = ["lstm", "gru"]
    cross_levels = ["char"]

    [rnn]                        # the fields of `lmstats rnn train`'s recipe; time_budget is each RNN's seconds ...
    time_budget = 300.0
    optimizer = "sgd"

    [rnn_budgets]                # ... unless its cell has its own budget
    lstm = 900.0

    [cell_recipes.transformer]   # a cell with its own recipe (the Transformer's, the tanh RNN's) takes it over [rnn];
    embed_size = 128             # these keys go on top of it

    [corpus]
    source = "ptb"

``char_recipe`` changes the char-level LSTM's recipe (the built-in one: one layer at 1e-2, batch 16, 2 epochs;
``[char_recipe]`` empty: :data:`~lmstats.rnn.recipe.CHAR_RECIPE` as it is).  ``cell_recipes`` starts from
:data:`~lmstats.rnn.recipe.SHORT_CELL_CHANGES` (the tanh RNN's and the GRU's changes for the built-in corpus); a file's
``cell_recipes`` tables replace them all (``[cell_recipes]`` empty: every cell's recipe as it is).
``rnn_seeds`` trains every cell with that many seeds;
``curve_points`` sets how often each neural model's validation
curve is measured; ``caches`` adds the cache stage (:mod:`lmstats.report.caches`).

The built-in ``[rnn]`` is :data:`~lmstats.rnn.recipe.SHORT_RECIPE` (one tied layer, Adam 1e-2 along the
cosine, batch 8, 4 epochs per RNN with 150 s as a ceiling, sized for the built-in corpus); every other field is the recipe's default,
and the "auto" choices (the softmax, the rate, the layers) are decided by the recipe's rules
for the corpus's vocabulary, as ``lmstats rnn train`` decides them.  ``cross_levels`` adds the
same text at other tokenisations (char, bpe, unigram), each with a modified Kneser-Ney model
(orders up to ``char_order`` at char level, ``subword_order`` at subword levels, the order
chosen on valid) and an LSTM trained for its recipe's epochs or ``cross_rnn_budget`` seconds, whichever ends
first (at char level the :data:`~lmstats.rnn.recipe.CHAR_RECIPE`), all scored in bits per character of the one test text.

Types come from the fields' annotations (:mod:`lmstats.config_table`); values and ranges are
checked here, when the config is made (a wrong value is one clear error, not a traceback minutes
into the run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from lmstats.config_table import check_types, from_table
from lmstats.errors import LmstatsError
from lmstats.jsonable import jsonable
from lmstats.ngram.model import MAX_ORDER
from lmstats.ngram.smoothing import SMOOTHERS
from lmstats.rnn.recipe import CELLS, SHORT_CELL_CHANGES, SHORT_CHAR_CHANGES, SHORT_RECIPE, RNNConfig, for_cell
from lmstats.text.reader import read_text
from lmstats.text.spec import CorpusSpec, VocabSpec
from lmstats.units import EVAL_MODES

NGRAM_SMOOTHERS = ("eps", "laplace", "wb", "kn", "mkn")
CROSS_LEVELS = ("char", "bpe", "unigram")
CURVE_TOKENS = 2_000  # tokens of the fixed validation sample of the training curves


def short_recipe() -> RNNConfig:
    return RNNConfig(**SHORT_RECIPE)


@dataclass(frozen=True)
class ReportConfig:
    """Everything a report run depends on (``--config report.toml`` sets any field)."""

    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    vocab: VocabSpec = field(default_factory=VocabSpec)
    rnn: RNNConfig = field(default_factory=short_recipe)  # the RNN baselines' recipe; time_budget: seconds per RNN
    data_dir: str | None = None
    modes: tuple[str, ...] = EVAL_MODES
    orders: tuple[int, ...] = (1, 2, 3, 4, 5)
    smoothers: tuple[str, ...] = NGRAM_SMOOTHERS
    zipf_orders: int = 3
    rnn_cells: tuple[str, ...] = ("rnn", "gru", "lstm")
    rnn_budgets: dict[str, float] = field(default_factory=dict)  # cell -> seconds, overriding rnn.time_budget for that cell
    cell_recipes: dict[str, dict] = field(default_factory=lambda: dict(SHORT_CELL_CHANGES))  # cell -> fields on top of its recipe
    rnn_seeds: int = 1  # seeds trained per cell (rnn.seed, rnn.seed + 1, ...): the rows give the mean and the spread
    curve_points: int = 30  # points of each neural model's validation curve over its budget (on a fixed sample)
    caches: bool = True  # the cache stage: the best neural model with a neural cache, and the mixture with both caches
    cross_levels: tuple[str, ...] = ("char", "bpe")  # the same text at other levels, for the bits-per-character table
    char_order: int = 10  # highest MKN order at char level (the order is chosen on valid)
    subword_order: int = 5  # highest MKN order at subword levels
    cross_rnn_budget: float = SHORT_RECIPE["time_budget"]  # seconds ending each cross-level LSTM at the latest (0: none), or its epochs
    char_recipe: dict[str, Any] = field(default_factory=lambda: dict(SHORT_CHAR_CHANGES))  # on top of CHAR_RECIPE ({}: as it is)
    threads: int | None = None  # threads of torch and the compiled kernels; None: lmstats.threads.default_threads()
    sizes: bool = True  # the size stage (lmstats/report/sizes.py): the top-order MKN model pruned and quantised, on disk
    size_prune: tuple[str, ...] = ("0,1",)  # count thresholds per order from the unigrams, as lmplz's --prune
    size_entropy: tuple[float, ...] = (1e-8, 1e-7)  # relative-entropy thresholds θ, as SRILM's -prune
    size_quantize: tuple[int, ...] = (8,)  # bits of the quantised copies of each point (--quantize)
    size_reference: str | None = None  # a JSON file of other tools' points (benchmarks/bench_compact.py writes one)

    def __post_init__(self) -> None:
        check_types(self, "report config")

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
        need(self.rnn.cell == RNNConfig.cell, f"[rnn] cell = {self.rnn.cell!r} would be ignored: the report trains the cells of "
                                              f"rnn_cells (now {list(self.rnn_cells)}); drop it from [rnn] and list the cells there")
        need(self.zipf_orders >= 1, f"zipf_orders must be >= 1, got {self.zipf_orders}")
        need(self.threads is None or self.threads >= 1, f"threads must be >= 1 (or absent for the default), got {self.threads}")
        unknown = [c for c in self.cell_recipes if c not in CELLS]
        need(not unknown, f"cell_recipes: unknown cells {unknown}; choose among {', '.join(CELLS)}")
        known = {f.name for f in fields(RNNConfig)} - {"cell", "seed", "time_budget"}
        for cell, table in self.cell_recipes.items():
            wrong = sorted(set(table) - known)
            need(not wrong, f"cell_recipes.{cell}: unknown keys {wrong}; the keys are the recipe's fields ({', '.join(sorted(known))})")
        wrong = sorted(set(self.char_recipe) - known)
        need(not wrong, f"char_recipe: unknown keys {wrong}; the keys are the recipe's fields ({', '.join(sorted(known))})")
        need(self.rnn_seeds >= 1, f"rnn_seeds must be >= 1 (the seeds trained per cell), got {self.rnn_seeds}")
        need(self.curve_points >= 1, f"curve_points must be >= 1, got {self.curve_points}")
        unknown = [c for c in self.rnn_budgets if c not in CELLS]
        need(not unknown, f"rnn_budgets: unknown cells {unknown}; choose among {', '.join(CELLS)}")
        for cell, seconds in self.rnn_budgets.items():
            need(seconds > 0 and math.isfinite(seconds), f"rnn_budgets: {cell} = {seconds!r} must be a number of seconds > 0")
        unknown = [lv for lv in self.cross_levels if lv not in CROSS_LEVELS]
        need(not unknown, f"unknown cross_levels {unknown}; choose among {', '.join(CROSS_LEVELS)} (or [] for none)")
        need(len(set(self.cross_levels)) == len(self.cross_levels), f"cross_levels repeats a level: {list(self.cross_levels)}")
        need(1 <= self.char_order <= MAX_ORDER, f"char_order must be in 1..{MAX_ORDER}, got {self.char_order}")
        need(1 <= self.subword_order <= MAX_ORDER, f"subword_order must be in 1..{MAX_ORDER}, got {self.subword_order}")
        need(self.cross_rnn_budget >= 0 and math.isfinite(self.cross_rnn_budget),
             f"cross_rnn_budget must be >= 0 seconds (0: no LSTM at the other levels), got {self.cross_rnn_budget}")
        if self.has_sizes:
            from lmstats.report.sizes import check_size_settings

            check_size_settings(self)
        for cell in dict.fromkeys((*self.rnn_cells, *self.cell_recipes)):  # every neural setting is checked now, not after the n-grams
            self.rnn_config(cell, vocab_size=0)
        if self.cross_rnn_budget:
            for level in self.cross_levels:
                self.cross_rnn_config(level, vocab_size=0)

    @property
    def has_sizes(self) -> bool:
        """Whether the size stage runs: asked for, and a top order above 1 (a unigram model has nothing to prune)."""
        return self.sizes and max(self.orders) >= 2

    @property
    def seed(self) -> int:
        """The seed of the RNN runs (the split's seed is ``corpus.seed``)."""
        return self.rnn.seed

    def budget(self, cell: str) -> float | None:
        """Seconds of training (and per-epoch validation) for the RNN baseline ``cell`` (None: ``rnn.epochs`` end it)."""
        return float(self.rnn_budgets[cell]) if cell in self.rnn_budgets else self.rnn.time_budget

    def rnn_config(self, cell: str, vocab_size: int, seed: int | None = None) -> RNNConfig:
        """The neural baseline ``cell``'s recipe: ``[rnn]``, with the cell's own recipe on top (the tanh RNN's and the
        Transformer's, :data:`~lmstats.rnn.recipe.CELL_RECIPES`), its budget, a validation curve of ``curve_points``
        points over it, ``seed`` (None: ``[rnn]``'s), and its "auto" choices decided for ``vocab_size`` types."""
        try:
            layers = None if cell == "scratch" else self.rnn.num_layers  # the scratch RNN has one layer
            budget = self.budget(cell)
            config = replace(for_cell(replace(self.rnn, num_layers=layers), cell), **self.cell_recipes.get(cell, {}))
            return replace(config, time_budget=budget, curve_every=budget / self.curve_points if budget else None,
                           curve_tokens=CURVE_TOKENS, seed=self.rnn.seed if seed is None else seed).resolve(vocab_size)
        except LmstatsError as exc:
            raise LmstatsError(f"report config, RNN settings: {exc}") from None

    def cross_rnn_config(self, level: str, vocab_size: int) -> RNNConfig:
        """The LSTM of a cross level: at char level :data:`~lmstats.rnn.recipe.CHAR_RECIPE`, at subword levels the word
        LSTM's recipe; ``cross_rnn_budget`` seconds either way (called only when it is above 0)."""
        try:
            budget = float(self.cross_rnn_budget)
            config = for_cell(self.rnn, "lstm", level=level)
            if level == "char":
                config = replace(config, **self.char_recipe)
            return replace(config, time_budget=budget, curve_every=budget / self.curve_points,
                           curve_tokens=CURVE_TOKENS).resolve(vocab_size)
        except LmstatsError as exc:
            raise LmstatsError(f"report config, {level}-level LSTM: {exc}") from None

    def to_dict(self) -> dict:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_toml(cls, path: str | Path) -> ReportConfig:
        """The config a TOML file describes (unknown keys and wrong types are errors)."""
        if not Path(path).exists():
            raise LmstatsError(f"{path}: no such config file; check the path (reports/configs/ holds the committed ones)")
        try:
            data = tomllib.loads(read_text(path))
        except tomllib.TOMLDecodeError as exc:
            raise LmstatsError(f"{path}: not a readable TOML file ({exc}); fix the line it names") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "report config") -> ReportConfig:
        """The config of a table (a TOML file's contents); ``[rnn]`` starts from the built-in recipe of the report."""
        known = {f.name for f in fields(cls)}
        moved = sorted(k for k in data if k.startswith("rnn_") and k not in known)
        if moved:
            raise LmstatsError(f"{source}: unknown keys {moved}; the RNN settings are the table [rnn], whose keys are the fields of "
                               f"the recipe ({', '.join(f.name for f in fields(RNNConfig) if f.name != 'cell')}), e.g. [rnn] lr = 20.0")
        data = dict(data)
        if isinstance(data.get("rnn"), dict):  # the built-in recipe of the report, with the table's settings on top
            data["rnn"] = short_recipe().to_dict() | data["rnn"]
        return from_table(cls, data, source)
