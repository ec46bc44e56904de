"""lmstats.heap: glibc's allocator told to keep less while a long text is scored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmstats import heap

ROOT = Path(__file__).resolve().parents[1]
glibc = pytest.mark.skipif(heap._libc() is None, reason="not glibc (or one before 2.33): lmstats.heap does nothing there")


@glibc
def test_free_heap_bytes_are_counted_and_given_back_beyond_the_limit():
    import numpy as np

    held = [np.ones(1 << 16) for _ in range(400)]  # 200 MB in 512 KB arrays, from the heap once the mmap threshold rose
    del held[::2]  # holes between the arrays still in use
    assert heap.free_bytes() > 0
    keep_all = heap.Trimmer(keep=1 << 50)
    keep_all.check()
    assert keep_all.trims == 0
    trimmer = heap.Trimmer(keep=0)
    trimmer.check()
    assert trimmer.trims == 1


def test_the_trimmer_does_nothing_where_the_heap_is_unknown(monkeypatch):
    monkeypatch.setattr(heap, "free_bytes", lambda: None)
    trimmer = heap.Trimmer(keep=0)
    trimmer.check()
    assert trimmer.trims == 0


@pytest.mark.parametrize("one", [False, True])
@glibc
def test_one_arena_serves_every_thread(one):
    """Threads allocating at once get arenas of their own, unless one_arena was called first (malloc_stats lists the
    arenas; a fresh process, as the test runner's threads have theirs already)."""
    code = f"""if True:
        import threading
        from lmstats import heap
        if {one}:
            heap.one_arena()
        go = threading.Barrier(3)
        def work():
            go.wait()
            kept = [bytearray(4096) for _ in range(2000)]
            go.wait()
        threads = [threading.Thread(target=work) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        heap._libc().malloc_stats()
    """
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    arenas = proc.stderr.count("Arena ")
    assert arenas == 1 if one else arenas > 1, proc.stderr
