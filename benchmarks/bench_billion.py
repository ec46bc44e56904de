"""Benchmark: one lmstats fit on a synthetic corpus of 10^9 tokens, and the growth of time and memory up to it.

The corpus is ``lmstats corpus synth --order 2 --seed 0 --tokens 1e9`` split 80/10/10 by lmstats'
seeded split (``bench_scale.synthetic_splits``, made once and kept in ``--data``); the fit is
``lmstats ngram DIR --n 3 --memory M --tmp WORK --eval test``: counted out of core, the model
written, the test split scored.  One run (it takes tens of minutes); wall time, the peak RSS of
the process (``wait4``) and the peak growth of the used space of the work folder's disk.  The
growth exponents are log-log least-squares slopes over this run and the ``lmstats --memory 4G``
medians of the same order in ``reports/scale_benchmark.md`` (``bench_scale.py``, 10M-100M tokens).

    python benchmarks/bench_billion.py [--tokens 1e9] [--order 3] [--memory 12G]
        [--data /tmp/lmstats-bench] [--out reports/billion_benchmark.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from lmstats.fileio import atomic_write
from lmstats.report.provenance import cpu_model
from lmstats.resources import parse_memory

from bench_scale import LMSTATS, log, n_tokens_of, synthetic_splits
from timing import GB, run_measured


def slope(xs: list[float], ys: list[float]) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


SCALE_REPORT = Path(__file__).resolve().parent.parent / "reports" / "scale_benchmark.md"


def scale_points(order: int, report: Path = SCALE_REPORT):
    """(train tokens, wall s, peak GB) of lmstats' synthetic fits of ``order`` in the committed scale benchmark report."""
    points = []
    if report.is_file():
        for line in report.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 6 and cells[0].startswith("synthetic") and cells[2] == str(order) and cells[3] == "lmstats --memory 4G":
                points.append((int(cells[1].replace(",", "")), float(cells[4]), float(cells[5])))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=float, default=1e9)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--memory", default="12G")
    parser.add_argument("--data", type=Path, default=Path("/tmp/lmstats-bench"))
    parser.add_argument("--out", type=Path, default=Path("reports/billion_benchmark.md"))
    parser.add_argument("--no-zipf", dest="zipf", action="store_false", help="skip the lmstats zipf run")
    args = parser.parse_args()
    started = f"{datetime.datetime.now():%Y-%m-%dT%H:%M}"
    log(f"making the synthetic corpus of {args.tokens / 1e6:g}M tokens (once)")
    folder = synthetic_splits(args.tokens, args.data)
    train_tokens = n_tokens_of(folder / "train.txt")
    work = args.data / "work"
    work.mkdir(parents=True, exist_ok=True)
    cmd = [*LMSTATS, "ngram", str(folder), "--n", str(args.order), "--memory", args.memory, "--tmp", str(work),
           "--eval", "test", "--json", "--out", str(work / "billion-model")]
    log(f"fitting: {' '.join(cmd[2:])}")
    run = run_measured(cmd, disk=work)
    result = json.loads(run.stdout)
    ppl = result["results"]["test"]["sentence"]["ppl"]
    model_bytes = sum(p.stat().st_size for p in (work / "billion-model").iterdir())
    plan = next((line for line in run.stderr.splitlines() if "predicted peak" in line), "(no plan printed)")
    orders = [line for line in run.stderr.splitlines() if re.match(r"order \d+ counted", line)]
    log(f"  {run.wall_s:.0f} s, peak {run.peak_gb:.2f} GB, disk {run.disk_gb:.1f} GB, model {model_bytes / GB:.1f} GB, test ppl {ppl:.4f}")
    budget = parse_memory(args.memory) / GB
    points = [(train_tokens, run.wall_s, run.peak_gb)]
    zipf_lines = []
    if args.zipf:
        shutil.rmtree(work / "billion-model", ignore_errors=True)  # its disk space for the zipf run's files
        zcmd = [*LMSTATS, "zipf", str(folder), "--n", str(args.order), "--memory", args.memory, "--tmp", str(work),
                "--no-compare", "--json"]
        log(f"zipf: {' '.join(zcmd[2:])}")
        z = run_measured(zcmd, disk=work)
        fits = json.loads(z.stdout)["fits"]
        log(f"  {z.wall_s:.0f} s, peak {z.peak_gb:.2f} GB, disk {z.disk_gb:.1f} GB")
        zipf_lines = [
            "## `lmstats zipf` on the same corpus (all of it: train, valid and test)",
            "",
            f"Command: `{' '.join(zcmd[2:])}`",
            "",
            "| wall | peak RSS | peak ≤ --memory + 1 GB | disk used at peak |",
            "| ---: | ---: | --- | ---: |",
            f"| {z.wall_s:.0f} s | {z.peak_gb:.2f} GB | {'yes' if z.peak_gb <= budget + 1 else 'no'} | {z.disk_gb:.1f} GB |",
            "",
            "| order | occurrences | types | rank MLE alpha | CSN freq exponent (x_min) | Heaps beta |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            *[f"| {f['order']} | {f['n_tokens']:,} | {f['n_types']:,} | {f['rank_mle']['alpha']:.4f} | "
              f"{f['power_law']['freq_exponent']:.4f} ({f['power_law']['xmin']}) | {f['heaps']['beta']:.4f} |" for f in fits],
            "",
            *[f"    {line}" for line in z.stderr.splitlines() if "predicted peak" in line or re.match(r"order \d+ counted", line)],
            "",
        ]
    points += scale_points(args.order)
    points.sort()
    growth = ""
    if len(points) >= 2:
        xs = [p[0] for p in points]
        growth = (f"Growth from {xs[0] / 1e6:.0f}M to {xs[-1] / 1e6:.0f}M train tokens (log-log least squares over "
                  f"{len(points)} sizes: {', '.join(f'{p[0] / 1e6:.0f}M {p[1]:.0f} s {p[2]:.2f} GB' for p in points)}): "
                  f"time exponent **{slope(xs, [p[1] for p in points]):.2f}**, memory exponent **{slope(xs, [p[2] for p in points]):.2f}** "
                  "(the smaller sizes are the medians in `reports/scale_benchmark.md`, run with `--memory 4G`; "
                  "this one ran with the budget above, so the memory exponent mixes two budgets).")
    text = "\n".join([
        f"# {args.tokens / 1e9:g}·10^9 tokens, {args.order}-gram MKN",
        "",
        f"Generated by `python benchmarks/bench_billion.py {' '.join(sys.argv[1:])}` (started {started}).",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1e9:.1f} GB RAM; "
        f"Python {platform.python_version()}, numpy {np.__version__}. One run (GB = 10^9 bytes).",
        "",
        f"Corpus: `lmstats corpus synth --order 2 --seed 0 --tokens {args.tokens:g}`, 80/10/10 split: {train_tokens:,} train tokens.",
        f"Command: `{' '.join(cmd[2:])}`",
        "",
        "| wall | peak RSS | --memory | peak ≤ --memory + 1 GB | disk used at peak | model on disk | test perplexity |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        f"| {run.wall_s:.0f} s | {run.peak_gb:.2f} GB | {budget:.2f} GB | {'yes' if run.peak_gb <= budget + 1 else 'no'} | "
        f"{run.disk_gb:.1f} GB | {model_bytes / GB:.1f} GB | {ppl:.4f} |",
        "",
        f"Its plan: `{plan}`",
        "",
        *[f"    {line}" for line in orders],
        "",
        growth,
        "",
        *zipf_lines,
    ])
    if not math.isfinite(ppl):
        log("warning: infinite test perplexity")
    with atomic_write(args.out, "w") as fh:
        fh.write(text)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
