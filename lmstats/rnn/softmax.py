"""Output layers of the RNN language models: a full softmax and two adaptive softmaxes.

Every output layer has one interface, so the trainer, the scorer and the sampler serve them all:

* ``layer.log_probs(features) -> (N, V)``: ln P over the whole vocabulary;
* ``layer.nll(features, targets) -> (N,)``: ``-ln P(target)`` per row.

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
from lmstats.rnn.recipe import RNNConfig
from lmstats.vocab import Vocab


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
        self.spans = list(zip(cutoffs, list(cutoffs[1:]) + [n_classes], strict=True))  # [lo, hi) of each tail cluster
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


def build_output(in_features: int, vocab: Vocab, config: RNNConfig, embedding: nn.Embedding | None = None) -> nn.Module:
    """The output layer; with ``config.tie`` its word vectors are ``embedding``'s rows."""
    if config.tie and config.softmax == "adaptive":
        return TiedAdaptiveSoftmax(embedding, resolve_cutoffs(config.cutoffs, vocab), vocab.unpredictable_ids)
    if config.softmax == "adaptive":
        cutoffs = resolve_cutoffs(config.cutoffs, vocab)
        if int(in_features // config.div_value ** len(cutoffs)) < 1:
            raise LmstatsError(
                f"the adaptive softmax's last cluster would get a 0-dimensional projection ({in_features} features / "
                f"{config.div_value:g}^{len(cutoffs)} clusters); use fewer --cutoffs or a larger --hidden-size"
            )
        return AdaptiveSoftmax(in_features, len(vocab), cutoffs, config.div_value, vocab.unpredictable_ids)
    return FullSoftmax(in_features, len(vocab), vocab.unpredictable_ids)
