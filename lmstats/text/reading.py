"""A text read the way a model was trained, in pieces, as ids of the model's fixed vocabulary.

``lmstats score`` and :meth:`LanguageModel.score_text <lmstats.protocol.LanguageModel.score_text>`
read a text of any size holding one piece of it at a time (a chunk of the reader,
:data:`~lmstats.text.reader.CHUNK_BYTES`): :func:`read_pieces` hands on, piece by piece, the ids of
its tokens and the lines that ended in the piece (:class:`TextPiece`).

How the text is read comes from the model, never from options (:meth:`TextReading.of` its
:class:`~lmstats.trained_on.TrainedOn`): the level (word, char, or the subword pieces the model
stores), lower-casing, letters only, and a corpus read as one stream (``--format stream``: its
lines joined into one, at char level with the character ``\\n`` between them).  A model that
records nothing (an ARPA file) reads words as they are.  A token outside the vocabulary, and a
literal ``<s>``, ``</s>`` or ``<pad>``, is ``<unk>``.

The rules are the corpus reader's, by the same code (:func:`lmstats.text.ingest.ingest_pieces`
normalises and tokenizes, :func:`lmstats.text.subword.piece_table` cuts words into pieces), so a
corpus's test file read this way gives the tokens, characters and bytes of the corpus's test split
(tested at word, char and bpe level).  Plain words (no lower-casing, letters only or joining) take
the compiled scanner instead (:class:`lmstats.text.scan.TextEncoder`, several times faster than
``str.split`` and a ``dict``), which gives the same ids (tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import gather_runs
from lmstats.errors import LmstatsError
from lmstats.text.ingest import TypeTable, ingest_pieces
from lmstats.text.reader import CHUNK_BYTES, TextSource, read_chunks
from lmstats.text.spec import SUBWORD_LEVELS
from lmstats.text.subword import SubwordTokenizer, piece_table
from lmstats.trained_on import TrainedOn
from lmstats.vocab import Vocab

_BOM = "\ufeff".encode()


@dataclass(frozen=True)
class TextReading:
    """How a model reads text: its level, lower-casing, letters only, lines joined into one stream, subword pieces."""

    level: str = "word"
    lower: bool = False
    letters_only: bool = False
    joined: bool = False  # the corpus was read with --format stream
    tokenizer: SubwordTokenizer | None = None

    @classmethod
    def of(cls, trained_on: TrainedOn | None) -> TextReading:
        """The reading of a model trained on ``trained_on`` (None: words as they are)."""
        if trained_on is None:
            return cls()
        corpus = trained_on.corpus
        level = corpus.level or "word"
        tokenizer = trained_on.subword_tokenizer()
        if level in SUBWORD_LEVELS and tokenizer is None:
            raise LmstatsError(f"the model was trained at --level {level} but does not store its subword pieces, so a text "
                               "cannot be cut as it was; save the model again with this lmstats")
        return cls(level, corpus.lower, corpus.letters_only, corpus.format == "stream", tokenizer)

    @property
    def plain(self) -> bool:
        """Words as they are: what the compiled scanner reads."""
        return self.level == "word" and not (self.lower or self.letters_only or self.joined)

    def describe(self) -> str:
        level = f"{self.level} level" + (f" ({self.tokenizer.vocab_size} pieces)" if self.tokenizer else "")
        extras = [name for name, on in (("lower-cased", self.lower), ("letters only", self.letters_only),
                                        ("lines joined into one stream", self.joined)) if on]
        return ", ".join([level, *extras])


@dataclass(frozen=True, eq=False)
class TextPiece:
    """A piece of a text as vocabulary ids.

    ``lengths``: the tokens *in this piece* of every line that ended in it (the first may have begun
    in an earlier piece), with those lines' ``line_chars`` and ``line_bytes`` (the whole line's); the
    ids after them belong to the line that has not ended yet (:attr:`n_open`).  ``tokens``: the
    tokens as strings, when asked for.
    """

    ids: NDArray[np.int32]
    lengths: NDArray[np.int64]
    line_chars: NDArray[np.int64]
    line_bytes: NDArray[np.int64]
    tokens: list[str] | None = None

    @property
    def n_open(self) -> int:
        """Tokens of the line that has not ended yet (at the end of the piece)."""
        return len(self.ids) - int(self.lengths.sum())


def read_pieces(sources: Iterable[TextSource | Iterable[str]], vocab: Vocab, reading: TextReading = TextReading(), *,
                keep_tokens: bool = False, chunk_bytes: int = CHUNK_BYTES, encoder=None) -> Iterator[TextPiece]:
    """The texts of ``sources`` one after another, in pieces (see the module docstring).

    A source is a :class:`TextSource` or an iterable of strings (its text in chunks); the end of each
    ends its last line, as the corpus reader reads several files.  ``keep_tokens``: the pieces carry
    the token strings too (for per-token output; the plain path then reads as the others do).  ``encoder``: the
    vocabulary's :class:`~lmstats.text.scan.TextEncoder` when the caller has one (a saved model stores it), else built.
    """
    if not reading.plain or keep_tokens:
        encoder = None
    elif encoder is None:
        from lmstats.text.scan import TextEncoder

        encoder = TextEncoder(vocab)
    chunks = (read_chunks(s, chunk_bytes) if isinstance(s, TextSource) else s for s in sources)
    pieces = (p for text in chunks for p in (_scanned(text, encoder) if encoder else _ingested(text, vocab, reading, keep_tokens)))
    return _joined(pieces, vocab, reading) if reading.joined else pieces


class _VocabLookup:
    """The lookups :func:`~lmstats.text.ingest.ingest_pieces` makes, answered by a fixed vocabulary (the strings kept when asked)."""

    def __init__(self, vocab: Vocab, keep: bool):
        self.vocab, self.keep, self.kept = vocab, keep, []

    def encode(self, tokens: list[str]) -> NDArray[np.int32]:
        if self.keep:
            self.kept += tokens
        return self.vocab.encode(tokens).astype(np.int32)

    def encode_chars(self, text: str) -> NDArray[np.int32]:
        if self.keep:
            self.kept += list(text)
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        uniq, inverse = np.unique(points, return_inverse=True)
        return self.vocab.encode([chr(c) for c in uniq]).astype(np.int32)[inverse.reshape(-1)]

    def take(self) -> list[str]:
        kept, self.kept = self.kept, []
        return kept


class _WordTypes:
    """Word type ids for one piece at a time (a new table for each, so memory does not grow with the text's types)."""

    def __init__(self):
        self.table = TypeTable()

    def encode(self, tokens: list[str]) -> NDArray[np.int32]:
        return self.table.encode(tokens)

    def take(self) -> list[str]:
        types, self.table = self.table.types, TypeTable()
        return types


def _ingested(chunks: Iterable[str], vocab: Vocab, reading: TextReading, keep: bool) -> Iterator[TextPiece]:
    """One source read by the corpus reader's code; at a subword level its words cut into the model's pieces."""
    subword = reading.tokenizer is not None
    table = _WordTypes() if subword else _VocabLookup(vocab, keep)
    for part in ingest_pieces(chunks, table, level="word" if subword else reading.level, lower=reading.lower,
                              letters_only=reading.letters_only):
        if subword:
            yield _cut(part, table.take(), reading.tokenizer, vocab, keep)
        else:
            yield TextPiece(part.ids, part.lengths, part.line_chars, part.line_bytes, table.take() if keep else None)


def _cut(part, word_types: list[str], tokenizer: SubwordTokenizer, vocab: Vocab, keep: bool) -> TextPiece:
    """A piece of words (type ids of ``word_types``) as the model's subword pieces, as the corpus reader cuts them."""
    table = piece_table(word_types, tokenizer, lambda pieces: vocab.encode(pieces).astype(np.int32))
    n = table.lengths[part.ids]  # pieces of each word
    ids = table.pieces[gather_runs(table.offsets[part.ids], n)].astype(np.int32)
    at = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(part.lengths)]).astype(np.int64)
    return TextPiece(ids, at[bounds[1:]] - at[bounds[:-1]], part.line_chars, part.line_bytes, vocab.decode(ids) if keep else None)


def _scanned(chunks: Iterable[str], encoder) -> Iterator[TextPiece]:
    """One source's plain words through the compiled scanner: whole lines at once, a line longer than a chunk
    cut after a space or tab (no word spans the cut), the sizes of the lines as the corpus reader counts them."""
    rest = b""
    open_sizes = None  # (characters, bytes) of the part of the unfinished line scanned so far
    for chunk in chunks:
        data = rest + chunk.encode("utf-8")
        cut = data.rfind(b"\n") + 1 or max(data.rfind(b" "), data.rfind(b"\t")) + 1
        part, rest = data[:cut], data[cut:]
        if part:
            piece, open_sizes = _scan(encoder, part, open_sizes, ends=part.endswith(b"\n"))
            yield piece
    if rest or open_sizes is not None:
        yield _scan(encoder, rest, open_sizes, ends=True)[0]


def _scan(encoder, data: bytes, open_sizes, *, ends: bool):
    """``data`` (whole lines, or part of one line when it ends without a line break and not ``ends``) as a piece,
    and the sizes of the line left unfinished (None when every line ended)."""
    lines = encoder(b" " + data if data.startswith(_BOM) else data)  # a space keeps the scanner from dropping a BOM mid-text
    codes = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(codes == 10)
    starts = np.concatenate([[0], breaks + 1])[: len(breaks) + (0 if ends and len(breaks) else 1)]
    stops = breaks if len(starts) == len(breaks) else np.append(breaks, len(codes))
    crlf = np.zeros(len(stops), dtype=bool)
    crlf[stops > starts] = codes[stops[stops > starts] - 1] == 13
    stops = stops - crlf  # one \r before a line break (or the end of the text) is dropped
    follow = np.flatnonzero((codes & 0xC0) == 0x80)  # UTF-8 continuation bytes: every other byte starts a character
    n_bytes = (stops - starts).astype(np.int64)
    chars = n_bytes - (np.searchsorted(follow, stops) - np.searchsorted(follow, starts))
    if open_sizes is not None and len(chars):
        chars[0] += open_sizes[0]
        n_bytes[0] += open_sizes[1]
    lengths = lines.lengths
    if ends:
        if not len(lengths):  # the end of an unfinished line that has no tokens left
            lengths = np.zeros(1, dtype=np.int64)
        return TextPiece(lines.ids, lengths, chars, n_bytes), None
    done = len(breaks)
    return TextPiece(lines.ids, lengths[:done], chars[:done], n_bytes[:done]), (int(chars[-1]), int(n_bytes[-1]))


def _joined(pieces: Iterator[TextPiece], vocab: Vocab, reading: TextReading) -> Iterator[TextPiece]:
    """All lines as one (``--format stream``), as the corpus reader joins them: at char level the character
    ``\\n`` between two lines; the one line ends with the text (an empty text too), and its size counts the line breaks."""
    newline = np.array([vocab.text_id("\n")] if reading.level == "char" else [], dtype=np.int32)
    n_lines = chars = n_bytes = 0
    owed = False  # a line ended, and the line after it has not had its break yet
    keep = False
    for piece in pieces:
        keep = piece.tokens is not None
        bounds = np.concatenate([[0], np.cumsum(piece.lengths), [len(piece.ids)]]).astype(np.int64)
        ids, tokens = [], []
        for i in range(len(bounds) - 1):
            closes = i < len(piece.lengths)
            if owed and (closes or bounds[i + 1] > bounds[i]):
                ids.append(newline)
                tokens += ["\n"] * len(newline)
                owed = False
            ids.append(piece.ids[bounds[i] : bounds[i + 1]])
            tokens += piece.tokens[bounds[i] : bounds[i + 1]] if keep else []
            owed = owed or closes
        n_lines += len(piece.lengths)
        chars += int(piece.line_chars.sum())
        n_bytes += int(piece.line_bytes.sum())
        empty = np.zeros(0, dtype=np.int64)
        yield TextPiece(np.concatenate(ids).astype(np.int32), empty, empty, empty, tokens if keep else None)
    one = lambda size: np.array([size + max(n_lines - 1, 0)], dtype=np.int64)  # noqa: E731 (one line, even of no text)
    yield TextPiece(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64), one(chars), one(n_bytes), [] if keep else None)
