"""A new corpus's text to *type ids*: read in chunks, tokenize whole chunks, give every type a dense id.

No per-line token lists: a chunk of 1 MiB (:data:`~lmstats.text.reader.CHUNK_BYTES`) is decoded
once, its lines are counted with ``str.split("\\n")`` and its tokens with one ``str.split()``
(word level) or with the code points of the whole chunk (char level), and tokens become ids
through one ``dict`` lookup per token inside ``np.fromiter`` (a ``defaultdict`` whose
missing-key factory is ``len`` gives new types the next id, so the first pass needs no
vocabulary).  The ids are dense, in first-seen order, one per distinct token string; the
vocabulary is built afterwards from the training split's counts (``np.bincount``,
:meth:`lmstats.vocab.Vocab.from_counts`) and mapped onto them with one gather
(:meth:`TypeTable.vocab_ids`).  The chunk size bounds the memory of one chunk's token strings,
which Python's allocator keeps after they are freed (measurements: ``reports/development_log.md``);
a line longer than a chunk (a file without line breaks) is read in pieces cut where cutting
changes no token (:class:`_LineReader`), so that bound holds whatever the lengths of the lines.

The rules, applied line by line: lines end at ``\\n`` (a ``\\r`` before it is dropped, a final
empty line is not a line), a BOM at the start of a file is dropped, words are split on any
Unicode whitespace, characters are every code point of the line; ``letters_only`` sends every
non-letter to a space and ``lower`` lower-cases; ``stream`` format joins the lines (with the
character ``\\n`` at char level).  Text under a model's *fixed* vocabulary is read by
:mod:`lmstats.text.scan` instead, which gives the same ids.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import reduce_pieces
from lmstats.npyfile import NpyAppender
from lmstats.text.reader import CHUNK_BYTES, TextSource, read_chunks
from lmstats.vocab import Vocab

_SPACE_RUNS = re.compile(r" {2,}")
_SPACE_AT_BREAKS = re.compile(r" ?\n ?")
_PLAIN_CATEGORIES = frozenset(("Lu", "Ll", "Lt", "Lo", "Nd"))  # never case-ignorable (checked over every code point)


class TypeTable:
    """Token strings -> dense type ids in first-seen order, shared by every split of a corpus."""

    def __init__(self) -> None:
        self._index: defaultdict[str, int] = defaultdict()
        self._index.default_factory = self._index.__len__  # a new token gets the next id

    def __len__(self) -> int:
        return len(self._index)

    @property
    def types(self) -> list[str]:
        return list(self._index)

    def id(self, token: str) -> int | None:
        return self._index.get(token)

    def encode(self, tokens: list[str]) -> NDArray[np.int32]:
        return np.fromiter(map(self._index.__getitem__, tokens), dtype=np.int32, count=len(tokens))

    def encode_chars(self, text: str) -> NDArray[np.int32]:
        """Type ids of every character of ``text`` (code points through a small lookup table)."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        if len(points) == 0:
            return np.zeros(0, dtype=np.int32)
        uniq, first, inverse = np.unique(points, return_index=True, return_inverse=True)
        lut = np.empty(len(uniq), dtype=np.int32)
        for j in np.argsort(first, kind="stable"):  # new characters get ids in first-seen order
            lut[j] = self._index[chr(uniq[j])]
        return lut[inverse.reshape(-1)]

    def vocab_ids(self, vocab: Vocab) -> NDArray[np.int32]:
        """The vocabulary id of every type (``<unk>`` for types outside it and literal boundary markers)."""
        return vocab_ids(self._index, vocab)

    def type_bytes(self) -> NDArray[np.int64]:
        """The UTF-8 bytes of every type's string."""
        return np.fromiter((len(t.encode("utf-8")) for t in self._index), dtype=np.int64, count=len(self._index))

    def type_counts(self, ids: NDArray[np.int32]) -> NDArray[np.int64]:
        """How often each type occurs in ``ids`` (in pieces when ``ids`` is disk-backed)."""
        return sum(reduce_pieces(ids, lambda part: np.bincount(part, minlength=len(self)).astype(np.int64)))


def vocab_ids(types: Sequence[str], vocab: Vocab) -> NDArray[np.int32]:
    """The vocabulary id of each of ``types`` (``<unk>`` for types outside it and literal boundary markers)."""
    return np.fromiter((vocab.text_id(t) for t in types), dtype=np.int32, count=len(types))


@dataclass(frozen=True, eq=False)
class TypeIds:
    """A text as type ids: ``ids`` of every token, ``lengths`` tokens per line.

    ``line_chars``/``line_bytes``: the characters (code points) and UTF-8 bytes of every line's
    text as read (after --lower/--letters-only, without its line break), for bits per character;
    None where a text was cut by token position at word level, which has no text boundaries.
    """

    ids: NDArray[np.int32]
    lengths: NDArray[np.int64]
    line_chars: NDArray[np.int32] | None = None
    line_bytes: NDArray[np.int32] | None = None

    @property
    def n_tokens(self) -> int:
        return int(len(self.ids))

    @property
    def n_lines(self) -> int:
        return int(len(self.lengths))


class _Normaliser:
    """``letters_only`` and ``lower`` on whole lines at once, equal to applying them line by line."""

    def __init__(self, letters_only: bool, lower: bool, level: str):
        self.letters_only, self.lower, self.level = letters_only, lower, level
        self._table: dict[int, str] = {}
        self._seen: set[str] = {"\n"}

    def __call__(self, chunk: str) -> str:
        """``chunk``: whole lines, each ending with ``\\n``."""
        if self.letters_only:
            chunk = self.letters(chunk)
            if self.level == "char":  # runs of non-letters become one space, none at either end of a line
                chunk = _SPACE_AT_BREAKS.sub("\n", _SPACE_RUNS.sub(" ", chunk)).lstrip(" ")  # chunks start at a line start
        return chunk.lower() if self.lower else chunk

    def letters(self, text: str) -> str:
        """Every character but letters and marks (and ``\\n``) as a space."""
        new = set(text) - self._seen
        self._seen |= new
        self._table.update({ord(ch): " " for ch in new if unicodedata.category(ch)[0] not in "LM"})
        return text.translate(self._table)


def ingest(sources: Iterable[TextSource], table: TypeTable, *, level: str = "word", lower: bool = False,
           letters_only: bool = False, stream: bool = False, chunk_bytes: int = CHUNK_BYTES, spill: Path | None = None) -> TypeIds:
    """Read ``sources`` one after another (their lines in order) into type ids of ``table``.

    ``spill``: a work folder; the ids are then appended chunk by chunk to a ``.npy`` file there
    and returned memory-mapped (disk-backed, see :mod:`lmstats.encoded`) instead of held in memory.
    """
    return ingest_texts((read_chunks(source, chunk_bytes) for source in sources), table, level=level, lower=lower,
                        letters_only=letters_only, stream=stream, spill=spill)


def ingest_texts(texts: Iterable[Iterable[str]], table: TypeTable, *, level: str = "word", lower: bool = False,
                 letters_only: bool = False, stream: bool = False, spill: Path | None = None) -> TypeIds:
    """:func:`ingest` of texts given as their chunks (each text's chunks of whole lines, its last line ended by its
    end, as :func:`~lmstats.text.reader.read_chunks` gives them): a source, or a byte range of one
    (:mod:`lmstats.text.ranges`)."""
    normalise = _Normaliser(letters_only, lower, level)
    out = _Parts([] if spill is None else _SpilledParts(spill), [], [])
    for chunks in texts:
        reader = _LineReader(normalise, level, table, out)
        for chunk in chunks:
            reader.feed(chunk)
        reader.finish()
    if isinstance(out.ids, _SpilledParts):
        ids = out.ids.close()
    else:
        ids = np.concatenate(out.ids) if out.ids else np.zeros(0, dtype=np.int32)
    lengths = np.concatenate(out.lengths) if out.lengths else np.zeros(0, dtype=np.int64)
    chars = np.concatenate([c for c, _ in out.sizes]) if out.sizes else np.zeros(0, dtype=np.int32)
    n_bytes = np.concatenate([b for _, b in out.sizes]) if out.sizes else np.zeros(0, dtype=np.int32)
    text = TypeIds(ids, lengths, chars, n_bytes)
    return _as_stream(text, level, table) if stream else text


def ingest_pieces(chunks: Iterable[str], table, *, level: str = "word", lower: bool = False,
                  letters_only: bool = False) -> Iterator[TypeIds]:
    """One source's text, given as ``chunks`` (:func:`~lmstats.text.reader.read_chunks` of it, or any strings), read
    as :func:`ingest` reads a source and handed on chunk by chunk, so that a text of any size is read holding one
    chunk (``lmstats score`` streams a text this way); the end of ``chunks`` ends the last line.

    Each piece is a :class:`TypeIds` of the tokens read from one chunk, whose ``lengths`` are the tokens *in
    this piece* of every line that ended in it (the first of them may have begun in an earlier piece), with
    those lines' characters and bytes; the tokens after them belong to the line that has not ended yet.
    ``table``: what gives tokens their ids, ``encode(tokens)`` and ``encode_chars(text)`` (a :class:`TypeTable`,
    or the lookups of a model's fixed vocabulary).
    """
    out = _Parts([], [], [])
    reader = _LineReader(_Normaliser(letters_only, lower, level), level, table, out)
    open_tokens = 0  # tokens of the unfinished line handed on in earlier pieces

    def piece() -> TypeIds:
        nonlocal open_tokens
        ids = np.concatenate(out.ids).astype(np.int32, copy=False) if out.ids else np.zeros(0, dtype=np.int32)
        lengths = np.concatenate(out.lengths) if out.lengths else np.zeros(0, dtype=np.int64)
        sizes = [np.concatenate([part[i] for part in out.sizes]).astype(np.int64) if out.sizes else np.zeros(0, dtype=np.int64)
                 for i in (0, 1)]
        if len(lengths):
            lengths[0] -= open_tokens
            open_tokens = len(ids) - int(lengths.sum())
        else:
            open_tokens += len(ids)
        out.ids.clear()
        out.lengths.clear()
        out.sizes.clear()
        return TypeIds(ids, lengths, *sizes)

    for chunk in chunks:
        reader.feed(chunk)
        yield piece()
    reader.finish()
    yield piece()


@dataclass(frozen=True)
class _Parts:
    """What :func:`ingest` collects: id parts, tokens per line, (characters, bytes) per line."""

    ids: list | _SpilledParts
    lengths: list[NDArray[np.int64]]
    sizes: list[tuple[NDArray, NDArray]]


class _LineReader:
    """One source's chunks to ids, lines whole where a chunk holds them, a line longer than a chunk in pieces.

    A chunk's whole lines are read at once (:meth:`_lines`); the unfinished line at its end is
    read up to the last place where cutting it changes nothing (:func:`_safe_cut`), and only the
    rest is carried to the next chunk, so a line of any length (a file without line breaks) is
    read holding about one chunk.  Such a line's tokens, characters and bytes add up across its
    pieces (:meth:`_piece`) until its line end closes it.
    """

    def __init__(self, normalise: _Normaliser, level: str, table: TypeTable, out: _Parts):
        self.normalise, self.level, self.table, self.out = normalise, level, table, out
        self.carry = ""  # the end of the unfinished line not read yet
        self.open = False  # part of the unfinished line is read: its sums below
        self.tokens = self.chars = self.n_bytes = 0
        self.letters = self.space = False  # char level with letters_only: a letter kept so far, a space pending after it

    def feed(self, chunk: str) -> None:
        scanned = max(len(self.carry) - 1, 0)  # no safe cut before here (the carry was searched)
        text, self.carry = self.carry + chunk, ""
        if self.open:
            end = text.find("\n")
            if end < 0:
                self._unfinished(text, scanned)
                return
            self._piece(text[:end].removesuffix("\r"))
            self._close()
            text, scanned = text[end + 1 :], 0
        cut = text.rfind("\n") + 1
        if cut:
            self._lines(text[:cut])
            text, scanned = text[cut:], 0
        self._unfinished(text, scanned)

    def finish(self) -> None:
        """The source's end ends its last line (one ``\\r`` before it dropped, as before a line end)."""
        if self.carry or self.open:
            self._piece(self.carry.removesuffix("\r"))
            self._close()
        self.carry = ""

    def _unfinished(self, text: str, scanned: int) -> None:
        cut = _safe_cut(text, scanned, self.level, self.normalise.lower)
        if cut:
            self._piece(text[:cut])
        self.carry = text[cut:]

    def _piece(self, text: str) -> None:
        """A piece of the open line (no line break in it)."""
        self.open = True
        if self.normalise.letters_only:
            text = self.normalise.letters(text)
            if self.level == "char":
                text = self._spaces(text)
        if self.normalise.lower:
            text = text.lower()
        self.chars += len(text)
        self.n_bytes += len(text) if text.isascii() else len(text.encode("utf-8"))
        if self.level == "char":
            self.tokens += len(text)
            self.out.ids.append(self.table.encode_chars(text))
        else:
            words = text.split()
            self.tokens += len(words)
            self.out.ids.append(self.table.encode(words))

    def _spaces(self, text: str) -> str:
        """A piece (its non-letters spaces already) with runs of spaces as one, none at either end of the line."""
        spaced = _SPACE_RUNS.sub(" ", text)
        core = spaced.strip(" ")
        if not core:
            self.space = self.space or (self.letters and spaced != "")
            return ""
        lead = " " if self.letters and (self.space or spaced.startswith(" ")) else ""
        self.letters, self.space = True, spaced.endswith(" ")
        return lead + core

    def _close(self) -> None:
        self.out.lengths.append(np.array([self.tokens], dtype=np.int64))
        dtype = np.int32 if self.n_bytes < 2**31 else np.int64  # as the other lines, unless this one passes 2 GB
        self.out.sizes.append((np.array([self.chars], dtype=dtype), np.array([self.n_bytes], dtype=dtype)))
        self.open = self.letters = self.space = False
        self.tokens = self.chars = self.n_bytes = 0

    def _lines(self, text: str) -> None:
        """``text`` is whole lines, each ending with ``\n``; one ``\r`` before a line end is dropped."""
        text = self.normalise(text.replace("\r\n", "\n"))
        lines = text.split("\n")[:-1]
        chars = np.fromiter(map(len, lines), dtype=np.int32, count=len(lines))  # 4 bytes a line each (lines < 2 GB)
        n_bytes = chars if text.isascii() else np.fromiter((len(line.encode("utf-8")) for line in lines), dtype=np.int32,
                                                           count=len(lines))
        self.out.sizes.append((chars, n_bytes))
        if self.level == "char":
            self.out.lengths.append(chars.astype(np.int64))
            self.out.ids.append(self.table.encode_chars(text.replace("\n", "")))
        else:
            self.out.lengths.append(np.fromiter(map(len, map(str.split, lines)), dtype=np.int64, count=len(lines)))
            self.out.ids.append(self.table.encode(text.split()))


def _safe_cut(text: str, scanned: int, level: str, lower: bool) -> int:
    """The last place (0: none) where a line can be cut between ``text[:cut]`` and the rest without
    changing its tokens: never after a final ``\\r`` (a line end may follow); at word level after a
    whitespace character (no word spans the cut); at char level anywhere, but with ``lower`` only
    between two characters that are neither case-ignorable nor Σ, because ``str.lower`` gives Σ
    its final form from the letters around it.  Places before ``scanned`` were searched already."""
    end = len(text) - text.endswith("\r")
    if level == "char" and not lower:
        return end
    for i in range(end - 1, scanned - 1, -1):
        if level == "word":
            if text[i].isspace():
                return i + 1
        elif i + 1 < len(text) and _plain(text[i]) and _plain(text[i + 1]):
            return i + 1
    return 0


def _plain(ch: str) -> bool:
    """A letter, digit or whitespace character that ``str.lower`` reads as no context (not case-ignorable, not Σ)."""
    return ch != "\u03a3" and ch != "\r" and (ch.isspace() or unicodedata.category(ch) in _PLAIN_CATEGORIES)


class _SpilledParts:
    """The id parts of :func:`ingest` appended to a ``.npy`` file in a work folder (a list's ``append``)."""

    def __init__(self, folder: Path):
        self._file = NpyAppender(Path(folder) / f"types-{uuid.uuid4().hex}.npy", np.int32)

    def append(self, ids: NDArray[np.int32]) -> None:
        self._file.append(ids)

    def close(self) -> NDArray[np.int32]:
        return np.load(self._file.close(), mmap_mode="r")


def _as_stream(text: TypeIds, level: str, table: TypeTable) -> TypeIds:
    """All lines as one line: at char level a ``\\n`` token between lines, at word level nothing.
    Its text keeps the line breaks between the lines (they count as characters either way)."""
    ids, lengths = text.ids, text.lengths
    if level == "char" and len(lengths) > 1:
        newline = table.encode_chars("\n")[0]
        ends = np.cumsum(lengths)[:-1]  # a break after every line but the last
        ids = np.insert(ids, ends, newline)
    breaks = max(len(lengths) - 1, 0)
    one = lambda sizes: np.array([int(sizes.sum()) + breaks], dtype=np.int64)  # noqa: E731
    return TypeIds(ids, np.array([len(ids)], dtype=np.int64), one(text.line_chars), one(text.line_bytes))
