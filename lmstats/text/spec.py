"""What a corpus is and how its vocabulary is cut: :class:`CorpusSpec` and :class:`VocabSpec`.

These two frozen dataclasses are the one description of a text from the command line to the
core: :func:`lmstats.text.corpus.load_corpus` takes the first, model files and checkpoints
store both (:mod:`lmstats.saved`), report configs nest them, and the CLI builds them from
options derived from their fields (:mod:`lmstats.cli.options`).  This module is small on
purpose: models import it to record what they were trained on without importing the reader.

A corpus source is ``None`` (the built-in corpus ``python-docs``), a catalogue name, a text
file (``.gz``/``.bz2``/``.xz`` too), a folder of text files or a glob pattern.  Text handling:
``level`` word (whitespace split), char (every character, so Chinese text works), or bpe /
unigram (words cut into ``bpe_vocab`` subword pieces learned from the training split,
:mod:`lmstats.text.subword`); ``lower``; ``letters_only`` (d2l's normalisation with Unicode
letters: every run of characters that are not letters or combining marks becomes one space);
``format`` lines (one sentence or paragraph per line) or stream (one sequence split by
position; at char level a line break is the character ``\\n``); ``split`` the train/valid/test
fractions of a seeded split by lines; ``seed`` its seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lmstats.errors import LmstatsError

SPLIT_NAMES = ("train", "valid", "test")
SUBWORD_LEVELS = ("bpe", "unigram")
LEVELS = ("word", "char", *SUBWORD_LEVELS)
FORMATS = ("lines", "stream")
DEFAULT_CORPUS = "python-docs"
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_SUBWORD_VOCAB = 8000


@dataclass(frozen=True)
class CorpusSpec:
    """Which text, how it is tokenized and how it is split (see the module docstring)."""

    source: str | None = None  # file, folder, glob or catalogue name; None: the built-in corpus
    level: str | None = None  # word | char | bpe | unigram; None: the corpus's own (char for tinyshakespeare)
    lower: bool = False
    letters_only: bool = False
    format: str = "lines"  # lines | stream
    split: tuple[float, float, float] | None = None  # train/valid/test fractions; None: 0.8,0.1,0.1 where needed
    seed: int = 0  # seed of the split by lines
    bpe_vocab: int | None = None  # pieces of a bpe/unigram level (None: 8000 there; unused at word and char level)

    def __post_init__(self) -> None:
        if self.source is not None:
            object.__setattr__(self, "source", str(self.source))
            if not self.source.strip():
                raise LmstatsError("the corpus is an empty string; give a file, folder, glob or corpus name (or none for the "
                                   "built-in corpus)")
        if self.level is not None and self.level not in LEVELS:
            raise LmstatsError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}; e.g. --level word")
        if self.bpe_vocab is not None:
            if self.level not in SUBWORD_LEVELS:
                raise LmstatsError(f"--bpe-vocab sets the pieces of a subword level; add --level bpe or --level unigram "
                                   f"(the level is {self.level or 'the corpus default'})")
            if int(self.bpe_vocab) < 2:
                raise LmstatsError(f"--bpe-vocab must be at least 2 pieces, got {self.bpe_vocab}")
        if self.format not in FORMATS:
            raise LmstatsError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}; e.g. --format lines")
        if self.split is not None:
            fractions = tuple(float(f) for f in self.split)
            check_fractions(fractions)
            object.__setattr__(self, "split", fractions)

    @property
    def fractions(self) -> tuple[float, float, float]:
        return self.split or DEFAULT_FRACTIONS

    @property
    def name(self) -> str:
        """The corpus's name, known without reading it: a catalogue name, a file or folder name, a glob."""
        if self.source is None or self.source == DEFAULT_CORPUS:
            return DEFAULT_CORPUS
        if is_glob(self.source):
            return self.source
        return Path(self.source).name or self.source

    def local_files(self) -> list[Path]:
        """The local files this spec reads when its source is a file, folder or glob (else []), as the reader lists them."""
        from lmstats.text.sources import local_files  # the reader's listing (hidden files left out), imported only here

        return local_files(self.source)

    def describe(self) -> str:
        """One line naming the corpus and its text options (for messages)."""
        level = self.level or "word"
        extras = [f"{level} {self.bpe_vocab}" if self.bpe_vocab else level]
        extras += [name for name, on in (("lower", self.lower), ("letters only", self.letters_only)) if on]
        extras += [f"format {self.format}"] + ([f"split {','.join(f'{x:g}' for x in self.split)} seed {self.seed}"]
                                                if self.split else [])
        return f"{self.name}, {', '.join(extras)}"

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
            raise LmstatsError(f"min_count must be >= 1, got {self.min_count}; 1 keeps every type (--min-count 1)")
        if self.max_size is not None and int(self.max_size) < 1:
            raise LmstatsError(f"max_size must be >= 1 ordinary types, got {self.max_size}; leave it out to keep every type")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VocabSpec:
        return cls(**{k: v for k, v in data.items() if k in {f.name for f in fields(cls)}})


def check_split_name(name: str) -> str:
    """``name`` when it is a split's name (train, valid, test)."""
    if name not in SPLIT_NAMES:
        raise LmstatsError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {name!r}; e.g. test")
    return name


def is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def check_fractions(fractions: Sequence[float]) -> None:
    """Three finite fractions >= 0 summing to 1, train > 0 (NaN and infinity refused)."""
    ok = (len(fractions) == 3 and all(isinstance(f, (int, float)) and math.isfinite(f) and f >= 0 for f in fractions)
          and abs(sum(fractions) - 1) <= 1e-9 and fractions[0] > 0)
    if not ok:
        shown = ",".join(f"{f:g}" if isinstance(f, (int, float)) else repr(f) for f in fractions)
        raise LmstatsError(f"split fractions must be three finite numbers >= 0 summing to 1 (train > 0), got {shown}; "
                           "e.g. 0.8,0.1,0.1")
