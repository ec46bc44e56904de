"""When a corpus's token ids stay on disk: the spill policy of the commands that read large text.

A corpus whose files pass :data:`SPILL_SHARE` of the memory ``--memory`` leaves is read into a
work folder inside ``--tmp`` (4 bytes a token against about 5 bytes a word of text): its ids are
memory-mapped ``.npy`` files there (:mod:`lmstats.encoded`), and the folder is removed at the end.
At char level every character is a token, so a byte of text can cost 4 bytes of ids: the files
count :data:`CHAR_LEVEL_WEIGHT` times their size there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from lmstats.resources import work_dir, working_memory
from lmstats.text.spec import CorpusSpec

SPILL_SHARE = 0.25  # a corpus whose files pass this share of the working memory is read into a work folder
CHAR_LEVEL_WEIGHT = 5  # ids per byte of text at char level against word level: 4 bytes a character, 4 bytes per ~5 of a word


@contextlib.contextmanager
def text_spill(corpus: CorpusSpec, memory: int, tmp, files: list[Path] | None = None) -> Iterator[Path | None]:
    """A work folder (inside ``tmp``) for the token ids of a large corpus, removed at the end; None for
    smaller corpora, which stay in memory (see the module docstring).  ``files``: the corpus's local files,
    when the caller has listed them already."""
    files = corpus.local_files() if files is None else files
    size = sum(f.stat().st_size for f in files) * (CHAR_LEVEL_WEIGHT if corpus.level == "char" else 1)
    if size < SPILL_SHARE * working_memory(memory):
        yield None
        return
    with work_dir(tmp) as folder:
        yield folder


def drop_spilled(folder: Path | None, *kept) -> None:
    """Delete the files of ``folder`` (a :func:`text_spill` folder, or None) that none of the
    disk-backed arrays ``kept`` is read from: the type ids, once the text is encoded or joined."""
    if folder is None:
        return
    keep = {Path(values.filename).resolve() for values in kept if getattr(values, "filename", None)}
    for file in folder.iterdir():
        if file.resolve() not in keep:
            file.unlink()
