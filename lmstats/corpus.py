"""Corpora: what to read (:class:`CorpusSpec`), reading, tokenizing, splitting, and statistics.

A corpus source is one of

* ``None``: the built-in default corpus ``python-docs`` (see :func:`builtin_text`);
* a catalogue name (``wikitext-2``, ``ptb``, ...; see :mod:`lmstats.catalogue`);
* a text file (``.gz``/``.bz2``/``.xz`` too), a folder of text files or a glob pattern.

A folder holding exactly one train, one valid (or dev/validation) and one test file uses
those as predefined splits; otherwise all text is split by lines with a seed.

Text handling (fields of :class:`CorpusSpec`): ``level`` word (whitespace split), char
(every character, so Chinese text works), or bpe / unigram (words cut into subword pieces
learned from the training split, ``bpe_vocab`` pieces at most; see :mod:`lmstats.subword`);
``lower``; ``letters_only`` (d2l's normalisation,
with Unicode letters: every run of characters that are not letters or combining marks
becomes one space); ``format`` lines (one sentence or paragraph per line) or stream (the text
is one sequence split by position; at char level a line break is the character ``\\n``, at
word level it separates words like a space).

:class:`CorpusSpec` and :class:`VocabSpec` are the one description of a corpus and its
vocabulary from the command line to the core: :func:`load_corpus` takes the first, model
files and checkpoints store both, and report configs nest them.
"""

from __future__ import annotations

import glob
import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.catalogue import load_catalogue, locate_corpus
from lmstats.encoded import EncodedSplit, Lines, concatenate, line_pieces, map_pieces, reduce_pieces, spill_folder
from lmstats.errors import LmstatsError
from lmstats.ingest import TextSource, TypeIds, TypeTable, ingest, vocab_from_counts
from lmstats.npyfile import NpyAppender, release
from lmstats.subword import DEFAULT_SUBWORD_VOCAB, SUBWORD_LEVELS, SubwordTokenizer, expand_lines, piece_table, train_subword
from lmstats.vocab import UNK, Vocab

SPLIT_NAMES = ("train", "valid", "test")
LEVELS = ("word", "char", *SUBWORD_LEVELS)
FORMATS = ("lines", "stream")
DEFAULT_CORPUS = "python-docs"
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
_SPLIT_PATTERNS = {
    "train": re.compile(r"train", re.I),
    "valid": re.compile(r"valid|(?<![a-z])dev(?![a-z])", re.I),
    "test": re.compile(r"test", re.I),
}


@dataclass(frozen=True)
class CorpusSpec:
    """Which text, how it is tokenized and how it is split (see the module docstring)."""

    source: str | None = None  # file, folder, glob or catalogue name; None: the built-in corpus
    level: str | None = None  # word | char; None: the corpus's own (char for tinyshakespeare)
    lower: bool = False
    letters_only: bool = False
    format: str = "lines"  # lines | stream
    split: tuple[float, float, float] | None = None  # train/valid/test fractions; None: 0.8,0.1,0.1 where needed
    seed: int = 0  # seed of the split by lines
    bpe_vocab: int | None = None  # pieces of a bpe/unigram level (None: 8000 there; unused at word and char level)

    def __post_init__(self) -> None:
        if self.source is not None:
            object.__setattr__(self, "source", str(self.source))
        if self.level is not None and self.level not in LEVELS:
            raise LmstatsError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.bpe_vocab is not None:
            if self.level not in SUBWORD_LEVELS:
                raise LmstatsError(f"--bpe-vocab sets the pieces of a subword level; add --level bpe or --level unigram "
                                   f"(the level is {self.level or 'the corpus default'})")
            if int(self.bpe_vocab) < 2:
                raise LmstatsError(f"--bpe-vocab must be at least 2 pieces, got {self.bpe_vocab}")
        if self.format not in FORMATS:
            raise LmstatsError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.split is not None:
            fractions = tuple(float(f) for f in self.split)
            _check_fractions(fractions)
            object.__setattr__(self, "split", fractions)

    @property
    def fractions(self) -> tuple[float, float, float]:
        return self.split or DEFAULT_FRACTIONS

    @property
    def name(self) -> str:
        """The corpus's name, known without reading it: a catalogue name, a file or folder name, a glob."""
        if self.source is None or self.source == DEFAULT_CORPUS:
            return DEFAULT_CORPUS
        if _is_glob(self.source):
            return self.source
        return Path(self.source).name or self.source

    def local_files(self) -> list[Path]:
        """The local files this spec reads when its source is a file, folder or glob (else [])."""
        if self.source is None:
            return []
        path = Path(self.source)
        if path.is_file():
            return [path]
        if path.is_dir():
            return [p for p in path.rglob("*") if p.is_file()]
        if _is_glob(self.source):
            return [Path(p) for p in glob.glob(self.source, recursive=True) if Path(p).is_file()]
        return []

    def to_dict(self) -> dict:
        out = asdict(self)
        out["split"] = list(self.split) if self.split is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict) -> CorpusSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "split" and v is not None else v) for k, v in data.items() if k in known})


@dataclass(frozen=True)
class VocabSpec:
    """How the vocabulary is cut from the training split."""

    min_count: int = 1  # types seen fewer times in train become <unk>
    max_size: int | None = None  # keep at most this many ordinary types (the most frequent)

    def __post_init__(self) -> None:
        if int(self.min_count) < 1:
            raise LmstatsError(f"min_count must be >= 1, got {self.min_count}")
        if self.max_size is not None and int(self.max_size) < 1:
            raise LmstatsError(f"max_size must be >= 1 ordinary types, got {self.max_size}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VocabSpec:
        return cls(**{k: v for k, v in data.items() if k in {f.name for f in fields(cls)}})


# -- the corpus ----------------------------------------------------------------------------


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
        if name not in SPLIT_NAMES:
            raise LmstatsError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {name!r}")
        return getattr(self, name)


@dataclass(frozen=True, eq=False)
class Corpus:
    """The train/valid/test splits of a text as type ids (see :mod:`lmstats.ingest`) and where they came from."""

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
        if name not in SPLIT_NAMES:
            raise LmstatsError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {name!r}")
        return self.parts[name]

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

    def build_vocab(self, spec: VocabSpec = VocabSpec()) -> Vocab:
        """The vocabulary of the training split only."""
        train = self.part("train")
        return vocab_from_counts(self.types.types, self.types.type_counts(train.ids), train.n_lines,
                                 min_count=spec.min_count, max_size=spec.max_size)

    def encode(self, vocab: Vocab) -> Splits:
        """All three splits encoded under ``vocab`` (one gather through the type -> id table; piece by piece
        into the work folder when the corpus was read with ``spill``)."""
        lut = self.types.vocab_ids(vocab)
        return Splits(**{name: EncodedSplit(name, Lines.from_lengths(map_pieces(self.part(name).ids, lut.__getitem__, np.int32),
                                                                     self.part(name).lengths), vocab,
                                            self.part(name).line_chars, self.part(name).line_bytes)
                         for name in SPLIT_NAMES})


def builtin_text(name: str = DEFAULT_CORPUS) -> str:
    """Text of a built-in corpus, available offline on every Python install.

    ``python-docs``: the Python language reference and library topics that CPython ships in
    ``pydoc_data.topics`` (the text behind ``help('TOPIC')``), in sorted topic order.  It is
    real English prose with code examples, about 65k words; its exact content depends on the
    Python version, which reports record.
    """
    if name != DEFAULT_CORPUS:
        raise LmstatsError(f"unknown built-in corpus {name!r}; the built-in corpus is {DEFAULT_CORPUS!r}")
    try:
        from pydoc_data.topics import topics
    except ImportError:  # pragma: no cover - stripped Python installs
        raise LmstatsError(
            "this Python has no pydoc_data module, so the built-in corpus is unavailable; "
            "give a corpus file, or make one with 'lmstats corpus synth'"
        ) from None
    return "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"


def split_labels(n_lines: int, fractions: Sequence[float], seed: int) -> NDArray[np.uint8]:
    """Which split each of ``n_lines`` lines goes to (0 train, 1 valid, 2 test), seeded.

    A permutation drawn from ``np.random.default_rng(seed)``: its first ``round(n * test)``
    entries are the test lines, the next ``round(n * valid)`` the valid lines, the rest train.
    Same seed, same split.
    """
    _check_fractions(fractions)
    n_valid = int(round(n_lines * fractions[1]))
    n_test = int(round(n_lines * fractions[2]))
    perm = np.random.default_rng(seed).permutation(n_lines)
    labels = np.zeros(n_lines, dtype=np.uint8)
    labels[perm[:n_test]] = 2
    labels[perm[n_test : n_test + n_valid]] = 1
    return labels


def split_lines(lines: Sequence, fractions: Sequence[float], seed: int) -> tuple[list, list, list]:
    """``lines`` split into train/valid/test by :func:`split_labels`; each split keeps the original order."""
    labels = split_labels(len(lines), fractions, seed)
    return tuple([line for line, label in zip(lines, labels, strict=True) if label == k] for k in range(3))  # type: ignore[return-value]


def _split_by_lines(text: TypeIds, fractions: Sequence[float], seed: int) -> dict[str, TypeIds]:
    labels = split_labels(text.n_lines, fractions, seed)
    folder = spill_folder(text.ids)
    if folder is not None:  # disk-backed: each split written piece by piece into a file of its own
        files = {name: NpyAppender(folder / f"{name}-{uuid.uuid4().hex}.npy", np.int32) for name in SPLIT_NAMES}
        for first, last, start, end in line_pieces(text.lengths):
            part_labels = np.repeat(labels[first:last], text.lengths[first:last])
            part = np.asarray(text.ids[start:end])
            for k, name in enumerate(SPLIT_NAMES):
                files[name].append(part[part_labels == k])
            release(text.ids)
        return {name: TypeIds(np.load(files[name].close(), mmap_mode="r"), *_line_sizes(text, labels == k))
                for k, name in enumerate(SPLIT_NAMES)}
    token_labels = np.repeat(labels, text.lengths)
    return {name: TypeIds(text.ids[token_labels == k], *_line_sizes(text, labels == k)) for k, name in enumerate(SPLIT_NAMES)}


def _line_sizes(text: TypeIds, keep: NDArray[np.bool_]) -> tuple:
    """The tokens, characters and bytes per line of the lines ``keep`` selects."""
    return tuple(None if sizes is None else sizes[keep] for sizes in (text.lengths, text.line_chars, text.line_bytes))


def _split_by_position(text: TypeIds, fractions: Sequence[float], level: str, table: TypeTable) -> dict[str, TypeIds]:
    """Contiguous pieces of a one-line text.  At char level every token is one character of the
    text (line breaks included), so the pieces keep their character and byte counts; at word level
    the spacing between the pieces' tokens is gone, so they have none (bits per character: None)."""
    _check_fractions(fractions)
    n = text.n_tokens
    a = int(round(n * fractions[0]))
    b = a + int(round(n * fractions[1]))
    pieces = (text.ids[:a], text.ids[a:b], text.ids[b:])
    type_bytes = table.type_bytes() if level == "char" else None

    def sizes(ids):
        if type_bytes is None:
            return None, None
        n_bytes = sum(reduce_pieces(ids, lambda part: int(type_bytes[part].sum())))  # piece by piece when disk-backed
        return np.array([len(ids)], dtype=np.int64), np.array([n_bytes], dtype=np.int64)

    return {name: TypeIds(ids, np.array([len(ids)], dtype=np.int64), *sizes(ids)) for name, ids in zip(SPLIT_NAMES, pieces, strict=True)}


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9 or fractions[0] <= 0:
        raise LmstatsError(f"split fractions must be three numbers >= 0 summing to 1 (train > 0), got {tuple(fractions)}; e.g. 0.8,0.1,0.1")


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
    sources, name, predefined, description, default_level = _resolve(spec.source, data_dir=data_dir, download=download)
    if predefined and spec.split is not None:
        raise LmstatsError(
            f"{name} has predefined train/valid/test files, so --split does not apply; drop --split "
            "(to split it your own way, give its text as one file)"
        )
    level = spec.level or default_level
    spec = CorpusSpec(source=spec.source or DEFAULT_CORPUS, level=level, lower=spec.lower, letters_only=spec.letters_only,
                      format=spec.format, split=None if predefined else spec.fractions, seed=spec.seed,
                      bpe_vocab=(spec.bpe_vocab or DEFAULT_SUBWORD_VOCAB) if level in SUBWORD_LEVELS else None)
    read_level = "word" if level in SUBWORD_LEVELS else level  # subword pieces are cut from the words afterwards
    table = TypeTable()
    options = dict(level=read_level, lower=spec.lower, letters_only=spec.letters_only, stream=spec.format == "stream",
                   spill=Path(spill) if spill is not None else None)
    meta: dict = {}
    if predefined:
        parts = {split: ingest([src for s, src in sources if s == split], table, **options) for split in SPLIT_NAMES}
    else:
        text = ingest([src for _, src in sources], table, **options)
        _require_tokens(name, text)
        if spec.format == "stream":
            parts = _split_by_position(text, spec.fractions, read_level, table)
            meta["split"] = "contiguous by token position"
        else:
            parts = _split_by_lines(text, spec.fractions, spec.seed)
            meta["split"] = f"seeded by lines (seed {spec.seed})"
    if level in SUBWORD_LEVELS:
        table, parts, tokenizer = _to_subwords(table, parts, spec, tokenizer)
        meta["tokenizer"] = tokenizer.to_dict()
    corpus = Corpus(name, table, parts, spec, predefined, tuple(src.label for _, src in sources), description, meta)
    _require_tokens(name, corpus.part("train"), what="its train split")
    for split in ("valid", "test"):
        if corpus.part(split).n_tokens == 0:
            raise LmstatsError(_empty_split_message(corpus, split))
    return corpus


def _to_subwords(words: TypeTable, parts: dict[str, TypeIds], spec: CorpusSpec,
                 tokenizer: SubwordTokenizer | None) -> tuple[TypeTable, dict[str, TypeIds], SubwordTokenizer]:
    """The splits cut into subword pieces (learned from the training split unless ``tokenizer`` is given)."""
    if tokenizer is None:
        _require_tokens(spec.name, parts["train"], what="its train split")
        counts = words.type_counts(np.asarray(parts["train"].ids))
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
        return (
            f"{corpus.name}: the {split} split has no tokens: the corpus has {n_lines:,} line{'s' if n_lines != 1 else ''} "
            f"and a seeded split assigns whole lines ({corpus.part(split).n_lines} went to {split}); "
            "use --format stream to split the text by token position, or give more lines"
        )
    return (f"{corpus.name}: the {split} split has no tokens; the text is too short for the fractions {corpus.spec.fractions}"
            " — give more text")


def _require_tokens(name: str, text: TypeIds, what: str = "it") -> None:
    if text.n_tokens == 0:
        raise LmstatsError(f"{name}: empty corpus — {what} has no tokens ({text.n_lines} lines); give a file with text")


def _resolve(source, *, data_dir, download):
    """(split or "", TextSource) pairs, the corpus name, predefined?, description, default level (nothing read yet)."""
    if source is None or str(source) == DEFAULT_CORPUS:
        builtin = TextSource("pydoc_data.topics", text=builtin_text())
        return [("", builtin)], DEFAULT_CORPUS, False, "Python reference topics (pydoc_data)", "word"
    path = Path(source)
    if path.is_file():
        return [("", TextSource(str(path), path))], path.name, False, str(path), "word"
    if path.is_dir():
        return _resolve_dir(path)
    text = str(source)
    if _is_glob(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise LmstatsError(f"{text}: the pattern matches no files; check the path or quote the pattern")
        return [("", TextSource(str(p), p)) for p in files], text, False, text, "word"
    catalogue = load_catalogue()
    if text in catalogue:
        entry = catalogue[text]
        paths = locate_corpus(entry, data_dir=data_dir, download=download)
        pairs = [(split if split != "all" else "", TextSource(str(p), p)) for split, p in sorted(paths.items())]
        return pairs, entry.name, entry.predefined_splits, entry.description, entry.level
    if path.suffix or "/" in text or "\\" in text:
        raise LmstatsError(f"{text}: no such file or folder; check the path")
    known = ", ".join([DEFAULT_CORPUS, *sorted(catalogue)])
    raise LmstatsError(f"{text}: no such file, and not a known corpus name (known: {known})")


def _resolve_dir(path: Path):
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise LmstatsError(f"{path}: the folder holds no text files; give a folder with .txt (or .gz/.bz2/.xz) files")
    found = {split: [p for p in files if pat.search(p.name)] for split, pat in _SPLIT_PATTERNS.items()}
    if all(len(found[s]) == 1 for s in SPLIT_NAMES) and len({found[s][0] for s in SPLIT_NAMES}) == 3:
        return [(s, TextSource(str(found[s][0]), found[s][0])) for s in SPLIT_NAMES], path.name, True, str(path), "word"
    return [("", TextSource(str(p), p)) for p in files], path.name, False, str(path), "word"


# -- statistics ----------------------------------------------------------------------------


def corpus_stats(corpus: Corpus, vocab: Vocab) -> dict:
    """Per split: lines, tokens, types, OOV count and rate under ``vocab`` (built on train).

    OOV tokens are those read as ``<unk>``: types outside the vocabulary and literal
    ``<unk>`` tokens of corpora that already contain them (WikiText, PTB).
    """
    is_oov = corpus.types.vocab_ids(vocab) == vocab.unk_id
    literal_unk = corpus.types.id(UNK)
    rows = []
    for name in SPLIT_NAMES:
        part = corpus.part(name)
        counts = corpus.types.type_counts(part.ids)
        n_oov = int(counts[is_oov].sum())
        rows.append({
            "split": name,
            "lines": part.n_lines,
            "empty_lines": int(np.count_nonzero(part.lengths == 0)),
            "tokens": part.n_tokens,
            "types": int(np.count_nonzero(counts)),
            "oov": n_oov,
            "oov_rate": n_oov / part.n_tokens if part.n_tokens else 0.0,
            "literal_unk": int(counts[literal_unk]) if literal_unk is not None else 0,
        })
    return {
        "corpus": corpus.name,
        "description": corpus.description,
        "sources": list(corpus.sources),
        "splits_from": "the corpus's own files" if corpus.predefined else corpus.meta.get("split", "seeded"),
        "spec": corpus.spec.to_dict(),
        "vocab_size": len(vocab),
        "vocab_specials": vocab.n_specials,
        "splits": rows,
    }
