"""The whole n-gram fit on a Dask cluster, from files to a sharded model; the client only coordinates (issue 25).

1. **Read** (:func:`lmstats.text.ranges.read_on_cluster`): the workers open their byte ranges of the files
   (local paths or any fsspec URL), the vocabulary is a tree reduction of the ranges' type counts, and each
   range is encoded where it was read.  Sentence mode: each range's non-empty lines, each followed by ``</s>``
   (:func:`lmstats.units.scored_units`'s rule, line by line, so ranges need nothing from each other).
2. **lmplz's last n-gram** (MKN only, :mod:`lmstats.ngram.lmplz`): each word's first position is a tree
   reduction of the partitions' (with their global offsets), the last word follows, and only the windows
   around its occurrences (a handful of rows) come to the client.
3. **Count** (:func:`lmstats.ngram.distributed.count_on_cluster`) and **estimate**
   (:func:`lmstats.ngram.cluster_estimate.estimate_on_cluster`) by key range, left on the workers; key ranges
   are sized to the workers' ``memory_limit`` (:data:`RANGE_SHARE` of the smallest).
4. **Write** (:func:`lmstats.ngram.shards.write_sharded`): each worker writes its ranges' shards.

What the client holds: the vocabulary, the unigram arrays (a few floats per word), and per order one small
record per key range.  Every task is a pure function of its inputs, so Dask reruns the tasks of a worker
that died, and the model is the same (tested by killing a worker mid-count and mid-smoothing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.ngram.cluster_estimate import CLUSTER_SMOOTHERS, estimate_on_cluster
from lmstats.ngram.dask_cluster import tree_reduce, worker_memory
from lmstats.ngram.distributed import count_on_cluster
from lmstats.ngram.lmplz import first_occurrence, kenlm_rank, last_counts, last_word, occurrence_windows
from lmstats.ngram.shards import write_sharded
from lmstats.text.ranges import Reading, range_target, read_on_cluster

RANGE_SHARE = 8  # a key range takes at most 1/RANGE_SHARE of a worker's memory_limit (its copies in a join, the tasks in flight)
DEFAULT_RANGE_BYTES = 256 << 20  # when the workers have no memory_limit


# -- the tasks -------------------------------------------------------------------------------------
def sentence_part(part: tuple, eos_id: int) -> tuple:
    """A partition of lines as sentence-mode units: its non-empty lines, each followed by ``</s>``."""
    units = Lines.from_lengths(*part).nonempty().with_eos(eos_id)
    return np.asarray(units.ids, dtype=np.int32), units.lengths


def _sizes(part: tuple) -> tuple[int, int]:
    return len(part[0]), len(part[1])


def _first_positions(part: tuple, vocab_size: int, offset: int, total: int):
    ids = part[0]
    first = first_occurrence(ids, vocab_size)
    return np.where(first < len(ids), first + offset, total)


def _windows(part: tuple, word: int, order: int, bos_id: int):
    return occurrence_windows(Lines.from_lengths(*part), word, order, bos_id)


# -- the driver ------------------------------------------------------------------------------------
def lmplz_last_on_cluster(client, parts: list, sizes: list[int], order: int, vocab_size: int, bos_id: int,
                          eos_id: int) -> dict[int, tuple[int, int]]:
    """:func:`lmstats.ngram.lmplz.lmplz_last_counts` of the units in ``parts`` (``sizes``: their ids), computed where they lie."""
    total = sum(sizes)
    if order < 2 or not total:
        return {}
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
    firsts = [client.submit(_first_positions, p, vocab_size, int(o), total) for p, o in zip(parts, offsets, strict=True)]
    first = tree_reduce(client, firsts, np.minimum).result()
    rank = kenlm_rank(first, total, bos_id, eos_id)
    word = last_word(rank)
    windows = client.gather([client.submit(_windows, p, word, order, bos_id) for p in parts])
    return last_counts(np.concatenate(windows), rank, order, bos_id)


def fit_on_cluster(client, urls: list[str], out: str | Path, *, order: int, smoothing: str = "mkn", reading: Reading | None = None,
                   min_count: int = 1, max_size: int | None = None, discount_fallback: bool = True, target: int | None = None,
                   storage_options: dict | None = None, range_bytes: int | None = None, trained_on=None,
                   on_stage: Callable[[str], None] | None = None) -> dict:
    """Fit an n-gram model of ``order`` on the text of ``urls`` (sentence mode) on the workers of ``client``, and write it as a
    sharded model at ``out``; its ``meta.json`` record (``trained_on``: the corpus record it keeps, as a saved model does).
    Equal to ``NgramLM.fit`` on the same text (tested)."""
    from lmstats.ngram.model import NgramLM
    from lmstats.ngram.storage import check_model_folder, model_meta

    if smoothing not in CLUSTER_SMOOTHERS:
        raise LmstatsError(f"the cluster estimates {', '.join(CLUSTER_SMOOTHERS)}, not {smoothing}; choose one of them, or fit "
                           "with --engine local")
    check_model_folder(Path(out))
    stage = on_stage or (lambda what: None)
    if target is None:
        target = range_target(urls, len(client.scheduler_info().get("workers", {})), storage_options)
    vocab, lines = read_on_cluster(client, urls, reading or Reading(), target=target, min_count=min_count, max_size=max_size,
                                   storage_options=storage_options)
    model = NgramLM(vocab, order, smoothing, discount_fallback=discount_fallback)
    parts = [client.submit(sentence_part, p, vocab.eos_id) for p in lines]
    sizes = client.gather([client.submit(_sizes, p) for p in parts])
    n_ids, n_units = (sum(column) for column in zip(*sizes, strict=True)) if sizes else (0, 0)
    if n_ids == 0:
        raise LmstatsError(f"{', '.join(urls)}: the text has no tokens; give a larger corpus")
    stage(f"read {n_ids - n_units:,} tokens in {n_units:,} sentences ({len(parts)} ranges); vocabulary of {len(vocab):,}")
    lmplz_last = lmplz_last_on_cluster(client, parts, [s[0] for s in sizes], order, len(vocab), vocab.bos_id, vocab.eos_id) \
        if smoothing == "mkn" else {}
    limit = worker_memory(client)
    tables = count_on_cluster(parts, n_units, order, len(vocab), vocab.bos_id, client=client, memory=0,
                              range_bytes=range_bytes or (limit // RANGE_SHARE if limit else DEFAULT_RANGE_BYTES),
                              on_order=lambda k: stage(f"counted order {k}"))
    del parts, lines
    est = estimate_on_cluster(client, tables, model._spec(), vocab.predictable_mask, lmplz_last)
    stage("smoothed")
    model.n_train_tokens_ = n_ids
    return write_sharded(client, est, out, model_meta(model, est.facts(), n_units, lmplz_last, trained_on=trained_on))
