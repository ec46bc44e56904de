"""The C heap of a process that streams a large text (``lmstats score``): glibc's allocator, told to keep less.

Scoring in pieces frees and allocates arrays of a few hundred KB to a few MB per piece, on
several threads.  glibc keeps what is freed: each thread's own arena, and the holes left between
arrays still in use, so on WikiText-2 x200 the heap held 33 MB free beside 23 MB in use at its
peak, growing with the length of the text (beside a model of 163 MB, whose pages are the file's).
:func:`one_arena` (14 MB less at the peak, no slower: the pieces are few large arrays, so the
threads hardly wait for the one lock) and :class:`Trimmer` (free pages given back when more than
:data:`KEEP_FREE` is held) keep the peak to the model plus a few pieces.  Where the C library is
not glibc, both do nothing.
"""

from __future__ import annotations

import ctypes
import functools

KEEP_FREE = 24 << 20  # free heap bytes kept; beyond, the pages go back to the system.  WikiText-2 x200, peak / system time:
#                      nothing given back 251-263 MB / 0.3 s; 32 MB kept 251 MB / 0.7 s; 24 MB 242 MB / 1.5 s; 16 MB 235 MB / 2.0-2.5 s
M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


@functools.cache
def _libc():
    """glibc's functions, or None (another C library, or a glibc before 2.33 without mallinfo2)."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim, libc.mallinfo2  # noqa: B018 (each raises AttributeError where missing)
    except (OSError, AttributeError):
        return None
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def one_arena() -> None:
    """One malloc arena for the whole process, its threads included (call it before starting them)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, 1)


def free_bytes() -> int | None:
    """Bytes the heap holds free (None where unknown)."""
    libc = _libc()
    return None if libc is None else int(libc.mallinfo2().fordblks)


class Trimmer:
    """Call :meth:`check` between pieces: when the heap holds more than ``keep`` bytes free, their pages go back to
    the system (``malloc_trim``; the next arrays fault fresh pages in, which costs far less than keeping them)."""

    def __init__(self, keep: int = KEEP_FREE):
        self.keep = keep
        self.trims = 0

    def check(self) -> None:
        free = free_bytes()
        if free is not None and free > self.keep:
            _libc().malloc_trim(0)
            self.trims += 1
