"""Counting n-grams out of core: blocks of positions, sorted runs on disk, a range-partitioned merge.

The same tables as :func:`lmstats.ngram.counts.count_ngrams` (tested equal, bit for bit), with
the memory bounded by ``memory`` bytes instead of growing with the text.  For each order k:

1. **Runs.**  The positions ``<s> w_1 .. w_T`` of every unit are taken in blocks (computed
   from the units, never materialised whole).  In a block, the key of the k-gram ending at
   each position is ``row_{k-1}(prefix) * V + w`` (the row of the prefix comes from the file
   of rows the previous order wrote); :func:`~lmstats.ngram.counts.unique_keys` gives the
   block's sorted distinct keys with their counts and suffix rows (a *run*, appended to
   files) and each position's index among them (kept for step 3).
2. **Merge.**  The runs are merged by key range: boundaries are quantiles of a sample of every
   run; each range gathers its slice of every run (``searchsorted`` on the sorted run, then
   one read), sums the counts of equal keys and appends the result to the order's table.  The
   row each run entry got in the table is written back beside the run.  Ranges are sized so
   that one fits the budget.
3. **Rows.**  Below the top order, each position's row (its run entry's row) is written for
   the next order.

Everything written goes to ``workdir`` (see :func:`lmstats.resources.work_dir`) and is deleted
as soon as it is read for the last time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines, run_offsets
from lmstats.ngram.counts import NgramCounts, OrderTable, unique_keys
from lmstats.npyfile import HEADER_BYTES, NpyAppender, release
from lmstats.resources import working_memory

BYTES_PER_POSITION = 136  # a block position while its keys are made and sorted (129 measured: order 3, one line of 26M words)
BYTES_PER_ENTRY = 96  # what one run entry costs while a key range is merged
MIN_BLOCK = 1 << 10
RANGE_SAMPLE = 256  # keys sampled from every run to place the key-range boundaries of the merge


class _Positions:
    """The positions ``<s> w_1 .. w_T`` of every unit of ``units``, computed block by block."""

    def __init__(self, units: Lines, bos_id: int):
        self.units = units
        self.bos_id = bos_id
        self.starts = units.bounds[:-1] + np.arange(len(units), dtype=np.int64)  # position of each unit's <s>
        self.size = units.n_tokens + len(units)

    def block(self, a: int, b: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(word id, depth in the unit) of the positions ``a .. b-1``; depth 0 at every ``<s>``."""
        lo, hi = np.searchsorted(self.starts, [a, b])  # the units that start inside the block
        unit_before = lo - 1  # the unit position a belongs to when it is not a start
        is_start = np.zeros(b - a, dtype=bool)
        is_start[self.starts[lo:hi] - a] = True
        cuts = np.concatenate([[a], self.starts[lo:hi], [b]])  # the block cut where units start
        depth = run_offsets(np.diff(cuts))
        if unit_before >= 0:  # the block's first piece is the rest of a unit that started before a
            depth[: cuts[1] - a] += a - self.starts[unit_before]
        token = np.arange(a, b, dtype=np.int64) - (unit_before + 1 + np.cumsum(is_start))  # index in units.ids: minus the <s> up to it
        ids = np.full(b - a, self.bos_id, dtype=np.int64)
        ids[~is_start] = self.units.ids[token[~is_start]]
        release(self.units.ids)  # a disk-backed text: the pages of this block leave the process
        return ids, depth

    def blocks(self, size: int) -> Iterator[tuple[int, int]]:
        for a in range(0, self.size, size):
            yield a, min(a + size, self.size)


class _Spill(NpyAppender):
    """A work file of the counting: an appended ``.npy`` with a sorted-slice search."""

    def search(self, start: int, count: int, values: NDArray) -> NDArray[np.int64]:
        """``searchsorted`` of ``values`` in the sorted slice ``[start, start + count)`` (a short-lived map)."""
        if count == 0:
            return np.zeros(len(values), dtype=np.int64)
        mm = np.memmap(self.path, dtype=self.dtype, mode="r", offset=HEADER_BYTES + start * self.dtype.itemsize, shape=(count,))
        out = np.searchsorted(mm, values).astype(np.int64)
        del mm
        return out


def count_ngrams_external(
    units: Lines, order: int, vocab_size: int, bos_id: int, *, memory: int, workdir: Path, tables_dir: Path | None = None,
    on_order: Callable[[int], None] | None = None,
) -> NgramCounts:
    """All n-grams of orders 1..``order`` of ``units`` (each preceded by ``<s>``), counted within ``memory`` bytes.

    Equal to :func:`~lmstats.ngram.counts.count_ngrams` on the same input.  The tables are
    ``.npy`` files in ``tables_dir`` (default ``workdir``: ``keys{k}.npy``, ``counts{k}.npy``,
    ``suffix{k}.npy``, ``first{k}.npy``), returned memory-mapped.
    """
    tables_dir = tables_dir or workdir
    V = vocab_size
    positions = _Positions(units, bos_id)
    block = max(MIN_BLOCK, working_memory(memory) // BYTES_PER_POSITION)
    unigram = np.zeros(V, dtype=np.int64)
    for a, b in positions.blocks(block):
        unigram += np.bincount(positions.block(a, b)[0], minlength=V)
    arange = np.arange(V, dtype=np.int64)
    tables = [_save_table(tables_dir, 1, {"keys": arange, "counts": unigram, "suffix": np.full(V, -1, dtype=np.int64), "first": arange})]
    if on_order is not None:
        on_order(1)
    rows_prev: _Spill | None = None  # rows of the (k-1)-grams per position (None for k = 2: the word ids)
    for k in range(2, order + 1):
        table, rows = _count_order(k, k == order, positions, tables[-1], rows_prev, V, block, memory, workdir, tables_dir)
        tables.append(table)
        if rows_prev is not None:
            rows_prev.delete()
        rows_prev = rows
        if on_order is not None:
            on_order(k)
    return NgramCounts(V, bos_id, tuple(tables), len(units))


def _rows_around(positions: _Positions, rows_prev: _Spill | None, a: int, b: int, ids: NDArray[np.int64]):
    """For positions ``a .. b-1``: the row (order k-1) of the (k-1)-gram ending at ``p - 1`` and at ``p``."""
    if rows_prev is None:  # k = 2: the row of a unigram is its word id
        before = positions.block(a - 1, a)[0] if a > 0 else np.full(1, -1, dtype=np.int64)
        return np.concatenate([before, ids[:-1]]), ids
    prev = rows_prev.read(max(a - 1, 0), b - max(a - 1, 0)).astype(np.int64)
    if a == 0:
        prev = np.concatenate([[-1], prev])
    return prev[:-1], prev[1:]


def _save_table(folder: Path, k: int, arrays: dict) -> OrderTable:
    for name, values in arrays.items():
        np.save(folder / f"{name}{k}.npy", values)
    return _open_table(folder, k)


def _open_table(folder: Path, k: int) -> OrderTable:
    arrays = {name: np.load(folder / f"{name}{k}.npy", mmap_mode="r") for name in ("keys", "counts", "suffix", "first")}
    return OrderTable(k, arrays["keys"], arrays["counts"], arrays["suffix"], arrays["first"])


def _count_order(k, top: bool, positions, lower: OrderTable, rows_prev, V, block, memory, workdir, tables_dir):
    """The table of order ``k`` (and, below the top order, the file of each position's row in it)."""
    runs = {name: _Spill(workdir / f"runs{k}.{name}", dtype) for name, dtype in
            (("keys", np.int64), ("counts", np.int64), ("suffix", np.int64), ("rows", np.int64))}
    inverse = None if top else _Spill(workdir / f"runs{k}.inverse", np.int32 if block < 2**31 else np.int64)  # index within a block
    spans: list[tuple[int, int, int, int]] = []  # per block: (a, b, start in the run files, number of distinct keys)
    for a, b in positions.blocks(block):
        ids, depth = positions.block(a, b)
        valid = depth >= k - 1
        before, here = _rows_around(positions, rows_prev, a, b, ids)
        uniq, inv, counts = unique_keys(before[valid] * V + ids[valid], inverse=True)
        suffix = np.empty(len(uniq), dtype=np.int64)
        suffix[inv] = here[valid]  # the row of w_2..w_k: the (k-1)-gram ending at the same position
        start = runs["keys"].append(uniq)
        runs["counts"].append(counts)
        runs["suffix"].append(suffix)
        runs["rows"].append(np.zeros(len(uniq), dtype=np.int64))  # filled in by the merge
        spans.append((a, b, start, len(uniq)))
        if inverse is not None:
            inverse.append(inv)  # stored as the spill's dtype
    table = _merge_runs(k, spans, runs, lower, V, memory, tables_dir)
    rows = None if top else _write_rows(k, spans, runs["rows"], inverse, positions, workdir, len(table))
    for spill in (*runs.values(), inverse):
        if spill is not None:
            spill.delete()
    return table, rows


def _merge_runs(k, spans, runs: dict[str, _Spill], lower: OrderTable, V, memory, tables_dir: Path) -> OrderTable:
    """The table of order k from the sorted runs, merged range by range; each run entry's row is written back."""
    if not spans:  # no text at all
        return _save_table(tables_dir, k, {name: np.zeros(0, dtype=np.int64) for name in ("keys", "counts", "suffix", "first")})
    if len(spans) == 1:  # one block: its run is the table, and an entry's row is its index
        keys = runs["keys"].read()
        runs["rows"].write_at(0, np.arange(len(keys), dtype=np.int64))
        return _save_table(tables_dir, k, {"keys": keys, "counts": runs["counts"].read(), "suffix": runs["suffix"].read(),
                                           "first": np.asarray(lower.first[keys // V])})
    total = runs["keys"].size
    bounds = _range_bounds(spans, runs["keys"], max(1, math.ceil(total * BYTES_PER_ENTRY / working_memory(memory))))
    cuts = [np.concatenate([[0], runs["keys"].search(start, n, bounds), [n]]) for _, _, start, n in spans]
    out = {name: NpyAppender(tables_dir / f"{name}{k}.npy", np.int64) for name in ("keys", "counts", "suffix", "first")}
    for q in range(len(bounds) + 1):
        slices = [(start + cut[q], cut[q + 1] - cut[q]) for (_, _, start, _), cut in zip(spans, cuts, strict=True)]
        keys = np.concatenate([runs["keys"].read(s, n) for s, n in slices])
        if len(keys) == 0:
            continue
        uniq, inv, _ = unique_keys(keys, inverse=True)
        counts = np.bincount(inv, weights=np.concatenate([runs["counts"].read(s, n) for s, n in slices]), minlength=len(uniq))
        suffix = np.empty(len(uniq), dtype=np.int64)
        suffix[inv] = np.concatenate([runs["suffix"].read(s, n) for s, n in slices])  # equal keys, equal suffixes
        offset = out["keys"].append(uniq)
        out["counts"].append(counts.astype(np.int64))
        out["suffix"].append(suffix)
        out["first"].append(lower.first[uniq // V])
        release(lower.first)
        done = 0
        for s, n in slices:  # the row in the table of every entry of every run
            runs["rows"].write_at(s, offset + inv[done : done + n])
            done += n
        del keys, inv, counts, suffix
    for appender in out.values():
        appender.close()
    return _open_table(tables_dir, k)


def _range_bounds(spans, run_keys: _Spill, n_ranges: int) -> NDArray[np.int64]:
    """``n_ranges - 1`` increasing keys that cut the union of the runs into ranges of similar size."""
    if n_ranges <= 1:
        return np.zeros(0, dtype=np.int64)
    samples = []
    for _, _, start, n in spans:
        if n:
            run = np.memmap(run_keys.path, dtype=np.int64, mode="r", offset=HEADER_BYTES + start * 8, shape=(n,))
            samples.append(np.array(run[sample_at(n)]))
            del run
    return quantile_bounds(samples, n_ranges)


def sample_at(n: int) -> NDArray[np.int64]:
    """Up to :data:`RANGE_SAMPLE` indexes spread evenly over a sorted run of ``n`` keys."""
    return np.unique(np.linspace(0, n - 1, num=min(n, RANGE_SAMPLE)).astype(np.int64))


def quantile_bounds(samples: list[NDArray[np.int64]], n_ranges: int) -> NDArray[np.int64]:
    """``n_ranges - 1`` (or fewer, when keys repeat) increasing keys at the quantiles of the pooled ``samples``."""
    pool = np.sort(np.concatenate(samples)) if samples else np.zeros(0, dtype=np.int64)
    if n_ranges <= 1 or len(pool) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(pool[np.linspace(0, len(pool) - 1, num=n_ranges + 1).astype(np.int64)[1:-1]])


def _write_rows(k, spans, run_rows: _Spill, inverse: _Spill, positions: _Positions, workdir, n_rows: int) -> _Spill:
    """The row in the table of order k of the k-gram ending at every position (-1 where its unit is too short)."""
    dtype = np.int32 if n_rows < 2**31 else np.int64  # 4 bytes a position unless the table outgrows them
    rows = _Spill(workdir / f"rows{k}", dtype)
    done = 0
    for a, b, start, n in spans:
        valid = positions.block(a, b)[1] >= k - 1
        out = np.full(b - a, -1, dtype=dtype)
        m = int(valid.sum())
        out[valid] = run_rows.read(start, n)[inverse.read(done, m)]
        done += m
        rows.append(out)
    return rows
