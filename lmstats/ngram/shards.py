"""A model written where it was computed: one folder, each array in shards by key range (issue 25, step 4).

The cluster's estimate (:mod:`lmstats.ngram.cluster_estimate`) is written by the workers that hold
it: the arrays of order k's key range r go to ``{name}{k}.part{r:05d}.npy`` (order 1, small, is
written by the client as part 0).  ``meta.json`` is the model's record as for a plain model folder
(:mod:`lmstats.ngram.storage`), version :data:`~lmstats.ngram.storage.SHARDED_VERSION`, plus
``shards``: each array's row counts, shard by shard.  Laid end to end, the shards of an array are
the array of the plain model, so :func:`~lmstats.ngram.storage.read_model` opens a sharded model
as any other, every shard memory-mapped (an array of several shards as a
:class:`~lmstats.ngram.sharded_array.ShardedArray`, read shard by shard and never joined to score), with the
same probabilities; numpy scores it by sorted search (``NgramLM.load`` then ``save`` writes a plain folder,
with hash indexes, for the compiled kernel).

The folder is a path every worker can reach (a LocalCluster's workers share this machine's disk;
a cluster's, a shared filesystem).  It is written beside its target and renamed into place once
``meta.json`` is in, as a plain model folder is: an interrupted or failed run leaves what was
there.  Each shard is written to a temporary name and renamed (:func:`lmstats.fileio.atomic_write`), so a
task that Dask reruns (its worker died) writes the same bytes again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lmstats.fileio import atomic_write
from lmstats.ngram.cluster_estimate import ClusterEstimate
from lmstats.ngram.storage import META, SHARDED_VERSION, VERSION, array_dtype, publish_folder, read_meta, shard_arrays, shard_file
from lmstats.npyfile import NpyAppender, release

ARRAYS = ("keys", "counts", "suffix", "first", "prob", "backoff")


def write_shard(folder: str, k: int, r: int, table: tuple, first, prob, backoff=None) -> list[int]:
    """Write the arrays of range ``r`` of order ``k`` into ``folder`` (a worker's task); their lengths."""
    values = dict(zip(ARRAYS, (*table, first, prob, backoff), strict=True))
    lengths = []
    for name, array in values.items():
        if array is None:
            continue
        array = np.ascontiguousarray(array, dtype=array_dtype(name))
        with atomic_write(Path(folder) / shard_file(f"{name}{k}", r), "wb") as fh:
            np.lib.format.write_array(fh, array, allow_pickle=False)
        lengths.append(len(array))
    return lengths


def write_sharded(client, est: ClusterEstimate, path: str | Path, meta: dict) -> dict:
    """Write ``est`` and its tables as a sharded model folder at ``path`` (``meta``: the record of
    :func:`~lmstats.ngram.storage.model_meta`); its ``meta.json``."""
    tables = est.tables
    N, V = tables.order, tables.vocab_size
    shards: dict[str, list[int]] = {}
    record = dict(meta)

    def fill(staging: Path) -> None:
        arange = np.arange(V, dtype=np.int64)
        write_shard(str(staging), 1, 0, (arange, tables.unigram, np.full(V, -1, dtype=np.int64)), arange, est.prob1,
                    est.backoff1 if N > 1 else None)
        for name in ARRAYS[: 6 if N > 1 else 5]:
            shards[f"{name}1"] = [V]
        for k in range(2, N + 1):
            order = tables.table(k)
            backoffs = est.backoffs.get(k, [None] * len(order.ranges))
            written = client.gather([client.submit(write_shard, str(staging), k, r, t, f, p, b, pure=False) for r, (t, f, p, b) in
                                     enumerate(zip(order.ranges, est.first[k], est.probs[k], backoffs, strict=True))])
            for i, name in enumerate(ARRAYS[: 6 if k < N else 5]):
                shards[f"{name}{k}"] = [lengths[i] for lengths in written]
        record.update(version=SHARDED_VERSION, shards=shards, arrays={
            name: [array_dtype(name).str, sum(lengths)] for name, lengths in shards.items()})
        with atomic_write(staging / META) as fh:
            json.dump(record, fh)

    publish_folder(Path(path), fill)
    return record


def join_shards(folder: Path, dest: Path) -> None:
    """The sharded model ``folder`` as a plain model folder ``dest`` (made here), each array's shards appended one after the
    other (one shard in memory at a time): what a fit on the cluster hands a model object in this process."""
    meta = read_meta(folder)
    dest.mkdir()
    for name, parts in shard_arrays(folder, meta.pop("shards")):
        out = NpyAppender(dest / f"{name}.npy", array_dtype(name))
        for part in parts:
            out.append(part)
            release(part)
        out.close()
    with atomic_write(dest / META) as fh:
        json.dump(meta | {"version": VERSION}, fh)
