"""How many threads lmstats computes on: one policy for torch (RNNs) and the compiled kernels (n-gram scoring, text scanning, ARPA).

A thread count given by the user (``--threads N``, or ``threads=N`` in the Python API) is used
as it is.  Otherwise ``LMSTATS_THREADS`` (a positive integer), and otherwise the number of
cores that are idle *now*: the share of idle time of the cores this process may use, sampled
from ``/proc/stat`` over a quarter of a second once per process (in the background from the CLI's start, this
process's own use counted as idle), rounded, at least 1.  Work of
one part (a short text to score or scan) runs on one thread without sampling anything.

Why idle cores and not all of them: on a busy machine threads wait on each other and on the
other processes.  A small LSTM trained 7-12 times slower with torch's default (one thread per
core) than with one thread on a loaded 2-core machine, while on an idle machine the second
thread pays (``benchmarks/bench_threads.py``, ``reports/threads_benchmark.md``).  The load
average would be the obvious signal, but it lags by a minute: a run started right after
another one would see that one's load and take one thread on an idle machine.  Where
``/proc/stat`` is missing (not Linux) the default is all usable cores.  The number chosen is
printed and recorded by the commands that train; a fixed ``--threads`` makes runs repeat
exactly on the CPU (the sum order of a matrix product depends on the thread count).
"""

from __future__ import annotations

import functools
import os
import threading
import time

SAMPLE_SECONDS = 0.25


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not merely the machine's count."""
    cores = _affinity()
    return len(cores) if cores is not None else os.cpu_count() or 1


def _cpu_times(cores: set[int]) -> tuple[float, float] | None:
    """(idle, total) jiffies summed over ``cores`` from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    idle = total = 0.0
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            jiffies = [float(v) for v in values[:8]]
            idle += jiffies[3] + jiffies[4]  # idle + iowait
            total += sum(jiffies)
    return (idle, total) if total > 0 else None


def _affinity() -> set[int] | None:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None


def idle_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many of the usable cores were idle over the next ``seconds``, this process's own use counted as idle (it
    may be importing meanwhile: :func:`start_sampling`); None: unknown."""
    cores = _affinity()
    if cores is None:
        return None
    before, own = _cpu_times(cores), time.process_time()
    if before is None:
        return None
    time.sleep(seconds)
    after, own = _cpu_times(cores), time.process_time() - own
    if after is None or after[1] <= before[1]:
        return None
    idle = after[0] - before[0] + own * os.sysconf("SC_CLK_TCK")  # jiffies
    return len(cores) * min(1.0, idle / (after[1] - before[1]))


_SAMPLE_LOCK = threading.Lock()


@functools.cache
def _sampled() -> int:
    cores = usable_cores()
    idle = idle_cores()
    return cores if idle is None else max(1, min(cores, round(idle)))


def _idle_default() -> int:
    with _SAMPLE_LOCK:  # one sample per process, whichever thread asks first (the others wait for it)
        return _sampled()


def start_sampling() -> None:
    """Sample the idle cores in the background now (the CLI calls it first thing), so that work asking for the default
    later finds it ready instead of waiting a quarter of a second."""
    if _chosen is None and not os.environ.get("LMSTATS_THREADS", "").strip():
        threading.Thread(target=_idle_default, name="lmstats-idle-cores", daemon=True).start()


_chosen: int | None = None  # the count set_threads fixed for this process (a --threads option), if any


def default_threads() -> int:
    """The count :func:`set_threads` fixed for this process, else ``LMSTATS_THREADS`` when it is a positive integer,
    else the idle usable cores (sampled once per process)."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get("LMSTATS_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return _idle_default()


def resolve_threads(threads: int | None, parts: int | None = None) -> int:
    """The threads for work of ``parts`` independent parts (None: as many as wanted): ``threads`` when given, else
    one when there is at most one part (nothing to share, and no quarter second spent sampling the cores), else
    :func:`default_threads`, at most ``parts``."""
    if threads is not None:
        return int(threads)
    if parts is not None and parts <= 1:
        return 1
    return default_threads() if parts is None else min(default_threads(), parts)


def forget_threads() -> None:
    """Drop the count :func:`set_threads` fixed (each command invocation starts from the default)."""
    global _chosen
    _chosen = None


def set_threads(threads: int | None, *, torch: bool = False) -> int:
    """Fix this process's thread count (``threads``, or :func:`default_threads`) for every compiled kernel, and for
    torch when ``torch`` is true; returns the count.  Commands call it with their ``--threads``."""
    global _chosen
    _chosen = resolve_threads(threads)
    if torch:
        import torch as torch_module

        torch_module.set_num_threads(_chosen)
    return _chosen
