"""numba's ``njit`` with its on-disk cache wherever one can be written.

numba caches compiled code in ``__pycache__`` beside the source, or else in a per-user folder
(``~/.cache/numba``), and raises at import when it can write neither (a read-only install run
by a user without a home, as in some containers).  Then the cache goes to a folder of this
user's in the system's temporary folder, and if even that cannot be written, compiled code is
not cached (each process compiles on first use, a second or two).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numba
import numpy as np
from numpy.typing import NDArray


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _cache_location() -> bool:
    """Whether numba can cache here, after pointing it at a writable folder if it needs one."""
    if numba.config.CACHE_DIR:
        return _writable(Path(numba.config.CACHE_DIR))
    if _writable(Path(__file__).parent / "__pycache__"):
        return True
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    if _writable(user):
        return True
    fallback = Path(tempfile.gettempdir()) / f"lmstats-numba-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    if _writable(fallback):
        numba.config.CACHE_DIR = str(fallback)
        return True
    return False


CACHE = _cache_location()


def njit(**options):
    """``numba.njit(cache=..., **options)`` with the cache on only where it can be written."""
    return numba.njit(cache=CACHE, **options)


def read_only(values) -> NDArray:
    """A read-only, C-contiguous plain-ndarray view of ``values`` (memory-mapped or not; copied only
    when not contiguous): every caller then hits one compiled signature, not one per array flag."""
    view = np.ascontiguousarray(values).view()
    view.flags.writeable = False
    return view
