"""reports/cluster_benchmark.md from the JSON files of ``bench_cluster.py``, with the analytic model of larger clusters.

    python benchmarks/cluster_report.py [--folder reports/cluster_benchmark] [--out reports/cluster_benchmark.md]

The model (``predict``) takes its costs from the measured runs and states its assumptions:

* compute: the one-worker run's wall time per token (reading, counting, smoothing, writing), divided evenly among P
  workers (every stage is one task per partition or per key range, and there are more of both than workers);
* shuffle: per order k >= 2, the counting moves each partition's run (keys, counts, suffix rows: 24 bytes a distinct
  n-gram of the partition; counted as one per position, the most) and the smoothing moves 16 bytes a distinct suffix for the
  continuation counts and 16 for the lower-order probabilities (a request and its answer); the distinct n-grams of each
  order are extrapolated from the measured sizes by a power law n_k = a N^b; all-to-all over P workers, (P-1)/P of it
  leaves its machine, at BANDWIDTH bytes/s a worker;
* the scheduler: Dask's scheduler is one thread, at SCHEDULER_S_PER_TASK seconds a task; the tasks per order are what
  ``count_on_cluster`` and ``estimate_on_cluster`` submit (partitions x ranges for the cut and the joins);
* partitions hold TOKENS_PER_PARTITION tokens (16 MB ranges of this corpus); key ranges hold at most 1/8 of a worker's
  WORKER_MEMORY at 48 bytes an n-gram (keys, counts, suffix, first, probability, backoff).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

BANDWIDTH = 1.25e9  # bytes/s a worker (10 Gb/s Ethernet)
SCHEDULER_S_PER_TASK = 3e-4  # Dask's documented order of magnitude (200 us - 1 ms a task)
TOKENS_PER_PARTITION = 4.5e6
WORKER_MEMORY = 16e9
BYTES_PER_NGRAM = 48


def load(folder: Path) -> dict:
    """Every result: identity and memory rows and speed runs of all files, the newest of the other sections."""
    out: dict = {"_runs": {}}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        out["_runs"][path.stem] = {"command": data["command"], "started": data["started"], "machine": data["machine"]}
        for key, value in data.items():
            if key in ("identity", "memory"):  # rows of several sizes, one run each
                out[key] = out.get(key, []) + value
            elif key == "speed":  # every run of the section, oldest first
                out.setdefault("speed_runs", []).append({"started": data["started"], "speed": value, "tokens": data["speed_tokens"],
                                                         "note": data.get("note")})
            elif key not in ("started", "machine", "command", "note"):
                out[key] = value
    return out


def growth(identity: list[dict], order: int) -> list[tuple[float, float]]:
    """(a, b) of n_k = a N^b per order k, from the identity rows of two or more sizes (tokens from the corpus name)."""
    rows = {}
    for row in identity:
        if row["order"] == order and row["smoothing"] == "mkn":
            rows[float(row["corpus"].removeprefix("synth").removesuffix("m")) * 1e6] = row["ngrams"]
    sizes = sorted(rows)
    out = []
    for k in range(order):
        (n0, y0), (n1, y1) = (sizes[0], rows[sizes[0]][k]), (sizes[-1], rows[sizes[-1]][k])
        b = math.log(y1 / y0) / math.log(n1 / n0) if n1 != n0 else 1.0
        out.append((y0 / n0**b, b))
    return out


def predict(n_tokens: float, workers: int, s_per_token: float, laws: list[tuple[float, float]]) -> dict:
    ngrams = [a * n_tokens**b for a, b in laws]
    order = len(ngrams)
    parts = math.ceil(n_tokens / TOKENS_PER_PARTITION)
    ranges = [max(workers, math.ceil(n * BYTES_PER_NGRAM / (WORKER_MEMORY / 8))) for n in ngrams]
    shuffle = sum(24 * n_tokens + 32 * ngrams[k] for k in range(1, order))  # bytes over orders 2..N (a run: one entry a position at most)
    above = [ranges[k + 1] if k + 1 < order else 0 for k in range(order)]
    tasks = sum(2 * parts * ranges[k] + 4 * parts + 6 * ranges[k] + 2 * ranges[k] * ranges[k - 1] + ranges[k] * above[k]
                for k in range(1, order))
    compute = n_tokens * s_per_token / workers
    network = shuffle * (workers - 1) / workers / (workers * BANDWIDTH)
    scheduler = tasks * SCHEDULER_S_PER_TASK
    return {"tokens": n_tokens, "workers": workers, "ngrams": ngrams, "partitions": parts, "ranges": ranges, "shuffle_tb": shuffle / 1e12,
            "tasks": tasks, "compute_s": compute, "network_s": network, "scheduler_s": scheduler,
            "total_s": compute + network + scheduler}


def by_size(rows: list[dict]) -> list[dict]:
    """Rows in the order of their corpus's size (synth3m, synth30m, synth100m, ...), each size's in the order run."""
    return sorted(rows, key=lambda r: int(re.sub(r"\D", "", r["corpus"]) or 0))


def render(data: dict) -> str:
    lines = ["# The fit done by the cluster (issue 25)", "",
             "Written by `benchmarks/cluster_report.py` from `reports/cluster_benchmark/*.json` (`benchmarks/bench_cluster.py`). "
             "Corpora: `lmstats corpus synth --order 2 --seed 0` of the size named, split 80/10/10 into train/valid/test files.", ""]
    for stem, run in data["_runs"].items():
        m = run["machine"]
        lines.append(f"- `{stem}.json`: `{run['command']}` ({m['cpu']}, {m['cores']} cores, Python {m['python']})")
    if "identity" in data:
        lines += ["", "## Identity: `--engine dask` (read, counted, smoothed, written by the workers) against the local engine", "",
                  "| corpus | order | smoothing | n-grams | count tables equal | largest relative difference (probabilities, backoffs) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['corpus']} | {r['order']} | {r['smoothing']} | {sum(r['ngrams']):,} | {r['tables_equal']} | "
                  f"{r['max_rel_diff']:.3g} |" for r in by_size(data["identity"])]
    if "memory" in data:
        lines += ["", "## Memory: 4 workers started beforehand (`dask worker --nworkers 4 --nthreads 1 --memory-limit L`), the fit "
                      "given `--scheduler`", "",
                  "| corpus | wall | client peak (VmHWM) | largest worker peak | worker memory_limit | model on disk |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['corpus']} | {r['wall']:.1f} s | {r['client_gb']:.3f} GB | {r['worker_peak_gb']:.2f} GB | {r['memory_limit']} | "
                  f"{r['model_gb']:.2f} GB |" for r in by_size(data["memory"])]
    if "faults" in data:
        lines += ["", "## Faults: a worker process killed (SIGKILL) mid-run, 2 workers started beforehand", "",
                  "| corpus | killed | workers killed | wall | count tables equal | largest relative difference |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['corpus']} | {r['killed']} | {r['kills']} | {r['wall']:.1f} s | {r['tables_equal']} | {r['max_rel_diff']:.3g} |"
                  for r in data["faults"]]
    if "load" in data:
        r = data["load"]
        lines += ["", f"## A sharded model opened on one machine: `lmstats score MODEL test.txt`, {r['corpus']}, the 5-gram, interleaved",
                  "", "The sharded model opens with every shard memory-mapped (`lmstats/ngram/sharded_array.py`), nothing joined, "
                  "and is scored by the numpy scorer with sorted search; the plain model by the compiled kernel with its stored "
                  "indexes.", "",
                  "| model | median wall | runs | peak RSS | perplexity | on disk |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | {r['median_s'][name]:.1f} s | {', '.join(format(x['wall'], '.1f') for x in runs)} | "
                  f"{max(x['peak_gb'] for x in runs):.2f} GB | {r['perplexity'][name]:.4f} | {r['model_gb'][name]:.2f} GB |"
                  for name, runs in r["runs"].items()]
    for run in data.get("speed_runs", []):
        lines += ["", f"## Speed ({run['started']}): {run['tokens'] / 1e6:.0f}M tokens, 5-gram, the whole commands, interleaved", "",
                  "| tool | median wall | runs | own peak RSS | largest child peak | ratio to lmplz -S 4G |",
                  "| --- | --- | --- | --- | --- | --- |"]
        ref = run["speed"]["lmplz -S 4G"]["wall"]
        lines += [f"| {name} | {r['wall']:.1f} s | {', '.join(f'{w:.1f}' for w in r['walls'])} | {r['client_gb']:.2f} GB | "
                  f"{r['child_gb']:.2f} GB | {r['wall'] / ref:.2f}x |" for name, r in run["speed"].items()]
        lines += ["", "Every run is listed, in order (the tools interleaved); the medians are of all of them. Commands:", ""]
        lines += [f"- {name}: `{r['command']}`" for name, r in run["speed"].items()]
        lines += ["", f"Note: {run['note']}"] if run["note"] else []
    if "scaling" in data:
        rows = data["scaling"]
        lines += ["", f"## Scaling: {data['scaling_tokens'] / 1e6:.0f}M tokens, 5-gram MKN, 1, 2 and 4 workers started beforehand "
                      "on this machine", "",
                  "| workers | wall | tokens/s/worker | read | counted order 5 | smoothed |", "| --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            at = {name: r["stages"].get(name, float("nan")) for name in ("read", "counted order 5", "smoothed")}
            lines.append(f"| {r['workers']} | {r['wall']:.1f} s | {r['tokens_per_s_per_worker'] / 1e3:.0f}k | {at['read']:.1f} s | "
                         f"{at['counted order 5']:.1f} s | {at['smoothed']:.1f} s |")
        one = next(r for r in rows if r["workers"] == 1)
        laws = growth(data.get("identity", []), 5)
        if len(laws) == 5:
            s_per_token = one["wall"] / data["scaling_tokens"]
            lines += ["", "## Larger clusters: the analytic model", "",
                      f"Costs from the one-worker run above ({s_per_token * 1e6:.2f} us a token, whole command); n-gram growth "
                      + ", ".join(f"n{k + 1} = {a:.3g} N^{b:.3f}" for k, (a, b) in enumerate(laws))
                      + f" (from the identity rows); {BANDWIDTH / 1e9:g} GB/s a worker; "
                      f"{SCHEDULER_S_PER_TASK * 1e6:.0f} us a scheduled task; "
                      f"{WORKER_MEMORY / 1e9:g} GB a worker. The assumptions are in `benchmarks/cluster_report.py`.", "",
                      "| tokens | workers | partitions | key ranges (order 5) | shuffle | tasks | compute | network | scheduler | total |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
            for n, p in ((1e10, 64), (1e11, 64)):
                r = predict(n, p, s_per_token, laws)
                lines.append(f"| {n:.0e} | {p} | {r['partitions']:,} | {r['ranges'][-1]:,} | {r['shuffle_tb']:.1f} TB | "
                             f"{r['tasks']:,.0f} | "
                             f"{r['compute_s'] / 60:.0f} min | {r['network_s'] / 60:.1f} min | {r['scheduler_s'] / 60:.0f} min | "
                             f"{r['total_s'] / 60:.0f} min |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("reports/cluster_benchmark"))
    parser.add_argument("--out", type=Path, default=Path("reports/cluster_benchmark.md"))
    args = parser.parse_args()
    args.out.write_text(render(load(args.folder)))


if __name__ == "__main__":
    main()
