"""Timing helpers shared by the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import statistics
import time


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
