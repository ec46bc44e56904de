"""Minibatches of a token stream for truncated BPTT: sequential partitioning and random sampling.

Both take the training stream (``<s>``, then every line followed by ``</s>``) and return a
list of ``(X, Y)`` pairs of batch-first ``(B, T)`` int64 arrays, ``Y`` being ``X`` shifted
one token ahead.  All randomness is drawn from ``rng`` when the function is called (d2l 9.3):

* :func:`sequential_batches` drops a random offset ``< seq_len`` and cuts the rest into
  ``batch_size`` contiguous rows (PyTorch's ``batchify``); batch ``k+1`` continues batch ``k``
  row by row, so the trainer carries the hidden state across batches (detached).
* :func:`random_batches` drops a random offset, cuts the rest into subsequences of
  ``seq_len`` and batches them in a random order; neighbouring batches are unrelated, so the
  trainer resets the hidden state for every batch.

Sentence mode scores every line from the zero state fed ``<s>``, a case the stream never shows
a network.  :func:`line_start_batch` draws lines and reads each from its start that way; the
trainer interleaves such batches with the stream's (``RNNConfig.start_share``, spaced by
:func:`start_steps`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError

Batch = tuple[NDArray[np.int64], NDArray[np.int64]]


def min_stream_length(batch_size: int, seq_len: int) -> int:
    """Tokens a stream needs for at least one full batch after any offset."""
    return batch_size * seq_len + seq_len + 1


def check_stream(ids: NDArray[np.int64], batch_size: int, seq_len: int) -> None:
    need = min_stream_length(batch_size, seq_len)
    if len(ids) < need:
        raise LmstatsError(
            f"the training split is too small: {len(ids)} tokens (<s> and </s> counted) cannot fill one batch of "
            f"--batch-size {batch_size} × --seq-len {seq_len} (needs {need}); give more training text or smaller --batch-size/--seq-len"
        )


def sequential_batches(ids: NDArray[np.int64], batch_size: int, seq_len: int, rng: np.random.Generator) -> list[Batch]:
    """Contiguous rows: ``X[b]`` of batch ``k+1`` starts where ``X[b]`` of batch ``k`` ended."""
    check_stream(ids, batch_size, seq_len)
    offset = int(rng.integers(0, seq_len))
    n_cols = (len(ids) - 1 - offset) // batch_size
    X = ids[offset : offset + batch_size * n_cols].reshape(batch_size, n_cols)  # (B, L)
    Y = ids[offset + 1 : offset + 1 + batch_size * n_cols].reshape(batch_size, n_cols)  # (B, L)
    return [(X[:, i : i + seq_len], Y[:, i : i + seq_len]) for i in range(0, n_cols, seq_len)]


def random_batches(ids: NDArray[np.int64], batch_size: int, seq_len: int, rng: np.random.Generator) -> list[Batch]:
    """Subsequences of ``seq_len`` tokens at random positions of the stream, in random order."""
    check_stream(ids, batch_size, seq_len)
    offset = int(rng.integers(0, seq_len))
    n_subseqs = (len(ids) - 1 - offset) // seq_len
    starts = offset + seq_len * rng.permutation(n_subseqs)
    window = np.arange(seq_len)
    out = []
    for i in range(0, n_subseqs, batch_size):
        index = starts[i : i + batch_size, None] + window  # (B, T) stream positions
        out.append((ids[index], ids[index + 1]))
    return out


def start_steps(step: int, share: float) -> int:
    """Line-start batches that follow stream batch ``step`` (1-based) so that they are ``share`` of all steps.

    After batch ``i`` come ``⌊i·r⌋ - ⌊(i-1)·r⌋`` of them, ``r = share / (1 - share)``: with share
    0.25 one after every third stream batch.  A function of the step, so a resumed run repeats it.
    """
    if share <= 0:
        return 0
    ratio = share / (1.0 - share)
    return math.floor(step * ratio + 1e-9) - math.floor((step - 1) * ratio + 1e-9)


def line_start_batch(lines: Lines, bos_id: int, batch_size: int, seq_len: int,
                     rng: np.random.Generator) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """``batch_size`` lines drawn at random, each read from its start as sentence mode scores it.

    ``X[b]`` is ``<s>`` and the line's first tokens, ``Y[b]`` the line's first ``seq_len`` tokens
    (``</s>`` included when the line is that short); the network reads ``X`` from the zero state.
    Shorter lines are padded at the end and ``keep`` marks the real targets; the width is the
    longest drawn line's, at most ``seq_len``.
    """
    rows = rng.integers(0, len(lines), size=batch_size)
    X, Y, keep, _ = padded_lines(lines, rows, bos_id, seq_len)
    return X, Y, keep


def padded_lines(lines: Lines, rows: NDArray[np.int64], bos_id: int, max_len: int | None = None) -> tuple[NDArray[np.int64], ...]:
    """The lines ``rows`` of ``lines`` (none empty) side by side, each from its start, for a network
    that reads ``X`` and predicts ``Y`` (training on line starts, and scoring in sentence mode).

    Returns ``X, Y, keep, src``, each (B, W) with W the longest line's length (at most
    ``max_len``): ``Y`` the tokens, ``X`` ``<s>`` then ``Y`` shifted right, ``keep`` the real
    (unpadded) positions and ``src`` their positions in ``lines.ids``; ``Y[keep]`` is in the order
    of ``src[keep]`` (row-major).
    """
    lens = lines.lengths[rows]
    if max_len is not None:
        lens = np.minimum(lens, max_len)
    width = int(lens.max())
    keep = np.arange(width)[None, :] < lens[:, None]  # (B, W)
    src = np.minimum(lines.bounds[rows][:, None] + np.arange(width)[None, :], len(lines.ids) - 1)  # (B, W), clipped for padding
    Y = np.where(keep, lines.ids[src], 0).astype(np.int64)
    X = np.empty_like(Y)
    X[:, 0] = bos_id
    X[:, 1:] = Y[:, :-1]
    return X, Y, keep, src
