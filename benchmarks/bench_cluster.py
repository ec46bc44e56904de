"""Benchmark: the fit done by the cluster (`lmstats ngram DIR --engine dask`): identity, the client's memory, the
workers' memory, speed against lmplz, and scaling over 1, 2 and 4 workers (issue 25).

Corpora: the synthetic corpora of ``bench_scale.py`` (``lmstats corpus synth --order 2 --seed 0``, split 80/10/10
into train/valid/test files, so that the workers read the train file).  Sections:

* ``identity``: per size, order and smoother, ``lmstats ngram DIR --n N --smoothing S --engine dask --eval none`` against
  the same command without ``--engine dask``; every array of the two models compared (the largest relative difference
  of any probability or backoff, and whether the count tables are equal).
* ``memory``: a cluster started beforehand (``dask scheduler`` and ``dask worker --nworkers W --nthreads 1
  --memory-limit L``), the fit given ``--scheduler``; the client's own peak RSS (VmHWM of its process, sampled) and the
  largest peak RSS of any worker process, against ``L`` and the size of the model on disk.
* ``speed``: interleaved runs, the whole commands as typed: ``lmstats ngram DIR --n 5 --engine dask --eval none``
  (a LocalCluster of one worker per core, started by the command), the local engine, ``lmplz -o 5 -S 4G`` and
  ``lmplz -o 5`` (its default -S 80%) on the same sentences; medians of ``--repeats``.
* ``faults``: on 2 workers started beforehand, the fit once whole, then with one worker process killed (SIGKILL) in the
  middle of counting order 3, then in the middle of smoothing; each model compared with the whole run's, array by array.
* ``load``: ``lmstats score MODEL test.txt`` of the sharded model (every shard memory-mapped, never joined) against the
  same command on the local engine's plain model, interleaved (the speed section's 5-gram, fitted when absent).
* ``scaling``: the same fit on a cluster of 1, 2 and 4 workers started beforehand; tokens per second per worker, and the
  stage times the command prints; then the analytic model of ``cluster_model`` for larger clusters.

    python benchmarks/bench_cluster.py --kenlm-bin DIR [--sizes 3e6,30e6,100e6] [--repeats 3]
        [--data /tmp/lmstats-bench] [--out reports/cluster_benchmark]
    python benchmarks/cluster_report.py      # reports/cluster_benchmark.md from the JSON files
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from lmstats.fileio import atomic_write
from lmstats.report.provenance import cpu_model

from bench_scale import LMSTATS, kenlm_text, log, synthetic_splits
from timing import run_measured

GB = 1e9
CHUNK = 1 << 24  # rows compared at a time


# -- processes -----------------------------------------------------------------------------------
def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    children.setdefault(int(fh.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_sampled(cmd: list[str], watch: int | None = None) -> dict:
    """Run ``cmd``: wall time, its own peak RSS (VmHWM, sampled every 0.1 s), the largest peak of any process under
    ``watch`` (the workers of a cluster started beforehand) or under the command (a LocalCluster's), and its stderr."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks = {"client": 0, "worker": 0}
    done = threading.Event()

    def sample():
        while not done.wait(0.1):
            peaks["client"] = max(peaks["client"], status_kb(proc.pid, "VmHWM"))
            for pid in descendants(watch or proc.pid):
                if pid != proc.pid:
                    peaks["worker"] = max(peaks["worker"], status_kb(pid, "VmHWM"))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}):\n{err[-2000:]}")
    return {"wall": wall, "client_gb": peaks["client"] * 1024 / GB, "worker_gb": peaks["worker"] * 1024 / GB, "stderr": err,
            "stdout": out}


class Cluster:
    """``dask scheduler`` and ``dask worker --nworkers n`` started as processes of their own."""

    def __init__(self, n: int, memory_limit: str, work: Path):
        self.file = work / f"scheduler-{n}.json"
        self.file.unlink(missing_ok=True)
        dask = str(Path(sys.executable).with_name("dask"))
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.scheduler = subprocess.Popen([dask, "scheduler", "--scheduler-file", str(self.file), "--port", "0",
                                           "--no-dashboard"], **quiet)
        while not self.file.exists():
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        self.workers = subprocess.Popen([dask, "worker", self.address, "--nworkers", str(n), "--nthreads", "1", "--memory-limit",
                                         memory_limit, "--local-directory", str(work / "dask-workers"), "--no-dashboard"], **quiet)
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(n, timeout=60)

    def close(self):
        for proc in (self.workers, self.scheduler):
            proc.terminate()
            proc.wait(30)


# -- sections --------------------------------------------------------------------------------------
def model_difference(a: Path, b: Path) -> dict:
    from lmstats.ngram import NgramLM

    ma, mb = NgramLM.load(a), NgramLM.load(b)
    tables = all(len(getattr(x, f)) == len(getattr(y, f)) and
                 all(np.array_equal(getattr(x, f)[at : at + CHUNK], getattr(y, f)[at : at + CHUNK]) for at in range(0, len(x), CHUNK))
                 for x, y in zip(ma.counts_.tables, mb.counts_.tables, strict=True) for f in ("keys", "counts", "suffix", "first"))
    worst = 0.0
    for xs, ys in ((ma.estimate_.probs, mb.estimate_.probs), (ma.estimate_.backoffs, mb.estimate_.backoffs)):
        for x, y in zip(xs, ys, strict=True):
            assert len(x) == len(y)
            for at in range(0, len(x), CHUNK):  # a chunk at a time: a 300M-token model's arrays are GBs each
                a, b = np.asarray(x[at : at + CHUNK]), np.asarray(y[at : at + CHUNK])
                worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))))
    return {"tables_equal": tables, "max_rel_diff": worst, "ngrams": [len(t) for t in ma.counts_.tables]}


def fit_cmd(folder: Path, out: Path, order: int, smoothing: str = "mkn", extra: tuple = ()) -> list[str]:
    return [*LMSTATS, "ngram", str(folder), "--n", str(order), "--smoothing", smoothing, "--eval", "none", "--out", str(out), *extra]


def section_identity(folder: Path, work: Path, configs: list[tuple[int, str]]) -> list[dict]:
    rows = []
    for order, smoothing in configs:
        a, b = work / "id-dask", work / "id-local"
        run_measured(fit_cmd(folder, a, order, smoothing, ("--engine", "dask")))
        run_measured(fit_cmd(folder, b, order, smoothing))
        row = {"corpus": folder.name, "order": order, "smoothing": smoothing} | model_difference(a, b)
        log(f"  identity {row}")
        rows.append(row)
        shutil.rmtree(a), shutil.rmtree(b)
    return rows


STAGE = re.compile(r"^(read .*|counted order \d+|smoothed) \((\d+\.\d) s\)$", re.M)


def stages(stderr: str) -> dict[str, float]:
    return {m.group(1).split(" (")[0] if not m.group(1).startswith("read") else "read": float(m.group(2)) for m in STAGE.finditer(stderr)}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir())


def section_memory(folder: Path, work: Path, workers: int, limit: str) -> dict:
    cluster = Cluster(workers, limit, work)
    try:
        out = work / "mem-model"
        run = run_sampled(fit_cmd(folder, out, 5, extra=("--scheduler", cluster.address)), watch=cluster.workers.pid)
    finally:
        cluster.close()
    row = {"corpus": folder.name, "workers": workers, "memory_limit": limit, "wall": run["wall"], "client_gb": run["client_gb"],
           "worker_peak_gb": run["worker_gb"], "model_gb": folder_bytes(out) / GB, "stages": stages(run["stderr"])}
    shutil.rmtree(out)
    log(f"  memory {row}")
    return row


def section_speed(folder: Path, kenlm_bin: Path, data: Path, work: Path, repeats: int, names: list[str] | None) -> dict:
    train = kenlm_text(folder / "train.txt", data / f"{folder.name}.train.kenlm.txt")
    lmplz = [str(kenlm_bin / "lmplz"), "-o", "5", "--discount_fallback", "-T", str(work), "--text", str(train), "--arpa",
             str(work / "lmplz.arpa")]
    tools = {"lmstats --engine dask": fit_cmd(folder, work / "speed-dask", 5, extra=("--engine", "dask")),
             "lmstats (local engine)": fit_cmd(folder, work / "speed-local", 5),
             "lmplz -S 4G": lmplz[:3] + ["-S", "4G"] + lmplz[3:], "lmplz (default -S 80%)": lmplz}
    tools = {name: cmd for name, cmd in tools.items() if names is None or name in names}
    runs: dict[str, list[dict]] = {name: [] for name in tools}
    for r in range(repeats):
        for name, cmd in tools.items():
            run = run_sampled(cmd)
            runs[name].append(run)
            log(f"  {name} run {r + 1}: {run['wall']:.1f} s, own peak {run['client_gb']:.2f} GB, largest child {run['worker_gb']:.2f} GB")
    return {name: {"command": " ".join(tools[name]), "walls": [x["wall"] for x in rs], "wall": statistics.median(x["wall"] for x in rs),
                   "client_gb": statistics.median(x["client_gb"] for x in rs), "child_gb": statistics.median(x["worker_gb"] for x in rs),
                   "stages": stages(rs[-1]["stderr"])} for name, rs in runs.items()}


def section_load(folder: Path, work: Path, repeats: int) -> dict:
    """``lmstats score MODEL test.txt`` of the sharded model (opened shard by shard, scored by numpy) against the same
    command on the local engine's plain model (the compiled kernel), interleaved; the 5-gram of the speed section."""
    models = {"sharded (--engine dask)": work / "speed-dask", "plain (local engine)": work / "speed-local"}
    for name, model in models.items():
        if not model.exists():
            run_measured(fit_cmd(folder, model, 5, extra=("--engine", "dask") if "sharded" in name else ()))
    runs: dict[str, list] = {name: [] for name in models}
    perplexity = {}
    for _ in range(repeats):
        for name, model in models.items():
            run = run_measured([*LMSTATS, "score", str(model), str(folder / "test.txt"), "--json"])
            runs[name].append({"wall": run.wall_s, "peak_gb": run.peak_gb})
            perplexity[name] = json.loads(run.stdout)["ppl"]
            log(f"  load {name}: {run.wall_s:.1f} s, {run.peak_gb:.2f} GB")
    return {"corpus": folder.name, "text": "test.txt", "perplexity": perplexity, "runs": runs,
            "median_s": {name: statistics.median(r["wall"] for r in rs) for name, rs in runs.items()},
            "model_gb": {name: folder_bytes(model) / GB for name, model in models.items()}}


def section_scaling(folder: Path, work: Path, counts, n_tokens: int) -> list[dict]:
    rows = []
    for n in counts:
        cluster = Cluster(n, "auto", work)
        try:
            run = run_sampled(fit_cmd(folder, work / "scale-model", 5, extra=("--scheduler", cluster.address)), watch=cluster.workers.pid)
        finally:
            cluster.close()
        shutil.rmtree(work / "scale-model")
        row = {"workers": n, "wall": run["wall"], "tokens_per_s_per_worker": n_tokens / run["wall"] / n, "stages": stages(run["stderr"])}
        log(f"  scaling {row}")
        rows.append(row)
    return rows


def kill_worker_when(address: str, prefix: str, skip: int, done: threading.Event, kills: list) -> threading.Thread:
    """A thread that SIGKILLs one worker process as soon as a task named ``prefix``-... is processing, after ``skip``
    distinct such tasks were seen (the earlier orders' counting tasks); the nanny starts a new one."""
    from distributed import Client

    def watch():
        seen: set = set()
        with Client(address, timeout=30) as client:
            while not done.is_set():
                for worker, keys in client.processing().items():
                    fresh = {str(key) for key in keys if str(key).startswith(prefix)} - seen
                    if len(seen) >= skip and fresh:
                        pid = client.run(os.getpid, workers=[worker])[worker]
                        os.kill(pid, 9)
                        kills.append((prefix, pid))
                        return
                    seen |= fresh
                time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def section_faults(folder: Path, work: Path) -> list[dict]:
    """The fit on 2 workers started beforehand, once whole and once with a worker killed mid-count of order 3 and once
    mid-smoothing; every array of each model against the whole run's."""
    from lmstats.text.ranges import byte_ranges, range_target

    train = str(folder / "train.txt")
    partitions = len(byte_ranges([train], range_target([train], 2)))
    cluster = Cluster(2, "auto", work)
    rows = []
    try:
        whole = work / "fault-whole"
        run_sampled(fit_cmd(folder, whole, 5, extra=("--scheduler", cluster.address)))
        for prefix, skip, what in (("_count_task", partitions, "mid-count of order 3"), ("_local_task", 0, "mid-smoothing")):
            done, kills = threading.Event(), []
            watcher = kill_worker_when(cluster.address, prefix, skip, done, kills)
            out = work / "fault-run"
            run = run_sampled(fit_cmd(folder, out, 5, extra=("--scheduler", cluster.address)))
            done.set()
            watcher.join()
            row = {"corpus": folder.name, "killed": what, "kills": len(kills), "wall": run["wall"]} | model_difference(out, whole)
            log(f"  faults {row}")
            rows.append(row)
            shutil.rmtree(out)
        shutil.rmtree(whole)
    finally:
        cluster.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kenlm-bin", type=Path, required=True)
    parser.add_argument("--sizes", default="3e6,30e6,100e6")
    parser.add_argument("--identity-sizes", default="3e6")
    parser.add_argument("--identity-configs", default="3:mkn,3:kn,3:wb,5:mkn,5:kn,5:wb", help="ORDER:SMOOTHING, comma-separated")
    parser.add_argument("--speed-size", type=float, default=100e6)
    parser.add_argument("--scaling-size", type=float, default=30e6)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--speed-tools", default=None, help="the speed section's tools, comma-separated (default: all four)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sections", default="identity,memory,speed,scaling")
    parser.add_argument("--data", type=Path, default=Path("/tmp/lmstats-bench"))
    parser.add_argument("--out", type=Path, default=Path("reports/cluster_benchmark"))
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    work = args.data / "cluster-work"
    work.mkdir(parents=True, exist_ok=True)
    result = {"started": f"{datetime.datetime.now():%Y-%m-%dT%H:%M}", "machine": {
        "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}, "command": " ".join(sys.argv)}
    if "identity" in sections:
        log("identity")
        result["identity"] = []
        for size in map(float, args.identity_sizes.split(",")):
            folder = synthetic_splits(size, args.data)
            configs = [(int(c.split(":")[0]), c.split(":")[1]) for c in args.identity_configs.split(",")]
            result["identity"] += section_identity(folder, work, configs)
    if "memory" in sections:
        log("memory")
        result["memory"] = [section_memory(synthetic_splits(size, args.data), work, 4, args.memory_limit)
                            for size in map(float, args.sizes.split(","))]
    if "speed" in sections:
        log("speed")
        names = args.speed_tools.split(",") if args.speed_tools else None
        result["speed"] = section_speed(synthetic_splits(args.speed_size, args.data), args.kenlm_bin, args.data, work, args.repeats, names)
        result["speed_tokens"] = args.speed_size
    if "scaling" in sections:
        log("scaling")
        result["scaling"] = section_scaling(synthetic_splits(args.scaling_size, args.data), work, (1, 2, 4), int(args.scaling_size))
        result["scaling_tokens"] = args.scaling_size
    if "load" in sections:
        log("load")
        result["load"] = section_load(synthetic_splits(args.speed_size, args.data), work, args.repeats)
    if "faults" in sections:
        log("faults")
        result["faults"] = section_faults(synthetic_splits(args.speed_size, args.data), work)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / f"{'-'.join(sorted(sections))}-{result['started']}.json") as fh:
        json.dump(result, fh, indent=1)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
