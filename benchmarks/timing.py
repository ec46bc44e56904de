"""Timing helpers shared by the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

GB = 1e9


@dataclass
class Run:
    wall_s: float
    peak_gb: float
    stdout: str
    stderr: str
    disk_gb: float = 0.0  # peak growth of the used space of the ``disk`` filesystem (when sampled)
    cpu_s: float = 0.0  # user + system CPU seconds of the process (all its threads; wait4)


def tree_rss(root: int) -> int:
    """Resident bytes of process ``root`` and all its descendants now (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1]: ppid
        rss[pid] = int(fields[21]) * page  # fields[21]: rss in pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def run_measured(cmd: list[str], *, stdin: Path | None = None, cwd: Path | None = None, tree: bool = False,
                 disk: Path | None = None) -> Run:
    """Run ``cmd`` in a fresh process: wall time and that process's own peak RSS (``wait4``); with
    ``tree``, the peak of the summed RSS of the process and its descendants (sampled every 0.25 s:
    worker processes of a Dask LocalCluster); with ``disk``, the peak growth of the space used on
    that folder's filesystem (sampled likewise)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, open(stdin or os.devnull, "rb") as fin:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=out, stderr=err, cwd=cwd)
        peak, used0, used = [0], shutil.disk_usage(disk).used if disk else 0, [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                if tree:
                    peak[0] = max(peak[0], tree_rss(proc.pid))
                if disk:
                    used[0] = max(used[0], shutil.disk_usage(disk).used - used0)

        sampler = threading.Thread(target=sample, daemon=True)
        if tree or disk:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:3]))} ... failed (exit {proc.returncode}):\n{stderr[-2000:]}")
    return Run(wall, max(usage.ru_maxrss * 1024, peak[0]) / GB, stdout, stderr, used[0] / GB, usage.ru_utime + usage.ru_stime)


def best_time(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls of ``fn`` and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def interleaved_medians(fns: dict, repeats: int) -> tuple[dict[str, float], dict[str, list[float]], dict[str, object]]:
    """Call the functions in turn (A B A B ...), ``repeats`` rounds; median wall time, every time and the last result of each."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, times, results
