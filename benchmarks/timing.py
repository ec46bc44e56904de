"""Timing helpers shared by the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
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


def run_measured(cmd: list[str], *, stdin: Path | None = None, cwd: Path | None = None) -> Run:
    """Run ``cmd`` in a fresh process: wall time and that process's own peak RSS (``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, open(stdin or os.devnull, "rb") as fin:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:3]))} ... failed (exit {proc.returncode}):\n{stderr[-2000:]}")
    return Run(wall, usage.ru_maxrss * 1024 / GB, stdout, stderr)


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
