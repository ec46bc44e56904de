"""How many CPU threads torch gets: one sound default for every command that trains or scores an RNN.

torch's own default (one thread per physical core) assumes the cores are free.  On a busy
machine its threads wait on each other and on the other processes: a small LSTM trained
7-12 times slower with torch's default than with one thread on a loaded 2-core machine.  The
default here is the cores this process may use minus the load already on the machine (the
1-minute load average), at least 1: all cores on an idle machine, one thread on a busy one.
The number chosen is printed and recorded; ``--threads N`` overrides it (and makes runs
repeat exactly on the CPU, since the sum order of a matrix product depends on the threads).
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not merely the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """``usable cores - round(1-minute load)``, clipped to ``1..usable cores`` (see the module docstring)."""
    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        load = 0.0
    return max(1, min(cores, cores - round(load)))


def set_threads(threads: int | None) -> int:
    """Give torch ``threads`` (None: :func:`default_threads`); returns the number set."""
    import torch

    n = default_threads() if threads is None else int(threads)
    torch.set_num_threads(n)
    return n
