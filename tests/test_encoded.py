"""Ragged runs of a flat array: the one gather (:func:`gather_runs`), positions inside runs
(:func:`run_offsets`) and :meth:`Lines.select` built on them; every figure worked out by hand."""

import numpy as np

from lmstats.encoded import Lines, gather_runs, run_offsets


def test_gather_runs_lays_the_runs_end_to_end():
    # run 0: 5, 6; run 1: nothing; run 2: 0, 1, 2; run 3: 9
    out = gather_runs(np.array([5, 7, 0, 9]), np.array([2, 0, 3, 1]))
    assert out.tolist() == [5, 6, 0, 1, 2, 9] and out.dtype == np.int64


def test_gather_runs_of_no_runs_or_empty_runs_is_empty():
    assert gather_runs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).tolist() == []
    assert gather_runs(np.array([3, 4], dtype=np.int32), np.array([0, 0], dtype=np.int32)).dtype == np.int64


def test_run_offsets_count_from_zero_in_every_run():
    out = run_offsets(np.array([2, 0, 3, 1], dtype=np.int32))
    assert out.tolist() == [0, 1, 0, 1, 2, 0] and out.dtype == np.int64


def test_select_gathers_the_kept_lines_in_order():
    lines = Lines.from_seqs([[1, 2], [3], [], [4, 5, 6], [7]])
    kept = lines.select(np.array([True, False, True, True, False]))
    assert [line.tolist() for line in kept] == [[1, 2], [], [4, 5, 6]]
    assert kept.bounds.tolist() == [0, 2, 2, 5]
    assert lines.nonempty().ids.tolist() == [1, 2, 3, 4, 5, 6, 7] and len(lines.nonempty()) == 4
