"""Counting for the Zipf and Heaps fits: every token string a type, n-grams within lines.

Token lists become dense ids in first-seen order (nothing is merged into ``<unk>``); n-grams
of order k get dense type ids by packing pairs of ids and re-densifying with ``np.unique``,
so keys never overflow int64.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines, gather_runs
from lmstats.errors import LmstatsError

ORDER_NAMES = {1: "unigrams", 2: "bigrams", 3: "trigrams"}


def order_name(order: int) -> str:
    return ORDER_NAMES.get(order, f"{order}-grams")


def encode_sentences(sentences: Sequence[Sequence[str]]) -> Lines:
    """Token lists -> :class:`Lines` of dense ids (first-seen order); every type is kept.

    Unlike :class:`~lmstats.vocab.Vocab`, nothing is merged into ``<unk>``: Zipf statistics
    count every distinct token string, literal ``<unk>``/``<s>`` included.
    """
    flat = list(chain.from_iterable(sentences))
    index = {token: i for i, token in enumerate(dict.fromkeys(flat))}
    ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    return Lines.from_lengths(ids, np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences)))


def ngram_type_ids(lines: Lines, order: int) -> NDArray[np.int64]:
    """Dense type id of every ``order``-gram occurrence within a line, in text order; shape (n_ngrams,).

    Ids are packed pairwise: the (k-1)-gram's dense id times the alphabet size plus the next
    token id, then re-densified with ``np.unique``, so keys never overflow int64.
    """
    if order < 1:
        raise LmstatsError(f"n-gram order must be >= 1, got {order}")
    ids = lines.ids.astype(np.int64, copy=False)  # packed keys need 64 bits (the reader gives int32)
    if order == 1:
        return np.unique(ids, return_inverse=True)[1].astype(np.int64) if len(ids) else ids
    # the first position of every n-gram: bounds[i] .. bounds[i+1] - order of each line i long enough
    starts = gather_runs(lines.bounds[:-1], np.maximum(lines.lengths - (order - 1), 0))
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    base = int(ids.max()) + 1
    dense = ids[starts]
    for k in range(1, order):
        keys = dense * base + ids[starts + k]
        dense = np.unique(keys, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return dense


def frequencies(type_ids: NDArray[np.int64]) -> NDArray[np.int64]:
    """Count per type, sorted descending (index ``r - 1`` holds the frequency of rank ``r``)."""
    counts = np.bincount(type_ids)
    return np.sort(counts[counts > 0])[::-1].copy()
