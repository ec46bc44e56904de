"""Encoded text: many lines of token ids in one flat array (CSR layout), and a named split.

A split of millions of tokens is one integer array (``int32`` from the corpus reader, which
halves its memory; ``int64`` is accepted too) plus line boundaries, so the n-gram engine and
the evaluator work on whole arrays instead of Python lists per line.

**Disk-backed text.**  The ids may be a memory-mapped ``.npy`` file in a work folder (a corpus
read with ``spill``, see :func:`lmstats.text.corpus.load_corpus`).  Then what is derived from them
(the lines with ``</s>``, the non-empty lines, another vocabulary's ids) is written piece by
piece into new files in the same folder, and the pages of each piece are dropped after it is
read (:func:`~lmstats.npyfile.release`), so a pass over the text holds one piece, not the text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.npyfile import NpyAppender, release
from lmstats.vocab import Vocab

PIECE = 1 << 24  # items of a disk-backed array handled at a time (64 MB of int32)


def spill_folder(values) -> Path | None:
    """The work folder of a disk-backed array (a memory-mapped ``.npy`` file), or None."""
    name = getattr(values, "filename", None)
    return Path(name).parent if name else None


def _slices(values: NDArray, piece: int | None = None) -> Iterator[NDArray]:
    """Consecutive slices of ``values`` of :data:`PIECE` items (or ``piece``); the pages of a
    disk-backed ``values`` are dropped after each slice is used."""
    piece = piece or PIECE
    for start in range(0, len(values), piece):
        yield values[start : start + piece]
        release(values)


def map_pieces(values: NDArray, fn: Callable[[NDArray], NDArray], dtype, piece: int | None = None) -> NDArray:
    """``fn`` applied to consecutive pieces of ``values`` (each result as long as its piece), concatenated:
    in memory, or for a disk-backed ``values`` into a new file beside it, read back memory-mapped."""
    folder = spill_folder(values)
    if folder is None:
        return np.asarray(fn(values), dtype=dtype)
    out = NpyAppender(folder / f"derived-{uuid.uuid4().hex}.npy", dtype)
    for part in _slices(values, piece):
        out.append(fn(part))
    return np.load(out.close(), mmap_mode="r")


def concatenate(arrays: Sequence[NDArray], dtype) -> NDArray:
    """``np.concatenate`` of ``arrays``, or for disk-backed arrays a new file beside the first, copied piece by piece."""
    folder = spill_folder(arrays[0]) if len(arrays) else None
    if folder is None:
        return np.concatenate(arrays).astype(dtype, copy=False) if len(arrays) else np.zeros(0, dtype=dtype)
    out = NpyAppender(folder / f"joined-{uuid.uuid4().hex}.npy", dtype)
    for values in arrays:
        for part in _slices(values):
            out.append(part)
    return np.load(out.close(), mmap_mode="r")


def reduce_pieces(values: NDArray, fn: Callable[[NDArray], object], piece: int | None = None) -> list:
    """``fn`` of every piece of ``values`` (one piece when it is in memory), dropping read pages as it goes."""
    if spill_folder(values) is None:
        return [fn(values)]
    return [fn(part) for part in _slices(values, piece)]


def _line_spans(ends: NDArray[np.int64], size: int) -> Iterator[tuple[int, int]]:
    """(first line, end line) of consecutive runs of whole lines, each up to ``size`` past the end of
    the run before (``ends``: the cumulative size at the end of each line); a longer line is a run of its own."""
    first = 0
    while first < len(ends):
        base = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, base + size, side="right")), first + 1)
        yield first, last
        first = last


def line_pieces(lengths: NDArray[np.int64]) -> Iterator[tuple[int, int, int, int]]:
    """(first line, end line, first token, end token) of consecutive pieces of whole lines of about
    :data:`PIECE` tokens (a longer line is a piece of its own)."""
    ends = np.cumsum(lengths)
    for first, last in _line_spans(ends, PIECE):
        yield first, last, int(ends[first - 1]) if first else 0, int(ends[last - 1])


def gather_runs(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Indices of the runs ``starts[i] .. starts[i] + lengths[i] - 1``, one run after another; shape (sum(lengths),).

    The gather of ragged pieces of a flat array (some lines of a text, the pieces of each word) in
    one ``np.repeat``: item ``j`` of run ``i`` lands at ``offset_i + j`` of the output
    (``offset_i``: the lengths of the runs before), so its index is that position plus
    ``starts[i] - offset_i``.  ``starts=[5, 0], lengths=[2, 3]`` gives ``[5, 6, 0, 1, 2]``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.cumsum(lengths)
    offsets -= lengths  # where each run begins in the output
    out = np.repeat(starts - offsets, lengths)
    out += np.arange(len(out), dtype=np.int64)
    return out


def run_offsets(lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """The position of every item inside its run, for runs of ``lengths`` laid end to end; shape (sum(lengths),).

    ``lengths=[2, 0, 3]`` gives ``[0, 1, 0, 1, 2]`` (the depth of each position in its unit, the
    piece number inside a word): :func:`gather_runs` of runs that all start at 0."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return gather_runs(np.zeros(len(lengths), dtype=np.int64), lengths)


def _ids(ids) -> NDArray:
    """``ids`` as an int32 or int64 array (other types become int64)."""
    ids = np.asanyarray(ids)  # a memory-mapped array stays one (see spill_folder)
    return ids if ids.dtype in (np.int32, np.int64) else ids.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Lines:
    """Lines of ids: line ``i`` is ``ids[bounds[i]:bounds[i+1]]``.  No boundary tokens inside."""

    ids: NDArray[np.int64]
    bounds: NDArray[np.int64]  # shape (n_lines + 1,), bounds[0] == 0, bounds[-1] == len(ids)

    @classmethod
    def from_lengths(cls, ids: NDArray[np.int64], lengths: NDArray[np.int64]) -> Lines:
        """Lines of the given ``lengths`` laid end to end in ``ids`` (``sum(lengths) == len(ids)``)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        if bounds[-1] != len(ids):
            raise LmstatsError(f"line lengths add up to {bounds[-1]} ids, but {len(ids)} were given; give one length per line of ids")
        return cls(_ids(ids), bounds)

    @classmethod
    def from_seqs(cls, seqs: Sequence[Sequence[int]]) -> Lines:
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        ids = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]) if len(seqs) else np.zeros(0, np.int64)
        return cls.from_lengths(ids, lengths)

    @classmethod
    def single(cls, ids: NDArray[np.int64]) -> Lines:
        """One line holding all of ``ids``."""
        return cls(_ids(ids), np.array([0, len(ids)], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, i: int) -> NDArray[np.int64]:
        return self.ids[self.bounds[i] : self.bounds[i + 1]]

    def __iter__(self) -> Iterator[NDArray[np.int64]]:
        return (self[i] for i in range(len(self)))

    @property
    def lengths(self) -> NDArray[np.int64]:
        return np.diff(self.bounds)

    @property
    def n_tokens(self) -> int:
        """Tokens in the text, not counting any boundary token."""
        return int(len(self.ids))

    def nonempty(self) -> Lines:
        """The lines with at least one token (sentence mode ignores empty lines, as KenLM does)."""
        keep = self.lengths > 0
        if keep.all():
            return self
        if spill_folder(self.ids) is not None:
            return self._pieces(Lines.nonempty)
        return self.select(keep)

    def select(self, keep: NDArray[np.bool_]) -> Lines:
        """The lines where ``keep`` (one flag per line) is true, in their order, in memory."""
        lengths = self.lengths[keep]
        return Lines.from_lengths(self.ids[gather_runs(self.bounds[:-1][keep], lengths)], lengths)

    def with_eos(self, eos_id: int) -> Lines:
        """Each line followed by ``eos_id`` (the token the evaluator predicts at a line end)."""
        if spill_folder(self.ids) is not None:
            return self._pieces(lambda part: part.with_eos(eos_id))
        out = Lines.from_lengths(np.empty(len(self.ids) + len(self), dtype=self.ids.dtype), self.lengths + 1)
        is_eos = np.zeros(len(out.ids), dtype=bool)
        is_eos[out.bounds[1:] - 1] = True
        out.ids[is_eos] = eos_id
        out.ids[~is_eos] = self.ids
        return out

    def _pieces(self, fn: Callable[[Lines], Lines]) -> Lines:
        """``fn`` of pieces of whole lines of this disk-backed text, written into a new file beside it.

        ``fn`` works line by line, keeps every token of a line it keeps and adds tokens only at a
        line's end (:meth:`nonempty`, :meth:`with_eos`), so of a line longer than a piece only the
        last :data:`PIECE` tokens go through ``fn``; the tokens before them are copied slice by slice.
        """
        folder = spill_folder(self.ids)
        out = NpyAppender(folder / f"lines-{uuid.uuid4().hex}.npy", self.ids.dtype)
        lengths = []
        for part in self.chunks(PIECE):
            head = max(part.n_tokens - PIECE, 0) if len(part) == 1 else 0  # a line of more than PIECE tokens
            for start in range(0, head, PIECE):
                out.append(np.asarray(part.ids[start : min(start + PIECE, head)]))
                release(self.ids)
            done = fn(Lines.single(np.asarray(part.ids[head:])) if head else Lines(np.asarray(part.ids), part.bounds))
            out.append(done.ids)
            lengths.append(done.lengths + head)  # a long line's tail is not empty: fn keeps it as one line
            release(self.ids)
        ids = np.load(out.close(), mmap_mode="r")
        return Lines.from_lengths(ids, np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64))

    def as_stream(self) -> Lines:
        """All lines as one line (their ids concatenated in order)."""
        return Lines.single(self.ids)

    def chunks(self, positions: int) -> Iterator[Lines]:
        """Consecutive pieces of whole lines, each of about ``positions`` positions (tokens plus one
        per line; a longer line is a piece of its own), views into ``ids``; none when there are no lines."""
        ends = self.bounds[1:] + np.arange(1, len(self) + 1)  # positions up to the end of each line
        for first, last in _line_spans(ends, positions):
            yield Lines(self.ids[self.bounds[first] : self.bounds[last]], self.bounds[first : last + 1] - self.bounds[first])


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """One split of a corpus, encoded under ``vocab``.

    ``line_chars``/``line_bytes``: characters and UTF-8 bytes of each line's text (see
    :class:`lmstats.text.ingest.TypeIds`), for bits per character and per byte; None when unknown.
    """

    name: str
    lines: Lines
    vocab: Vocab
    line_chars: NDArray[np.int32] | None = None
    line_bytes: NDArray[np.int32] | None = None

    @property
    def n_tokens(self) -> int:
        return self.lines.n_tokens

    @property
    def n_oov(self) -> int:
        return int(sum(reduce_pieces(self.lines.ids, lambda part: np.count_nonzero(part == self.vocab.unk_id))))
