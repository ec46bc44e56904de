"""ARPA export: the contract with KenLM, SRILM and every other n-gram tool (import: :mod:`lmstats.ngram.arpa_reader`).

An ARPA file stores, per order, ``log10 P(w | h)`` of every stored n-gram and ``log10 γ``
(the backoff weight) of every n-gram that is a context.  That is exactly the recursive form
lmstats scores with, so models whose lower distribution is the next-lower order (eps
recursive, Witten-Bell, absolute discounting, KN, MKN, stupid backoff for the stored part)
round-trip exactly; the others are refused with the reason.

Tokens are written as they are, except ASCII whitespace inside a token (char-level models
have a space token), which is written as the private-use character U+E000 + its code, since
ARPA separates words by whitespace.  ``<s>`` gets log10 P = -99 (SRILM's convention; KenLM reads it).
"""

from __future__ import annotations

import queue
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write
from lmstats.ngram.counts import NgramCounts
from lmstats.ngram.model import NgramLM
from lmstats.npyfile import take
from lmstats.threads import resolve_threads

_WS = " \t\r\f\v"
_ESCAPE = {ord(c): chr(0xE000 + ord(c)) for c in _WS}
_UNESCAPE = {0xE000 + ord(c): c for c in _WS}
BOS_LOG10 = -99.0


def escape_token(token: str) -> str:
    return token.translate(_ESCAPE)


def unescape_token(token: str) -> str:
    return token.translate(_UNESCAPE)


def arpa_refusal(smoothing: str, eps_variant: str = "recursive") -> str | None:
    """Why a model of this smoothing cannot be written as ARPA (None if it can)."""
    reasons = {
        "laplace": "add-k backs off to the uniform distribution at every order",
        "lidstone": "add-k backs off to the uniform distribution at every order",
        "mle": "MLE gives unseen events probability 0",
        "stupid": "stupid backoff multiplies by 0.4 even for unseen contexts",
    }
    if smoothing == "eps" and eps_variant == "textbook":
        return "the textbook eps variant interpolates every order with the unigram"
    return reasons.get(smoothing)


SLICE = 1 << 17  # n-grams formatted at a time


def _words_of(counts: NgramCounts, k: int, lo: int, hi: int) -> NDArray[np.int64]:
    """(hi - lo, k) word ids of the k-grams ``lo .. hi-1``, walking the packed prefix rows down the lower tables."""
    V = counts.vocab_size
    rows = take(counts.table(k).keys, lo, hi)
    out = np.empty((hi - lo, k), dtype=np.int64)
    for j in range(k - 1, -1, -1):
        if j < k - 1:
            rows = np.asarray(counts.table(j + 1).keys)[rows] if j > 0 else rows
        out[:, j] = rows % V if j > 0 else rows
        rows = rows // V
    return out


def write_arpa(model: NgramLM, path: str | Path, *, threads: int | None = None) -> None:
    """Write ``model`` as an ARPA file (atomically), slice by slice, the n-grams of each order in
    the order of their rows (:mod:`lmstats.ngram.arpatext` formats the lines).

    Every log10 value has :data:`~lmstats.ngram.arpatext.DECIMALS` digits after the point; tokens
    are UTF-8, whitespace in a token escaped (see :func:`escape_token`).  Slices are formatted on
    ``threads`` threads (default: :func:`lmstats.threads.resolve_threads` of the slices), a slice per thread at a time.
    """
    from lmstats.ngram.arpatext import format_lines  # compiled on first use (numba)

    model.check_fitted()
    est = model.estimate_
    why = arpa_refusal(model.smoothing, model.eps_variant)
    if why is not None:
        raise LmstatsError(
            f"ARPA is a backoff format whose unseen contexts weigh 1 and whose lower distribution is the next order; "
            f"the {model.smoothing} model does not have that form ({why}) — save it with --out MODEL.npz instead"
        )
    if any(0xE000 <= ord(ch) <= 0xE020 for tok in model.vocab for ch in tok):
        raise LmstatsError("the vocabulary already uses the private-use characters lmstats uses to escape whitespace in ARPA files")
    vocab, counts = model.vocab, model.counts_
    encoded = [escape_token(t).encode("utf-8") for t in vocab.tokens]
    strings = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    keep1 = np.ones(len(vocab), dtype=bool)
    if vocab.has_pad:
        keep1[vocab.pad_id] = False
    counts_per_order = [int(keep1.sum())] + [len(counts.table(k)) for k in range(2, model.order + 1)]

    buffers: queue.SimpleQueue = queue.SimpleQueue()  # byte buffers of written slices, reused (see format_lines)

    def section(k: int, lo: int, hi: int) -> memoryview:
        """The lines of the order-k n-grams in rows ``lo .. hi-1`` (a view of a buffer from ``buffers``)."""
        with np.errstate(divide="ignore"):
            logp = np.log10(take(est.probs[k - 1], lo, hi))
        words = _words_of(counts, k, lo, hi)
        keep = keep1[lo:hi] if k == 1 else np.ones(hi - lo, dtype=bool)
        if k == 1:
            logp[(words[:, 0] == vocab.bos_id)] = BOS_LOG10
        if np.isneginf(logp[keep]).any():
            raise LmstatsError(f"the {model.smoothing} model gives probability 0 to stored n-grams; "
                               "ARPA needs finite log-probabilities")
        backoff = np.log10(take(est.backoffs[k - 1], lo, hi))[keep] if k < model.order else None
        try:
            buffer = buffers.get_nowait()
        except queue.Empty:
            buffer = None
        return format_lines(words[keep], logp[keep], backoff, strings, offsets, buffer)

    jobs = [(k, lo, min(lo + SLICE, len(counts.table(k)))) for k in range(1, model.order + 1)
            for lo in range(0, len(counts.table(k)), SLICE)]
    n_threads = resolve_threads(threads, parts=len(jobs))
    with atomic_write(path, "wb") as fh, ThreadPoolExecutor(n_threads) as pool:
        fh.write(("\n\\data\\\n" + "".join(f"ngram {k}={n}\n" for k, n in enumerate(counts_per_order, 1))).encode())
        written = 0  # the highest order whose header is written
        for k, text in _in_order(pool, jobs, section, ahead=n_threads):
            for j in range(written + 1, k + 1):
                fh.write(f"\n\\{j}-grams:\n".encode())
            written = max(written, k)
            fh.write(text)
            buffers.put(text.obj)
        for j in range(written + 1, model.order + 1):  # orders without n-grams
            fh.write(f"\n\\{j}-grams:\n".encode())
        fh.write(b"\n\\end\\\n")


def _in_order(pool: ThreadPoolExecutor, jobs: list[tuple], fn, *, ahead: int):
    """(first field of the job, ``fn(*job)``) for every job, in order, with ``ahead`` jobs running at a time."""
    pending: deque = deque()
    for job in jobs:
        pending.append((job[0], pool.submit(fn, *job)))
        if len(pending) > ahead:
            k, future = pending.popleft()
            yield k, future.result()
    while pending:
        k, future = pending.popleft()
        yield k, future.result()
