"""Counting n-grams on a Dask cluster: partitions of the corpus on the workers, tables reduced by key range.

The same tables as :func:`lmstats.ngram.counts.count_ngrams` (tested equal, bit for bit) with
the work spread over the workers of a ``distributed`` cluster: a :class:`distributed.LocalCluster`
on this machine (one single-threaded worker per core) or an existing cluster given by its
scheduler's address.  The client encodes the text (the vocabulary needs one pass over all of
it anyway) and scatters the encoded units in partitions of whole units; from then on the
partitions, their runs and their rows stay on the workers.  For each order k:

1. **Count** (one task per partition): the key of the k-gram ending at each position is
   ``row_{k-1}(prefix) * V + w``, as in the local engines; the partition's sorted distinct keys
   with their counts and suffix rows form its *run*.
2. **Cut** (one task per partition): the runs are cut at common key boundaries, quantiles of a
   sample of every run, so that range r of every partition holds the same key interval.
3. **Reduce** (one task per range): the pieces of one range are merged (counts of equal keys
   summed).  The ranges are contiguous intervals of the key space, so the reduced ranges laid
   end to end are the sorted table: partitioning by key range rather than by a hash of the key
   spares a global sort afterwards (Dask's own ``sort_values`` partitions the same way).
4. **Gather**: the client appends range after range to the order's ``.npy`` files in
   ``tables_dir`` (it holds one range at a time), and the first word of each n-gram is looked up
   in the order below.
5. **Rows** (one task per partition, below the top order): each position's row in the new table,
   from the offset of its range and its index in the reduced range, for the next order's keys.

:func:`dask_client` opens the cluster (or connects to one) and turns an unreachable scheduler or a
missing ``distributed`` package into one clear error.
"""

from __future__ import annotations

import contextlib
import logging
import math
import operator
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.ngram.counts import NgramCounts, layout, unique_keys
from lmstats.ngram.external import BYTES_PER_ENTRY, _open_table, _save_table, quantile_bounds, sample_at
from lmstats.npyfile import NpyAppender, release
from lmstats.resources import work_dir, working_memory

CONNECT_TIMEOUT_S = 5  # an unreachable scheduler is reported within this many seconds
PARTITION_POSITIONS = 4_000_000  # positions per partition at most (about 0.5 GB of a worker's memory while counted)


# -- the cluster ---------------------------------------------------------------------------------
@contextlib.contextmanager
def dask_client(scheduler=None, *, workers: int | None = None, local_directory: str | Path | None = None) -> Iterator:
    """A ``distributed.Client``: ``scheduler`` is a client (used as it is), an address such as
    ``tcp://host:8786`` (connected to), or None for a LocalCluster of ``workers`` (default: one per
    core) single-threaded worker processes.  The workers manage their memory as Dask does (a
    LocalCluster shares the machine's RAM equally among them and spills to ``local_directory``
    past 60% of their share); ``--memory`` bounds this process, which gathers the tables."""
    try:
        import distributed
        from distributed.comm import CommClosedError
    except ImportError:
        raise LmstatsError("--engine dask needs the distributed package: pip install 'lmstats[dask]' "
                           "(or pip install 'dask[distributed]')") from None
    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, distributed.Client):
            client = scheduler
        elif scheduler is not None:
            try:
                client = distributed.Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise LmstatsError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({_reason(exc)}); "
                                   "check the address (tcp://HOST:PORT) and that `dask scheduler` runs there, "
                                   "or drop --scheduler to use the cores of this machine") from None
            stack.callback(client.close)
        else:
            if local_directory is None:
                local_directory = stack.enter_context(work_dir())
            with warnings.catch_warnings():  # its HTTP endpoint moving off a taken port 8787 is no news to a user
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, memory_limit="auto",
                    dashboard_address=None, silence_logs=logging.ERROR, local_directory=str(local_directory)))
            client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
        try:
            yield client
        except (distributed.KilledWorker, distributed.CancelledError, CommClosedError) as exc:
            raise LmstatsError(f"the Dask cluster lost work in progress ({_reason(exc)}): a worker died, most often for want of "
                               "memory; give the workers more memory or add workers, or count here with --engine local") from None


def _reason(exc: BaseException) -> str:
    try:  # some of distributed's exceptions format attributes that may be missing
        text = str(exc).strip()
    except Exception:  # noqa: BLE001
        text = ""
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


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


def count_ngrams_dask(
    units: Lines, order: int, vocab_size: int, bos_id: int, *, client, tables_dir: Path, memory: int,
    partition_positions: int = PARTITION_POSITIONS, on_order: Callable[[int], None] | None = None,
) -> NgramCounts:
    """All n-grams of orders 1..``order`` of ``units`` (each preceded by ``<s>``), counted on the workers of ``client``.

    Equal to :func:`~lmstats.ngram.counts.count_ngrams`.  The tables are ``.npy`` files in
    ``tables_dir``, returned memory-mapped; the client holds one key range at a time, sized to
    ``memory``.
    """
    V = vocab_size
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = max(1 << 12, min(partition_positions, math.ceil((units.n_tokens + len(units)) / workers)))
    parts = client.scatter(partition_units(units, size), hash=False)
    unigram = np.zeros(V, dtype=np.int64)
    for counts in client.gather([client.submit(_unigram_task, part, bos_id, V) for part in parts]):
        unigram += counts
    arange = np.arange(V, dtype=np.int64)
    tables = [_save_table(tables_dir, 1, {"keys": arange, "counts": unigram, "suffix": np.full(V, -1, dtype=np.int64), "first": arange})]
    if on_order is not None:
        on_order(1)
    rows: list = [None] * len(parts)
    for k in range(2, order + 1):
        runs = [client.submit(_count_task, part, prev, k, V, bos_id) for part, prev in zip(parts, rows, strict=True)]
        samples, sizes = zip(*client.gather([client.submit(_sample_task, run) for run in runs]), strict=True)
        total = sum(sizes)
        n_ranges = max(workers, math.ceil(total * BYTES_PER_ENTRY / working_memory(memory)))
        bounds = quantile_bounds(list(samples), n_ranges)
        cut = [client.submit(_cut_task, run, bounds) for run in runs]
        reduced = [client.submit(_reduce_task, *[client.submit(operator.getitem, c, r) for c in cut]) for r in range(len(bounds) + 1)]
        del cut  # the pieces go as soon as their range is reduced
        offsets = _gather_table(client, reduced, tables[-1], V, tables_dir, k)
        tables.append(_open_table(tables_dir, k))
        if k < order:
            rows = [client.submit(_rows_task, part, run, offsets, k, bos_id, *[client.submit(_index_task, red, p) for red in reduced])
                    for p, (part, run) in enumerate(zip(parts, runs, strict=True))]
        del runs, reduced  # released by the cluster once the tasks that read them are done
        if on_order is not None:
            on_order(k)
    return NgramCounts(V, bos_id, tuple(tables), len(units))


def _gather_table(client, reduced: list, lower, V: int, tables_dir: Path, k: int) -> NDArray[np.int64]:
    """Append the reduced ranges, in order, to the table files of order k; the row offset of every range."""
    out = {name: NpyAppender(tables_dir / f"{name}{k}.npy", np.int64) for name in ("keys", "counts", "suffix", "first")}
    offsets = [0]
    for red in reduced:
        keys, counts, suffix = client.submit(operator.getitem, red, "table").result()
        out["keys"].append(keys)
        out["counts"].append(counts)
        out["suffix"].append(suffix)
        out["first"].append(np.asarray(lower.first[keys // V]))
        release(lower.first)
        offsets.append(offsets[-1] + len(keys))
    for appender in out.values():
        appender.close()
    return np.asarray(offsets, dtype=np.int64)
