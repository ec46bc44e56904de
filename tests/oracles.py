"""Reference computations the tests check lmstats against (test-only code, not part of the package).

* :func:`scratch_bptt`: loss and gradients of the from-scratch RNN by hand-written BPTT;
* :func:`log10_sentence_scores`: what KenLM's ``score(sentence)`` returns, from an n-gram model;
* :func:`next_log_probs`: an RNN's whole next-token distribution after a context;
* :func:`zipf_frame`: every Zipf exponent of an analysis in one DataFrame;
* :func:`split_text_lines`, :func:`tokenize`, :func:`reference_sentences`: the line-by-line
  definition of reading a corpus (token lists per line), which the streamed reader of
  :mod:`lmstats.text.ingest` is tested equal to.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

if TYPE_CHECKING:
    import torch

    from lmstats.zipf.results import ZipfAnalysis


def log10_sentence_scores(model, units) -> np.ndarray:
    """Total log10 probability of each unit (what KenLM's ``score(sentence)`` returns)."""
    lp = model.logprobs_lines(units) / math.log(10)
    return np.add.reduceat(lp, units.bounds[:-1]) if len(units) else np.zeros(0)


def next_log_probs(lm, context) -> NDArray[np.float64]:
    """ln P(w | <s>, context) for every id w under an RNNLM (its full distribution after ``context``); shape (V,)."""
    import torch

    from lmstats.rnn.lm import inference

    inputs = np.concatenate([[lm.vocab.bos_id], np.asarray(context, dtype=np.int64)]).astype(np.int64)
    with inference(lm.net):
        feats, _ = lm.net(torch.from_numpy(inputs).to(lm.device)[None], None)  # (1, T, D)
        return lm.net.output.log_probs(feats[0, -1:])[0].double().cpu().numpy()


def scratch_bptt(
    W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor, W_hq: torch.Tensor, b_q: torch.Tensor,
    x: torch.Tensor, y: torch.Tensor, H0: torch.Tensor, mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss ``Σ -ln softmax(O_t)[y_t]`` and its gradients by hand-written backpropagation through time.

    ``x``, ``y``: ``(B, T)`` ids; ``H0``: ``(B, H)``; ``mask``: ``-inf`` at ids never predicted.
    The reference that autograd's gradients of :class:`ScratchRNN` are tested against.
    """
    import torch
    import torch.nn.functional as F

    batch, steps = x.shape
    V = W_xh.shape[0]
    Xs = F.one_hot(x, V).to(W_xh.dtype)  # (B, T, V)
    Hs, Ps = [H0], []
    loss = W_xh.new_zeros(())
    for t in range(steps):
        Hs.append(torch.tanh(Xs[:, t] @ W_xh + Hs[-1] @ W_hh + b_h))  # (B, H)
        logits = Hs[-1] @ W_hq + b_q + (mask if mask is not None else 0)  # (B, V)
        P = torch.softmax(logits, dim=-1)
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


def zipf_frame(analysis: ZipfAnalysis) -> pd.DataFrame:
    """One row per n-gram order: counts and every exponent with its standard error."""
    rows = []
    for fit in analysis.fits:
        ls, mle, zm, pl, hp = fit.least_squares, fit.rank_mle, fit.mandelbrot, fit.power_law, fit.heaps
        rows.append({
            "order": fit.order, "n_tokens": fit.n_tokens, "n_types": fit.n_types, "hapax_ratio": fit.hapax_ratio,
            "ls_alpha": ls.alpha, "ls_alpha_se": ls.alpha_se, "ls_min_rank": ls.min_rank, "ls_max_rank": ls.max_rank,
            "ls_r_squared": ls.r_squared,
            "mle_alpha": mle.alpha, "mle_alpha_se": mle.alpha_se,
            "zm_alpha": zm.alpha, "zm_alpha_se": zm.alpha_se, "zm_b": zm.b, "zm_b_se": zm.b_se,
            "csn_freq_exponent": pl.freq_exponent, "csn_freq_exponent_se": pl.freq_exponent_se, "csn_xmin": pl.xmin,
            "csn_n_tail": pl.n_tail, "csn_ks": pl.ks,
            "csn_rank_exponent": pl.rank_exponent, "csn_rank_exponent_se": pl.rank_exponent_se, "csn_p_value": pl.p_value,
            "heaps_k": hp.k, "heaps_beta": hp.beta, "heaps_beta_se": hp.beta_se,
        })
    return pd.DataFrame(rows).set_index("order")


def split_text_lines(text: str) -> list[str]:
    """Lines of ``text`` split on ``\\n`` only (one ``\\r`` before it dropped); no final empty line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def tokenize(text_lines: Sequence[str], spec) -> list[list[str]]:
    """Token lists, one per line (format ``lines``) or one for the whole text (``stream``), line by line."""
    level = spec.level or "word"
    if spec.letters_only:
        letters = {ch for line in text_lines for ch in line if unicodedata.category(ch)[0] in "LM"}
        text_lines = [" ".join("".join(ch if ch in letters else " " for ch in line).split()) for line in text_lines]
    if spec.lower:
        text_lines = [line.lower() for line in text_lines]
    if spec.format == "stream":
        text_lines = [("\n" if level == "char" else " ").join(text_lines)]
    return [line.split() if level == "word" else list(line) for line in text_lines]


def reference_sentences(texts: Sequence[str], spec) -> list[list[str]]:
    """The token lists of several texts read one after another (a BOM at the start of each dropped)."""
    lines = [line for text in texts for line in split_text_lines(text.removeprefix("\ufeff"))]
    return tokenize(lines, spec)
