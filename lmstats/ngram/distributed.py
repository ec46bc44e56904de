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

:func:`dask_client` opens the cluster (or connects to one) and turns a missing ``distributed``
package or a lost worker into one clear error.  :func:`connect_scheduler` reaches a scheduler by
its address within :data:`CONNECT_TIMEOUT_S`, or says which of these it is: an address of no form
Dask knows, nothing answering there, a server that does not speak Dask's protocol, or a Dask
server that is no scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import operator
import os
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.ngram.counts import NgramCounts, layout, unique_keys
from lmstats.ngram.external import BYTES_PER_ENTRY, _open_table, _save_table, quantile_bounds, sample_at
from lmstats.npyfile import NpyAppender, release
from lmstats.resources import work_dir, working_memory

CONNECT_TIMEOUT_S = 5  # connecting to a scheduler (reaching it, its greeting, its first answer) succeeds or fails within about this
PARTITION_POSITIONS = 4_000_000  # positions per partition at most (about 0.5 GB of a worker's memory while counted)


# -- the cluster ---------------------------------------------------------------------------------
@contextlib.contextmanager
def dask_client(scheduler=None, *, workers: int | None = None, local_directory: str | Path | None = None) -> Iterator:
    """A ``distributed.Client``: ``scheduler`` is a client (used as it is), an address such as
    ``tcp://host:8786`` (connected to within :data:`CONNECT_TIMEOUT_S`, see :func:`connect_scheduler`),
    or None for a LocalCluster of ``workers`` (default: one per core) single-threaded worker processes.
    The workers manage their memory as Dask does (a LocalCluster shares the machine's RAM equally
    among them and spills to ``local_directory`` past 60% of their share); ``--memory`` bounds this
    process, which gathers the tables."""
    distributed = _distributed()
    from distributed.comm import CommClosedError

    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, distributed.Client):
            client = scheduler
        elif scheduler is not None:
            client = connect_scheduler(scheduler)
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


def _distributed():
    try:
        import distributed
    except ImportError:
        raise LmstatsError("--engine dask needs the distributed package: pip install 'lmstats[dask]' "
                           "(or pip install 'dask[distributed]')") from None
    return distributed


# -- connecting to a scheduler ------------------------------------------------------------------
# Every step is bounded: distributed's own ``connect`` bounds the TCP connection but not the
# handshake that follows (it writes its greeting, then waits for the peer's as long as it takes),
# and it reads the first 8 bytes of whatever the peer sends as the length of a message and
# allocates that much at once: an HTTP server's "HTTP/1.1" reads as 3.5e18 bytes.  A Dask listener
# speaks first (its handshake, a message of a few hundred bytes), so the address is first probed
# with a plain socket that sends nothing and reads at most GREETING_MAX_BYTES of that greeting;
# only a peer that greets as Dask does is handed to distributed, asked who it is, then connected.
GREETING_MAX_BYTES = 1 << 16
_CHECK = ("check the address and that `dask scheduler` runs there (it listens on port 8786 by default; 8787 is its "
          "dashboard), or drop --scheduler to count on the cores of this machine")


def scheduler_address(address: str) -> tuple[str, str, int | None]:
    """The (scheme, host, port) of a scheduler address as distributed reads it: ``tcp://HOST:PORT``,
    ``HOST:PORT`` (tcp), ``tls://HOST:PORT``, the other schemes distributed knows (``ws://``, ``wss://``:
    HOST:PORT too) or ``inproc://ADDRESS`` (a cluster in this process: host is ADDRESS, port None).
    Anything else raises :class:`LmstatsError` before any connection is tried."""
    _distributed()
    from distributed.comm.registry import backends

    text = str(address).strip()
    scheme, sep, location = text.partition("://")
    if not sep:
        scheme, location = "tcp", text
    if scheme not in backends:
        why = f"distributed knows the schemes {', '.join(sorted(backends))}, not {scheme}://"
    elif scheme == "inproc":
        if location:
            return scheme, location, None
        why = "inproc:// names no cluster"
    else:
        host, colon, port = location.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:8786
        if not colon or not host or "/" in location:
            why = "it is not of the form HOST:PORT"
        elif not port.isdigit() or not 0 < int(port) < 65536:
            why = f"the port {port!r} is not a number from 1 to 65535"
        else:
            return scheme, host, int(port)
    raise LmstatsError(f"--scheduler {address!r} is not a Dask address ({why}); give the scheduler's address as tcp://HOST:PORT "
                       "(a `dask scheduler` prints it as it starts; its port is 8786 by default)")


def connect_scheduler(address: str, timeout: float | None = None):
    """A ``distributed.Client`` of the scheduler at ``address``, or :class:`LmstatsError` within about
    ``timeout`` seconds (:data:`CONNECT_TIMEOUT_S`): the address is not a Dask address, nothing
    answers there, the server there does not speak Dask's protocol, or it is no scheduler."""
    distributed = _distributed()
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    scheme, host, port = scheduler_address(address)
    deadline = time.monotonic() + timeout
    args = distributed.Security().get_connection_args("client")
    if scheme in ("tcp", "tls"):
        if scheme == "tls" and args.get("ssl_context") is None:
            raise LmstatsError(f"--scheduler {address}: tls:// needs Dask's TLS settings, and none are set; give "
                               "distributed.comm.tls.ca-file, .client.cert and .client.key in Dask's configuration "
                               "(or DASK_DISTRIBUTED__COMM__TLS__... variables), or use the scheduler's tcp:// address")
        _probe(address, host, port, args.get("ssl_context") if scheme == "tls" else None, timeout, deadline)
    _ask_identity(distributed, address, args, timeout, deadline)
    try:
        return distributed.Client(address, timeout=f"{max(1.0, deadline - time.monotonic()):.3f}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} ({_reason(exc)}); {_CHECK}") from None


def _within(deadline: float, job: Callable[[], object]):
    """``job()`` in a daemon thread: its result, or the exception it raised (returned, not raised), or
    :class:`TimeoutError` when it is still running half a second past ``deadline`` (a host name's lookup
    has no time limit of its own; a thread of its own also keeps asyncio off a caller's running loop)."""
    outcome: list = []

    def run():
        try:
            outcome.append(job())
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=run, name="lmstats-dask-connect", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
    return outcome[0] if outcome else TimeoutError()


def _probe(address: str, host: str, port: int, ssl_context, timeout: float, deadline: float) -> None:
    """Connect and read the peer's greeting without a word from us, within ``deadline``."""
    outcome = _within(deadline, lambda: _read_greeting(address, host, port, ssl_context, timeout, deadline))
    if isinstance(outcome, TimeoutError):
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (the host name {host!r} did not resolve "
                           f"within {timeout:g} s); {_CHECK}")
    if isinstance(outcome, BaseException):
        raise outcome


def _read_greeting(address: str, host: str, port: int, ssl_context, timeout: float, deadline: float) -> None:
    def not_dask(why: str) -> LmstatsError:
        return LmstatsError(f"the server at {address} does not speak Dask's protocol ({why}); {_CHECK}")

    try:
        sock = socket.create_connection((host, port), timeout=max(0.01, deadline - time.monotonic()))
    except socket.gaierror as exc:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (the host name {host!r} is unknown: {exc.strerror}); "
                           f"{_CHECK}") from None
    except TimeoutError:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (no answer within {timeout:g} s); {_CHECK}") from None
    except OSError as exc:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} ({exc.strerror or _reason(exc)}); {_CHECK}") from None
    with contextlib.closing(sock):
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock)
            except TimeoutError:
                raise not_dask(f"no TLS handshake within {timeout:g} s") from None
            except OSError as exc:
                raise not_dask(f"the TLS handshake failed: {_reason(exc)}") from None
        head = _read_exactly(sock, 8, deadline)
        if not head:
            raise not_dask(f"it accepted the connection but sent no Dask greeting within {timeout:g} s; "
                           "a scheduler that uses TLS is reached at tls://")
        size = struct.unpack("Q", head.ljust(8, b"\0"))[0]  # as distributed reads it
        if len(head) < 8 or not 16 <= size <= GREETING_MAX_BYTES:
            raise not_dask(f"it opened with {head!r}, not the length of a Dask message")
        body = _read_exactly(sock, size, deadline)
        n_frames = struct.unpack("Q", body[:8])[0] if len(body) == size else 0
        if not 0 < n_frames <= (size - 8) // 8 or sum(struct.unpack(f"{n_frames}Q", body[8:8 + 8 * n_frames])) != size - 8 - 8 * n_frames:
            raise not_dask(f"its greeting of {len(body)} bytes is no Dask message")


def _read_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    """Up to ``n`` bytes: fewer when the peer closes or ``deadline`` passes."""
    data = bytearray()
    while len(data) < n and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _ask_identity(distributed, address: str, args: dict, timeout: float, deadline: float) -> None:
    """The first exchange: the server at ``address`` says what it is, within ``deadline``."""
    async def identity():
        async with distributed.rpc(address, timeout=timeout, connection_args=args) as server:
            return await server.identity()

    async def bounded():
        return await asyncio.wait_for(identity(), max(0.01, deadline - time.monotonic()))

    outcome = _within(deadline, lambda: asyncio.run(bounded()))
    if isinstance(outcome, TimeoutError):
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (no answer to Dask's handshake within {timeout:g} s); "
                           f"{_CHECK}")
    if isinstance(outcome, Exception):
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} ({_reason(outcome)}); {_CHECK}")
    kind = outcome.get("type") if isinstance(outcome, dict) else repr(outcome)[:80]  # a Dask server's answer: its class's name
    if kind != "Scheduler":  # a worker's or a nanny's address, most likely
        raise LmstatsError(f"the server at {address} speaks Dask's protocol but is no scheduler (it says: {kind}); give the "
                           "scheduler's address (workers and nannies listen on ports of their own), or drop --scheduler")


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


def tree_reduce(client, futures: list, combine: Callable):
    """``combine`` applied pairwise to ``futures`` as a tree of tasks on the cluster; the future of the result."""
    level = list(futures)
    while len(level) > 1:
        level = [client.submit(combine, *level[i : i + 2]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    return level[0]


def worker_memory(client) -> int:
    """The smallest ``memory_limit`` of the cluster's workers (bytes; 0 when none is set)."""
    limits = [int(w.get("memory_limit") or 0) for w in client.scheduler_info().get("workers", {}).values()]
    return min(limits, default=0)


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
