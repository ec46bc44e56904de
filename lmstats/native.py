"""The C loops of ``lmstats/kernels.c``, called through ctypes; None where the install built none.

``pip install`` compiles ``kernels.c`` into ``lmstats/_kernels*.so`` when a C compiler is there (an
optional extension: without one the install goes on).  Loading it takes about a millisecond, where
numba's start costs a fresh process 0.5-0.8 s and 100 MB (:mod:`lmstats.jit`): with it, the scorers
(:mod:`lmstats.ngram.kernel`, the compact model's :mod:`lmstats.ngram.compact_kernel`) and the text
scan (:mod:`lmstats.text.scan`) run compiled from the first token, so a short run needs no numpy
fallback and a long one no JIT.  Without it they fall back on numba, with the same numbers
(``tests/test_scoring_kernel.py``, ``test_compact.py`` and ``test_textscan.py`` run every case on both).  ctypes
releases the GIL during each call, so pieces run on several threads as numba's ``nogil`` functions do.

``LMSTATS_NATIVE=0`` in the environment turns the C loops off (numba then, as without a compiler).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

import numpy as np
from numpy.typing import NDArray

_I64 = ctypes.c_int64
_P = ctypes.c_void_p
_SCORE_ARGS = [_P, _P, _I64, _I64, _I64, _I64, _I64, _P, _P, _P, _P, _P, _P, _P, _I64, ctypes.c_double, ctypes.c_double, _P, _P,
               _I64, _P]
_SCAN_ARGS = [_P, _I64, _P, _P, _I64, _P, _P, _P, ctypes.c_int32, _P, _P, _P]
_COMPACT_ARGS = [_P, _P, _I64, _I64, _I64, _I64, _I64, _P, _P, _P, _P, _P, _I64, ctypes.c_double, ctypes.c_double, _P, _P, _P, _P, _I64,
                 _P]


@functools.cache
def library() -> ctypes.CDLL | None:
    """The built C loops, or None (not built, or turned off with ``LMSTATS_NATIVE=0``)."""
    if os.environ.get("LMSTATS_NATIVE", "1") == "0":
        return None
    spec = importlib.util.find_spec("lmstats._kernels")
    if spec is None or not spec.origin:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError:
        return None
    lib.lm_score.argtypes, lib.lm_score.restype = _SCORE_ARGS, None
    lib.lm_scan.argtypes, lib.lm_scan.restype = _SCAN_ARGS, None
    lib.lm_compact_score.argtypes, lib.lm_compact_score.restype = _COMPACT_ARGS, None
    return lib


def available() -> bool:
    return library() is not None


def _ptr(array: NDArray) -> int:
    return array.ctypes.data


def _pointers(arrays) -> NDArray[np.uintp]:
    """The data addresses of ``arrays``, as a C array of pointers."""
    return np.array([a.ctypes.data for a in arrays], dtype=np.uintp)


class ScoreTables:
    """A model's per-order arrays as the C scorer takes them (addresses; the arrays are kept alive here)."""

    def __init__(self, keys, slots, bits, probs, backoffs):
        for name, arrays, dtype in (("keys", keys, np.int64), ("slots", slots, np.int32), ("probs", probs, np.float64),
                                    ("backoffs", backoffs, np.float64)):
            if any(a.dtype != dtype or not a.flags.c_contiguous for a in arrays):
                raise ValueError(f"the C scorer takes contiguous {np.dtype(dtype).name} {name}")
        self.arrays = (keys, slots, probs, backoffs)  # the addresses below point into these
        self.order = len(probs)
        self.keys, self.slots = _pointers(keys), _pointers(slots)
        self.n_keys = np.array([len(a) for a in keys], dtype=np.int64)
        self.n_slots = np.array([len(a) for a in slots], dtype=np.int64)
        self.bits = np.ascontiguousarray(bits, dtype=np.int64)
        self.probs, self.backoffs = _pointers(probs), _pointers(backoffs)


def score(tables: ScoreTables, ids: NDArray[np.int32], bounds: NDArray[np.int64], depth0: int, bos_id: int, vocab_size: int,
          low_mode: int, gamma_unseen: float, uniform: float, mask: NDArray[np.bool_], out: NDArray[np.float64]) -> None:
    """``lmstats.ngram.kernel._score`` in C: P of every token of the piece into ``out``."""
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    bounds = np.ascontiguousarray(bounds, dtype=np.int64)
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    assert out.dtype == np.float64 and out.flags.c_contiguous and len(out) >= len(ids)
    stride = max(len(ids), 1)
    rows = np.empty(tables.order * stride, dtype=np.int64)
    library().lm_score(_ptr(ids), _ptr(bounds), len(bounds) - 1, depth0, bos_id, vocab_size, tables.order, _ptr(tables.keys),
                       _ptr(tables.n_keys), _ptr(tables.slots), _ptr(tables.n_slots), _ptr(tables.bits), _ptr(tables.probs),
                       _ptr(tables.backoffs), low_mode, gamma_unseen, uniform, _ptr(mask), _ptr(rows), stride, _ptr(out))


class CompactTables:
    """A compact model's per-order arrays as the C scorer takes them (:class:`lmstats.ngram.compact_kernel.CompactScorer`'s:
    addresses, the arrays kept alive here)."""

    def __init__(self, records, layout, pointers, probs, backoffs):
        for name, arrays, dtype in (("records", records, np.uint64), ("pointers", pointers, np.int64), ("probs", probs, np.float64),
                                    ("backoffs", backoffs, np.float64)):
            if any(a.dtype != dtype or not a.flags.c_contiguous for a in arrays):
                raise ValueError(f"the C scorer takes contiguous {np.dtype(dtype).name} {name}")
        self.layout = np.ascontiguousarray(layout, dtype=np.int64)
        self.arrays = (records, pointers, probs, backoffs)  # the addresses below point into these
        self.order = len(records)
        if self.layout.shape[0] != self.order or not all(len(a) == self.order for a in (pointers, probs, backoffs)):
            raise ValueError("the C scorer takes one array of each kind and one layout row per order")
        self.records, self.pointers = _pointers(records), _pointers(pointers)
        self.probs, self.backoffs = _pointers(probs), _pointers(backoffs)


def compact_score(tables: CompactTables, ids: NDArray[np.int32], bounds: NDArray[np.int64], depth0: int, bos_id: int, low_mode: int,
                  gamma_unseen: float, uniform: float, mask: NDArray[np.bool_], out: NDArray[np.float64]) -> None:
    """``lmstats.ngram.compact_kernel._score`` in C: P of every token of the piece into ``out``."""
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    bounds = np.ascontiguousarray(bounds, dtype=np.int64)
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    assert out.dtype == np.float64 and out.flags.c_contiguous and len(out) >= len(ids)
    stride = max(len(ids), 1)
    rows = np.empty(tables.order * stride, dtype=np.int64)
    spans = np.empty(4 * stride, dtype=np.int64)
    found = np.empty(2 * tables.order * stride, dtype=np.float64)
    library().lm_compact_score(_ptr(ids), _ptr(bounds), len(bounds) - 1, len(ids), depth0, bos_id, tables.order, _ptr(tables.records),
                               _ptr(tables.layout), _ptr(tables.pointers), _ptr(tables.probs), _ptr(tables.backoffs), low_mode,
                               gamma_unseen, uniform, _ptr(mask), _ptr(rows), _ptr(spans), _ptr(found), stride, _ptr(out))


def scan(data: NDArray[np.uint8], classes: NDArray[np.uint8], slots: NDArray, bits: int, strings: NDArray, offsets: NDArray,
         entry_ids: NDArray, unk_id: int, ids: NDArray[np.int32], lengths: NDArray[np.int64]) -> tuple[int, int]:
    """``lmstats.text.scan._scan`` in C: ids into ``ids``, words per line into ``lengths``; returns (words, lines)."""
    arrays = [np.ascontiguousarray(a, dtype=d) for a, d in ((data, np.uint8), (classes, np.uint8), (slots, np.int32),
                                                            (strings, np.uint8), (offsets, np.int64), (entry_ids, np.int32))]
    assert ids.dtype == np.int32 and lengths.dtype == np.int64 and ids.flags.c_contiguous and lengths.flags.c_contiguous
    counts = np.zeros(2, dtype=np.int64)
    data, classes, slots, strings, offsets, entry_ids = arrays
    library().lm_scan(_ptr(data), len(data), _ptr(classes), _ptr(slots), bits, _ptr(strings), _ptr(offsets), _ptr(entry_ids),
                      unk_id, _ptr(ids), _ptr(lengths), _ptr(counts))
    return int(counts[0]), int(counts[1])
