"""Encoded text: many lines of token ids in one flat array (CSR layout), and a named split.

A split of millions of tokens is one ``int64`` array plus line boundaries, so the n-gram
engine and the evaluator work on whole arrays instead of Python lists per line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.vocab import Vocab

EVAL_MODES = ("sentence", "stream")


@dataclass(frozen=True, eq=False)
class Lines:
    """Lines of ids: line ``i`` is ``ids[bounds[i]:bounds[i+1]]``.  No boundary tokens inside."""

    ids: NDArray[np.int64]
    bounds: NDArray[np.int64]  # shape (n_lines + 1,), bounds[0] == 0, bounds[-1] == len(ids)

    @classmethod
    def from_seqs(cls, seqs: Sequence[Sequence[int]]) -> Lines:
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        bounds = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        ids = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]) if len(seqs) else np.zeros(0, np.int64)
        return cls(ids.astype(np.int64, copy=False), bounds)

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
        bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        idx = np.repeat(starts - bounds[:-1], lengths) + np.arange(bounds[-1])
        return Lines(self.ids[idx], bounds)

    def with_eos(self, eos_id: int) -> Lines:
        """Each line followed by ``eos_id`` (the token the evaluator predicts at a line end)."""
        n = len(self)
        lengths = self.lengths + 1
        bounds = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        ids = np.empty(bounds[-1], dtype=np.int64)
        is_eos = np.zeros(bounds[-1], dtype=bool)
        is_eos[bounds[1:] - 1] = True
        ids[is_eos] = eos_id
        ids[~is_eos] = self.ids
        return Lines(ids, bounds)

    def as_stream(self) -> Lines:
        """All lines as one line (their ids concatenated in order)."""
        return Lines(self.ids, np.array([0, len(self.ids)], dtype=np.int64))


def scored_units(lines: Lines, eos_id: int, mode: str) -> Lines:
    """The sequences a model scores in an evaluation ``mode``, each ending with ``</s>``.

    ``sentence``: every non-empty line on its own, ``</s>`` appended (KenLM/SRILM).
    ``stream``: one sequence, every line (empty ones too) followed by ``</s>`` as the
    end-of-line token (PyTorch word_language_model).  Training uses the same units.
    """
    if mode == "sentence":
        return lines.nonempty().with_eos(eos_id)
    if mode == "stream":
        return lines.with_eos(eos_id).as_stream()
    raise ValueError(f"evaluation mode must be one of {EVAL_MODES}, got {mode!r}")


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

    def units(self, mode: str) -> Lines:
        return scored_units(self.lines, self.vocab.eos_id, mode)
