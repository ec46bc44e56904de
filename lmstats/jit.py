"""numba's ``njit``, compiled at the first call and cached on disk wherever a cache can be written.

**Compiled at the first call.**  ``@njit`` leaves the function as it is and compiles the module's
compiled functions together when one of them is first called: numba is imported then, not when
the module is imported.  A process that never runs compiled code (scoring a sentence: see
:mod:`lmstats.ngram.vectorised`) never pays for numba, which a short run cannot afford.  Measured on
the 2-core development machine (python 3.11, numba 0.68, scipy 1.17, machine idle): ``import
numba`` takes 0.15-0.3 s, and the first call of any cached function another 0.25-0.4 s, as numba
loads its typing and lowering registries; each further cached function loads in 3-5 ms.
Ahead-of-time compilation is no way out: ``numba.pycc`` is deprecated, and the module it builds
needs a C compiler at install time.

**numba's start without scipy.linalg.**  Of that first call, 0.2-0.3 s (more on a busy machine) is
``import scipy.linalg``: loading its registries, numba checks once whether BLAS is there for
``np.dot`` (``numba/np/arraymath.py``, ``_HAVE_BLAS``).  No compiled function here uses BLAS, so
:func:`_start_numba` loads the registries with that import answered "absent" when nothing in the
process has imported ``scipy.linalg`` yet, and takes the answer back at once: ``scipy.linalg``
imports normally afterwards, and numba code compiled later that calls ``np.dot`` checks BLAS
again when it is compiled.  Should numba's start fail that way, it starts again the usual way.

**Cached.**  numba caches compiled code in ``__pycache__`` beside the source, or else in a
per-user folder (``~/.cache/numba``), and raises when it can write neither (a read-only install
run by a user without a home, as in some containers).  Then the cache goes to a folder of this
user's in the system's temporary folder, and if even that cannot be written, compiled code is
not cached (each process compiles on first use, a second or two).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

_LOCK = threading.Lock()
_WAITING: dict[str, list[Compiled]] = {}  # module name -> its functions not compiled yet
_BLAS_CHECK = "scipy.linalg.cython_blas"  # what numba imports to see whether BLAS is there
_started = False  # numba's registries loaded (by _start_numba)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _cache_location() -> bool:
    """Whether numba can cache here, after pointing it at a writable folder if it needs one."""
    import numba

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


class Compiled:
    """A function that numba compiles at its first call, with the other compiled functions of its module.

    They are compiled together, and each replaces its plain function in the module's namespace,
    because a compiled function that calls another (``_row`` in the kernel's ``_score``) finds it
    there when it is compiled.  Calls through this object go to the compiled function.
    """

    def __init__(self, fn, options: dict):
        functools.update_wrapper(self, fn)
        self.fn, self.options, self.dispatcher = fn, options, None
        _WAITING.setdefault(fn.__module__, []).append(self)

    def __call__(self, *args):
        if self.dispatcher is None:
            _compile_module(self.fn.__module__)
        return self.dispatcher(*args)


def _start_numba() -> None:
    """Load numba's registries for the CPU, without importing ``scipy.linalg`` for them (see the module docstring)."""
    from numba.core.registry import cpu_target

    skip = "scipy.linalg" not in sys.modules and _BLAS_CHECK not in sys.modules
    if skip:
        sys.modules[_BLAS_CHECK] = None  # an import of it raises ImportError at once
    try:
        cpu_target.target_context.refresh()
    except Exception:
        if not skip:
            raise
        del sys.modules[_BLAS_CHECK]
        cpu_target.target_context.refresh()
    finally:
        if sys.modules.get(_BLAS_CHECK, False) is None:
            del sys.modules[_BLAS_CHECK]


def _compile_module(module: str) -> None:
    global _started
    import numba

    with _LOCK:
        waiting = _WAITING.pop(module, [])
        if not waiting:
            return
        if not _started:
            _start_numba()
            _started = True
        cache = _cache_location()
        for lazy in waiting:
            lazy.dispatcher = numba.njit(cache=cache, **lazy.options)(lazy.fn)
            lazy.fn.__globals__[lazy.fn.__name__] = lazy.dispatcher


def njit(**options):
    """``numba.njit(cache=..., **options)``, compiled at the first call (see the module docstring)."""
    return lambda fn: Compiled(fn, options)


def read_only(values) -> NDArray:
    """A read-only, C-contiguous plain-ndarray view of ``values`` (memory-mapped or not; copied only
    when not contiguous): every caller then hits one compiled signature, not one per array flag."""
    view = np.ascontiguousarray(values).view()
    view.flags.writeable = False
    return view
