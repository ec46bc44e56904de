"""Text generation from a prefix: warm up on the prefix, then predict greedily or by sampling.

The warm-up period (d2l 9.5.4): the network reads ``<s>`` and the prefix, its predictions
ignored, so the hidden state holds the prefix; then each step takes the next token from
``P(w | <s>, prefix, generated so far)``: the most probable one (``greedy``) or a sample from
``P^(1/temperature)`` renormalised, drawn with a seeded ``torch.Generator``.  ``<s>`` has
probability 0 and is never produced; ``</s>`` (a line end) is rendered as a newline.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from lmstats.errors import LmstatsError
from lmstats.rnn.lm import inference
from lmstats.text.spec import SUBWORD_LEVELS
from lmstats.text.subword import WORD_START
from lmstats.vocab import EOS, Vocab


def tokenize_prefix(text: str, level: str, tokenizer=None) -> list[str]:
    """Tokens of a prefix at the model's level: whitespace-split words, characters, or the subword
    pieces of those words (``tokenizer``: the checkpoint's :class:`~lmstats.text.subword.SubwordTokenizer`)."""
    if level in SUBWORD_LEVELS:
        if tokenizer is None:
            raise LmstatsError(f"the checkpoint is at {level} level but stores no subword pieces; train it again with this lmstats")
        return [p for pieces in tokenizer.cut(text.split()) for p in pieces]
    return text.split() if level == "word" else list(text)


def render(tokens: list[str], level: str) -> str:
    """Text of generated tokens; ``</s>`` becomes a line break (subword pieces joined, ``▁`` a space)."""
    if level == "char":
        return "".join("\n" if t == EOS else t for t in tokens)
    if level in SUBWORD_LEVELS:
        text = "".join("\n" if t == EOS else t for t in tokens).replace(WORD_START, " ")
        return "\n".join(line.strip(" ") for line in text.split("\n"))
    lines, words = [], []
    for t in tokens:
        if t == EOS:
            lines.append(" ".join(words))
            words = []
        else:
            words.append(t)
    return "\n".join(lines + [" ".join(words)])


def generate(
    net: nn.Module,
    vocab: Vocab,
    prefix: NDArray[np.int64],
    length: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> NDArray[np.int64]:
    """``length`` ids continuing ``<s> + prefix``; shape (length,)."""
    if length < 0:
        raise LmstatsError(f"length must be >= 0, got {length}")
    if not greedy and not temperature > 0:
        raise LmstatsError(f"temperature must be > 0, got {temperature}; use --greedy for the most probable tokens")
    device = torch.device(device)
    inputs = torch.from_numpy(np.concatenate([[vocab.bos_id], np.asarray(prefix, dtype=np.int64)]).astype(np.int64))
    out = np.zeros(length, dtype=np.int64)
    with inference(net):
        feats, state = net(inputs.to(device)[None], None)  # warm-up: (1, T, D)
        for i in range(length):
            log_probs = net.output.log_probs(feats[0, -1:])[0].float().cpu()  # (V,), ln P; -inf at <s>
            if greedy:
                token = int(torch.argmax(log_probs))
            else:
                probs = torch.softmax(log_probs / temperature, dim=-1)
                token = int(torch.multinomial(probs, 1, generator=generator))
            out[i] = token
            feats, state = net(torch.tensor([[token]], device=device), state)  # (1, 1, D)
    return out
