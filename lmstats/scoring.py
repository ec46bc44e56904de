"""Scoring a text with any model, streamed: the summary, per-line rows and per-token rows (``lmstats score``).

A text of any size is read in pieces as the model was trained (:mod:`lmstats.text.reading`) and
each piece is scored as it comes, so memory is the model plus a few pieces (one read ahead, those
on the pool), and rows are written as they are computed.  In sentence mode an n-gram model's pieces
are scored on a pool of threads while the next is read (the lines a piece holds whole do not depend
on what came before); the summary and rows still come in text order.  The units are the
evaluator's (:mod:`lmstats.units`), as KenLM's ``query`` and SRILM's ``ngram -ppl`` read a text:

``sentence`` (the default, as ``query``)
    every non-empty line on its own, from ``<s>``, ``</s>`` predicted at its end.  An empty line
    is not scored (as the evaluator, and unlike ``query``, which predicts ``</s>`` there).
``stream``
    the whole text as one sequence, a ``</s>`` predicted at every line end, empty lines included.

Lines that end inside a piece are scored together (:meth:`LanguageModel.logprobs_lines`); a unit
that goes on into the next piece (a line longer than a piece, and the stream) is continued there
with the context it had (:func:`continuation`): an n-gram model is given the ``order - 1`` tokens
before the piece, an RNN its hidden state, a mixture each component's.  Scored in pieces, a text
therefore gets the log-probabilities of scoring it whole (tested, for the n-gram model to the
bit), and the summary is the evaluator's :class:`~lmstats.evaluation.EvalResult` of the same sums,
so scoring a corpus's test file equals ``lmstats ngram --load`` on its test split (summed in
another order, so equal to about 1e-12).

Per-token rows are KenLM ``query``'s: the tokens of each line on one row, ``token=id length log10p``
each (``length``: the longest n-gram found, as ``query`` counts it, ``<s>`` included), then
``Total: log10p OOV: n``; they need an n-gram model.  Per-line rows are TSV: line number,
log10 probability, tokens (``</s>`` included), OOVs, perplexity.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.evaluation import EvalResult
from lmstats.protocol import LanguageModel
from lmstats.text.reader import TextSource
from lmstats.text.reading import TextPiece, TextReading, read_pieces
from lmstats.units import check_mode

LINE_HEADER = "line\tlog10_prob\ttokens\toov\tppl\n"
AHEAD = 1  # pieces read ahead of the one being scored (read_ahead; with the pool's two, as fast as 2 and a piece less held)
PIECE_BYTES = 1 << 19  # text read per piece: with the pieces in flight, 15 MB less peak memory than 1 MiB, no slower (WikiText-2 x20)
_LN10 = math.log(10)


def read_ahead(pieces: Iterator[TextPiece], depth: int = AHEAD, work=None, workers=None) -> Iterator:
    """The items of ``pieces``, read by a thread of their own up to ``depth`` ahead: the next piece is read and
    scanned while this one is scored (both in code that releases the GIL), and memory holds ``depth`` pieces more.
    With ``work``, ``(item, work(item))`` for each item after the first (``(item, None)`` for the first), the works run
    on a pool of ``workers()`` threads (called once, at the second item) while the consumer takes them in order.
    An error while reading or working is raised here, where the piece it stopped would have come.  When the consumer
    stops early (``| head``, Ctrl-C, an error), the reader stops at its next piece and queued works are cancelled; one
    waiting for input (a terminal, a pipe) is left waiting (a daemon thread: it does not keep the process alive)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    pools: list[ThreadPoolExecutor] = []

    def hand(kind: str, value) -> bool:
        """Put an item for the consumer; False when it has stopped."""
        while not stop.is_set():
            try:
                items.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for i, piece in enumerate(pieces):
                if work is not None and i > 0:
                    if not pools:
                        pools.append(ThreadPoolExecutor(max(1, workers()), thread_name_prefix="lmstats-score"))
                    if not hand("piece", (piece, pools[0].submit(work, piece))):
                        return
                elif not hand("piece", (piece, None) if work is not None else piece):
                    return
            hand("end", None)
        except BaseException as exc:  # handed to the consumer, which raises it
            hand("error", exc)

    reader = threading.Thread(target=read, name="lmstats-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            if work is not None and isinstance(value[1], Future):
                value = (value[0], value[1].result())
            yield value
    finally:
        stop.set()
        reader.join(timeout=0.5)  # a reader between pieces sees the stop within 0.1 s
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)


def continuation(model: LanguageModel):
    """How ``model`` goes on scoring a unit from one piece to the next (see the module docstring).  A model of
    another kind is given the whole unit so far before each piece: exact, but a long unit costs it memory and time."""
    from lmstats.mixture import Mixture
    from lmstats.uniform import UniformLM

    if isinstance(model, Mixture):
        return _MixtureCarry(model)
    if is_ngram(model):
        return _ContextCarry(model, model.order - 1)
    if type(model) is UniformLM:  # (a subclass may depend on the context)
        return _ContextCarry(model, 0)
    if hasattr(model, "logprobs_continued"):
        return _StateCarry(model)
    return _ContextCarry(model, None)


class _ContextCarry:
    """For a model whose predictions depend on at most ``context`` tokens before them (None: the whole unit).

    The tokens kept are scored again before the piece, from ``<s>``: when the unit so far is that
    short, they are the whole unit; otherwise an n-gram of the piece reaches back at most ``order - 1``
    tokens, so it never reaches the ``<s>`` put before them."""

    def __init__(self, model: LanguageModel, context: int | None):
        self.model, self.context = model, context
        self.reset()

    def reset(self) -> None:
        self.kept = np.zeros(0, dtype=np.int64)

    def score(self, ids: NDArray, matched: bool = False):
        seq = np.concatenate([self.kept, ids]).astype(np.int64)
        lead = len(self.kept)
        lp = np.asarray(self.model.logprobs(seq), dtype=np.float64)[lead:]
        lengths = matched_lengths(self.model, Lines.single(seq))[lead:] if matched else None
        self.kept = seq if self.context is None else seq[len(seq) - min(self.context, len(seq)):]
        return lp, lengths


class _StateCarry:
    """For a model that carries a state (the RNN's ``logprobs_continued``)."""

    def __init__(self, model):
        self.model = model
        self.reset()

    def reset(self) -> None:
        self.state = None

    def score(self, ids: NDArray, matched: bool = False):
        lp, self.state = self.model.logprobs_continued(ids, self.state)
        return lp, None


class _MixtureCarry:
    """Each component goes on with its own continuation; their log-probabilities are mixed."""

    def __init__(self, mixture):
        self.mixture = mixture
        self.parts = [continuation(m) for m in mixture.models]

    def reset(self) -> None:
        for part in self.parts:
            part.reset()

    def score(self, ids: NDArray, matched: bool = False):
        from lmstats.mixture import mix_logprobs

        return mix_logprobs(np.stack([part.score(ids)[0] for part in self.parts]), self.mixture.weights), None


def is_ngram(model) -> bool:
    """Whether ``model`` is an n-gram model, full or compact (its predictions depend on ``order - 1`` tokens, and it
    gives n-gram lengths)."""
    from lmstats.ngram.compact import CompactNgramLM
    from lmstats.ngram.model import NgramLM

    return isinstance(model, (NgramLM, CompactNgramLM))


def matched_lengths(model, units: Lines) -> NDArray[np.int64]:
    """For every token of ``units`` (each from ``<s>``), the length of the longest n-gram ending there that the
    model stores, ``<s>`` counted (``query``'s ``ngram_length``): one lookup per order for all positions (a compact
    model's trie: :meth:`~lmstats.ngram.compact.CompactNgramLM.matched_lengths`)."""
    from lmstats.ngram.counts import layout, lookup_rows

    if hasattr(model, "matched_lengths"):
        return model.matched_lengths(units)

    pos = layout(units, model.vocab.bos_id)
    rows = lookup_rows(model.counts_, pos, model.indexes())  # the model's own indexes (stored with a saved model)
    found = np.stack([r >= 0 for r in rows])  # (order, positions)
    longest = len(rows) - np.argmax(found[::-1], axis=0)  # the highest order found; order 1 always is
    return longest[pos.scored].astype(np.int64)


@dataclass(frozen=True, eq=False)
class ScoredPiece:
    """One piece of a text, scored.

    ``ids``/``logprobs``: the tokens scored in the piece, in text order, with the ``</s>`` the mode
    predicts at a line end; ``ends[j]``: where in them the ``j``-th line that ended in the piece ends
    (its tokens before may have begun in an earlier piece); the tokens after the last end are of a line
    that goes on.  ``first_line``: the number (0-based) of the line the piece begins in.  Per ended line,
    over the whole line: ``line_logprob`` (ln), ``line_tokens``, ``line_oov``.  ``tokens`` (the token
    strings) and ``matched`` (n-gram lengths) are there for per-token rows.
    """

    ids: NDArray[np.int64]
    logprobs: NDArray[np.float64]
    ends: NDArray[np.int64]
    first_line: int
    line_logprob: NDArray[np.float64]
    line_tokens: NDArray[np.int64]
    line_oov: NDArray[np.int64]
    tokens: list[str] | None = None
    matched: NDArray[np.int64] | None = None

    def line_rows(self) -> str:
        """TSV rows of the lines that ended in the piece (see the module docstring; no header)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ppl = np.exp(-self.line_logprob / self.line_tokens)  # a line with nothing scored: nan
        numbers = zip(self.line_logprob / _LN10, self.line_tokens.tolist(), self.line_oov.tolist(), ppl.tolist(), strict=True)
        return "".join(f"{self.first_line + j + 1}\t{lp:.6f}\t{n}\t{oov}\t{p:.4f}\n" for j, (lp, n, oov, p) in enumerate(numbers))

    def token_rows(self) -> str:
        """``query``'s rows: each token of the piece as ``token=id length log10p`` and a tab, each line end as
        ``Total: log10p OOV: n`` and a line break (a line that goes on is continued by the next piece's rows);
        a tab, line break or backslash in a token is written ``\\t``, ``\\n``, ``\\\\``.  For a scorer with ``per_token``."""
        words = [w.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") for w in self.tokens]
        cells = [f"{w}={i} {n} {p:.8g}\t" for w, i, n, p in
                 zip(words, self.ids.tolist(), self.matched.tolist(), (self.logprobs / _LN10).tolist(), strict=True)]
        totals = [f"Total: {lp:.8g} OOV: {oov}\n" for lp, oov in zip((self.line_logprob / _LN10).tolist(), self.line_oov.tolist(),
                                                                       strict=True)]
        bounds = [0, *self.ends.tolist(), len(cells)]
        return "".join("".join(cells[bounds[j] : bounds[j + 1]]) + (totals[j] if j < len(totals) else "") for j in range(len(bounds) - 1))


class TextScorer:
    """Scores texts with ``model`` in ``mode``, read as ``reading`` says (None: as the model records it was trained,
    its ``trained_on_``; words as they are when it records nothing); ``per_token``: keep the token strings and the
    n-gram lengths (an n-gram model only).  Iterate :meth:`pieces`, then take :meth:`result`."""

    def __init__(self, model: LanguageModel, *, mode: str = "sentence", reading: TextReading | None = None, per_token: bool = False):
        if per_token and not is_ngram(model):
            raise LmstatsError(f"per-token rows give the n-gram length matched, and a {type(model).__name__} is not an n-gram model; "
                               "score it per line or as a summary")
        self.model, self.mode, self.per_token = model, check_mode(mode), per_token
        self.reading = reading if reading is not None else TextReading.of(getattr(model, "trained_on_", None))
        self.carry = continuation(model)
        self.open_tokens = 0  # tokens scored so far of the line that goes on
        self.open_line = np.zeros(3)  # its ln P, tokens, OOVs so far
        self.lines_done = 0
        self.sums = dict.fromkeys(("n_units", "n_tokens", "n_oov", "n_zero", "nll_sum", "nll_sum_no_oov", "n_chars", "n_bytes"), 0)
        self.units: list[tuple[NDArray, NDArray]] = []  # per scored unit, its -ln P and tokens (lmstats.bootstrap)
        self.stream_rest = np.zeros(0)  # stream mode: ln P of the tokens after the last whole base block

    def pieces(self, sources: Iterable[TextSource | Iterable[str]], *, chunk_bytes: int = PIECE_BYTES) -> Iterator[ScoredPiece]:
        """Each piece of the texts of ``sources`` (see :func:`lmstats.text.reading.read_pieces`), scored."""
        encoder = self.model.text_encoder() if hasattr(self.model, "text_encoder") else None  # a saved n-gram model's own
        pieces = read_pieces(sources, self.model.vocab, self.reading, keep_tokens=self.per_token, chunk_bytes=chunk_bytes,
                             encoder=encoder)
        if self.mode == "sentence" and not self.per_token and is_ngram(self.model):  # lines scored on a pool (_inner_lines)
            from lmstats.threads import default_threads

            for piece, inner in read_ahead(pieces, work=self._inner_lines, workers=default_threads):
                yield self._score(piece, inner)
            return
        for piece in read_ahead(pieces):
            yield self._score(piece)

    def result(self, name: str = "text") -> EvalResult:
        """The evaluator's figures of everything scored so far (``name``: the text's, in the result's ``split``)."""
        if self.sums["n_tokens"] == 0:
            blank = " or only empty lines (sentence mode scores no empty line)" if self.mode == "sentence" else ""
            raise LmstatsError(f"{name}: no tokens to score: the text is empty{blank}; give a text with words")
        units = self.sums["n_units"] if self.mode == "sentence" else 1
        return EvalResult(split=name, mode=self.mode, **(self.sums | {"n_units": units}))

    def unit_sums(self):
        """The per-unit sums of everything scored so far (:class:`lmstats.bootstrap.UnitSums`): each line that was scored
        in sentence mode; in stream mode, blocks of :func:`~lmstats.bootstrap.stream_block` tokens (the last shorter),
        made of the sums of :data:`~lmstats.bootstrap.BASE_BLOCK` tokens kept as the text was scored."""
        from lmstats.bootstrap import BASE_BLOCK, UnitSums, stream_block

        parts = self.units + ([(np.array([-self.stream_rest.sum()]), np.array([len(self.stream_rest)]))] if len(self.stream_rest) else [])
        nll = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
        n = np.concatenate([p[1] for p in parts]).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        if self.mode == "sentence" or len(n) == 0:
            return UnitSums(nll, n, "line")
        block = stream_block(int(n.sum()))
        starts = np.arange(0, len(n), block // BASE_BLOCK)
        return UnitSums(np.add.reduceat(nll, starts), np.add.reduceat(n, starts), f"block of {block} tokens")

    def _add_units(self, lp: NDArray, per_line: NDArray, scored: NDArray) -> None:
        from lmstats.bootstrap import BASE_BLOCK

        if self.mode == "sentence":
            self.units.append((-per_line[0, : len(scored)][scored], per_line[1, : len(scored)][scored]))
            return
        stream = np.concatenate([self.stream_rest, lp])
        whole = len(stream) // BASE_BLOCK * BASE_BLOCK
        if whole:
            self.units.append((-stream[:whole].reshape(-1, BASE_BLOCK).sum(axis=1), np.full(whole // BASE_BLOCK, BASE_BLOCK)))
        self.stream_rest = stream[whole:]

    def _inner_lines(self, piece: TextPiece) -> NDArray[np.float64] | None:
        """Sentence mode: ln P of the tokens of the lines the piece holds whole whatever came before it (each line that
        ended in it but the first; a ``</s>`` after each non-empty one), in text order; None when there are none.  No
        state is read, so pieces are scored so on a pool of threads while :meth:`_score` goes through them in order."""
        if len(piece.lengths) < 2:
            return None
        start = int(piece.lengths[0])
        lines = Lines.from_lengths(piece.ids[start : start + int(piece.lengths[1:].sum())], piece.lengths[1:])
        return self.model.logprobs_lines(lines.nonempty().with_eos(self.model.vocab.eos_id), threads=1)

    def _score(self, piece: TextPiece, inner: NDArray[np.float64] | None = None) -> ScoredPiece:
        vocab = self.model.vocab
        ended = len(piece.lengths)
        seg = np.append(piece.lengths, piece.n_open)  # tokens in the piece of each line that ended, then of the one going on
        whole = seg.copy()
        whole[0] += self.open_tokens
        eos = np.zeros(len(seg), dtype=bool)
        eos[:ended] = True if self.mode == "stream" else whole[:ended] > 0  # sentence mode scores no empty line
        bounds = np.concatenate([[0], np.cumsum(seg + eos)]).astype(np.int64)
        ids = np.empty(bounds[-1], dtype=np.int64)
        at_eos = np.zeros(len(ids), dtype=bool)
        at_eos[bounds[1:][eos] - 1] = True
        ids[at_eos] = vocab.eos_id
        ids[~at_eos] = piece.ids
        lp, matched = self._logprobs(ids, bounds, ended, inner)
        self._add(piece, ids, lp, bounds, ended, whole)
        which = np.repeat(np.arange(len(seg)), np.diff(bounds))  # the line of every scored token
        oov = ids == vocab.unk_id
        per_line = np.stack([np.bincount(which, weights=lp, minlength=len(seg)), np.diff(bounds),
                             np.bincount(which, weights=oov, minlength=len(seg))]).astype(np.float64)  # (3, lines)
        per_line[:, 0] += self.open_line
        self._add_units(lp, per_line, whole[:ended] > 0)
        self.open_line = per_line[:, ended] if ended else per_line[:, 0]
        self.open_tokens = int(whole[ended]) if ended else int(whole[0])
        first, self.lines_done = self.lines_done, self.lines_done + ended
        tokens = None
        if piece.tokens is not None:
            tokens = np.array(piece.tokens + ["</s>"], dtype=object)[np.where(at_eos, len(piece.tokens), np.cumsum(~at_eos) - 1)].tolist()
        return ScoredPiece(ids, lp, bounds[1 : ended + 1], first, per_line[0, :ended], per_line[1, :ended].astype(np.int64),
                           per_line[2, :ended].astype(np.int64), tokens, matched)

    def _logprobs(self, ids: NDArray, bounds: NDArray, ended: int,
                  inner: NDArray | None = None) -> tuple[NDArray[np.float64], NDArray | None]:
        """ln P (and n-gram lengths for per-token rows) of the piece's tokens: the stream, or a line that goes on, by the
        continuation; the lines that begin and end in the piece at once (those after the first given as ``inner``,
        :meth:`_inner_lines`'s)."""
        want = self.per_token
        if self.mode == "stream":
            return self.carry.score(ids, want)
        lp = np.empty(len(ids), dtype=np.float64)
        matched = np.empty(len(ids), dtype=np.int64) if want else None
        spans = []  # (start, stop, how): "on" a line that began earlier, "new" a line that begins and goes on
        first_whole = 0
        if self.open_tokens:
            spans.append((0, bounds[1], "on"))
            first_whole = 1
        top = 1 if inner is not None else ended  # the lines first_whole..top-1 are scored here, those to ended-1 came in inner
        if top > first_whole:
            a, b = bounds[first_whole], bounds[top]
            lines = Lines(ids[a:b], bounds[first_whole : top + 1] - a).nonempty()
            lp[a:b] = self.model.logprobs_lines(lines)
            if want:
                matched[a:b] = matched_lengths(self.model, lines)
        if inner is not None:
            lp[bounds[1] : bounds[ended]] = inner
        if bounds[-1] > bounds[ended] and (ended or not self.open_tokens):
            spans.append((bounds[ended], bounds[-1], "new"))
        for a, b, how in spans:
            if how == "new":
                self.carry.reset()
            lp[a:b], lengths = self.carry.score(ids[a:b], want)
            if want:
                matched[a:b] = lengths
        return lp, matched

    def _add(self, piece: TextPiece, ids: NDArray, lp: NDArray, bounds: NDArray, ended: int, whole: NDArray) -> None:
        """Add the piece to the sums of :meth:`result` (the evaluator's: see :func:`lmstats.evaluation.reduce_logprobs`)."""
        oov = ids == self.model.vocab.unk_id
        scored = whole[:ended] > 0 if self.mode == "sentence" else np.ones(ended, dtype=bool)  # the lines whose text counts
        s = self.sums
        s["n_units"] += int(scored.sum())
        s["n_tokens"] += len(lp)
        s["n_oov"] += int(oov.sum())
        s["n_zero"] += int(np.isneginf(lp).sum())
        s["nll_sum"] += float(-lp.sum())
        s["nll_sum_no_oov"] += float(-lp[~oov].sum())
        s["n_chars"] += int(piece.line_chars[scored].sum()) + int(scored.sum())  # one line break per </s>
        s["n_bytes"] += int(piece.line_bytes[scored].sum()) + int(scored.sum())


def score_text(model: LanguageModel, text: str | Iterable[str], *, mode: str = "sentence",
               reading: TextReading | None = None) -> EvalResult:
    """The figures of scoring ``text`` with ``model`` (see :class:`TextScorer`): ``text`` is the text itself (a ``str``)
    or its lines (any iterable of strings, read as it goes: an open file works, whatever its size)."""
    scorer = TextScorer(model, mode=mode, reading=reading)
    source = TextSource("text", text=text) if isinstance(text, str) else _line_chunks(text)
    for _ in scorer.pieces([source]):
        pass
    return scorer.result()


def _line_chunks(lines: Iterable[str], size: int = 1 << 20) -> Iterator[str]:
    """``lines`` (each one line, its line break optional) as chunks of whole lines of about ``size`` characters."""
    batch, held = [], 0
    for line in lines:
        if not isinstance(line, str):
            raise LmstatsError(f"score_text takes a str or an iterable of str lines, got a line of type {type(line).__name__}")
        batch.append(line if line.endswith("\n") else line + "\n")
        held += len(line)
        if held >= size:
            yield "".join(batch)
            batch, held = [], 0
    if batch:
        yield "".join(batch)
