"""A corpus read and split: :func:`load_corpus` turns a :class:`~lmstats.text.spec.CorpusSpec` into a :class:`Corpus`.

The splits are predefined where the corpus has them (:mod:`lmstats.text.sources`), else made by
:mod:`lmstats.text.split`; at a subword level the words are then cut into pieces learned from
the training split (:mod:`lmstats.text.subword`).  :meth:`Corpus.build_vocab` builds the one
vocabulary from the training split and :meth:`Corpus.encode` encodes the three splits under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmstats.encoded import EncodedSplit, Lines, concatenate, map_pieces
from lmstats.errors import LmstatsError
from lmstats.text.ingest import TypeIds, TypeTable, ingest
from lmstats.text.sources import resolve
from lmstats.text.spec import (
    DEFAULT_CORPUS,
    DEFAULT_SUBWORD_VOCAB,
    SPLIT_NAMES,
    SUBWORD_LEVELS,
    CorpusSpec,
    VocabSpec,
    check_split_name,
)
from lmstats.text.split import split_by_lines, split_by_position, split_sizes
from lmstats.text.subword import SubwordTokenizer, expand_lines, piece_table, train_subword
from lmstats.trained_on import TrainedOn
from lmstats.vocab import Vocab


@dataclass(frozen=True, eq=False)
class Splits:
    """The three splits of a corpus encoded under one vocabulary."""

    train: EncodedSplit
    valid: EncodedSplit
    test: EncodedSplit

    @property
    def vocab(self) -> Vocab:
        return self.train.vocab

    def __getitem__(self, name: str) -> EncodedSplit:
        return getattr(self, check_split_name(name))


@dataclass(frozen=True, eq=False)
class Corpus:
    """The train/valid/test splits of a text as type ids (see :mod:`lmstats.text.ingest`) and where they came from."""

    name: str
    types: TypeTable  # the token string of every type id, shared by the three splits
    parts: dict[str, TypeIds]  # train, valid, test
    spec: CorpusSpec  # resolved: level filled in, split fractions where a seeded split was made
    predefined: bool  # the splits come from the corpus itself (not from a seeded split)
    sources: tuple[str, ...] = ()  # files read ("pydoc_data.topics" for the built-in corpus)
    description: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def level(self) -> str:
        return self.spec.level or "word"

    def part(self, name: str) -> TypeIds:
        return self.parts[check_split_name(name)]

    def sentences(self, name: str) -> list[list[str]]:
        """The split as lists of token strings (for small texts and tests; the library works on ids)."""
        part = self.part(name)
        types = np.array(self.types.types, dtype=object)
        tokens = types[part.ids]
        bounds = np.concatenate([[0], np.cumsum(part.lengths)])
        return [tokens[bounds[i] : bounds[i + 1]].tolist() for i in range(part.n_lines)]

    def type_lines(self, names: Sequence[str] = SPLIT_NAMES) -> Lines:
        """The type ids of the named splits, in that order, as lines (every token string its own type)."""
        parts = [self.part(n) for n in names]
        ids = concatenate([p.ids for p in parts], np.int32)  # a disk-backed corpus: into a file beside its parts
        return Lines.from_lengths(ids, np.concatenate([p.lengths for p in parts]))

    @property
    def tokenizer(self) -> SubwordTokenizer | None:
        """The subword pieces the splits are cut into (None at word and char level)."""
        return SubwordTokenizer.stored(self.meta.get("tokenizer"))

    def trained_on(self, vocab_spec: VocabSpec, data_dir=None) -> TrainedOn:
        """The record a model trained on this corpus keeps: its resolved spec, ``vocab_spec``, where its files were
        found (``data_dir`` or ``LMSTATS_DATA``) and its subword pieces."""
        return TrainedOn.of(self.spec, vocab_spec, data_dir, self.meta.get("tokenizer"))

    def build_vocab(self, spec: VocabSpec | None = None) -> Vocab:
        """The vocabulary of the training split only (``spec``: how it is cut; None: every type).

        At a subword level the vocabulary is every piece of the tokenizer, counted in the training
        split (count 0 for a piece its cut never produced), so only a character the training split
        never showed, or a literal ``<unk>``, is unknown.  Why: a tokenizer asked for many pieces holds
        pieces the training split's cut never shows (BPE's intermediate merges, each always merged
        further in training; unigram pieces its Viterbi cut never picks), and an unseen word may stop
        at one; kept with count 0, they get the share every smoother gives unseen types.  Cutting such
        a word again into pieces the training cut shows measured worse in bits per character (the
        figures are in ``reports/development_log.md``): the spelling is longer and its pieces have no
        counts either.

        --min-count and --max-vocab do not apply: the pieces are the vocabulary and ``--bpe-vocab``
        sets its size, so a ``spec`` other than the default is refused there.
        """
        spec = spec or VocabSpec()
        train = self.part("train")
        extra: list[str] = []
        if self.level in SUBWORD_LEVELS:
            if spec != VocabSpec():
                raise LmstatsError(f"--min-count and --max-vocab cut a word or char vocabulary; at --level {self.level} the "
                                   "vocabulary is the tokenizer's pieces; drop them and set its size with --bpe-vocab")
            extra = self.tokenizer.pieces
        return Vocab.from_counts(self.types.types, self.types.type_counts(train.ids), train.n_lines,
                                 min_count=spec.min_count, max_size=spec.max_size, extra=extra)

    def encode(self, vocab: Vocab) -> Splits:
        """All three splits encoded under ``vocab`` (one gather through the type -> id table; piece by piece
        into the work folder when the corpus was read with ``spill``)."""
        lut = self.types.vocab_ids(vocab)
        return Splits(**{name: EncodedSplit(name, Lines.from_lengths(map_pieces(self.part(name).ids, lut.__getitem__, np.int32),
                                                                     self.part(name).lengths), vocab,
                                            self.part(name).line_chars, self.part(name).line_bytes)
                         for name in SPLIT_NAMES})


def load_corpus(spec: CorpusSpec, *, data_dir: str | Path | None = None, download: bool = True,
                spill: str | Path | None = None, tokenizer: SubwordTokenizer | None = None) -> Corpus:
    """Read, tokenize and split the corpus ``spec`` describes.

    ``data_dir`` (or ``LMSTATS_DATA``) holds local copies of catalogue corpora; without one a
    catalogue corpus comes from the cache or a verified download (unless ``download=False``).
    ``spill``: a work folder where the token ids are kept as memory-mapped files instead of in
    memory (the text is then disk-backed, see :mod:`lmstats.encoded`); the folder must outlive
    the corpus and everything made from it.
    ``tokenizer``: at a subword level, the pieces a model was trained with (stored with it);
    None trains them on this corpus's training split (``meta["tokenizer"]`` holds the result).
    """
    found = resolve(spec.source, data_dir=data_dir, download=download)
    name, predefined = found.name, found.predefined
    if predefined and spec.split is not None:
        raise LmstatsError(
            f"{name} has predefined train/valid/test files, so --split does not apply; drop --split "
            "(to split it your own way, give its text as one file)"
        )
    level = spec.level or found.level
    spec = CorpusSpec(source=spec.source or DEFAULT_CORPUS, level=level, lower=spec.lower, letters_only=spec.letters_only,
                      format=spec.format, split=None if predefined else spec.fractions, seed=spec.seed,
                      bpe_vocab=(spec.bpe_vocab or DEFAULT_SUBWORD_VOCAB) if level in SUBWORD_LEVELS else None)
    read_level = "word" if level in SUBWORD_LEVELS else level  # subword pieces are cut from the words afterwards
    table = TypeTable()
    options = dict(level=read_level, lower=spec.lower, letters_only=spec.letters_only, stream=spec.format == "stream",
                   spill=Path(spill) if spill is not None else None)
    meta: dict = {}
    if predefined:
        parts = {split: ingest(found.of_split(split), table, **options) for split in SPLIT_NAMES}
    else:
        text = ingest([src for _, src in found.files], table, **options)
        _require_tokens(name, text)
        if spec.format == "stream":
            parts = split_by_position(text, spec.fractions, read_level, table)
            meta["split"] = "contiguous by token position"
        else:
            empty = [split for split, n in split_sizes(text.n_lines, spec.fractions).items() if n == 0]
            if empty:  # refused before any split is made (a text of one long line would be copied first)
                raise LmstatsError(_whole_lines_message(name, empty[0], text.n_lines, 0))
            parts = split_by_lines(text, spec.fractions, spec.seed)
            meta["split"] = f"seeded by lines (seed {spec.seed})"
    _require_tokens(name, parts["train"], what="its train split")  # (cutting words into pieces empties no split)
    if level in SUBWORD_LEVELS:
        table, parts, tokenizer = _to_subwords(table, parts, spec, tokenizer)
        meta["tokenizer"] = tokenizer.to_dict()
    corpus = Corpus(name, table, parts, spec, predefined, tuple(src.label for _, src in found.files), found.description, meta)
    for split in ("valid", "test"):
        if corpus.part(split).n_tokens == 0:
            raise LmstatsError(_empty_split_message(corpus, split))
    return corpus


def _to_subwords(words: TypeTable, parts: dict[str, TypeIds], spec: CorpusSpec,
                 tokenizer: SubwordTokenizer | None) -> tuple[TypeTable, dict[str, TypeIds], SubwordTokenizer]:
    """The splits cut into subword pieces (learned from the training split unless ``tokenizer`` is given)."""
    if tokenizer is None:
        counts = words.type_counts(parts["train"].ids)  # in pieces when the ids are on disk
        tokenizer = train_subword(spec.level, words.types, counts, spec.bpe_vocab)
    elif (tokenizer.kind, tokenizer.vocab_size) != (spec.level, spec.bpe_vocab):
        raise LmstatsError(f"the stored subword pieces are {tokenizer.kind} with {tokenizer.vocab_size} pieces, but the corpus asks for "
                           f"{spec.level} with {spec.bpe_vocab}; use the options the model was trained with")
    pieces = TypeTable()
    table = piece_table(words.types, tokenizer, pieces.encode)
    out = {}
    for name, part in parts.items():
        ids, lengths = expand_lines(part.ids, part.lengths, table)
        out[name] = TypeIds(ids, lengths, part.line_chars, part.line_bytes)
    return pieces, out, tokenizer


def _empty_split_message(corpus: Corpus, split: str) -> str:
    n_lines = sum(corpus.part(s).n_lines for s in SPLIT_NAMES)
    if corpus.predefined:
        return f"{corpus.name}: its {split} file has no tokens; give a {split} file with text"
    if corpus.spec.format == "lines":
        return _whole_lines_message(corpus.name, split, n_lines, corpus.part(split).n_lines)
    return (f"{corpus.name}: the {split} split has no tokens; the text is too short for the fractions {corpus.spec.fractions}"
            " — give more text")


def _whole_lines_message(name: str, split: str, n_lines: int, n_split: int) -> str:
    return (f"{name}: the {split} split has no tokens: the corpus has {n_lines:,} line{'s' if n_lines != 1 else ''} "
            f"and a seeded split assigns whole lines ({n_split} went to {split}); "
            "use --format stream to split the text by token position, or give more lines")


def _require_tokens(name: str, text: TypeIds, what: str = "it") -> None:
    if text.n_tokens == 0:
        raise LmstatsError(f"{name}: empty corpus — {what} has no tokens ({text.n_lines} lines); give a file with text")
