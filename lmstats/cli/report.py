"""``lmstats report``: the comparative perplexity report (Markdown, HTML, CSV, JSON, plots)."""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from pathlib import Path

import click

from lmstats.cli.options import VOCAB_FIELDS, corpus_options, given, json_option, modes_option, threads_option, typed_corpus_fields
from lmstats.cli.output import echo, progress_bar
from lmstats.errors import LmstatsError
from lmstats.fileio import check_outputs
from lmstats.interrupts import Terminated
from lmstats.report.config import ReportConfig
from lmstats.rnn.recipe import SHORT_RECIPE
from lmstats.threads import set_threads

SECONDS_ONLY_EPOCHS = 100_000  # the epochs of a run whose budget is --rnn-budget seconds


def build_config(config_path, corpus, vocab_spec, data_dir, modes, rnn_budget, threads) -> ReportConfig:
    """The config file's settings (or the defaults), with the options the user typed on top (every field of the
    corpus and vocabulary specs the user typed replaces the config's; the same seed also seeds the RNNs)."""
    config = ReportConfig.from_toml(config_path) if config_path else ReportConfig()
    typed = typed_corpus_fields(corpus)
    if typed:
        config = dataclasses.replace(config, corpus=dataclasses.replace(config.corpus, **typed))
    typed_vocab = {name: getattr(vocab_spec, name) for name in given(*VOCAB_FIELDS)}
    if typed_vocab:
        config = dataclasses.replace(config, vocab=dataclasses.replace(config.vocab, **typed_vocab))
    # --rnn-budget S is S seconds of training per RNN: the seconds end the run, not the recipe's epochs (the built-in
    # recipe's budget is 4 epochs with a ceiling in seconds)
    rnn = {"time_budget": rnn_budget, "epochs": SECONDS_ONLY_EPOCHS if rnn_budget is not None else None,
           "seed": corpus.seed if "seed" in typed else None}
    config = dataclasses.replace(config, rnn=dataclasses.replace(config.rnn, **{k: v for k, v in rnn.items() if v is not None}))
    overrides = {"data_dir": data_dir, "modes": modes, "threads": threads}
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


@click.command("report")
@corpus_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML file setting any ReportConfig field (see lmstats/report/config.py).")
@modes_option(None, help="Evaluation mode(s) [default: both, or the config's].")
@click.option("--rnn-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"Seconds per RNN baseline for training and validation, whatever the epochs [default: the config's; built in: "
                   f"{SHORT_RECIPE['epochs']} epochs, at most {SHORT_RECIPE['time_budget']:g} s].")
@threads_option
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default reports/CORPUS): a new or empty folder, or one an earlier report wrote.")
@json_option
def report_command(corpus, vocab_spec, data_dir, config_path, modes, rnn_budget, threads, out_dir, as_json):
    """Compare every model on one held-out split and write reports/CORPUS/report.{md,html}.

    Stages: corpus statistics, Zipf and Heaps fits, the uniform baseline, n-gram models of
    orders 1..5 under eps (tuned on valid), laplace, wb, kn and mkn, and the RNN baselines
    (rnn, gru, lstm) under a time budget, the mixture of the best n-gram model and the best RNN,
    and the same text at char and bpe level (MKN and an LSTM) for a bits-per-character table —
    all scored by the one evaluator on the test split under the train vocabulary.  Results are
    rewritten after every stage, so an interrupted run keeps what it finished; one line per
    stage on stderr says when it finished and its seconds.  A stage that meets a problem it
    cannot get past (a corpus too small for the Zipf fit, say) is reported as failed in the
    report and on stderr, and the others go on (exit code 0; a corpus that cannot be read is an
    error).  CORPUS and its options override the config file's [corpus].
    """
    from lmstats.report.render import check_out_dir, headline_rows, write_report
    from lmstats.report.run import ReportState, planned_stages, run_comparison

    config = build_config(config_path, corpus, vocab_spec, data_dir, modes, rnn_budget, threads)
    target = Path(out_dir) if out_dir else Path("reports") / config.corpus.name
    check_outputs({"--out-dir": target}, inputs=[*config.corpus.local_files(), config_path], folders=("--out-dir",))
    check_out_dir(target)  # a new or empty folder, or one lmstats wrote a report into and nothing else
    trains = bool(config.rnn_cells or (config.cross_levels and config.cross_rnn_budget))
    set_threads(config.threads, torch=trains)  # before the machine description records it
    argv = (click.get_current_context().find_root().obj or {}).get("argv", sys.argv[1:])
    state = ReportState(config, command="lmstats " + shlex.join(argv))
    started = time.perf_counter()
    with progress_bar(total=planned_stages(config), desc="report", unit="stage") as bar:
        def on_stage(stage):
            state.stages.append(stage)
            write_report(state, target)
            bar.update(1)
            bar.write(stage_line(stage, time.perf_counter() - started), file=sys.stderr)  # also when the bar is hidden (no terminal)

        try:
            run_comparison(config, on_stage=on_stage, on_progress=bar.set_description_str)
        except (KeyboardInterrupt, Terminated, LmstatsError):
            if state.stages:
                write_report(state, target)
            raise
    state.complete = True
    written = write_report(state, target)
    if state.failed:
        click.echo(f"warning: {len(state.failed)} stage(s) failed: {', '.join(s.name for s in state.failed)}; "
                   f"the report in {target}/ says why and shows every other stage", err=True)
    echo(written, as_json, lambda _: [f"report written to {target}/ (report.md, report.html, results.csv, results.json, plots)"]
         + ["  " + " | ".join(row) for row in headline_rows(state)])


def stage_line(stage, elapsed: float) -> str:
    """The stderr line of a finished or failed stage: its own seconds, and the command's so far (writing the report included)."""
    since = f"{elapsed:.1f} s since the start"
    if stage.error is not None:
        return f"report: stage {stage.name} failed after {stage.seconds:.1f} s ({since}): {stage.error}"
    return f"report: stage {stage.name} finished in {stage.seconds:.1f} s ({since})"
