"""Benchmark: the RNN targets of issue 5, measured on this machine with the CLI itself.

Runs, one after another (each a ``lmstats`` subprocess with ``--json``; logs and JSON under
``lmstats-out/bench_rnn/``):

* ``kn5``: the 5-gram modified Kneser-Ney baseline on WikiText-2 (sentence mode, as KenLM);
* ``wt2``: WikiText-2, word level, LSTM 2×200 with adaptive softmax, Adam 2e-3, 15-minute budget, 2 threads;
* ``wt2-fast``: the same with Adam 3e-3 and wider tail clusters (``--div-value 2``);
* ``wt2-sgd``: SGD lr 20, batch 20 (the PyTorch word_language_model recipe), adaptive softmax, 15 minutes;
* ``wt2-sgd-cosine``: ``wt2-sgd`` with the cosine schedule from lr 20 to 0 over the 15-minute budget (issue 14's recipe);
* ``wt2-linear``: Adam 3e-3 with the linear learning-rate schedule over the 15-minute budget;
* ``wt2-linear-1thread``: ``wt2-linear`` on one thread with a 10-minute budget;
* ``wt2-drop01``: ``wt2-linear`` with ``--dropout 0.1`` (the model is under-trained after 4–5 epochs, not over-fitted);
* ``wt2-1thread``: ``wt2-fast`` on one thread with a 10-minute budget;
* ``probe-start0``, ``probe-start25``: 4-minute probes of the defaults with ``--start-share 0`` and ``0.25``;
* ``wt2-recipe``: ``lmstats rnn train wikitext-2`` with the CLI's defaults (issue 14's recipe: SGD lr 20, cosine, adaptive
  softmax above 10k types, sparse embedding gradients, 20% of the steps on line starts) and a 15-minute budget, 2 threads;
* ``wt2-recipe-1thread``: the same on one thread with a 10-minute budget;
* ``wt2-60min``: the recipe with a 2×300 LSTM, dropout 0.3, for 60 minutes on 2 threads (the cosine
  over the 60 minutes: ``--epochs 100`` so that the budget, not the default 6 epochs, ends it);
* ``shakespeare``: Tiny Shakespeare, char level, LSTM 2×256, 5-minute budget, 2 threads;
* ``shakespeare-cosine``: the same with Adam 3e-3 along the cosine schedule;
* ``shakespeare-recipe``: batch 32 × BPTT 50 (twice the updates of 64 × 100, and faster per token
  here), no dropout, Adam 3e-3 along the cosine, the best epoch chosen in stream mode.

The runs of the earlier rounds keep the CLI defaults they ran under (``EARLIER_DEFAULTS``); under SGD
they now get sparse embedding gradients, which change their numbers only by float summation order.

Then prints the figures as a markdown table: test perplexity in both evaluation modes, bits
per token, training and scoring tokens/s, and the wall-clock time at which the per-epoch
validation perplexity (sentence mode) first beat the 5-gram's.  Timings on a shared machine
are only honest when it is otherwise idle: ``--wait-idle`` waits (up to 40 minutes) until the
1-minute load average is below 1.2 and no other benchmark runs, and the load average at the
start of each run is recorded.

    python benchmarks/bench_rnn.py [--only kn5,wt2,shakespeare] [--wait-idle] [--summarize]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from lmstats.report.provenance import cpu_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "corpora"
OUT = ROOT / "lmstats-out" / "bench_rnn"

WT2_NET = ["--cell", "lstm", "--layers", "2", "--hidden-size", "200", "--embed-size", "200", "--dropout", "0.2",
           "--softmax", "adaptive", "--cutoffs", "2000,10000", "--batch-size", "32", "--seq-len", "35",
           "--optimizer", "adam", "--clip", "0.25", "--epochs", "100"]
WT2_SGD_NET = [*WT2_NET[:WT2_NET.index("--batch-size")], "--batch-size", "20", "--seq-len", "35", "--optimizer", "sgd", "--lr", "20",
               "--clip", "0.25", "--epochs", "100", "--div-value", "4"]


def with_option(args: list[str], option: str, value: str) -> list[str]:
    """``args`` with ``option``'s value replaced by ``value``."""
    i = args.index(option)
    return [*args[: i + 1], value, *args[i + 2 :]]


SLOW, FAST = ["--lr", "2e-3", "--div-value", "4"], ["--lr", "3e-3", "--div-value", "2"]  # FAST: learns faster, ends worse
RUNS = {
    "kn5": ["ngram", "wikitext-2", "--n", "5", "--smoothing", "mkn", "--out", str(OUT / "kn5.npz")],
    "wt2": ["rnn", "train", "wikitext-2", *WT2_NET, *SLOW, "--time-budget", "900", "--threads", "2", "--checkpoint", str(OUT / "wt2.pt")],
    "wt2-fast": ["rnn", "train", "wikitext-2", *WT2_NET, *FAST, "--time-budget", "900", "--threads", "2",
                 "--checkpoint", str(OUT / "wt2-fast.pt")],
    "wt2-sgd": ["rnn", "train", "wikitext-2", *WT2_SGD_NET, "--time-budget", "900", "--threads", "2",
                "--checkpoint", str(OUT / "wt2-sgd.pt")],
    "wt2-sgd-cosine": ["rnn", "train", "wikitext-2", *WT2_SGD_NET, "--lr-schedule", "cosine", "--time-budget", "900", "--threads", "2",
                       "--checkpoint", str(OUT / "wt2-sgd-cosine.pt")],
    "wt2-linear": ["rnn", "train", "wikitext-2", *WT2_NET, "--lr", "3e-3", "--div-value", "4", "--lr-schedule", "linear",
                   "--time-budget", "900", "--threads", "2", "--checkpoint", str(OUT / "wt2-linear.pt")],
    "wt2-linear-1thread": ["rnn", "train", "wikitext-2", *WT2_NET, "--lr", "3e-3", "--div-value", "4", "--lr-schedule", "linear",
                           "--time-budget", "600", "--threads", "1", "--checkpoint", str(OUT / "wt2-linear-1thread.pt")],
    "wt2-drop01": ["rnn", "train", "wikitext-2", *with_option(WT2_NET, "--dropout", "0.1"), "--lr", "3e-3", "--div-value", "4",
                   "--lr-schedule", "linear", "--time-budget", "900", "--threads", "2", "--checkpoint", str(OUT / "wt2-drop01.pt")],
    "wt2-1thread": ["rnn", "train", "wikitext-2", *WT2_NET, *FAST, "--time-budget", "600", "--threads", "1",
                    "--checkpoint", str(OUT / "wt2-1thread.pt")],
    # issue 14: the CLI's defaults are the recipe (SGD lr 20, cosine, adaptive softmax above 10k types, sparse embedding gradients)
    "probe-start0": ["rnn", "train", "wikitext-2", "--time-budget", "240", "--threads", "2", "--checkpoint", str(OUT / "probe-start0.pt")],
    "probe-start25": ["rnn", "train", "wikitext-2", "--start-share", "0.25", "--time-budget", "240", "--threads", "2",
                      "--checkpoint", str(OUT / "probe-start25.pt")],
    "wt2-recipe": ["rnn", "train", "wikitext-2", "--time-budget", "900", "--threads", "2", "--checkpoint", str(OUT / "wt2-recipe.pt")],
    "wt2-recipe-1thread": ["rnn", "train", "wikitext-2", "--time-budget", "600", "--threads", "1",
                           "--checkpoint", str(OUT / "wt2-recipe-1thread.pt")],
    "wt2-60min": ["rnn", "train", "wikitext-2", "--hidden-size", "300", "--embed-size", "300", "--dropout", "0.3", "--epochs", "100",
                  "--time-budget", "3600", "--threads", "2", "--checkpoint", str(OUT / "wt2-60min.pt")],
    "shakespeare": ["rnn", "train", "tinyshakespeare", "--cell", "lstm", "--layers", "2", "--hidden-size", "256", "--embed-size", "64",
                    "--dropout", "0.1", "--batch-size", "64", "--seq-len", "100", "--optimizer", "adam", "--lr", "3e-3",
                    "--epochs", "100", "--time-budget", "300", "--threads", "2", "--checkpoint", str(OUT / "shakespeare.pt")],
    "shakespeare-cosine": ["rnn", "train", "tinyshakespeare", "--cell", "lstm", "--layers", "2", "--hidden-size", "256",
                           "--embed-size", "64",
                           "--dropout", "0.1", "--batch-size", "64", "--seq-len", "100", "--optimizer", "adam", "--lr", "3e-3",
                           "--lr-schedule", "cosine", "--start-share", "0", "--epochs", "100", "--time-budget", "300", "--threads", "2",
                           "--checkpoint", str(OUT / "shakespeare-cosine.pt")],
    "shakespeare-recipe": ["rnn", "train", "tinyshakespeare", "--cell", "lstm", "--layers", "2", "--hidden-size", "256",
                           "--embed-size", "64", "--dropout", "0", "--batch-size", "32", "--seq-len", "50", "--optimizer", "adam",
                           "--lr", "3e-3", "--lr-schedule", "cosine", "--valid-mode", "stream", "--start-share", "0", "--epochs", "100",
                           "--time-budget", "300", "--threads", "2", "--checkpoint", str(OUT / "shakespeare-recipe.pt")],
}


EARLIER_DEFAULTS = {"--lr-schedule": "plateau", "--start-share": "0", "--valid-tokens": "0"}  # the CLI's before issue 14


def with_earlier_defaults(args: list[str]) -> list[str]:
    """The runs of the earlier rounds, with the defaults they ran under where they did not set the option."""
    return args + [x for option, value in EARLIER_DEFAULTS.items() if option not in args for x in (option, value)]


EARLIER = ("wt2", "wt2-fast", "wt2-sgd", "wt2-sgd-cosine", "wt2-linear", "wt2-linear-1thread", "wt2-drop01", "wt2-1thread", "shakespeare")
RUNS |= {name: with_earlier_defaults(RUNS[name]) for name in EARLIER}


def wait_idle(limit_s: float = 2400) -> None:
    started = time.time()
    while time.time() - started < limit_s:
        busy = subprocess.run(["pgrep", "-f", "bench_ngram"], capture_output=True).returncode == 0
        if not busy and os.getloadavg()[0] < 1.2:
            return
        time.sleep(60)
    print("warning: the machine stayed busy; timings below were taken under load", file=sys.stderr)


def run(name: str, wait: bool) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    if wait:
        wait_idle()
    load = os.getloadavg()
    force = [] if name == "kn5" else ["--force"]  # (lmstats ngram overwrites its output; only rnn train asks)
    args = [sys.executable, "-m", "lmstats", *RUNS[name], "--data-dir", str(DATA), *force, "--json"]
    if name != "kn5":
        args.append("--verbose")
    started = time.time()
    with open(OUT / f"{name}.log", "w") as log:
        done = subprocess.run(args, stdout=subprocess.PIPE, stderr=log, text=True, check=True)
    data = json.loads(done.stdout) | {
        "bench": {"name": name, "command": "lmstats " + " ".join([*RUNS[name], "--data-dir", str(DATA), *force, "--json"]),
                  "loadavg_at_start": load, "wall_s": time.time() - started,
                  "date": datetime.datetime.now().isoformat(timespec="seconds")}}
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2))
    return data


def summarize() -> str:
    res = {name: json.loads((OUT / f"{name}.json").read_text()) for name in RUNS if (OUT / f"{name}.json").exists()}
    lines = [f"machine: {platform.node()}, {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}", ""]
    kn_valid = kn_test = None
    if "kn5" in res:
        kn = {split: res["kn5"]["results"][split] for split in ("valid", "test")}
        kn = {split: r.get("sentence", r) for split, r in kn.items()}  # results by mode (now) or not (earlier JSON)
        kn_valid, kn_test = kn["valid"]["ppl"], kn["test"]["ppl"]
        lines.append(f"5-gram MKN (sentence mode): valid ppl {kn_valid:.2f}, test ppl {kn_test:.2f}, "
                     f"load average at start {res['kn5']['bench']['loadavg_at_start'][0]:.2f}")
    lines += ["", "| run | threads | epochs | train tok/s | test ppl sentence | test ppl stream | bits/token stream | "
                  "score tok/s (sentence / stream) | beats 5-gram valid at | load at start |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, data in res.items():
        if name == "kn5":
            continue
        epochs = data["history"]["epochs"]
        test = data["results"]["test"]
        beat = next((e for e in epochs if kn_valid is not None and data["corpus"] == "wikitext-2" and e["valid_ppl"] < kn_valid), None)
        beat_text = f"epoch {beat['epoch']}, {beat['elapsed'] / 60:.1f} min (valid {beat['valid_ppl']:.1f})" if beat else "n/a"
        lines.append(
            f"| {name} | {data['threads']} | {len(epochs)} ({data['history']['stopped']}) | {data['train_tokens_per_s']:,.0f} | "
            f"{test['sentence']['ppl']:.2f} | {test['stream']['ppl']:.2f} | {test['stream']['bits_per_token']:.3f} | "
            f"{test['sentence']['tokens_per_s']:,.0f} / {test['stream']['tokens_per_s']:,.0f} | {beat_text} | "
            f"{data['bench']['loadavg_at_start'][0]:.2f} |")
    lines += ["", "| run | preparing | training steps | validation (tokens) | checkpoints | other | final scoring | best epoch |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, data in res.items():
        t = data.get("time_split")
        if name == "kn5" or t is None:
            continue
        h = data["history"]
        best = f"{h['best_epoch']}" + (" (restored)" if h.get("restored") else "")
        lines.append(f"| {name} | {t['prepare_s']:.1f} s | {t['train_s']:.1f} s | {t['valid_s']:.1f} s ({h['valid_tokens']:,}) | "
                     f"{t['checkpoint_s']:.1f} s | {t['other_s']:.1f} s | {t['final_scoring_s']:.1f} s | {best} |")
    for name, data in res.items():
        if name == "kn5":
            continue
        lines += ["", f"{name}: per epoch (elapsed min, train ppl, valid ppl [{data['config']['valid_mode']}], lr, tok/s)"]
        lines += [f"  {e['epoch']:>3} {e['elapsed'] / 60:6.2f} {e['train_ppl']:9.2f} {e['valid_ppl']:9.2f} "
                  f"{e['lr']:.2e} {e['tokens_per_s']:8,.0f}"
                  + ("" if e["complete"] else " (partial)") for e in data["history"]["epochs"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(RUNS), help=f"comma-separated runs among {', '.join(RUNS)}")
    parser.add_argument("--wait-idle", action="store_true", help="wait for an idle machine before each run")
    parser.add_argument("--summarize", action="store_true", help="only summarize the JSON of earlier runs")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the benchmark needs WikiText-2 and Tiny Shakespeare; see shared/corpora)")
        return 0
    if not args.summarize:
        for name in args.only.split(","):
            if name not in RUNS:
                parser.error(f"unknown run {name!r}; choose among {', '.join(RUNS)}")
            run(name, args.wait_idle)
    print(summarize())
    return 0


if __name__ == "__main__":
    sys.exit(main())
