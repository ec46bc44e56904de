"""Neural language-model networks: the from-scratch RNN, the concise torch cells (and the Transformer of
:mod:`lmstats.rnn.transformer`).

Every network has one interface: ``net(x, state) -> (features, state)`` with ``x`` ids
``(B, T)`` and features ``(B, T, D)`` (``state=None`` is the zero initial state), and an
output layer ``net.output`` from :mod:`lmstats.rnn.softmax`.
"""

from __future__ import annotations

import torch
from torch import nn

from lmstats.errors import LmstatsError
from lmstats.rnn.recipe import DEVICES, RNNConfig
from lmstats.rnn.softmax import FullSoftmax, build_output
from lmstats.vocab import Vocab


class ScratchRNN(nn.Module):
    """The textbook RNN with explicit parameters and one-hot inputs (d2l, ch. 9.5).

    ``H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)`` and ``O_t = H_t W_hq + b_q`` where ``X_t`` is
    the one-hot row of the input id; ``W_hq``/``b_q`` live in ``output`` (a full or adaptive
    softmax).  State: ``H`` of shape ``(B, H)``.
    """

    def __init__(self, vocab_size: int, hidden_size: int, output: nn.Module):
        super().__init__()
        self.vocab_size = vocab_size
        self.W_xh = nn.Parameter(torch.randn(vocab_size, hidden_size) * 0.01)
        self.W_hh = nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.01)
        self.b_h = nn.Parameter(torch.zeros(hidden_size))
        self.output = output

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps = x.shape  # (B, T) ids
        H = state if state is not None else self.W_hh.new_zeros(batch, self.W_hh.shape[0])  # (B, H)
        # X_t W_xh with X_t the one-hot row of x_t is row x_t of W_xh: selecting the rows gives the
        # same numbers (and gradients) as the product, without a (B, T, V) one-hot tensor.
        XW = self.W_xh[x]  # (B, T, H) for every t at once
        outputs = []
        for t in range(steps):
            H = torch.tanh(XW[:, t] + H @ self.W_hh + self.b_h)
            outputs.append(H)
        return torch.stack(outputs, dim=1), H  # (B, T, H), (B, H)


class RNNNet(nn.Module):
    """The concise version: embedding -> ``nn.LSTM``/``nn.GRU``/``nn.RNN`` layers -> output layer.

    Dropout on the embeddings, between layers (torch's own) and on the top layer's outputs
    (Zaremba et al. 2014).  With ``tie`` the output word vectors are the embedding matrix (Press &
    Wolf 2017; Inan et al. 2017), in the full softmax or in :class:`TiedAdaptiveSoftmax`; a linear
    projection maps ``hidden_size`` to ``embed_size`` when they differ.
    """

    CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

    def __init__(self, vocab: Vocab, config: RNNConfig):
        super().__init__()
        V, E, H = len(vocab), config.embed_size, config.hidden_size
        self.embedding = nn.Embedding(V, E)
        self.drop = nn.Dropout(config.dropout)
        cell = self.CELLS[config.cell]
        self.rnn = cell(E, H, config.num_layers, dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        self.proj = nn.Linear(H, E) if config.tie and H != E else None
        out_features = E if config.tie else H
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self.output = build_output(out_features, vocab, config, self.embedding)
        if isinstance(self.output, FullSoftmax):
            nn.init.uniform_(self.output.proj.weight, -0.1, 0.1)
            nn.init.zeros_(self.output.proj.bias)
            if config.tie:
                self.output.proj.weight = self.embedding.weight

    def forward(self, x: torch.Tensor, state=None):
        emb = self.drop(self.embedding(x))  # (B, T, E)
        out, state = self.rnn(emb, state)  # (B, T, H); state (L, B, H) or a pair of them (LSTM)
        out = self.drop(out)
        if self.proj is not None:
            out = self.proj(out)  # (B, T, E)
        return out, state


def build_net(vocab: Vocab, config: RNNConfig) -> nn.Module:
    """A freshly initialised network of ``config`` (its "auto" choices decided for ``vocab``); the initial
    weights depend only on ``config.seed``.

    The parameters are drawn inside ``torch.random.fork_rng``, so torch's global RNG is left
    as it was.
    """
    config = config.resolve(len(vocab))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.cell == "transformer":
            from lmstats.rnn.transformer import TransformerNet

            return TransformerNet(vocab, config)
        if config.cell == "scratch":
            return ScratchRNN(len(vocab), config.hidden_size, build_output(config.hidden_size, vocab, config))
        return RNNNet(vocab, config)


def detach_state(state):
    """The hidden state cut from the graph (truncated BPTT); ``None`` stays ``None``."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())  # tied weights are counted once


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if name not in DEVICES:
        raise LmstatsError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LmstatsError(
            f"--device cuda: no CUDA GPU is available (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
            "use --device cpu or --device auto"
        )
    return torch.device(name)
