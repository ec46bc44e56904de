"""The comparison behind ``lmstats report``: every model on one vocabulary and one test split.

:func:`run_comparison` goes through stages (corpus statistics, Zipf, the uniform baseline,
n-gram models of every order under every smoother, the top-order model's size on disk
against its perplexity when pruned and quantised (:mod:`lmstats.report.sizes`), the RNN baselines, the mixture of the
best n-gram model with the best RNN, its weights tuned on valid, and the same text at other
levels of tokenisation for the bits-per-character table) and hands each finished
stage to a callback, so a caller can write results as they come and an interrupted run keeps
what it finished.  A stage that meets a user-fixable problem (:class:`~lmstats.errors.LmstatsError`:
a corpus too small for a power-law fit, say) is handed on as failed, with its one-line reason,
and the run goes on; only the corpus stage, which every other one needs, stops the run.
Every figure comes from :func:`lmstats.evaluation.evaluate` on the test split encoded with
the training vocabulary, in each evaluation mode the config names.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from lmstats.bootstrap import interval_of
from lmstats.errors import LmstatsError
from lmstats.evaluation import evaluate, evaluate_units
from lmstats.mixture import score_mixture
from lmstats.report.cells import budget_phrase
from lmstats.report.config import ReportConfig
from lmstats.report.provenance import machine_info
from lmstats.text.corpus import Splits, load_corpus
from lmstats.text.stats import corpus_stats
from lmstats.uniform import UniformLM


@dataclass
class Stage:
    name: str
    seconds: float
    rows: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    error: str | None = None  # why the stage failed (a user-fixable problem); None when it finished


@dataclass
class ReportState:
    """What a report shows: the config, the command, the finished stages and the machine."""

    config: ReportConfig
    command: str
    started: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    stages: list[Stage] = field(default_factory=list)
    complete: bool = False
    machine: dict = field(default_factory=machine_info)

    @property
    def rows(self) -> list[dict]:
        return [row for stage in self.stages for row in stage.rows]

    @property
    def failed(self) -> list[Stage]:
        return [s for s in self.stages if s.error is not None]

    def stage(self, name: str) -> Stage | None:
        """The finished stage ``name`` (None when it has not run or failed)."""
        return next((s for s in self.stages if s.name == name and s.error is None), None)


def _row(family: str, model: str, mode: str, result, units=None, **extra) -> dict:
    """A result row; with the per-unit sums ``units``, the 95% bootstrap interval of its test perplexity (seed 0) and the
    seconds it took (``stats_seconds``, added to any a caller gives)."""
    started = time.perf_counter()
    interval = {} if units is None else interval_of(units)
    stats = extra.pop("stats_seconds", 0.0) + time.perf_counter() - started
    return {"family": family, "model": model, "mode": mode} | extra | result.to_dict() | interval | {"stats_seconds": stats}


@contextmanager
def attempt(name: str, on_stage: Callable[[Stage], None]) -> Iterator[Stage]:
    """One stage: the block fills the yielded :class:`Stage`, which is timed and handed to ``on_stage`` when
    the block ends.  A user-fixable problem (:class:`LmstatsError`) fails this stage only: it is handed on
    with the error's message and the run goes on.  Anything else (a bug, Ctrl-C, SIGTERM) propagates and
    hands nothing on."""
    stage = Stage(name, 0.0)
    started = time.perf_counter()
    try:
        yield stage
    except LmstatsError as exc:
        stage.rows, stage.data, stage.error = [], {}, str(exc).strip() or type(exc).__name__
    stage.seconds = time.perf_counter() - started
    on_stage(stage)


def run_comparison(
    config: ReportConfig,
    *,
    on_stage: Callable[[Stage], None],
    on_progress: Callable[[str], None] | None = None,
) -> None:
    """Run every stage of the comparison, calling ``on_stage`` as each one finishes or fails (see :func:`attempt`)."""
    say = on_progress or (lambda msg: None)
    started = time.perf_counter()
    say("loading the corpus")
    corpus = load_corpus(config.corpus, data_dir=config.data_dir)
    vocab = corpus.build_vocab(config.vocab)
    splits = corpus.encode(vocab)
    on_stage(Stage("corpus", time.perf_counter() - started, data={"stats": corpus_stats(corpus, vocab), "name": corpus.name}))

    with attempt("zipf", on_stage) as stage:
        say("Zipf and Heaps fits")
        from lmstats.zipf import analyse_zipf

        stage.data["analysis"] = analyse_zipf(corpus.type_lines(), range(1, config.zipf_orders + 1), corpus=corpus.name,
                                              text="all text (train+valid+test), n-grams within lines", level=corpus.level)

    with attempt("uniform", on_stage) as stage:
        uniform = UniformLM(vocab)
        stage.rows = [_row("baseline", "uniform", mode, *evaluate_units(uniform, splits.test, mode=mode), order=0, smoothing="uniform")
                      for mode in config.modes]

    best_ngram = {}  # mode -> (name, model) of the lowest validation perplexity
    for mode in config.modes:
        with attempt(f"ngram-{mode}", on_stage) as stage:
            stage.rows, stage.data["eps_curves"], best_ngram[mode] = ngram_grid(config, splits, mode, say)

    if config.has_sizes:
        with attempt("sizes", on_stage) as stage:
            from lmstats.report.sizes import size_rows

            stage.rows, stage.data = size_rows(config, splits, config.modes[0], say)

    rnns = []  # (best validation perplexity, cell, model, {mode: test perplexity})
    for cell in config.rnn_cells:
        with attempt(f"rnn-{cell}", on_stage) as stage:
            stage.rows, history, lm = rnn_baseline(config, cell, splits, say)
            stage.data["history"] = history
            rnns.append((history["best_valid_ppl"] if history.get("best_valid_ppl") is not None else math.inf, cell, lm,
                         {r["mode"]: r["ppl"] for r in stage.rows}))

    pair_logprobs = {}  # mode -> split -> {0: the best n-gram's ln P, 1: the best neural model's}, for the cache stage
    if rnns and any(best_ngram.values()):
        with attempt("mixture", on_stage) as stage:
            _, cell, lm, _ = min(rnns, key=lambda x: x[0])
            stage.rows = []
            for mode in config.modes:
                if best_ngram.get(mode) is not None:
                    name, ngram = best_ngram[mode]
                    say(f"mixing {name} and {cell} ({mode} mode)")
                    row, pair_logprobs[mode] = mixture_row("mixture", f"{name} + {cell}", [name, cell], [ngram, lm], splits, mode)
                    stage.rows.append(row)

    if rnns and config.caches:
        with attempt("caches", on_stage) as stage:
            from lmstats.report.caches import cache_rows

            _, cell, lm, test_ppl = min(rnns, key=lambda x: x[0])
            stage.rows = cache_rows(cell, lm, test_ppl, best_ngram, splits, config.modes, say, pair_logprobs)

    for level in cross_levels(config, corpus.level):
        with attempt(f"level-{level}", on_stage) as stage:
            stage.rows = level_models(config, level, say)


def planned_stages(config: ReportConfig) -> int:
    """How many stages :func:`run_comparison` hands on (for a progress bar; a cross level equal to the corpus's
    own level, known only once it is read, is skipped, so this may count one too many)."""
    return (3 + len(config.modes) + config.has_sizes + len(config.rnn_cells) + bool(config.rnn_cells)
            + (bool(config.rnn_cells) and config.caches) + len(cross_levels(config, config.corpus.level or "word")))


def cross_levels(config: ReportConfig, level: str) -> list[str]:
    """The config's other levels of tokenisation, less the corpus's own."""
    return [lv for lv in config.cross_levels if lv != level]


def level_models(config: ReportConfig, level: str, say) -> list[dict]:
    """The corpus at another ``level``: an MKN model (order chosen on valid) and an LSTM, scored on the test
    text in every mode; the rows carry bits per character of the same text as the word-level rows."""
    from lmstats.ngram import NgramLM

    say(f"reading the corpus at {level} level")
    spec = replace(config.corpus, level=level, bpe_vocab=config.corpus.bpe_vocab if level != "char" else None)
    corpus = load_corpus(spec, data_dir=config.data_dir)
    vocab = corpus.build_vocab()
    splits = corpus.encode(vocab)
    label = level if level == "char" else f"{level}, {len(vocab):,} pieces"
    top = config.char_order if level == "char" else config.subword_order
    rows = []
    for mode in config.modes:
        say(f"mkn up to order {top} at {level} level ({mode} mode)")
        t = time.perf_counter()
        base = NgramLM(vocab, top, "mkn", mode=mode, discount_fallback=True).fit(splits.train)
        best = min(((evaluate(m, splits.valid, mode=mode).ppl, m) for m in (base.with_order(o) for o in range(1, top + 1))),
                   key=lambda x: x[0])
        result, units = evaluate_units(best[1], splits.test, mode=mode)
        rows.append(_row("level", f"mkn-{best[1].order} ({label})", mode, result, units, order=best[1].order, smoothing="mkn", level=level,
                         valid_ppl=best[0], fit_seconds=time.perf_counter() - t, vocab_size=len(vocab)))
    if config.cross_rnn_budget:
        rnn_config = config.cross_rnn_config(level, len(vocab))
        say(f"training the lstm at {level} level ({budget_phrase(rnn_config.to_dict())})")
        lstm_rows, _, _ = train_and_score(rnn_config, splits, config.modes, "level", f"lstm ({label})",
                                          level=level, vocab_size=len(vocab))
        rows += lstm_rows
    return rows


def ngram_grid(config: ReportConfig, splits: Splits, mode: str, say) -> tuple[list[dict], dict, tuple | None]:
    """Every smoother at every order in one evaluation mode; ε tuned per order on valid.

    Also returns ``(name, model)`` of the distribution with the lowest validation perplexity (the
    mixture's n-gram component), or None when no model has a finite one; the rows record the choices
    (:func:`mark_choices`)."""
    from lmstats.ngram import NgramLM
    from lmstats.ngram.tune import tune_eps

    top = max(config.orders)
    say(f"counting n-grams up to order {top} ({mode} mode)")
    t = time.perf_counter()
    base = NgramLM(splits.vocab, top, "kn", mode=mode, discount_fallback=True).fit(splits.train)
    count_seconds = time.perf_counter() - t
    rows, curves, best = [], {}, (math.inf, None)
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
                tuning = tune_eps(model, splits.valid, start=start, sweeps=1 if tuned else 2)
                tuned = tuning.eps
                model = model.resmooth(eps=tuning.eps)
                params = {"eps": list(tuning.eps)}
                curves[str(order)] = [list(c) for c in tuning.curve]
            elif smoothing == "lidstone":
                params = {"k": model.k}
            fit_seconds = time.perf_counter() - t
            result, units = evaluate_units(model, splits.test, mode=mode)
            valid = evaluate(model, splits.valid, mode=mode)
            rows.append(_row(
                "ngram", f"{smoothing}-{order}", mode, result, units, order=order, smoothing=smoothing,
                valid_ppl=valid.ppl if math.isfinite(valid.ppl) else None, params=params,
                fit_seconds=fit_seconds + count_seconds, warnings=list(model.estimate_.warnings),
            ))
            if model.is_distribution and valid.ppl < best[0]:
                best = (valid.ppl, (f"{smoothing}-{order}", model))
    mark_choices(rows, best[1][0] if best[1] else None)
    return rows, curves, best[1]


def mark_choices(rows: list[dict], best: str | None) -> None:
    """Record in the n-gram ``rows`` of one mode what validation chose, so that nothing downstream chooses again:
    ``best_order_on_valid`` on the order of each smoother with the lowest validation perplexity (an infinite one,
    recorded as None, ranks last; the first on a tie), the row the headline shows; ``best_on_valid`` on the model
    ``best``, the distribution with the lowest validation perplexity of all, the mixture's n-gram part (on no row when None)."""
    for smoothing in dict.fromkeys(r["smoothing"] for r in rows):
        mine = [r for r in rows if r["smoothing"] == smoothing]
        chosen = min(mine, key=lambda r: math.inf if r["valid_ppl"] is None else r["valid_ppl"])
        for r in mine:
            r["best_order_on_valid"] = r is chosen
    for r in rows:
        r["best_on_valid"] = r["model"] == best


def rnn_baseline(config: ReportConfig, cell: str, splits: Splits, say) -> tuple[list[dict], dict, object]:
    """Train one neural baseline under the time budget, once per seed of ``rnn_seeds``; test each in every mode (scoring
    timed apart).  Returns the rows, the training history and the model of the seed with the best validation perplexity
    (the one the mixture uses); with several seeds every row carries them all (``seeds``: each seed's test perplexity,
    their mean and standard deviation, and the seed used)."""
    runs = []
    for k in range(config.rnn_seeds):
        seed = config.rnn.seed + k
        rnn_config = config.rnn_config(cell, len(splits.vocab), seed)
        say(f"training the {cell} baseline ({budget_phrase(rnn_config.to_dict())}" + (f", seed {seed})" if config.rnn_seeds > 1 else ")"))
        runs.append((seed, *train_and_score(rnn_config, splits, config.modes, "rnn", cell)))
    used, rows, history, lm = min(runs, key=lambda run: math.inf if run[2]["best_valid_ppl"] is None else run[2]["best_valid_ppl"])
    if len(runs) > 1:
        for row in rows:
            ppls = [next(r["ppl"] for r in run[1] if r["mode"] == row["mode"]) for run in runs]
            row["seeds"] = {"seeds": [run[0] for run in runs], "test_ppl": ppls, "valid_ppl": [run[2]["best_valid_ppl"] for run in runs],
                            "mean": statistics.fmean(ppls), "sd": statistics.stdev(ppls), "used": used}
    return rows, history, lm


def train_and_score(rnn_config, splits: Splits, modes, family: str, model: str, **extra) -> tuple[list[dict], dict, object]:
    """Train an RNN of ``rnn_config`` on ``splits`` and score it on test in every mode (scoring timed apart).
    Returns one row per mode (``family``, ``model`` and ``extra`` in each), the training history and the model."""
    from lmstats.rnn.lm import RNNLM
    from lmstats.rnn.nets import build_net
    from lmstats.rnn.train import train_rnn

    net = build_net(splits.vocab, rnn_config)
    t = time.perf_counter()
    history = train_rnn(net, splits.train, splits.valid, rnn_config)
    train_seconds = time.perf_counter() - t
    lm = RNNLM(net, splits.vocab)
    best_valid = history.best_valid_ppl if math.isfinite(history.best_valid_ppl) else None
    rows = []
    for mode in modes:
        t = time.perf_counter()
        result, units = evaluate_units(lm, splits.test, mode=mode)
        rows.append(_row(family, model, mode, result, units, order=None, smoothing=None, **extra, params=rnn_config.to_dict(),
                         fit_seconds=train_seconds, score_seconds=time.perf_counter() - t, train_tokens_per_s=history.tokens_per_s,
                         valid_ppl=best_valid, tokens_seen=history.tokens_seen,
                         epochs_done=history.epochs_done))
    return rows, history.to_dict() | {"best_valid_ppl": best_valid}, lm


def mixture_row(family: str, model: str, parts: list[str], models: list, splits: Splits, mode: str,
                known: dict | None = None) -> tuple[dict, dict]:
    """The row of the linear mixture of ``models`` (named ``parts``; weights tuned by EM on valid, and a component with
    settings of its own chosen there, :func:`~lmstats.mixture.settle`, named by what was chosen) scored on test in
    ``mode``: each component's test perplexity, the mixture's gain over the best of them and the paired bootstraps; and
    the components' ln P of valid and test (:attr:`~lmstats.mixture.MixScore.logprobs`), which ``known`` takes back for
    a later mixture of the same first components."""
    t = time.perf_counter()
    score = score_mixture(models, splits, mode, known=known)
    fit_seconds = time.perf_counter() - t
    stats = score.statistics("test")
    names = [score.chosen[i].describe() if i in score.chosen else name for i, name in enumerate(parts)]
    return _row(family, model, mode, score.results["test"], order=None, smoothing=None, valid_ppl=score.fit.ppl,
                params={"components": names, "weights": list(score.weights), "em_iterations": score.fit.iterations},
                component_ppl=[r.ppl for r in score.components["test"]], gain_pct=score.gain_pct("test"),
                fit_seconds=fit_seconds, stats_seconds=time.perf_counter() - t - fit_seconds, **stats), score.logprobs
