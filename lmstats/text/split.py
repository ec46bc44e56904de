"""Splitting a text into train/valid/test: seeded by whole lines, or contiguous by token position.

:func:`split_labels` is the one rule of the seeded split (a permutation from
``np.random.default_rng(seed)``: its first ``round(n * test)`` entries are the test lines, the
next ``round(n * valid)`` the valid lines, the rest train; every split keeps the original line
order).  A disk-backed text (:mod:`lmstats.encoded`) is split piece by piece into files beside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import line_pieces, reduce_pieces, spill_folder
from lmstats.npyfile import NpyAppender, release
from lmstats.text.ingest import TypeIds, TypeTable
from lmstats.text.spec import SPLIT_NAMES, check_fractions


def split_sizes(n_lines: int, fractions: Sequence[float]) -> dict[str, int]:
    """How many of ``n_lines`` lines the seeded split gives each split."""
    check_fractions(fractions)
    n_valid, n_test = int(round(n_lines * fractions[1])), int(round(n_lines * fractions[2]))
    return {"train": n_lines - n_valid - n_test, "valid": n_valid, "test": n_test}


def split_labels(n_lines: int, fractions: Sequence[float], seed: int) -> NDArray[np.uint8]:
    """Which split each of ``n_lines`` lines goes to (0 train, 1 valid, 2 test), seeded (see the module docstring)."""
    sizes = split_sizes(n_lines, fractions)
    n_valid, n_test = sizes["valid"], sizes["test"]
    perm = np.random.default_rng(seed).permutation(n_lines)
    labels = np.zeros(n_lines, dtype=np.uint8)
    labels[perm[:n_test]] = 2
    labels[perm[n_test : n_test + n_valid]] = 1
    return labels


def split_lines(lines: Sequence, fractions: Sequence[float], seed: int) -> tuple[list, list, list]:
    """``lines`` split into train/valid/test by :func:`split_labels`; each split keeps the original order."""
    labels = split_labels(len(lines), fractions, seed)
    return tuple([line for line, label in zip(lines, labels, strict=True) if label == k] for k in range(3))  # type: ignore[return-value]


def split_by_lines(text: TypeIds, fractions: Sequence[float], seed: int) -> dict[str, TypeIds]:
    """The three splits of ``text`` by :func:`split_labels`, as type ids."""
    labels = split_labels(text.n_lines, fractions, seed)
    folder = spill_folder(text.ids)
    if folder is not None:  # disk-backed: each split written piece by piece into a file of its own
        files = {name: NpyAppender(folder / f"{name}-{uuid.uuid4().hex}.npy", np.int32) for name in SPLIT_NAMES}
        for first, last, start, end in line_pieces(text.lengths):
            part_labels = np.repeat(labels[first:last], text.lengths[first:last])
            part = np.asarray(text.ids[start:end])
            for k, name in enumerate(SPLIT_NAMES):
                files[name].append(part[part_labels == k])
            release(text.ids)
        return {name: TypeIds(np.load(files[name].close(), mmap_mode="r"), *_line_sizes(text, labels == k))
                for k, name in enumerate(SPLIT_NAMES)}
    token_labels = np.repeat(labels, text.lengths)
    return {name: TypeIds(text.ids[token_labels == k], *_line_sizes(text, labels == k)) for k, name in enumerate(SPLIT_NAMES)}


def _line_sizes(text: TypeIds, keep: NDArray[np.bool_]) -> tuple:
    """The tokens, characters and bytes per line of the lines ``keep`` selects."""
    return tuple(None if sizes is None else sizes[keep] for sizes in (text.lengths, text.line_chars, text.line_bytes))


def split_by_position(text: TypeIds, fractions: Sequence[float], level: str, table: TypeTable) -> dict[str, TypeIds]:
    """Contiguous pieces of a one-line text.  At char level every token is one character of the
    text (line breaks included), so the pieces keep their character and byte counts; at word level
    the spacing between the pieces' tokens is gone, so they have none (bits per character: None)."""
    check_fractions(fractions)
    n = text.n_tokens
    a = int(round(n * fractions[0]))
    b = a + int(round(n * fractions[1]))
    pieces = (text.ids[:a], text.ids[a:b], text.ids[b:])
    type_bytes = table.type_bytes() if level == "char" else None

    def sizes(ids):
        if type_bytes is None:
            return None, None
        n_bytes = sum(reduce_pieces(ids, lambda part: int(type_bytes[part].sum())))  # piece by piece when disk-backed
        return np.array([len(ids)], dtype=np.int64), np.array([n_bytes], dtype=np.int64)

    return {name: TypeIds(ids, np.array([len(ids)], dtype=np.int64), *sizes(ids)) for name, ids in zip(SPLIT_NAMES, pieces, strict=True)}
