"""Heaps' law ``V(N) = K N^beta``: the vocabulary-growth curve and its least-squares fit."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from lmstats.errors import LmstatsError
from lmstats.zipf.results import HeapsFit


def heaps_curve(type_ids: NDArray[np.int64], n_points: int = 64) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Types ``V(N)`` seen in the first ``N`` occurrences, at log-spaced ``N`` up to the total."""
    n = len(type_ids)
    is_new = np.zeros(n, dtype=bool)
    is_new[np.unique(type_ids, return_index=True)[1]] = True
    seen = np.cumsum(is_new)
    positions = np.unique(np.round(np.geomspace(1, n, n_points)).astype(np.int64))  # as scale.heaps_positions
    return positions, seen[positions - 1]


def fit_heaps(positions: NDArray[np.int64], types: NDArray[np.int64], n_min: int = 10) -> HeapsFit:
    """Least squares of ``ln V`` on ``ln N`` over the sampled points with ``N >= n_min`` (all if too few)."""
    positions = np.asarray(positions)
    types = np.asarray(types)
    keep = positions >= n_min
    if keep.sum() < 3:
        keep = np.ones(len(positions), dtype=bool)
    if keep.sum() < 3 or np.all(types[keep] == types[keep][0]):
        raise LmstatsError("Heaps' law needs a vocabulary that grows over at least 3 prefix lengths; give more text")
    reg = stats.linregress(np.log(positions[keep]), np.log(types[keep]))
    return HeapsFit(math.exp(reg.intercept), reg.slope, reg.stderr, reg.rvalue**2, int(positions[keep][0]), int(positions[keep][-1]),
                    positions, types)
