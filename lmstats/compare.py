"""The comparison behind ``lmstats report``: every model on one vocabulary and one test split.

:func:`run_comparison` goes through stages (corpus statistics, Zipf, the uniform baseline,
n-gram models of every order under every smoother, the RNN baselines) and hands each finished
stage to a callback, so a caller can write results as they come and an interrupted run keeps
what it finished.  Every figure comes from :func:`lmstats.evaluate.evaluate` on the test split
encoded with the training vocabulary, in each evaluation mode the config names.
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


from lmstats.baselines import UniformLM
from lmstats.corpus import DEFAULT_FRACTIONS, load_corpus
from lmstats.errors import LmstatsError
from lmstats.evaluate import evaluate
from lmstats.lines import EVAL_MODES
from lmstats.stats import corpus_stats

NGRAM_SMOOTHERS = ("eps", "laplace", "wb", "kn", "mkn")


@dataclass(frozen=True)
class ReportConfig:
    """Everything a report run depends on (``--config report.toml`` sets any field)."""

    corpus: str | None = None  # name, path or None for the built-in corpus
    data_dir: str | None = None
    level: str | None = None
    lower: bool = False
    letters_only: bool = False
    format: str = "lines"
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    seed: int = 0
    min_count: int = 1
    max_vocab: int | None = None
    modes: tuple[str, ...] = EVAL_MODES
    orders: tuple[int, ...] = (1, 2, 3, 4, 5)
    smoothers: tuple[str, ...] = NGRAM_SMOOTHERS
    zipf_orders: int = 3
    rnn_cells: tuple[str, ...] = ("rnn", "gru", "lstm")
    rnn_budget: float = 40.0  # seconds of training per RNN (wall clock, validation included)
    rnn_epochs: int = 50
    rnn_hidden: int = 200
    rnn_layers: int = 2
    rnn_embed: int = 200
    rnn_softmax: str = "auto"  # auto: adaptive for vocabularies over 20k types
    rnn_seq_len: int = 35
    rnn_batch_size: int = 20
    rnn_lr: float = 2e-3
    rnn_dropout: float = 0.2
    threads: int = 0  # torch threads; 0: all cores

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in EVAL_MODES]
        if bad or not self.modes:
            raise LmstatsError(f"modes must be among {EVAL_MODES}, got {self.modes}")
        if not self.orders or min(self.orders) < 1 or max(self.orders) > 10:
            raise LmstatsError(f"orders must be in 1..10, got {self.orders}")
        from lmstats.ngram.smoothing import SMOOTHERS

        unknown = [s for s in self.smoothers if s not in SMOOTHERS]
        if unknown:
            raise LmstatsError(f"unknown smoothers {unknown}; choose among {SMOOTHERS}")
        if self.rnn_budget <= 0:
            raise LmstatsError(f"rnn_budget must be > 0 seconds, got {self.rnn_budget}")

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> ReportConfig:
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise LmstatsError(f"{path}: no such config file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise LmstatsError(f"{path}: not a valid TOML file ({exc})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LmstatsError(f"{path}: unknown keys {unknown}; known keys: {sorted(known)}")
        tuples = {f.name for f in fields(cls) if "tuple" in str(f.type)}
        data = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()}
        return cls(**(data | {k: v for k, v in overrides.items() if v is not None}))


@dataclass
class Stage:
    name: str
    seconds: float
    rows: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)


def _row(family: str, model: str, mode: str, result, **extra) -> dict:
    return {"family": family, "model": model, "mode": mode} | extra | result.to_dict()


def run_comparison(
    config: ReportConfig,
    *,
    on_stage: Callable[[Stage], None],
    on_progress: Callable[[str], None] | None = None,
) -> None:
    """Run every stage of the comparison, calling ``on_stage`` as each one finishes."""
    say = on_progress or (lambda msg: None)
    started = time.perf_counter()
    say("loading the corpus")
    corpus = load_corpus(config.corpus, level=config.level, lower=config.lower, letters_only=config.letters_only, text_format=config.format,
                         data_dir=config.data_dir, seed=config.seed, fractions=config.fractions)
    vocab = corpus.build_vocab(min_count=config.min_count, max_size=config.max_vocab)
    splits = corpus.encode(vocab)
    on_stage(Stage("corpus", time.perf_counter() - started, data={"stats": corpus_stats(corpus, vocab), "name": corpus.name}))

    t = time.perf_counter()
    say("Zipf and Heaps fits")
    from lmstats.zipf import analyse_zipf

    sentences = [s for name in ("train", "valid", "test") for s in corpus.split(name)]
    zipf = analyse_zipf(sentences, range(1, config.zipf_orders + 1), corpus=corpus.name,
                        text="all text (train+valid+test), n-grams within lines", level=corpus.options.level)
    on_stage(Stage("zipf", time.perf_counter() - t, data={"analysis": zipf}))

    t = time.perf_counter()
    uniform = UniformLM(vocab)
    rows = [_row("baseline", "uniform", mode, evaluate(uniform, splits["test"], mode=mode), order=0, smoothing="uniform") for mode in config.modes]
    on_stage(Stage("uniform", time.perf_counter() - t, rows=rows))

    for mode in config.modes:
        t = time.perf_counter()
        rows, curves = ngram_grid(config, splits, mode, say)
        on_stage(Stage(f"ngram-{mode}", time.perf_counter() - t, rows=rows, data={"eps_curves": curves}))

    for cell in config.rnn_cells:
        t = time.perf_counter()
        rows, history = rnn_baseline(config, cell, splits, say)
        on_stage(Stage(f"rnn-{cell}", time.perf_counter() - t, rows=rows, data={"history": history}))


def ngram_grid(config: ReportConfig, splits: dict, mode: str, say) -> tuple[list[dict], dict]:
    """Every smoother at every order in one evaluation mode; ε tuned per order on valid."""
    from lmstats.ngram import NgramLM
    from lmstats.ngram.tune import tune_eps

    top = max(config.orders)
    say(f"counting n-grams up to order {top} ({mode} mode)")
    t = time.perf_counter()
    base = NgramLM(splits["train"].vocab, top, "kn", mode=mode, discount_fallback=True).fit(splits["train"])
    count_seconds = time.perf_counter() - t
    rows, curves = [], {}
    for smoothing in config.smoothers:
        tuned: tuple[float, ...] = ()
        for order in sorted(config.orders):
            say(f"{smoothing} {order}-gram ({mode} mode)")
            t = time.perf_counter()
            model = base.with_order(order, smoothing=smoothing)
            params: dict = {}
            if smoothing == "eps":
                # warm start from the lower order's tuned ε: one sweep then suffices
                start = (tuned + (1.0,) * order)[:order] if tuned else 1.0
                tuning = tune_eps(model, splits["valid"], start=start, sweeps=1 if tuned else 2)
                tuned = tuning.eps
                model = model.resmooth(eps=tuning.eps)
                params = {"eps": list(tuning.eps)}
                curves[str(order)] = [list(c) for c in tuning.curve]
            fit_seconds = time.perf_counter() - t
            result = evaluate(model, splits["test"], mode=mode)
            valid = evaluate(model, splits["valid"], mode=mode)
            rows.append(_row(
                "ngram", f"{smoothing}-{order}", mode, result, order=order, smoothing=smoothing,
                valid_ppl=valid.ppl if math.isfinite(valid.ppl) else None, params=params,
                fit_seconds=fit_seconds + count_seconds, warnings=list(model.estimate_.warnings),
            ))
    return rows, curves


def rnn_baseline(config: ReportConfig, cell: str, splits: dict, say) -> tuple[list[dict], dict]:
    """Train one RNN baseline under the time budget; test it in every mode."""
    import torch

    from lmstats.rnn.config import RNNConfig
    from lmstats.rnn.lm import RNNLM
    from lmstats.rnn.model import build_net
    from lmstats.rnn.train import train_rnn

    vocab = splits["train"].vocab
    softmax = config.rnn_softmax if config.rnn_softmax != "auto" else ("adaptive" if len(vocab) > 20_000 else "full")
    if config.threads:
        torch.set_num_threads(config.threads)
    rnn_config = RNNConfig(
        cell=cell, embed_size=config.rnn_embed, hidden_size=config.rnn_hidden, num_layers=config.rnn_layers,
        dropout=config.rnn_dropout, softmax=softmax, seq_len=config.rnn_seq_len, batch_size=config.rnn_batch_size,
        optimizer="adam", lr=config.rnn_lr, epochs=config.rnn_epochs, time_budget=config.rnn_budget, seed=config.seed,
    )
    net = build_net(vocab, rnn_config)
    say(f"training the {cell} baseline ({config.rnn_budget:g} s budget)")
    t = time.perf_counter()
    history = train_rnn(net, splits["train"], splits["valid"], rnn_config)
    train_seconds = time.perf_counter() - t
    lm = RNNLM(net, vocab)
    rows = []
    for mode in config.modes:
        result = evaluate(lm, splits["test"], mode=mode)
        rows.append(_row("rnn", cell, mode, result, order=None, smoothing=None, params=rnn_config.to_dict(), fit_seconds=train_seconds,
                         valid_ppl=history.best_valid_ppl if math.isfinite(history.best_valid_ppl) else None))
    return rows, history.to_dict()


def config_dict(config: ReportConfig) -> dict:
    return asdict(config)
