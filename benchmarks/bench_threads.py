"""Benchmark: training speed of an RNN under each thread setting, on an idle and on a busy machine.

Why: torch's default thread count assumes free cores; on a busy 2-core machine its threads
wait on each other and on the other processes.  This measures what each setting buys, to pick
the default of :func:`lmstats.threads.default_threads` (the usable cores idle now, at
least 1).

Settings, interleaved (A B C D A B C D ...), each in a fresh process training the PTB 2x200
LSTM (full softmax, batch 20, BPTT 35, Adam) for ``--seconds`` of training:

* ``1`` and ``2`` threads (``torch.set_num_threads``), ``torch`` (torch's own default,
  nothing set), ``lmstats`` (the default of lmstats.threads, chosen in that process:
  the cores idle over a quarter-second sample of /proc/stat).

Load phases: ``idle`` (nothing else running), then ``busy1`` and ``busy2`` with one or two
pure-Python busy loops running (not torch jobs), started ``--warmup`` seconds before the
phase so that the load average has risen.  Median training tokens/s of ``--repeats`` runs.

    python benchmarks/bench_threads.py --data-dir ../shared/corpora [--seconds 15] [--repeats 3] [--out reports/threads_benchmark.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lmstats.fileio import atomic_write
from lmstats.report.provenance import cpu_model

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("1", "2", "torch", "lmstats")

WORKER = r"""
import json, os, sys, time
import torch
from lmstats import CorpusSpec, load_corpus
from lmstats.rnn.recipe import RNNConfig
from lmstats.rnn.nets import build_net
from lmstats.threads import default_threads
from lmstats.rnn.train import train_rnn

setting, data_dir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if setting == "lmstats":
    torch.set_num_threads(default_threads())
elif setting != "torch":
    torch.set_num_threads(int(setting))
corpus = load_corpus(CorpusSpec("ptb"), data_dir=data_dir)
vocab = corpus.build_vocab()
splits = corpus.encode(vocab)
# the settings of reports/threads_benchmark.md's runs (the library's defaults then): Adam 2e-3, full softmax, all of valid
config = RNNConfig(epochs=1, time_budget=seconds, seed=0, optimizer="adam", lr=2e-3, lr_schedule="plateau", softmax="full",
                   valid_tokens=None, start_share=0.0)
history = train_rnn(build_net(vocab, config), splits.train, splits.valid, config)
print(json.dumps({"threads": torch.get_num_threads(), "tokens_per_s": history.tokens_per_s, "load": os.getloadavg()[0]}))
"""


def measure(setting: str, data_dir: str, seconds: float) -> dict:
    proc = subprocess.run([sys.executable, "-c", WORKER, setting, data_dir, str(seconds)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({setting}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "corpora"))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=70.0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "threads_benchmark.md")
    args = parser.parse_args()
    results: dict[str, dict[str, list[dict]]] = {}
    for phase, n_busy in (("idle", 0), ("busy1", 1), ("busy2", 2)):
        load = burners(n_busy)
        try:
            if n_busy:
                time.sleep(args.warmup)
            results[phase] = {s: [] for s in SETTINGS}
            for rep in range(args.repeats):
                for setting in SETTINGS:
                    r = measure(setting, args.data_dir, args.seconds)
                    results[phase][setting].append(r)
                    print(f"{phase} rep {rep + 1} {setting:>7}: {r['threads']} threads, {r['tokens_per_s']:,.0f} tok/s, "
                          f"load {r['load']:.2f}", flush=True)
        finally:
            for p in load:
                p.kill()
    lines = [
        "# Thread settings: RNN training speed on an idle and a busy machine",
        "",
        f"- command: `python benchmarks/bench_threads.py --seconds {args.seconds:g} --repeats {args.repeats}`",
        f"- date: {datetime.date.today().isoformat()}; CPU: {cpu_model()}; {os.cpu_count()} logical cores",
        f"- model: PTB, 2x200 LSTM, full softmax, batch 20, BPTT 35, Adam; {args.seconds:g} s of training per run, a fresh process each;"
        f" settings interleaved; median of {args.repeats} runs; busy = that many pure-Python busy loops beside the run",
        "",
        "| load | setting | threads used | training tokens/s (median) | runs | load average seen |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for phase, by_setting in results.items():
        for setting, runs in by_setting.items():
            tps = [r["tokens_per_s"] for r in runs]
            lines.append(f"| {phase} | {setting} | {sorted({r['threads'] for r in runs})} | {statistics.median(tps):,.0f} | "
                         f"{', '.join(f'{t:,.0f}' for t in tps)} | {', '.join(format(r['load'], '.2f') for r in runs)} |")
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
