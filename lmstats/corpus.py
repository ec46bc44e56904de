"""Corpora: read text, tokenize it, and split it into train/valid/test.

A corpus source is one of

* nothing: the built-in default corpus ``python-docs`` (see :func:`builtin_text`);
* a catalogue name (``wikitext-2``, ``ptb``, ...; see :mod:`lmstats.datasets`);
* a text file (``.gz``/``.bz2``/``.xz`` too), a folder of text files or a glob pattern.

A folder holding exactly one train, one valid (or dev/validation) and one test file uses
those as predefined splits; otherwise all text is split by lines with a seed.

Text options (:class:`TextOptions`): ``level`` word (whitespace split) or char (every
character, so Chinese text works); ``lower``; ``letters_only`` (the d2l normalisation: every
run of non-letters becomes one space); ``format`` lines (one sentence or paragraph per line)
or stream (the text is one sequence, lines joined by a space, split by position).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmstats.datasets import SPLIT_NAMES, load_catalogue, locate_corpus
from lmstats.errors import LmstatsError
from lmstats.fileio import read_text
from lmstats.lines import EncodedSplit, Lines
from lmstats.vocab import Vocab

LEVELS = ("word", "char")
FORMATS = ("lines", "stream")
DEFAULT_CORPUS = "python-docs"
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
_NON_LETTERS = re.compile(r"[^A-Za-z]+")
_SPLIT_PATTERNS = {
    "train": re.compile(r"train", re.I),
    "valid": re.compile(r"valid|(?<![a-z])dev(?![a-z])", re.I),
    "test": re.compile(r"test", re.I),
}


@dataclass(frozen=True)
class TextOptions:
    level: str = "word"
    lower: bool = False
    letters_only: bool = False
    format: str = "lines"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise LmstatsError(f"level must be one of {LEVELS}, got {self.level!r}")
        if self.format not in FORMATS:
            raise LmstatsError(f"format must be one of {FORMATS}, got {self.format!r}")


def tokenize(text_lines: Sequence[str], options: TextOptions) -> list[list[str]]:
    """Token lists, one per line (format ``lines``) or one for the whole text (``stream``)."""
    if options.format == "stream":
        text_lines = [" ".join(line.strip() for line in text_lines)]
    out = []
    for line in text_lines:
        if options.letters_only:
            line = _NON_LETTERS.sub(" ", line).strip()
        if options.lower:
            line = line.lower()
        out.append(line.split() if options.level == "word" else list(line.rstrip("\r")))
    return out


def split_text_lines(text: str) -> list[str]:
    """Lines of ``text`` split on ``\\n`` only (``\\r\\n`` endings tolerated); no final empty line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@dataclass(frozen=True)
class Corpus:
    """Tokenized train/valid/test splits (lists of token lists) and where they came from."""

    name: str
    train: list[list[str]]
    valid: list[list[str]]
    test: list[list[str]]
    options: TextOptions
    predefined: bool  # the splits come from the corpus itself (not from a seeded split)
    sources: tuple[str, ...] = ()
    seed: int | None = None
    description: str = ""
    meta: dict = field(default_factory=dict)

    def split(self, name: str) -> list[list[str]]:
        if name not in SPLIT_NAMES:
            raise LmstatsError(f"split must be one of {SPLIT_NAMES}, got {name!r}")
        return getattr(self, name)

    def build_vocab(self, *, min_count: int = 1, max_size: int | None = None, pad: bool = False) -> Vocab:
        """The vocabulary of the training split only."""
        return Vocab.build(self.train, min_count=min_count, max_size=max_size, pad=pad)

    def encode(self, vocab: Vocab) -> dict[str, EncodedSplit]:
        """All three splits encoded under ``vocab``."""
        out = {}
        for name in SPLIT_NAMES:
            sentences = self.split(name)
            lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
            bounds = np.zeros(len(sentences) + 1, dtype=np.int64)
            np.cumsum(lengths, out=bounds[1:])
            flat = [t for s in sentences for t in s]
            out[name] = EncodedSplit(name, Lines(vocab.encode(flat), bounds), vocab)
        return out


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


def split_lines(lines: Sequence, fractions: Sequence[float], seed: int) -> tuple[list, list, list]:
    """Deterministic seeded split of ``lines`` into train/valid/test by ``fractions``.

    Lines are assigned by a permutation drawn from ``np.random.default_rng(seed)``; each split
    keeps the original line order.  Same seed, same split.
    """
    _check_fractions(fractions)
    n = len(lines)
    n_valid = int(round(n * fractions[1]))
    n_test = int(round(n * fractions[2]))
    perm = np.random.default_rng(seed).permutation(n)
    test_idx = np.sort(perm[:n_test])
    valid_idx = np.sort(perm[n_test : n_test + n_valid])
    train_idx = np.sort(perm[n_test + n_valid :])
    pick = lambda idx: [lines[i] for i in idx]  # noqa: E731
    return pick(train_idx), pick(valid_idx), pick(test_idx)


def _split_stream(tokens: list[str], fractions: Sequence[float]) -> tuple[list, list, list]:
    _check_fractions(fractions)
    n = len(tokens)
    a = int(round(n * fractions[0]))
    b = a + int(round(n * fractions[1]))
    return [tokens[:a]], [tokens[a:b]], [tokens[b:]]


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9 or fractions[0] <= 0:
        raise LmstatsError(f"split fractions must be three numbers >= 0 summing to 1 (train > 0), got {tuple(fractions)}; e.g. 0.8,0.1,0.1")


def load_corpus(
    source: str | Path | None = None,
    *,
    options: TextOptions | None = None,
    level: str | None = None,
    lower: bool = False,
    letters_only: bool = False,
    text_format: str = "lines",
    data_dir: str | Path | None = None,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    download: bool = True,
) -> Corpus:
    """Read, tokenize and split a corpus (see the module docstring for what ``source`` may be).

    ``options`` sets the text handling; without it, ``level`` (default: the corpus's own, e.g.
    char for the catalogue's tinyshakespeare), ``lower``, ``letters_only`` and ``text_format``.
    """
    text_files, name, predefined, description, default_level = _resolve(source, data_dir=data_dir, download=download)
    if options is None:
        options = TextOptions(level=level or default_level, lower=lower, letters_only=letters_only, format=text_format)
    meta: dict = {}
    if predefined:
        parts = {split: [] for split in SPLIT_NAMES}
        for split, _, text in text_files:
            parts[split].extend(split_text_lines(text))
        tok = {split: tokenize(parts[split], options) for split in SPLIT_NAMES}
        corpus = Corpus(name, tok["train"], tok["valid"], tok["test"], options, True, tuple(label for _, label, _ in text_files), None, description)
    else:
        all_lines = [line for _, _, text in text_files for line in split_text_lines(text)]
        if options.format == "stream":
            (stream,) = tokenize(all_lines, options)
            _require_tokens(name, [stream])
            train, valid, test = _split_stream(stream, fractions)
            meta["split"] = "contiguous by token position"
        else:
            sentences = tokenize(all_lines, options)
            _require_tokens(name, sentences)
            train, valid, test = split_lines(sentences, fractions, seed)
            meta["split"] = f"seeded by lines (seed {seed})"
        meta["fractions"] = list(fractions)
        corpus = Corpus(name, train, valid, test, options, False, tuple(label for _, label, _ in text_files), seed, description, meta)
    _require_tokens(name, corpus.train, what="its train split")
    for split in ("valid", "test"):
        if not any(corpus.split(split)):
            lines = sum(len(corpus.split(s)) for s in SPLIT_NAMES)
            raise LmstatsError(
                f"{name}: the {split} split has no tokens ({len(corpus.split(split))} lines of {lines}); "
                "the corpus is too small to split — give more text (a few dozen lines at least) or other --split fractions"
            )
    return corpus


def _require_tokens(name: str, sentences: Sequence[Sequence[str]], what: str = "it") -> None:
    if not any(sentences):
        raise LmstatsError(f"{name}: empty corpus — {what} has no tokens ({len(sentences)} lines); give a file with text")


def _resolve(source, *, data_dir, download):
    """(split or '', source label, text) triples, the corpus name, predefined?, description, default level."""
    if source is None or str(source) == DEFAULT_CORPUS:
        return [("", "pydoc_data.topics", builtin_text())], DEFAULT_CORPUS, False, "Python reference topics (pydoc_data)", "word"
    path = Path(source)
    if path.is_file():
        return [("", str(path), read_text(path))], path.name, False, str(path), "word"
    if path.is_dir():
        return _resolve_dir(path)
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise LmstatsError(f"{text}: the pattern matches no files; check the path or quote the pattern")
        return [("", str(p), read_text(p)) for p in files], text, False, text, "word"
    catalogue = load_catalogue()
    if text in catalogue:
        entry = catalogue[text]
        paths = locate_corpus(entry, data_dir=data_dir, download=download)
        pairs = [(split if split != "all" else "", str(p), read_text(p)) for split, p in sorted(paths.items())]
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
        return [(s, str(found[s][0]), read_text(found[s][0])) for s in SPLIT_NAMES], path.name, True, str(path), "word"
    return [("", str(p), read_text(p)) for p in files], path.name, False, str(path), "word"
