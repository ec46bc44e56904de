"""Where a corpus's text comes from: the built-in corpus, a catalogue name, a file, a folder or a glob.

:func:`resolve` turns a :attr:`CorpusSpec.source <lmstats.text.spec.CorpusSpec.source>` into
the files to read (nothing is read yet), the corpus's name, and whether its splits are
predefined: a catalogue corpus that has them (WikiText, PTB), or a folder holding exactly one
train, one valid (or dev/validation) and one test file.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lmstats.errors import LmstatsError
from lmstats.text.catalogue import load_catalogue, locate_corpus
from lmstats.text.reader import TextSource
from lmstats.text.spec import DEFAULT_CORPUS, SPLIT_NAMES, is_glob

_SPLIT_PATTERNS = {
    "train": re.compile(r"train", re.I),
    "valid": re.compile(r"valid|(?<![a-z])dev(?![a-z])", re.I),
    "test": re.compile(r"test", re.I),
}


@dataclass(frozen=True)
class ResolvedSource:
    """The files of a corpus (each with its split, or "" when the text is split by lines) and what they are."""

    files: tuple[tuple[str, TextSource], ...]
    name: str
    predefined: bool  # the splits come from the corpus itself
    description: str
    level: str  # the corpus's own level (char for tinyshakespeare, else word)

    def of_split(self, split: str) -> list[TextSource]:
        return [src for s, src in self.files if s == split]


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


def resolve(source: str | None, *, data_dir=None, download: bool = True) -> ResolvedSource:
    """The files ``source`` names (see the module docstring); a catalogue corpus is located (or downloaded)."""
    if source is None or str(source) == DEFAULT_CORPUS:
        builtin = TextSource("pydoc_data.topics", text=builtin_text())
        return ResolvedSource((("", builtin),), DEFAULT_CORPUS, False, "Python reference topics (pydoc_data)", "word")
    path = Path(source)
    if path.is_dir():
        return _resolve_dir(path)
    if path.exists():  # a file, or a named pipe such as bash's <(zcat text.gz)
        return ResolvedSource((("", TextSource(str(path), path)),), path.name, False, str(path), "word")
    text = str(source)
    if is_glob(text):
        files = local_files(text)
        if not files:
            raise LmstatsError(f"{text}: the pattern matches no files; check the path or quote the pattern")
        return ResolvedSource(tuple(("", TextSource(str(p), p)) for p in files), text, False, text, "word")
    catalogue = load_catalogue()
    if text in catalogue:
        entry = catalogue[text]
        paths = locate_corpus(entry, data_dir=data_dir, download=download)
        files = tuple((split if split != "all" else "", TextSource(str(p), p)) for split, p in sorted(paths.items()))
        return ResolvedSource(files, entry.name, entry.predefined_splits, entry.description, entry.level)
    if path.suffix or "/" in text or "\\" in text:
        raise LmstatsError(f"{text}: no such file or folder; check the path")
    known = ", ".join([DEFAULT_CORPUS, *sorted(catalogue)])
    raise LmstatsError(f"{text}: no such file, and not a known corpus name (known: {known})")


def local_files(source: str | None) -> list[Path]:
    """The local files ``source`` names when it is a file, folder or glob (else []), listed as :func:`resolve` reads them."""
    if source is None:
        return []
    path = Path(source)
    if path.is_dir():
        return folder_files(path)
    if path.exists():
        return [path]
    return sorted(Path(p) for p in glob.glob(str(source), recursive=True) if Path(p).is_file()) if is_glob(str(source)) else []


def folder_files(path: Path) -> list[Path]:
    """The files under ``path`` (hidden ones and those in hidden folders left out), sorted; an unreadable
    folder anywhere below is an error that names it, not a silent gap."""
    def refuse(exc: OSError):
        raise LmstatsError(f"{exc.filename or path}: cannot read the folder ({exc.strerror or exc}); check its permissions") from None

    files = []
    for folder, subfolders, names in os.walk(path, onerror=refuse):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        files += [Path(folder) / n for n in names if not n.startswith(".") and os.path.isfile(os.path.join(folder, n))]
    return sorted(files)


def _resolve_dir(path: Path) -> ResolvedSource:
    files = folder_files(path)
    if not files:
        raise LmstatsError(f"{path}: the folder holds no text files; give a folder with .txt (or .gz/.bz2/.xz) files")
    found = {split: [p for p in files if pat.search(p.name)] for split, pat in _SPLIT_PATTERNS.items()}
    if all(len(found[s]) == 1 for s in SPLIT_NAMES) and len({found[s][0] for s in SPLIT_NAMES}) == 3:
        return ResolvedSource(tuple((s, TextSource(str(found[s][0]), found[s][0])) for s in SPLIT_NAMES), path.name, True,
                              str(path), "word")
    return ResolvedSource(tuple(("", TextSource(str(p), p)) for p in files), path.name, False, str(path), "word")
