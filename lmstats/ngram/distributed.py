"""Counting n-grams on a Dask cluster: partitions of the corpus on the workers, tables reduced by key range.

The same tables as :func:`lmstats.ngram.counts.count_ngrams` (tested equal, bit for bit) with
the work spread over the workers of a ``distributed`` cluster: a :class:`distributed.LocalCluster`
on this machine (one single-threaded worker per core) or an existing cluster given by its
scheduler's address.  The partitions are read on the workers (:func:`lmstats.text.ranges.read_on_cluster`),
or scattered from units this process holds (:func:`scatter_units`, for ``NgramLM.fit``); from then
on the partitions, their runs and their rows stay on the workers.  For each order k
(:func:`count_on_cluster`):

1. **Count** (one task per partition): the key of the k-gram ending at each position is
   ``row_{k-1}(prefix) * V + w``, as in the local engines; the partition's sorted distinct keys
   with their counts and suffix rows form its *run*.
2. **Cut** (one task per partition): the runs are cut at common key boundaries, quantiles of a
   sample of every run moved down to the first key of their context (so a context's n-grams lie
   in one range), so that range r of every partition holds the same key interval.
3. **Reduce** (one task per range): the pieces of one range are merged (counts of equal keys
   summed).  The ranges are contiguous intervals of the key space, so the reduced ranges laid
   end to end are the sorted table: partitioning by key range rather than by a hash of the key
   spares a global sort afterwards (Dask's own ``sort_values`` partitions the same way).  The
   ranges stay on the workers (:class:`ClusterTables`); only their lengths come back.
4. **Rows** (one task per partition, below the top order): each position's row in the new table,
   from the offset of its range and its index in the reduced range, for the next order's keys.

The smoothing then runs where the ranges lie (:mod:`lmstats.ngram.cluster_estimate`); for the
smoothers it does not do, :func:`gather_tables` appends the ranges in order to ``.npy`` tables here
(one range at a time) and the first word of each n-gram is looked up in the order below.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.ngram.counts import NgramCounts, layout, unique_keys
from lmstats.ngram.external import BYTES_PER_ENTRY, _open_table, _save_table, quantile_bounds, sample_at
from lmstats.npyfile import NpyAppender, release
from lmstats.resources import working_memory

PARTITION_POSITIONS = 4_000_000  # positions per partition at most (about 0.5 GB of a worker's memory while counted)


# -- the tasks (module-level functions: the workers import them) ---------------------------------
def _positions(part: tuple[NDArray, NDArray], bos_id: int):
    ids, lengths = part
    return layout(Lines.from_lengths(ids, lengths), bos_id)


def _unigram_task(part, bos_id: int, V: int) -> NDArray[np.int64]:
    return np.bincount(_positions(part, bos_id).ids, minlength=V).astype(np.int64)


def _count_task(part, rows_prev: NDArray | None, k: int, V: int, bos_id: int) -> dict:
    """The run of one partition for order k: sorted distinct keys, counts, suffix rows; each valid position's entry."""
    pos = _positions(part, bos_id)
    prev = pos.ids if rows_prev is None else rows_prev
    valid = np.flatnonzero(pos.depth >= k - 1)
    uniq, inv, counts = unique_keys(prev[valid - 1].astype(np.int64) * V + pos.ids[valid], inverse=True)
    suffix = np.empty(len(uniq), dtype=prev.dtype)
    suffix[inv] = prev[valid]
    small = np.int32 if len(valid) < 2**31 else np.int64  # counts and indexes within one partition
    return {"keys": uniq, "counts": counts.astype(small), "suffix": suffix, "inverse": inv.astype(small)}


def _sample_task(run: dict) -> tuple[NDArray[np.int64], int]:
    """Keys spread evenly over the run, and its length."""
    n = len(run["keys"])
    return (run["keys"][sample_at(n)] if n else run["keys"]), n


def _cut_task(run: dict, bounds: NDArray[np.int64]) -> list[tuple[NDArray, NDArray, NDArray]]:
    cuts = np.concatenate([[0], np.searchsorted(run["keys"], bounds), [len(run["keys"])]])
    return [tuple(run[name][a:b] for name in ("keys", "counts", "suffix")) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _reduce_task(*pieces) -> dict:
    """One key range of the table from its piece of every run; each piece's entries' index in it."""
    keys = np.concatenate([p[0] for p in pieces])
    uniq, inv, _ = unique_keys(keys, inverse=True)
    counts = np.bincount(inv, weights=np.concatenate([p[1] for p in pieces]), minlength=len(uniq)).astype(np.int64)  # exact below 2^53
    suffix = np.empty(len(uniq), dtype=np.int64)  # the table's dtype, whatever the runs held
    suffix[inv] = np.concatenate([p[2] for p in pieces])  # equal keys, equal suffixes
    sizes = np.cumsum([0] + [len(p[0]) for p in pieces])
    small = np.int32 if len(uniq) < 2**31 else np.int64
    return {"table": (uniq, counts, suffix), "index": [inv[a:b].astype(small) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]}


def _index_task(reduced: dict, p: int) -> NDArray[np.int64]:
    return reduced["index"][p]


def _rows_task(part, run: dict, offsets: NDArray[np.int64], k: int, bos_id: int, *index) -> NDArray:
    """Each position's row in the table of order k (-1 where its unit is too short); ``index[r]``: the
    partition's entries of range r, as indexes into the reduced range r."""
    pos = _positions(part, bos_id)
    entry_rows = np.concatenate([offsets[r] + index[r].astype(np.int64) for r in range(len(index))]) if index else np.zeros(0, np.int64)
    dtype = np.int32 if offsets[-1] < 2**31 else np.int64
    rows = np.full(len(pos.ids), -1, dtype=dtype)
    rows[np.flatnonzero(pos.depth >= k - 1)] = entry_rows[run["inverse"]]
    return rows


# -- the driver ------------------------------------------------------------------------------------
def partition_units(units: Lines, size: int) -> list[tuple[NDArray, NDArray]]:
    """``units`` cut into partitions of whole units with about ``size`` positions each (a unit longer
    than ``size`` makes a partition of its own), as (int32 ids, lengths)."""
    return [(np.asarray(part.ids, dtype=np.int32), part.lengths) for part in units.chunks(size)]


def scatter_units(client, units: Lines, partition_positions: int = PARTITION_POSITIONS) -> list:
    """``units`` sent to the workers of ``client`` in partitions (at least one per worker); their futures, in text order."""
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = max(1 << 12, min(partition_positions, math.ceil((units.n_tokens + len(units)) / workers)))
    return client.scatter(partition_units(units, size), hash=False)


def count_ngrams_dask(
    units: Lines, order: int, vocab_size: int, bos_id: int, *, client, tables_dir: Path, memory: int,
    partition_positions: int = PARTITION_POSITIONS, on_order: Callable[[int], None] | None = None,
) -> NgramCounts:
    """All n-grams of orders 1..``order`` of ``units`` (each preceded by ``<s>``), counted on the workers of ``client``.

    Equal to :func:`~lmstats.ngram.counts.count_ngrams`.  The tables are ``.npy`` files in
    ``tables_dir``, returned memory-mapped; the client holds one key range at a time, sized to
    ``memory``.
    """
    parts = scatter_units(client, units, partition_positions)
    return count_partitions_dask(parts, len(units), order, vocab_size, bos_id, client=client, tables_dir=tables_dir, memory=memory,
                                 on_order=on_order)


@dataclass(eq=False)
class ClusterOrder:
    """The table of one order k >= 2 as it lies on the workers: one future per key range, in key order, of the range's
    ``(keys, counts, suffix)``.  The ranges are cut at context boundaries, so the n-grams of a context lie in one range."""

    ranges: list
    offsets: NDArray[np.int64]  # the first row of each range, and the table's length last
    contexts: NDArray[np.int64]  # (R, 2): the context rows [lo, hi) of each range's n-grams (lo == hi: an empty range)


@dataclass(eq=False)
class ClusterTables:
    """The count tables of orders 1..N on a cluster: order 1 (dense over the vocabulary, small) here, the others there."""

    vocab_size: int
    bos_id: int
    n_units: int
    unigram: NDArray[np.int64]
    orders: list[ClusterOrder]  # orders[k - 2] is order k

    @property
    def order(self) -> int:
        return len(self.orders) + 1

    def table(self, k: int) -> ClusterOrder:
        return self.orders[k - 2]


def context_bounds(bounds: NDArray[np.int64], V: int) -> NDArray[np.int64]:
    """Range bounds moved down to the first key of their context (key // V), so that no context is cut."""
    return np.unique(bounds // V * V)


def _range_facts(table: tuple, V: int) -> tuple[int, int, int]:
    """A reduced range's length and the context rows [lo, hi) of its n-grams."""
    keys = table[0]
    return (len(keys), int(keys[0]) // V, int(keys[-1]) // V + 1) if len(keys) else (0, 0, 0)


def count_partitions_dask(parts: list, n_units: int, order: int, vocab_size: int, bos_id: int, *, client, tables_dir: Path,
                          memory: int, on_order: Callable[[int], None] | None = None) -> NgramCounts:
    """:func:`count_ngrams_dask` of a text already on the workers: ``parts``, futures of its partitions in text order
    (``(int32 ids, lengths)`` of whole units: :func:`partition_units`'s, or :func:`lmstats.text.ranges.read_on_cluster`'s,
    read there), ``n_units`` units in all; the tables gathered into ``tables_dir``."""
    tables = count_on_cluster(parts, n_units, order, vocab_size, bos_id, client=client, memory=memory, on_order=on_order)
    return gather_tables(client, tables, tables_dir)


def count_on_cluster(parts: list, n_units: int, order: int, vocab_size: int, bos_id: int, *, client, memory: int,
                     on_order: Callable[[int], None] | None = None, range_bytes: int | None = None) -> ClusterTables:
    """The count tables of ``parts`` (see :func:`count_partitions_dask`), left on the workers by key range: ranges of at most
    ``range_bytes`` (default: what ``memory`` leaves this process, the most it may gather at a time)."""
    V = vocab_size
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    unigram = np.zeros(V, dtype=np.int64)
    for counts in client.gather([client.submit(_unigram_task, part, bos_id, V) for part in parts]):
        unigram += counts
    if on_order is not None:
        on_order(1)
    orders: list[ClusterOrder] = []
    rows: list = [None] * len(parts)
    for k in range(2, order + 1):
        runs = [client.submit(_count_task, part, prev, k, V, bos_id) for part, prev in zip(parts, rows, strict=True)]
        samples, sizes = zip(*client.gather([client.submit(_sample_task, run) for run in runs]), strict=True)
        n_ranges = max(workers, math.ceil(sum(sizes) * BYTES_PER_ENTRY / (range_bytes or working_memory(memory))))
        bounds = context_bounds(quantile_bounds(list(samples), n_ranges), V)
        cut = [client.submit(_cut_task, run, bounds) for run in runs]
        reduced = [client.submit(_reduce_task, *[client.submit(operator.getitem, c, r) for c in cut]) for r in range(len(bounds) + 1)]
        del cut  # the pieces go as soon as their range is reduced
        ranges = [client.submit(operator.getitem, red, "table") for red in reduced]
        facts = np.asarray(client.gather([client.submit(_range_facts, t, V) for t in ranges]), dtype=np.int64).reshape(-1, 3)
        offsets = np.concatenate([[0], np.cumsum(facts[:, 0])]).astype(np.int64)
        orders.append(ClusterOrder(ranges, offsets, facts[:, 1:]))
        if k < order:
            rows = [client.submit(_rows_task, part, run, offsets, k, bos_id, *[client.submit(_index_task, red, p) for red in reduced])
                    for p, (part, run) in enumerate(zip(parts, runs, strict=True))]
        del runs, reduced  # released by the cluster once the tasks that read them are done
        if on_order is not None:
            on_order(k)
    return ClusterTables(V, bos_id, n_units, unigram, orders)


def gather_tables(client, tables: ClusterTables, tables_dir: Path) -> NgramCounts:
    """The tables of ``tables`` as ``.npy`` files in ``tables_dir`` on this machine, memory-mapped (the client holds one
    key range at a time)."""
    V = tables.vocab_size
    arange = np.arange(V, dtype=np.int64)
    out = [_save_table(tables_dir, 1, {"keys": arange, "counts": tables.unigram, "suffix": np.full(V, -1, dtype=np.int64),
                                       "first": arange})]
    for k in range(2, tables.order + 1):
        _gather_table(client, tables.table(k).ranges, out[-1], V, tables_dir, k)
        out.append(_open_table(tables_dir, k))
    return NgramCounts(V, tables.bos_id, tuple(out), tables.n_units)


def _gather_table(client, ranges: list, lower, V: int, tables_dir: Path, k: int) -> None:
    """Append the ranges, in order, to the table files of order k (the first word of each n-gram from the order below)."""
    out = {name: NpyAppender(tables_dir / f"{name}{k}.npy", np.int64) for name in ("keys", "counts", "suffix", "first")}
    for future in ranges:
        keys, counts, suffix = future.result()
        out["keys"].append(keys)
        out["counts"].append(counts)
        out["suffix"].append(suffix)
        out["first"].append(np.asarray(lower.first[keys // V]))
        release(lower.first)
    for appender in out.values():
        appender.close()
