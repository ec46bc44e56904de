"""A sharded model's array (lmstats.ngram.sharded_array): every operation equals the same one on the joined array."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstats.ngram.sharded_array import ShardedArray

shard_lists = st.lists(st.lists(st.integers(-50, 50), max_size=6), min_size=1, max_size=5)


def sharded_keys(lengths: list[list[int]]) -> tuple[ShardedArray, np.ndarray]:
    """Sorted unique keys cut into shards of the given lengths (some empty), as the cluster writes a key array."""
    joined = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in lengths] + [np.zeros(0, np.int64)]))
    cuts = np.cumsum([len(s) for s in lengths])
    cuts = np.minimum(cuts, len(joined))
    parts = np.split(joined, cuts[:-1])
    return ShardedArray(parts), joined


@settings(max_examples=200, deadline=None)
@given(shard_lists, st.lists(st.integers(-60, 60), max_size=20), st.sampled_from(["left", "right"]))
def test_searchsorted_is_the_joined_arrays(lengths, queries, side):
    sharded, joined = sharded_keys(lengths)
    q = np.asarray(queries, dtype=np.int64)
    assert np.array_equal(np.searchsorted(sharded, q, side=side), np.searchsorted(joined, q, side=side))


@settings(max_examples=200, deadline=None)
@given(shard_lists, st.data())
def test_rows_slices_and_arithmetic_are_the_joined_arrays(lengths, data):
    parts = [np.asarray(s, dtype=np.float64) for s in lengths]
    sharded, joined = ShardedArray(parts), np.concatenate(parts)
    assert len(sharded) == len(joined) and sharded.shape == joined.shape and sharded.dtype == joined.dtype
    if len(joined):
        rows = np.asarray(data.draw(st.lists(st.integers(-len(joined), len(joined) - 1), max_size=15)), dtype=np.int64)
        assert np.array_equal(sharded[rows], joined[rows])
        i = data.draw(st.integers(-len(joined), len(joined) - 1))
        assert sharded[i] == joined[i]
    a, b = data.draw(st.integers(0, len(joined))), data.draw(st.integers(0, len(joined)))
    assert np.array_equal(sharded[a:b], joined[a:b])
    assert np.array_equal(sharded * 2 + 1, joined * 2 + 1) and np.array_equal(np.asarray(sharded), joined)
    assert sharded.sum() == joined.sum() and np.array_equal(sharded[sharded > 0], joined[joined > 0])


def test_a_slice_inside_one_shard_is_its_view_and_bad_rows_are_errors():
    parts = [np.arange(3.0), np.arange(3.0, 7.0)]
    sharded = ShardedArray(parts)
    view = sharded[4:6]
    assert np.shares_memory(view, parts[1]) and list(view) == [4.0, 5.0]
    with pytest.raises(IndexError):
        sharded[np.array([7])]
    with pytest.raises(IndexError):
        sharded[-8]
    with pytest.raises(ValueError, match="one dtype"):
        ShardedArray([np.arange(2), np.arange(2.0)])
