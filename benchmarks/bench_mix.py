"""Benchmark: ``lmstats mix`` on WikiText-2 (the MKN 5-gram and the 15-minute LSTM of bench_rnn.py).

What it measures, each command in a fresh process, interleaved (A B A B A B), medians of
``--repeats`` runs and the peak RSS:

* ``mix``: ``lmstats mix KN5 CKPT --mode both --threads 2`` (load both models and the corpus,
  score valid and test with each model in both modes, tune the weights by EM on valid in each
  mode, score the mixtures);
* ``rnn eval``: ``lmstats rnn eval --checkpoint CKPT --mode both --threads 2``, the LSTM alone
  on the same splits and modes: the part of ``mix`` no mixture can avoid, so ``mix / rnn
  eval`` is what mixing adds.

No peer tool is installed for interpolation (SRILM's ``compute-best-mix`` is not on this
machine), so the reference is our own scorer.  The models come from ``bench_rnn.py``::

    python benchmarks/bench_rnn.py --only kn5,wt2-recipe     # the models (about 17 minutes)
    python benchmarks/bench_mix.py [--repeats 3] [--out reports/mix_benchmark.md]

Prints (and with ``--out`` writes) a markdown section: the machine, the commands, the times,
the tuned weights and the perplexities of both components and of the mixture on test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lmstats.report.provenance import cpu_model  # noqa: E402

from timing import run_measured  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "corpora"
MODELS = ROOT / "lmstats-out" / "bench_rnn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kn5", type=Path, default=MODELS / "kn5.npz")
    parser.add_argument("--checkpoint", type=Path, default=MODELS / "wt2-recipe.pt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    for path in (args.kn5, args.checkpoint):
        if not path.exists():
            sys.exit(f"{path} is missing; make it with: python benchmarks/bench_rnn.py --only kn5,wt2-recipe")
    lmstats = [sys.executable, "-m", "lmstats"]
    commands = {
        "mix": [*lmstats, "mix", str(args.kn5), str(args.checkpoint), "--mode", "both", "--threads", "2",
                "--data-dir", str(DATA), "--json", "--quiet"],
        "rnn eval": [*lmstats, "rnn", "eval", "--checkpoint", str(args.checkpoint), "--mode", "both", "--threads", "2",
                     "--data-dir", str(DATA), "--json"],
    }
    load = os.getloadavg()
    runs: dict[str, list] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            runs[name].append(run_measured(cmd))
    mix = json.loads(runs["mix"][-1].stdout)
    wall = {name: statistics.median(r.wall_s for r in rs) for name, rs in runs.items()}
    peak = {name: max(r.peak_gb for r in rs) for name, rs in runs.items()}
    lines = [
        f"## `lmstats mix` on WikiText-2 ({datetime.date.today().isoformat()})",
        "",
        f"Machine: {platform.node() or 'vm'}, {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}; "
        f"load average at start {load[0]:.2f}. Medians of {args.repeats} runs, interleaved.",
        "",
        "| command | wall s (median) | every run s | peak RSS GB |",
        "| --- | --- | --- | --- |",
    ]
    for name, rs in runs.items():
        lines.append(f"| {name} | {wall[name]:.1f} | {', '.join(f'{r.wall_s:.1f}' for r in rs)} | {peak[name]:.2f} |")
    lines += ["", f"mix / rnn eval: {wall['mix'] / wall['rnn eval']:.2f}", "",
              "| split | mode | weights (5-gram, LSTM) | 5-gram ppl | LSTM ppl | mixture ppl | gain over the best | mixture bits/char |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for split, by_mode in mix["results"].items():
        for mode, r in by_mode.items():
            a, b = (c["ppl"] for c in r["components"])
            lines.append(f"| {split} | {mode} | {', '.join(f'{w:.4f}' for w in r['weights'])} | {a:.2f} | {b:.2f} | {r['ppl']:.2f} | "
                         f"{r['gain_pct']:.2f}% | {r['bits_per_char']:.4f} |")
    lines += ["", "Commands:", "", "```", *(" ".join(c[2:]) for c in commands.values()), "```", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
