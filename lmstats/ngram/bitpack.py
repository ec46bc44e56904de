"""Bit-packed records and sampled pointers: the integer storage of a compact n-gram model.

**Records.**  ``n`` records of ``record_bits`` bits each lie end to end in little-endian
``uint64`` words; a field of ``width`` bits (at most 63) at ``offset`` in its record is bits
``i * record_bits + offset ...`` of the stream, read with at most two word loads (here in
numpy; in the scorer by :func:`lmstats.ngram.compact_kernel.read_bits`, compiled).  This module
is numpy only, so opening a model imports no compiler.

**Sampled pointers.**  A trie stores, for every row of order k, where its children start in
order k+1: a non-decreasing sequence ``starts``.  Every 2^shift-th value is kept whole in a
table ``base`` (int64), and each value as its distance from the last kept one, in the row's
record: reading a pointer is one load from a small table and one field, with no search.
KenLM's ``ArrayBhiksha`` (``lm/bhiksha.cc``, after Raj and Whittaker 2003) keeps fewer bits
(the low bits of each value in the record, the high bits found by a binary search of a table
indexed by high value): on the WikiText-2 5-gram it was 2.4 MB smaller and its binary search made
each lookup 50-115 ns slower (measured here, single-threaded), so the sampled form was chosen.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

MAX_WIDTH = 63


def required_bits(max_value: int) -> int:
    """Bits that hold every integer in 0..max_value (0 for 0)."""
    return int(max_value).bit_length()


def n_words(n: int, record_bits: int) -> int:
    """uint64 words of ``n`` records of ``record_bits`` bits, and one word of padding (a reader may load
    the word after a field's last, so that it needs no branch)."""
    return -(-n * record_bits // 64) + 1


def _or_into(words: NDArray[np.uint64], at: NDArray[np.int64], parts: NDArray[np.uint64]) -> None:
    """``words[at[i]] |= parts[i]`` for non-decreasing ``at`` (parts landing on one word are OR-ed first)."""
    if len(at) == 0:
        return
    starts = np.flatnonzero(np.concatenate([[True], at[1:] != at[:-1]]))
    words[at[starts]] |= np.bitwise_or.reduceat(parts, starts)


def pack_records(n: int, fields: list[tuple[NDArray | None, int]], piece: int = 1 << 20) -> NDArray[np.uint64]:
    """``n`` records of the given fields (values, width) in order; a field's values may be fewer than
    ``n`` (the rest are 0) or None (all 0).  Every value must be in 0..2^width - 1.  Vectorised, in
    pieces of ``piece`` records (bounded scratch memory)."""
    record_bits = sum(width for _, width in fields)
    words = np.zeros(n_words(n, record_bits), dtype=np.uint64)
    offset = 0
    for values, width in fields:
        if not 0 <= width <= MAX_WIDTH:
            raise ValueError(f"a packed field holds 0..{MAX_WIDTH} bits, got {width}")
        if values is not None and len(values) and width:
            if len(values) > n or np.min(values) < 0 or required_bits(np.max(values)) > width:
                raise ValueError(f"values do not fit {n} fields of {width} bits")
            for begin in range(0, len(values), piece):
                v = np.asarray(values[begin : begin + piece]).astype(np.uint64)
                pos = np.arange(begin, begin + len(v), dtype=np.int64) * record_bits + offset
                at, shift = pos >> 6, (pos & 63).astype(np.uint64)
                _or_into(words, at, v << shift)
                spill = (pos & 63) + width > 64
                _or_into(words, at[spill] + 1, v[spill] >> (np.uint64(64) - shift[spill]))
        offset += width
    return words


def unpack_field(words: NDArray[np.uint64], n: int, record_bits: int, offset: int, width: int) -> NDArray[np.int64]:
    """The field at ``offset`` (``width`` bits) of each of ``n`` records (numpy)."""
    return read_field(words, np.arange(n, dtype=np.int64), record_bits, offset, width)


def read_field(words: NDArray[np.uint64], rows: NDArray[np.int64], record_bits: int, offset: int, width: int) -> NDArray[np.int64]:
    """The field at ``offset`` (``width`` bits) of the records ``rows`` (numpy; every row must be a record of ``words``)."""
    if width == 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=np.int64)
    pos = np.asarray(rows, dtype=np.int64) * record_bits + offset
    at, shift = pos >> 6, (pos & 63).astype(np.uint64)
    value = words[at] >> shift
    spill = (pos & 63) + width > 64
    value[spill] |= words[at[spill] + 1] << (np.uint64(64) - shift[spill])
    return (value & np.uint64((1 << width) - 1)).astype(np.int64)


def sample_pointers(starts: NDArray[np.int64], max_shift: int = 12) -> tuple[int, NDArray[np.int64], NDArray[np.int64], int]:
    """(shift, base, rel, width) for the non-decreasing ``starts``: ``starts[i] = base[i >> shift] + rel[i]``,
    with ``width`` the bits of the largest ``rel``; the shift (block of 2^shift values per base) is the one
    that minimises ``len(starts) * width + 64 * len(base)`` bits (see the module docstring)."""
    starts = np.asarray(starts, dtype=np.int64)
    best = None
    for shift in range(max_shift + 1):
        base = starts[::1 << shift]
        rel = starts - np.repeat(base, 1 << shift)[: len(starts)]
        width = required_bits(rel.max()) if len(rel) else 0
        cost = len(starts) * width + 64 * len(base)
        if best is None or cost < best[0]:
            best = (cost, shift, base, rel, width)
    return best[1], best[2], best[3], best[4]
