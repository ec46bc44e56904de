"""A decoder-only Transformer language model with the networks' one interface: ``net(x, state) -> (features, state)``.

Pre-norm blocks (layer norm, causal self-attention, residual; layer norm, a GELU feed-forward of
``hidden_size``, residual; Radford et al. 2019), a final layer norm, and the output layers of
:mod:`lmstats.rnn.softmax` (the recipe ties them to the embedding, an adaptive softmax on large
vocabularies).

Attention is *windowed*: the token at stream position ``t`` attends to positions ``t - C + 1 ..
t`` with ``C = config.seq_len``, and positions enter as ALiBi's per-head linear penalty on the
distance (Press et al. 2022) rather than as absolute embeddings.  Every token's features are
then a function of its own window only, so a text read in pieces, with each layer's keys and
values of the last ``C - 1`` positions carried as the ``state`` (a Transformer-XL-style memory,
Dai et al. 2019), gives the numbers of one piece: the evaluator's streaming and sentence modes
treat this network like an RNN.  A long input is processed in blocks of ``C`` queries, so
attention costs ``C × 2C`` per block whatever the input's length.  Training with ``sequential``
batching carries the memory across batches (detached), as the RNNs carry their state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmstats.rnn.recipe import RNNConfig
from lmstats.rnn.softmax import FullSoftmax, build_output
from lmstats.vocab import Vocab


def alibi_slopes(heads: int) -> torch.Tensor:
    """ALiBi's head slopes: the geometric sequence ``2^(-8 i / heads)``, i = 1..heads."""
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / heads) for i in range(heads)])


class CausalSelfAttention(nn.Module):
    """Multi-head attention over a window of ``window`` positions ending at each query, with ALiBi."""

    def __init__(self, dim: int, heads: int, window: int, dropout: float):
        super().__init__()
        self.heads, self.window, self.dropout = heads, window, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    def forward(self, x: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor] | None):
        batch, steps, dim = x.shape  # (B, T, D)
        q, k, v = (t.view(batch, steps, self.heads, dim // self.heads).transpose(1, 2) for t in self.qkv(x).split(dim, dim=-1))
        if memory is not None:  # keys and values of the positions before x: (B, H, P, D/H)
            k, v = torch.cat([memory[0], k], dim=2), torch.cat([memory[1], v], dim=2)
        before = k.shape[2] - steps
        distance = (torch.arange(steps, device=x.device)[:, None] + before) - torch.arange(k.shape[2], device=x.device)[None, :]
        bias = -self.slopes[:, None, None] * distance  # (H, T, P + T): ALiBi
        bias = bias.masked_fill((distance < 0) | (distance >= self.window), -math.inf)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(batch, steps, dim)
        start = max(0, k.shape[2] - (self.window - 1))  # the memory of the next call: the last window - 1 positions
        return self.out(y), (k[:, :, start:], v[:, :, start:])


class Block(nn.Module):
    def __init__(self, config: RNNConfig):
        super().__init__()
        dim = config.embed_size
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, config.heads, config.seq_len, config.dropout)
        self.ff = nn.Sequential(nn.Linear(dim, config.hidden_size), nn.GELU(), nn.Linear(config.hidden_size, dim))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, memory):
        attended, memory = self.attn(self.norm1(x), memory)
        x = x + self.drop(attended)
        return x + self.drop(self.ff(self.norm2(x))), memory


class TransformerNet(nn.Module):
    """Embedding -> ``num_layers`` blocks -> layer norm -> output layer (see the module docstring).

    ``state``: None (the start of a text) or a tuple of each block's keys and values of the last
    ``seq_len - 1`` positions.
    """

    def __init__(self, vocab: Vocab, config: RNNConfig):
        super().__init__()
        dim = config.embed_size
        self.window = config.seq_len
        self.embedding = nn.Embedding(len(vocab), dim)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(dim)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        for block in self.blocks:  # residual projections scaled by depth (GPT-2)
            nn.init.normal_(block.attn.out.weight, std=0.02 / math.sqrt(2 * config.num_layers))
            nn.init.normal_(block.ff[2].weight, std=0.02 / math.sqrt(2 * config.num_layers))
        self.output = build_output(dim, vocab, config, self.embedding)
        if isinstance(self.output, FullSoftmax):
            nn.init.zeros_(self.output.proj.bias)
            if config.tie:
                self.output.proj.weight = self.embedding.weight

    def forward(self, x: torch.Tensor, state=None):
        memories = [None] * len(self.blocks) if state is None else [state[2 * i : 2 * i + 2] for i in range(len(self.blocks))]
        outputs = []
        for start in range(0, x.shape[1], self.window):  # blocks of C queries: attention C × 2C each
            h = self.drop(self.embedding(x[:, start : start + self.window]))  # (B, t, D)
            for i, block in enumerate(self.blocks):
                h, memories[i] = block(h, memories[i])
            outputs.append(self.drop(self.norm(h)))
        state = tuple(t for memory in memories for t in memory) if memories[0] is not None else state
        return torch.cat(outputs, dim=1), state
