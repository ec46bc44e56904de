"""``RNNLM``: a trained network behind the :class:`~lmstats.protocol.LanguageModel` protocol.

``logprobs(ids)`` starts from the zero state, feeds ``<s>`` and then ``ids[:-1]``, and reads
``ln P(ids[t] | <s>, ids[:t])`` off the output layer.  A long sequence (a whole stream) is
scored in chunks of ``chunk_len`` tokens with the hidden state carried from chunk to chunk,
which gives the same numbers as one piece.  ``logprobs_lines`` (sentence mode) scores many
lines at once: sorted by length, padded at the end (an RNN reads left to right, so padding
after a line cannot change its values) and batched by a token budget.

Scoring runs in eval mode (no dropout) under ``torch.no_grad``; the network's training flag
is restored afterwards, so the call has no side effects.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from lmstats.encoded import Lines
from lmstats.protocol import LanguageModel
from lmstats.rnn.batching import padded_lines
from lmstats.vocab import Vocab


@contextlib.contextmanager
def inference(net: nn.Module):
    """Eval mode and no gradients for the block; the previous mode comes back afterwards."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        net.train(was_training)


class RNNLM(LanguageModel):
    """The protocol adapter over a network from :func:`lmstats.rnn.nets.build_net`."""

    def __init__(self, net: nn.Module, vocab: Vocab, *, device: str | torch.device = "cpu",
                 chunk_len: int = 2048, batch_tokens: int = 8192, output_rows: int = 2048):
        self.net = net
        self._vocab = vocab
        self.device = torch.device(device)
        self.chunk_len = chunk_len  # tokens per forward pass of one long sequence
        self.batch_tokens = batch_tokens  # padded tokens per batch of lines
        self.output_rows = output_rows  # rows per output-layer call (bounds the (N, V) memory)

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def _nll(self, feats: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-ln P of ``targets`` (N,) given features (N, D), in row blocks."""
        parts = [self.net.output.nll(feats[i : i + self.output_rows], targets[i : i + self.output_rows])
                 for i in range(0, len(targets), self.output_rows)]
        return torch.cat(parts) if parts else feats.new_zeros(0)

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]); shape (T,)."""
        return self.logprobs_continued(ids)[0]

    def logprobs_continued(self, ids: NDArray[np.int64], state=None) -> tuple[NDArray[np.float64], tuple]:
        """``logprobs`` of ``ids`` continuing a sequence whose earlier tokens left ``state`` (None: from ``<s>``), and the
        state after ``ids``: (the last token, the hidden state), for the next call.  Scoring a sequence in pieces this
        way gives the numbers of one piece (:mod:`lmstats.scoring` streams a text so)."""
        out, state, _ = self._forward(ids, state)
        return out, state

    def features(self, ids: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``logprobs(ids)`` and the network's top output before each token's softmax, shape (T, D): the hidden state that
        predicts ``ids[t]`` (the neural cache of :mod:`lmstats.neural_cache` keys on it)."""
        out, _, feats = self._forward(ids, None, keep=True)
        return out, feats

    def _forward(self, ids: NDArray[np.int64], state, keep: bool = False):
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float64)
        kept = []
        if len(ids) == 0:
            return out, state, np.zeros((0, 0))
        last, hidden = (self.vocab.bos_id, None) if state is None else state
        inputs = np.concatenate([[last], ids[:-1]]).astype(np.int64)
        with inference(self.net):
            for start in range(0, len(ids), self.chunk_len):
                x = torch.from_numpy(inputs[start : start + self.chunk_len]).to(self.device)[None]  # (1, t)
                y = torch.from_numpy(ids[start : start + self.chunk_len]).to(self.device)  # (t,)
                feats, hidden = self.net(x, hidden)  # (1, t, D)
                out[start : start + len(y)] = -self._nll(feats[0], y).double().cpu().numpy()
                if keep:
                    kept.append(feats[0].double().cpu().numpy())
        return out, (int(ids[-1]), hidden), (np.concatenate(kept) if keep else None)

    def logprobs_lines(self, lines: Lines) -> NDArray[np.float64]:
        """The values of ``logprobs`` on each line, concatenated; short lines are batched."""
        out = np.zeros(lines.n_tokens, dtype=np.float64)
        lengths = lines.lengths
        for i in np.flatnonzero(lengths > self.chunk_len):
            out[lines.bounds[i] : lines.bounds[i + 1]] = self.logprobs(lines[i])
        short = np.flatnonzero((lengths > 0) & (lengths <= self.chunk_len))
        order = short[np.argsort(lengths[short], kind="stable")]
        with inference(self.net):
            start = 0
            while start < len(order):
                stop = start + 1  # lengths ascend, so the padded size is count × the last length
                while stop < len(order) and (stop - start + 1) * lengths[order[stop]] <= self.batch_tokens:
                    stop += 1
                self._score_batch(lines, order[start:stop], out)
                start = stop
        return out

    def _score_batch(self, lines: Lines, rows: NDArray[np.int64], out: NDArray[np.float64]) -> None:
        X, Y, keep, src = padded_lines(lines, rows, self.vocab.bos_id)
        feats, _ = self.net(torch.from_numpy(X).to(self.device), None)  # (B, T, D)
        keep_t = torch.from_numpy(keep).to(self.device)
        nll = self._nll(feats[keep_t], torch.from_numpy(Y[keep]).to(self.device))  # row-major = src[keep] order
        out[src[keep]] = -nll.double().cpu().numpy()
