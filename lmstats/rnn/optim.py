"""The optimizer of a run and its gradients: SGD, Adam or AdamW, sparse embedding gradients under SGD, clipping."""

from __future__ import annotations

import torch
from torch import nn

from lmstats.rnn.recipe import RNNConfig


def make_optimizer(net: nn.Module, config: RNNConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=config.lr)
    if config.optimizer == "adamw":
        return _adamw(net, config)
    try:  # the fused kernel is ~5x faster than the default on the CPU (one pass over a large embedding)
        return torch.optim.Adam(net.parameters(), lr=config.lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - builds or devices without it
        return torch.optim.Adam(net.parameters(), lr=config.lr)


def _adamw(net: nn.Module, config: RNNConfig) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019) with β2 = 0.98 (Vaswani et al. 2017); the decay applies to the weight matrices
    of the linear layers only, not to embeddings (the tied output vectors), norms or biases (as GPT-2's trainers do)."""
    linear = {id(m.weight) for m in net.modules() if isinstance(m, nn.Linear)}
    embedded = {id(m.weight) for m in net.modules() if isinstance(m, nn.Embedding)}
    params = list(dict.fromkeys(net.parameters()))
    decay = [p for p in params if id(p) in linear and id(p) not in embedded]
    rest = [p for p in params if id(p) not in {id(q) for q in decay}]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - builds or devices without it
        return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98))


def use_sparse_embedding(net: nn.Module, config: RNNConfig) -> bool:
    """Embedding gradients as sparse tensors (only the rows of the batch's ids) under SGD, when the embedding is not tied.

    A dense gradient of the whole |V| × E matrix is written, clipped and applied at every step
    although a batch touches a few hundred rows; on WikiText-2 (2×200, 2 threads) the sparse one
    made a step 13% faster (22% on one thread; reports/rnn_targets.md).  Adam keeps dense
    gradients (its moments need every row), and so does a tied embedding (the output layer
    reads every row).  The trained numbers are the same up to float summation order.
    """
    embedding = getattr(net, "embedding", None)
    sparse = isinstance(embedding, nn.Embedding) and config.optimizer == "sgd" and not config.tie
    if isinstance(embedding, nn.Embedding):
        embedding.sparse = sparse
    return sparse


@torch.no_grad()
def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """``nn.utils.clip_grad_norm_`` (the same norm and factor) that also takes sparse gradients.

    A sparse gradient is coalesced first (an id twice in a batch gives two entries, whose sum
    is the gradient's row), so its values are the non-zero rows of the dense gradient.
    """
    grads = []
    for p in parameters:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            grads.append(p.grad._values())
        else:
            grads.append(p.grad)
    if not grads:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
