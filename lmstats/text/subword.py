"""Subword levels (``--level bpe`` and ``--level unigram``): words cut into pieces learned from the training split.

The pieces come from HuggingFace ``tokenizers`` (Rust; BPE as Sennrich et al. 2016, and the
unigram model of Kudo 2018 as SentencePiece trains it), trained on the **training split only**
and kept as the tokenizer's JSON (:class:`SubwordTokenizer`), which models save beside their
corpus description so that scoring them later uses the same pieces.

Every piece that starts a word begins with ``▁`` (SentencePiece's marker), so word boundaries
survive the cut and a line is its pieces joined with ``▁`` read as a space.  Pieces never cross
a word: a word's pieces depend on the word alone.  So the corpus is read at word level as
before (type ids), each distinct word is cut once, and the lines are expanded by one gather
(:func:`expand_lines`); no per-line token lists are built.  A literal ``<unk>`` in the text
stays the one unknown token, and a character the training split never showed becomes
``<unk>``.  The text's size (characters, bytes) is the word level's, so bits per character
compare across levels.

The vocabulary at a subword level is every piece of the trained model (:attr:`SubwordTokenizer.pieces`,
see :meth:`lmstats.text.corpus.Corpus.build_vocab`), so an unseen word of known characters is
never ``<unk>``; the model's size is ``--bpe-vocab``, which must leave room for every character
of the training split (:func:`smallest_size`).

Training is deterministic for the same text and options (tested for BPE: two trainings give the
same JSON; the unigram trainer gives the same pieces, its scores varying in the last bits between
runs); the trainer is fed each training word as often as it occurs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import gather_runs
from lmstats.errors import LmstatsError
from lmstats.text.spec import DEFAULT_SUBWORD_VOCAB, SUBWORD_LEVELS
from lmstats.vocab import BOS, EOS, PAD, UNK

WORD_START = "\u2581"  # ▁
_FEED_CHARS = 1 << 20  # characters per string handed to the trainer
MAX_PIECE_CHARS = 16  # the longest unigram piece (the trainer's default, stated here because most_pieces counts on it)


def _library():
    try:
        import tokenizers
    except ImportError:
        raise LmstatsError("--level bpe/unigram needs the 'tokenizers' package (HuggingFace); install it with "
                           "pip install tokenizers, or use --level word or char") from None
    return tokenizers


@dataclass(frozen=True)
class SubwordTokenizer:
    """A trained subword model: its kind, the vocabulary size asked for and the library's JSON."""

    kind: str
    vocab_size: int
    json: str

    def __post_init__(self) -> None:
        check_kind(self.kind)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "json": self.json}

    @classmethod
    def from_dict(cls, data: dict) -> SubwordTokenizer:
        return cls(data["kind"], int(data["vocab_size"]), data["json"])

    @classmethod
    def stored(cls, data: dict | None) -> SubwordTokenizer | None:
        """The tokenizer a model file or checkpoint stored (None for word and char models)."""
        return cls.from_dict(data) if data else None

    @property
    def n_pieces(self) -> int:
        """Pieces the trained model holds (the size asked for, or fewer on a small text)."""
        return _library().Tokenizer.from_str(self.json).get_vocab_size()

    @property
    def pieces(self) -> list[str]:
        """Every piece of the model (``<unk>`` included), in the model's order."""
        vocab = json.loads(self.json)["model"]["vocab"]
        return list(vocab) if self.kind == "bpe" else [piece for piece, _ in vocab]

    def cut(self, words: list[str]) -> list[list[str]]:
        """The pieces of every word (each piece that starts a word begins with ``▁``); characters the model
        does not know are ``<unk>`` (one per character for BPE, one per run of them for unigram)."""
        if not words:
            return []
        tokenizer = _library().Tokenizer.from_str(self.json)
        unk = tokenizer.token_to_id(UNK)
        encodings = tokenizer.encode_batch([WORD_START + w for w in words], add_special_tokens=False)
        return [[UNK if i == unk else t for t, i in zip(e.tokens, e.ids, strict=True)] for e in encodings]


def check_kind(kind: str) -> None:
    """The one check of a subword kind (a model's, and one asked to be trained, before the training)."""
    if kind not in SUBWORD_LEVELS:
        raise LmstatsError(f"subword level must be one of {', '.join(SUBWORD_LEVELS)}, got {kind!r}")


def train_subword(kind: str, words: list[str], counts: NDArray[np.int64], vocab_size: int) -> SubwordTokenizer:
    """A ``kind`` (bpe|unigram) model of at most ``vocab_size`` pieces learned from word ``counts``
    (``counts[i]`` occurrences of ``words[i]`` in the training split)."""
    check_kind(kind)
    kept = [(w, int(c)) for w, c in zip(words, counts, strict=True) if c > 0 and w not in (UNK, BOS, EOS, PAD)]
    if not kept:
        raise LmstatsError("the training split has no words to learn subword pieces from")
    n_chars = len(set(WORD_START).union(*(w for w, _ in kept)))
    smallest = smallest_size(kind, n_chars)
    if vocab_size < smallest:
        more = "<unk> and one piece more" if kind == "unigram" else "and <unk>"
        raise LmstatsError(f"--bpe-vocab {vocab_size} is too small for a {kind} model of this training split: the smallest size "
                           f"is {smallest:,} (its {n_chars:,} characters, the word-start mark {WORD_START} included, {more}); "
                           f"use --bpe-vocab {smallest} or more (default {DEFAULT_SUBWORD_VOCAB})")
    asked = min(vocab_size, most_pieces(kind, n_chars, np.fromiter((len(w) + 1 for w, _ in kept), dtype=np.int64, count=len(kept))))
    lib = _library()
    if kind == "bpe":
        model = lib.models.BPE(unk_token=UNK)
        trainer = lib.trainers.BpeTrainer(vocab_size=asked, special_tokens=[UNK], show_progress=False)
    else:
        model = lib.models.Unigram()
        trainer = lib.trainers.UnigramTrainer(vocab_size=asked, special_tokens=[UNK], unk_token=UNK, max_piece_length=MAX_PIECE_CHARS,
                                              show_progress=False)
    tokenizer = lib.Tokenizer(model)
    tokenizer.pre_tokenizer = lib.pre_tokenizers.WhitespaceSplit()
    tokenizer.train_from_iterator(_feed(kept), trainer=trainer)
    data = json.loads(tokenizer.to_str())
    return SubwordTokenizer(kind, int(vocab_size), json.dumps(data, sort_keys=True, ensure_ascii=False))


def smallest_size(kind: str, n_chars: int) -> int:
    """The fewest pieces a ``kind`` model of a text with ``n_chars`` distinct characters (``▁`` included) can have.

    Both trainers keep every character as a piece, beside ``<unk>``: BPE then merges until the size
    is reached (``n_chars + 1`` is the characters alone), and asked for fewer it would silently
    return that many anyway.  The unigram trainer refuses fewer than ``n_chars`` and, asked for
    ``n_chars`` or ``n_chars + 1``, returns all its seed pieces instead of the size asked for, so it
    needs one piece beyond the characters and ``<unk>``.  A smaller size is an error, not a
    different size."""
    return n_chars + (2 if kind == "unigram" else 1)


def most_pieces(kind: str, n_chars: int, lengths: NDArray[np.int64]) -> int:
    """More pieces than a ``kind`` model of these words can have (``lengths``: characters of every marked word type).

    A BPE piece is a character or a merge, and each merge joins two pieces of some word, so there are
    at most ``Σ (length - 1)`` merges; a unigram piece is a substring of a word of at most
    :data:`MAX_PIECE_CHARS` characters.  Asking the trainer for more changes nothing but the memory it
    sets aside (about 70 bytes a piece, so ``--bpe-vocab 1000000000`` would abort the process), so it is
    asked for at most this many."""
    if kind == "bpe":
        return 1 + n_chars + int((lengths - 1).sum())
    short = np.minimum(lengths, MAX_PIECE_CHARS)  # substrings of k <= MAX_PIECE_CHARS characters: length - k + 1 of each
    return 1 + int((short * (lengths + 1) - short * (short + 1) // 2).sum())


def _feed(words: list[tuple[str, int]]) -> Iterator[str]:
    """Each word (marked as a word start) as often as it occurs, in strings of about 1M characters."""
    buffer: list[str] = []
    size = 0
    for word, count in words:
        marked = WORD_START + word
        while count > 0:
            take = min(count, max(1, _FEED_CHARS // (len(marked) + 1)))
            buffer.append(" ".join([marked] * take))
            size += take * (len(marked) + 1)
            count -= take
            if size >= _FEED_CHARS:
                yield " ".join(buffer)
                buffer, size = [], 0
    if buffer:
        yield " ".join(buffer)


@dataclass(frozen=True)
class PieceTable:
    """The pieces of every word type, laid end to end: type ``t`` is ``pieces[offsets[t]:offsets[t] + lengths[t]]``."""

    pieces: NDArray[np.int32]
    offsets: NDArray[np.int64]
    lengths: NDArray[np.int64]


def piece_table(word_types: list[str], tokenizer: SubwordTokenizer, encode_pieces) -> PieceTable:
    """Cut every word type once; ``encode_pieces(list of piece strings) -> piece type ids`` (a :class:`TypeTable`'s).
    A literal boundary marker or ``<unk>`` in the text is the one piece ``<unk>``."""
    markers = {UNK, BOS, EOS, PAD}
    plain = [i for i, w in enumerate(word_types) if w not in markers]
    cut = tokenizer.cut([word_types[i] for i in plain])
    per_type: list[list[str]] = [[UNK] for _ in word_types]
    for i, pieces in zip(plain, cut, strict=True):
        per_type[i] = pieces or [UNK]
    lengths = np.fromiter(map(len, per_type), dtype=np.int64, count=len(per_type))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else np.zeros(0, dtype=np.int64)
    flat = [p for pieces in per_type for p in pieces]
    return PieceTable(encode_pieces(flat), offsets, lengths)


def expand_lines(ids: NDArray[np.int32], lengths: NDArray[np.int64], table: PieceTable) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """Word type ids in lines -> piece type ids in the same lines (one gather; no per-line lists)."""
    ids = np.asarray(ids)
    n = table.lengths[ids]  # pieces of each token
    pieces = table.pieces[gather_runs(table.offsets[ids], n)]
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    at = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    return pieces.astype(np.int32), at[bounds[1:]] - at[bounds[:-1]]
