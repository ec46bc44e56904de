"""The frequency spectrum of a text: each distinct frequency and how many types have it.

A rank-frequency list of V types (the frequency of each type, descending) is held as its
spectrum: at 10^9 tokens the trigram list has 148M entries (1.2 GB as int64, several times
that in the float temporaries of a fit), its spectrum a few thousand pairs.  The fits walk the
ranks in blocks of :data:`BLOCK` generated from the pairs, so their memory no longer grows with
V; the sums are the same sums, added block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BLOCK = 1 << 20  # ranks generated at a time
_BINCOUNT_LIMIT = 1 << 26  # largest frequency counted with np.bincount (a table of that many int64)


@dataclass(frozen=True, eq=False)
class Spectrum:
    """``values[j]`` (descending) is the frequency of ``counts[j]`` types: ranks ``ends[j-1]+1 .. ends[j]``."""

    values: NDArray  # distinct frequencies, descending (whole counts, or any weights a fit is given)
    counts: NDArray[np.int64]

    @classmethod
    def of(cls, freqs) -> Spectrum:
        """The spectrum of a list of frequencies (any order; ranks follow descending frequency)."""
        if isinstance(freqs, Spectrum):
            return freqs
        ordered = np.sort(np.asarray(freqs).reshape(-1))[::-1]
        if len(ordered) == 0:
            return cls(ordered, np.zeros(0, dtype=np.int64))
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        return cls(ordered[starts].copy(), np.diff(np.append(starts, len(ordered))).astype(np.int64))

    @classmethod
    def of_counts(cls, chunks) -> Spectrum:
        """The spectrum of positive whole counts given in pieces (arrays; zeros are left out), in
        memory proportional to the largest count, not to the number of counts."""
        tally = np.zeros(1, dtype=np.int64)
        extra: dict[int, int] = {}
        for chunk in chunks:
            chunk = np.asarray(chunk, dtype=np.int64)
            chunk = chunk[chunk > 0]
            if len(chunk) == 0:
                continue
            big = chunk >= _BINCOUNT_LIMIT
            if big.any():
                for value, n in zip(*np.unique(chunk[big], return_counts=True), strict=True):
                    extra[int(value)] = extra.get(int(value), 0) + int(n)
                chunk = chunk[~big]
            counted = np.bincount(chunk)
            if len(counted) > len(tally):
                counted[: len(tally)] += tally
                tally = counted
            else:
                tally[: len(counted)] += counted
        values = np.flatnonzero(tally)
        counts = tally[values]
        if extra:
            values = np.concatenate([values, np.array(sorted(extra), dtype=np.int64)])
            counts = np.concatenate([counts, np.array([extra[v] for v in sorted(extra)], dtype=np.int64)])
        return cls(values[::-1].astype(np.int64), counts[::-1].astype(np.int64))

    @property
    def n_types(self) -> int:
        return int(self.counts.sum())

    @property
    def total(self) -> float:
        """The sum of all frequencies (the n-gram tokens, for whole counts)."""
        return float(np.dot(self.values.astype(np.float64), self.counts))

    @property
    def ends(self) -> NDArray[np.int64]:
        """The last rank of each distinct value."""
        return np.cumsum(self.counts)

    def count_of(self, value) -> int:
        """How many types have frequency ``value``."""
        hit = self.values == value
        return int(self.counts[hit].sum())

    def at_ranks(self, ranks: NDArray[np.int64]) -> NDArray:
        """The frequency at each (1-based) rank."""
        return self.values[np.searchsorted(self.ends, np.asarray(ranks) - 1, side="right")]

    def blocks(self, lo: int = 1, hi: int | None = None, block: int | None = None) -> Iterator[tuple[NDArray, NDArray]]:
        """(ranks, frequencies) as float64 for the ranks ``lo .. hi`` (default: all), ``block`` ranks at a time."""
        hi = self.n_types if hi is None else min(hi, self.n_types)
        block = block or BLOCK
        ends = self.ends
        values = self.values.astype(np.float64)
        for start in range(lo, hi + 1, block):
            stop = min(start + block - 1, hi)
            ranks = np.arange(start, stop + 1, dtype=np.float64)
            yield ranks, values[np.searchsorted(ends, np.arange(start - 1, stop), side="right")]

    def expand(self) -> NDArray:
        """The frequency list itself, descending (V values: for small spectra and the bootstrap)."""
        return np.repeat(self.values, self.counts)

    def __len__(self) -> int:
        return self.n_types
