"""RNN language-model networks: the from-scratch RNN, the concise torch cells, two output layers.

Every network has one interface, so the trainer, the scorer and the sampler serve them all:

* ``net(x, state) -> (features, state)``: ``x`` ids ``(B, T)``, features ``(B, T, D)``;
  ``state=None`` is the zero initial state;
* ``net.output.log_probs(features) -> (N, V)``: ln P over the whole vocabulary;
* ``net.output.nll(features, targets) -> (N,)``: ``-ln P(target)`` per row.

Every output layer gives ``<s>`` (and ``<pad>``) probability exactly 0 by masking its logits
to ``-inf`` before the normalisation, so the distribution sums to 1 over the predictable set
(the protocol's promise).  :class:`AdaptiveSoftmax` wraps ``nn.AdaptiveLogSoftmaxWithLoss``
(Grave et al. 2017): the ids are sorted by training frequency (the vocabulary's own order),
so the cutoffs apply to ids directly and the frequent words, specials included, sit in the head.
:class:`TiedAdaptiveSoftmax` has the same clusters with the embedding rows as word vectors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmstats.errors import LmstatsError
from lmstats.rnn.config import RNNConfig
from lmstats.vocab import Vocab

DEVICES = ("auto", "cpu", "cuda")


# -- output layers ------------------------------------------------------------------------
def _mask_bias(size: int, masked_ids: list[int]) -> torch.Tensor:
    bias = torch.zeros(size)
    bias[masked_ids] = -math.inf
    return bias


class FullSoftmax(nn.Module):
    """``O = H W_hq + b_q`` (``W_hq = proj.weight.T``), then log-softmax over all ids but the masked."""

    def __init__(self, in_features: int, n_classes: int, masked_ids: list[int]):
        super().__init__()
        self.proj = nn.Linear(in_features, n_classes)
        self.register_buffer("mask", _mask_bias(n_classes, masked_ids), persistent=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) + self.mask  # (N, V); -inf at <s>/<pad>

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.logits(x), dim=-1)  # (N, V), ln P

    def nll(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(x), targets, reduction="none")  # (N,), -ln P(target)


class _ClusteredSoftmax(nn.Module):
    """Shared arithmetic of the adaptive softmaxes: a head over ``[0, cutoffs[0])`` plus one
    logit per tail cluster, and ln P(w) = ln P_head(w) or ln P_head(cluster c) + ln P_c(w).

    Subclasses call ``_register_clusters`` (``shortlist``, ``n_tails``, ``spans``, ``bounds``) and give
    ``_head_log_probs(x)`` (N, shortlist + n_tails) and ``_tail_log_probs(x, i)`` (N, size of tail i).
    """

    shortlist: int
    n_tails: int
    spans: list[tuple[int, int]]
    bounds: torch.Tensor

    def _register_clusters(self, n_classes: int, cutoffs: list[int], masked_ids: list[int]) -> None:
        self.shortlist = cutoffs[0]
        self.n_tails = len(cutoffs)
        self.spans = list(zip(cutoffs, list(cutoffs[1:]) + [n_classes]))  # [lo, hi) of each tail cluster
        self.register_buffer("mask", _mask_bias(self.shortlist + len(cutoffs), masked_ids), persistent=False)
        self.register_buffer("bounds", torch.tensor(list(cutoffs) + [n_classes]), persistent=False)

    def _head_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _tail_log_probs(self, x: torch.Tensor, i: int) -> torch.Tensor:
        raise NotImplementedError

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        head = self._head_log_probs(x)
        parts = [head[:, : self.shortlist]]
        for i in range(self.n_tails):
            cluster = head[:, self.shortlist + i : self.shortlist + i + 1]  # (N, 1)
            parts.append(cluster + self._tail_log_probs(x, i))  # (N, cluster size)
        return torch.cat(parts, dim=-1)  # (N, V)

    def nll(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        head = self._head_log_probs(x)
        cluster = torch.bucketize(targets, self.bounds, right=True)  # 0: head, i: tail i-1
        head_index = torch.where(cluster == 0, targets, self.shortlist + cluster - 1)
        lp = head.gather(1, head_index.unsqueeze(1)).squeeze(1)  # (N,)
        for i in range(self.n_tails):
            rows = torch.nonzero(cluster == i + 1).squeeze(1)
            if rows.numel() == 0:
                continue
            tail_lp = self._tail_log_probs(x.index_select(0, rows), i)  # (n, cluster size)
            local = (targets.index_select(0, rows) - self.spans[i][0]).unsqueeze(1)
            lp = lp.index_add(0, rows, tail_lp.gather(1, local).squeeze(1))
        return -lp


class AdaptiveSoftmax(_ClusteredSoftmax):
    """``nn.AdaptiveLogSoftmaxWithLoss`` with ``<s>``/``<pad>`` masked in its head.

    ln P(w) = ln P_head(w) for ``w < cutoffs[0]``, else ln P_head(cluster c) + ln P_c(w).
    The masked ids are in the head (``cutoffs[0] > 3``), so masking the head's logits and
    renormalising keeps the whole distribution summing to 1 over the predictable set.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs: list[int], div_value: float, masked_ids: list[int]):
        super().__init__()
        self.asm = nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=div_value)
        self._register_clusters(n_classes, cutoffs, masked_ids)

    def _head_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.asm.head(x) + self.mask, dim=-1)  # (N, shortlist + clusters)

    def _tail_log_probs(self, x: torch.Tensor, i: int) -> torch.Tensor:
        return F.log_softmax(self.asm.tail[i](x), dim=-1)  # (N, cluster size)


class TiedAdaptiveSoftmax(_ClusteredSoftmax):
    """An adaptive softmax whose word vectors are the input embedding's rows (``--tie --softmax adaptive``).

    Same clusters as :class:`AdaptiveSoftmax`: ids below ``cutoffs[0]`` form the head, which
    also holds one logit per tail cluster, and ln P(w) = ln P_head(w) or
    ln P_head(cluster c) + ln P_c(w).  Every word's logit is ``x · E[w] + b[w]`` with ``E``
    the embedding matrix itself (Press & Wolf 2017), at full dimension: the tails get no
    down-projection, so ``div_value`` plays no part.  ``nn.AdaptiveLogSoftmaxWithLoss`` owns
    its word matrices and cannot share them, hence this class.  Only the cluster vectors
    and the biases are parameters of their own.
    """

    def __init__(self, embedding: nn.Embedding, cutoffs: list[int], masked_ids: list[int]):
        super().__init__()
        n_classes, dim = embedding.weight.shape
        self.weight = embedding.weight  # (V, E), shared: one Parameter, counted and updated once
        self.bias = nn.Parameter(torch.zeros(n_classes))
        self.cluster_weight = nn.Parameter(torch.empty(len(cutoffs), dim).uniform_(-0.1, 0.1))
        self.cluster_bias = nn.Parameter(torch.zeros(len(cutoffs)))
        self._register_clusters(n_classes, cutoffs, masked_ids)

    def _head_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        words = F.linear(x, self.weight[: self.shortlist], self.bias[: self.shortlist])  # (N, shortlist)
        clusters = F.linear(x, self.cluster_weight, self.cluster_bias)  # (N, clusters)
        return F.log_softmax(torch.cat([words, clusters], dim=-1) + self.mask, dim=-1)

    def _tail_log_probs(self, x: torch.Tensor, i: int) -> torch.Tensor:
        lo, hi = self.spans[i]
        return F.log_softmax(F.linear(x, self.weight[lo:hi], self.bias[lo:hi]), dim=-1)  # (N, hi - lo)


def resolve_cutoffs(cutoffs: tuple[int, ...], vocab: Vocab) -> list[int]:
    """The cutoffs below ``len(vocab)``; the head must hold the specials."""
    kept = [int(c) for c in cutoffs if int(c) < len(vocab)]
    if not kept or kept[0] <= vocab.n_specials:
        raise LmstatsError(
            f"the adaptive softmax cutoffs {list(cutoffs)} leave no tail cluster in a vocabulary of {len(vocab)} types "
            "(a cutoff must lie between the specials and the vocabulary size); use --softmax full, or smaller --cutoffs"
        )
    return kept


def masked_ids(vocab: Vocab) -> list[int]:
    """Ids that are never predicted: ``<s>`` (and ``<pad>``)."""
    return [vocab.bos_id] + ([vocab.pad_id] if vocab.has_pad else [])


def build_output(in_features: int, vocab: Vocab, config: RNNConfig, embedding: nn.Embedding | None = None) -> nn.Module:
    """The output layer; with ``config.tie`` its word vectors are ``embedding``'s rows."""
    if config.tie and config.softmax == "adaptive":
        return TiedAdaptiveSoftmax(embedding, resolve_cutoffs(config.cutoffs, vocab), masked_ids(vocab))
    if config.softmax == "adaptive":
        cutoffs = resolve_cutoffs(config.cutoffs, vocab)
        if int(in_features // config.div_value ** len(cutoffs)) < 1:
            raise LmstatsError(
                f"the adaptive softmax's last cluster would get a 0-dimensional projection ({in_features} features / "
                f"{config.div_value:g}^{len(cutoffs)} clusters); use fewer --cutoffs or a larger --hidden-size"
            )
        return AdaptiveSoftmax(in_features, len(vocab), cutoffs, config.div_value, masked_ids(vocab))
    return FullSoftmax(in_features, len(vocab), masked_ids(vocab))


# -- networks -----------------------------------------------------------------------------
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
        X = F.one_hot(x, self.vocab_size).to(self.W_xh.dtype)  # (B, T, V)
        XW = X @ self.W_xh  # (B, T, H): X_t W_xh for every t at once
        outputs = []
        for t in range(steps):
            H = torch.tanh(XW[:, t] + H @ self.W_hh + self.b_h)
            outputs.append(H)
        return torch.stack(outputs, dim=1), H  # (B, T, H), (B, H)


def scratch_bptt(
    W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor, W_hq: torch.Tensor, b_q: torch.Tensor,
    x: torch.Tensor, y: torch.Tensor, H0: torch.Tensor, mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss ``Σ -ln softmax(O_t)[y_t]`` and its gradients by hand-written backpropagation through time.

    ``x``, ``y``: ``(B, T)`` ids; ``H0``: ``(B, H)``; ``mask``: ``-inf`` at ids never predicted.
    The reference that autograd's gradients of :class:`ScratchRNN` are tested against.
    """
    batch, steps = x.shape
    V = W_xh.shape[0]
    Xs = F.one_hot(x, V).to(W_xh.dtype)  # (B, T, V)
    Hs, Ps = [H0], []
    loss = W_xh.new_zeros(())
    for t in range(steps):
        Hs.append(torch.tanh(Xs[:, t] @ W_xh + Hs[-1] @ W_hh + b_h))  # (B, H)
        O = Hs[-1] @ W_hq + b_q + (mask if mask is not None else 0)  # (B, V)
        P = torch.softmax(O, dim=-1)
        loss = loss - torch.log(P.gather(1, y[:, t : t + 1])).sum()
        Ps.append(P)
    grads = {name: torch.zeros_like(p) for name, p in (("W_xh", W_xh), ("W_hh", W_hh), ("b_h", b_h), ("W_hq", W_hq), ("b_q", b_q))}
    dH_next = torch.zeros_like(H0)  # dL/dH_t coming from step t+1
    for t in reversed(range(steps)):
        dO = Ps[t] - F.one_hot(y[:, t], V).to(W_xh.dtype)  # (B, V): softmax minus one-hot target
        grads["W_hq"] += Hs[t + 1].T @ dO
        grads["b_q"] += dO.sum(0)
        dH = dO @ W_hq.T + dH_next  # (B, H)
        dZ = dH * (1 - Hs[t + 1] ** 2)  # through tanh
        grads["W_xh"] += Xs[:, t].T @ dZ
        grads["W_hh"] += Hs[t].T @ dZ
        grads["b_h"] += dZ.sum(0)
        dH_next = dZ @ W_hh.T
    return loss, grads


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
    """A freshly initialised network; the initial weights depend only on ``config.seed``.

    The parameters are drawn inside ``torch.random.fork_rng``, so torch's global RNG is left
    as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
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
