"""``lmstats report``: the comparative perplexity report (Markdown, HTML, CSV, JSON, plots)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from tqdm import tqdm

from lmstats.cli import _echo_json
from lmstats.compare import ReportConfig, run_comparison
from lmstats.lines import EVAL_MODES
from lmstats.report import ReportState, write_report


@click.command("report")
@click.option("--corpus", default=None, help="Corpus name, file, folder or glob (default: the built-in python-docs).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="TOML file setting any ReportConfig field (see lmstats/compare.py).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Folder with local copies of named corpora; default $LMSTATS_DATA.")
@click.option("--mode", type=click.Choice([*EVAL_MODES, "both"]), default=None, help="Evaluation mode(s) (default: both, or the config's).")
@click.option("--rnn-budget", type=click.FloatRange(min=0, min_open=True), default=None, help="Training seconds per RNN baseline (default 40).")
@click.option("--seed", type=int, default=None, help="Seed of the split and of the RNN runs (default 0).")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, help="Output folder (default reports/CORPUS).")
@click.option("--json", "as_json", is_flag=True, help="Print the paths written, as JSON.")
def report_command(corpus, config_path, data_dir, mode, rnn_budget, seed, out_dir, as_json):
    """Compare every model on one held-out split and write reports/CORPUS/report.{md,html}.

    Stages: corpus statistics, Zipf and Heaps fits, the uniform baseline, n-gram models of
    orders 1..5 under eps (tuned on valid), laplace, wb, kn and mkn, and the RNN baselines
    (rnn, gru, lstm) under a time budget — all scored by the one evaluator on the test split
    under the train vocabulary.  Results are rewritten after every stage, so an interrupted
    run keeps what it finished.
    """
    modes = None if mode is None else (EVAL_MODES if mode == "both" else (mode,))
    overrides = {"corpus": corpus, "data_dir": data_dir, "modes": modes, "rnn_budget": rnn_budget, "seed": seed}
    if config_path:
        config = ReportConfig.from_toml(config_path, **overrides)
    else:
        config = ReportConfig(**{k: v for k, v in overrides.items() if v is not None})
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)  # before the machine description records it
    state = ReportState(config, command="lmstats " + shlex.join(sys.argv[1:]))
    n_stages = 3 + len(config.modes) + len(config.rnn_cells)
    target: dict = {"dir": Path(out_dir) if out_dir else None}
    written: dict = {}

    with tqdm(total=n_stages, desc="report", unit="stage", file=sys.stderr, disable=None) as bar:
        def on_stage(stage):
            state.stages.append(stage)
            if target["dir"] is None:
                target["dir"] = Path("reports") / stage.data["name"]
            written.update(write_report(state, target["dir"]))
            bar.update(1)

        try:
            run_comparison(config, on_stage=on_stage, on_progress=bar.set_description_str)
        except KeyboardInterrupt:
            if state.stages:
                write_report(state, target["dir"])
            raise
    state.complete = True
    written.update(write_report(state, target["dir"]))
    if as_json:
        _echo_json(written)
        return
    click.echo(f"report written to {target['dir']}/ (report.md, report.html, results.csv, results.json, plots)")
    from lmstats.report import headline_rows

    for row in headline_rows(state):
        click.echo("  " + " | ".join(row))
