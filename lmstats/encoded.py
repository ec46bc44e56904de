"""Encoded text: many lines of token ids in one flat array (CSR layout), and a named split.

A split of millions of tokens is one integer array (``int32`` from the corpus reader, which
halves its memory; ``int64`` is accepted too) plus line boundaries, so the n-gram engine and
the evaluator work on whole arrays instead of Python lists per line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.vocab import Vocab


def _ids(ids) -> NDArray:
    """``ids`` as an int32 or int64 array (other types become int64)."""
    ids = np.asarray(ids)
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
        starts = self.bounds[:-1][keep]
        lengths = self.lengths[keep]
        # position j of kept line i sits at starts[i] + j in the old ids
        idx = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        return Lines.from_lengths(self.ids[idx], lengths)

    def with_eos(self, eos_id: int) -> Lines:
        """Each line followed by ``eos_id`` (the token the evaluator predicts at a line end)."""
        out = Lines.from_lengths(np.empty(len(self.ids) + len(self), dtype=self.ids.dtype), self.lengths + 1)
        is_eos = np.zeros(len(out.ids), dtype=bool)
        is_eos[out.bounds[1:] - 1] = True
        out.ids[is_eos] = eos_id
        out.ids[~is_eos] = self.ids
        return out

    def as_stream(self) -> Lines:
        """All lines as one line (their ids concatenated in order)."""
        return Lines.single(self.ids)

    def chunks(self, positions: int) -> Iterator[Lines]:
        """Consecutive pieces of whole lines, each of about ``positions`` positions (tokens plus one
        per line; a longer line is a piece of its own), views into ``ids``; none when there are no lines."""
        ends = self.bounds[1:] + np.arange(1, len(self) + 1)  # positions up to the end of each line
        first = 0
        while first < len(self):
            base = int(ends[first - 1]) if first else 0
            last = max(int(np.searchsorted(ends, base + positions, side="right")), first + 1)
            yield Lines(self.ids[self.bounds[first] : self.bounds[last]], self.bounds[first : last + 1] - self.bounds[first])
            first = last


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """One split of a corpus, encoded under ``vocab``."""

    name: str
    lines: Lines
    vocab: Vocab

    @property
    def n_tokens(self) -> int:
        return self.lines.n_tokens

    @property
    def n_oov(self) -> int:
        return int(np.count_nonzero(self.lines.ids == self.vocab.unk_id))
