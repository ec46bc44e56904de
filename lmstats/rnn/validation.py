"""What the per-epoch validation of an RNN run scores, and what it will cost (for the time budget)."""

from __future__ import annotations

import time

import numpy as np

from lmstats.encoded import EncodedSplit, Lines
from lmstats.evaluation import evaluate
from lmstats.protocol import LanguageModel


def validation_sample(valid: EncodedSplit, tokens: int | None, seed: int) -> EncodedSplit:
    """``valid`` itself, or a fixed sample of its lines holding about ``tokens`` tokens (at least one line).

    The lines are taken in a seeded random order until the sample holds ``tokens`` tokens, and kept
    in their order in the split; the same seed gives the same sample.  Empty lines count as lines
    (stream mode scores their ``</s>``).
    """
    lines = valid.lines
    if tokens is None or tokens >= lines.n_tokens:
        return valid
    order = np.random.default_rng([seed, 7]).permutation(len(lines))
    n = int(np.searchsorted(np.cumsum(lines.lengths[order]), tokens, side="left")) + 1
    keep = np.zeros(len(lines), dtype=bool)
    keep[order[:n]] = True
    return EncodedSplit(valid.name, lines.select(keep), valid.vocab)


def seconds_per_token(scorer: LanguageModel, valid: EncodedSplit, mode: str, tokens: int = 2000) -> float:
    """Seconds per token of validating ``valid``, timed on a prefix of about ``tokens`` tokens of its lines."""
    lines = valid.lines
    end = min(tokens, lines.n_tokens)
    n = max(int(np.searchsorted(lines.bounds, end, side="left")), 1)  # lines that start before `end`
    lengths = lines.lengths[:n].copy()
    lengths[-1] -= lines.bounds[n] - end if lines.bounds[n] > end else 0  # the last one cut at `end`
    prefix = EncodedSplit(valid.name, Lines.from_lengths(lines.ids[:end], lengths), valid.vocab)
    started = time.perf_counter()
    result = evaluate(scorer, prefix, mode=mode)
    return (time.perf_counter() - started) / max(result.n_tokens, 1)
