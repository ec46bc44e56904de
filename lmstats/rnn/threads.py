"""How many CPU threads torch gets: one sound default for every command that trains or scores an RNN.

torch's own default (one thread per core) assumes the cores are free.  On a busy machine its
threads wait on each other and on the other processes: a small LSTM trained 7-12 times slower
with torch's default than with one thread on a loaded 2-core machine, while on an idle machine
the second thread pays (``benchmarks/bench_threads.py``, ``reports/threads_benchmark.md``).

The default here is the number of cores that are idle *now*: the share of idle time of the
cores this process may use, sampled from ``/proc/stat`` over a quarter of a second, rounded,
at least 1.  (The load average would be the obvious signal, but it lags by a minute: a run
started right after another one would see that one's load and take one thread on an idle
machine.)  Where ``/proc/stat`` is missing (not Linux) the default is all usable cores.  The
number chosen is printed and recorded; ``--threads N`` overrides it, and makes runs repeat
exactly on the CPU (the sum order of a matrix product depends on the thread count).
"""

from __future__ import annotations

import os
import time

SAMPLE_SECONDS = 0.25


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not merely the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_times(cores: set[int]) -> tuple[float, float] | None:
    """(idle, total) jiffies summed over ``cores`` from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    idle = total = 0.0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            values = [float(v) for v in fields[:8]]
            idle += values[3] + values[4]  # idle + iowait
            total += sum(values)
    return (idle, total) if total > 0 else None


def idle_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many of the usable cores were idle over the next ``seconds`` (None: unknown)."""
    try:
        cores = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None
    before = _cpu_times(cores)
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_times(cores)
    if after is None or after[1] <= before[1]:
        return None
    return len(cores) * (after[0] - before[0]) / (after[1] - before[1])


def default_threads() -> int:
    """The idle usable cores, rounded, in ``1..usable cores`` (all of them where idleness is unknown)."""
    cores = usable_cores()
    idle = idle_cores()
    if idle is None:
        return cores
    return max(1, min(cores, round(idle)))


def set_threads(threads: int | None) -> int:
    """Give torch ``threads`` (None: :func:`default_threads`); returns the number set."""
    import torch

    n = default_threads() if threads is None else int(threads)
    torch.set_num_threads(n)
    return n
