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

Training is deterministic for the same text and options (tested: two trainings give the same
JSON); the trainer is fed each training word as often as it occurs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.text.spec import SUBWORD_LEVELS
from lmstats.vocab import BOS, EOS, PAD, UNK

WORD_START = "\u2581"  # ▁
_FEED_CHARS = 1 << 20  # characters per string handed to the trainer


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
        if self.kind not in SUBWORD_LEVELS:
            raise LmstatsError(f"subword level must be one of {', '.join(SUBWORD_LEVELS)}, got {self.kind!r}")

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

    def cut(self, words: list[str]) -> list[list[str]]:
        """The pieces of every word (each piece that starts a word begins with ``▁``)."""
        if not words:
            return []
        tokenizer = _library().Tokenizer.from_str(self.json)
        encodings = tokenizer.encode_batch([WORD_START + w for w in words], add_special_tokens=False)
        return [list(e.tokens) for e in encodings]


def train_subword(kind: str, words: list[str], counts: NDArray[np.int64], vocab_size: int) -> SubwordTokenizer:
    """A ``kind`` (bpe|unigram) model of at most ``vocab_size`` pieces learned from word ``counts``
    (``counts[i]`` occurrences of ``words[i]`` in the training split)."""
    if vocab_size < 2:
        raise LmstatsError(f"--bpe-vocab must be at least 2 pieces, got {vocab_size}")
    lib = _library()
    if kind == "bpe":
        model = lib.models.BPE(unk_token=UNK)
        trainer = lib.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK], show_progress=False)
    elif kind == "unigram":
        model = lib.models.Unigram()
        trainer = lib.trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=[UNK], unk_token=UNK, show_progress=False)
    else:
        raise LmstatsError(f"subword level must be one of {', '.join(SUBWORD_LEVELS)}, got {kind!r}")
    tokenizer = lib.Tokenizer(model)
    tokenizer.pre_tokenizer = lib.pre_tokenizers.WhitespaceSplit()
    kept = [(w, int(c)) for w, c in zip(words, counts, strict=True) if c > 0 and w not in (UNK, BOS, EOS, PAD)]
    if not kept:
        raise LmstatsError("the training split has no words to learn subword pieces from")
    tokenizer.train_from_iterator(_feed(kept), trainer=trainer)
    data = json.loads(tokenizer.to_str())
    return SubwordTokenizer(kind, int(vocab_size), json.dumps(data, sort_keys=True, ensure_ascii=False))


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
    total = int(n.sum())
    ends = np.cumsum(n)
    within = np.arange(total, dtype=np.int64) - np.repeat(ends - n, n)  # position inside each token's run
    pieces = table.pieces[np.repeat(table.offsets[ids], n) + within]
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    at = np.concatenate([[0], ends]).astype(np.int64)
    return pieces.astype(np.int32), at[bounds[1:]] - at[bounds[:-1]]
