"""A text read where it lies: byte ranges of files cut at line starts, each read on its own (issue 25, step 1).

The Dask engine's workers read the corpus themselves instead of the client reading and scattering
it.  A file (a local path or any URL fsspec opens: ``s3://``, ``gs://``, ``hdfs://``, ...) is cut
into byte ranges of about ``target`` bytes; the range ``[start, end)`` holds the lines whose first
byte lies in it, so it reads the bytes ``[line_start(start), line_start(end))`` where
``line_start(x)`` is the first line start at or after ``x`` (0 for 0; else one past the first
``\\n`` at or after ``x - 1``).  Consecutive ranges therefore tile the file, every line in exactly
one of them, whatever the cut points (a range inside one long line holds nothing).  The bytes are
decoded and checked as :mod:`lmstats.text.reader` checks a file (NUL bytes, UTF-8, a BOM at offset
0), and read into type ids by :func:`lmstats.text.ingest.ingest_texts`, the local reader's rules.

Each range's types and their counts merge pairwise (:func:`merge_counts`, a tree of reductions on
the cluster); the vocabulary is :meth:`lmstats.vocab.Vocab.from_counts` of the merged counts, the
one ranking rule (ties broken by the string, so the order the ranges merge in changes nothing),
and each range's type ids become vocabulary ids through one gather (:func:`encode_range`).

What is here: plain and compressed files (a compressed file is read whole: it has no byte ranges, one
range); word and char level with ``--lower`` and ``--letters-only``.  ``lmstats ngram DIR --engine dask``
reads the train files this way (:mod:`lmstats.ngram.cluster_fit`).  Not yet: subword levels (a
tokenizer trained on the cluster) and corpora split by ratio (the command reads those on the client).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.text.ingest import TypeIds, TypeTable, ingest_texts, vocab_ids
from lmstats.text.reader import CHUNK_BYTES, decoded_chunks
from lmstats.vocab import Vocab

TARGET_BYTES = 16 << 20  # bytes per range, about (some 4M tokens: a worker counts them in about 0.5 GB)
MIN_TARGET_BYTES = 1 << 20  # smaller ranges cost more in tasks than they give in parallel reading
RANGES_PER_WORKER = 2
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")


@dataclass(frozen=True)
class ByteRange:
    """The lines of ``url`` whose first byte lies in ``[start, end)`` (``end`` None: to the end, a compressed file)."""

    url: str
    start: int
    end: int | None


@dataclass(frozen=True)
class Reading:
    """How a range's text becomes tokens (the corpus options the workers need)."""

    level: str = "word"
    lower: bool = False
    letters_only: bool = False

    @classmethod
    def of(cls, corpus) -> Reading:
        """The reading of a :class:`~lmstats.text.spec.CorpusSpec` (None: words as they are; a spec without a level: word)."""
        if corpus is None:
            return cls()
        return cls(corpus.level or "word", corpus.lower, corpus.letters_only)

    def __post_init__(self):
        if self.level not in ("word", "char"):
            raise LmstatsError(f"reading byte ranges on the workers takes word or char level, not {self.level!r}; "
                               "subword levels read on the client for now")


def _fs(url: str, storage_options: dict | None = None):
    try:
        import fsspec
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover (fsspec comes with dask)
        raise LmstatsError("reading a corpus on the workers needs fsspec: pip install fsspec") from None
    try:
        return url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        known = fsspec.available_protocols()
        hint = "" if protocol in known else f" (fsspec knows no {protocol!r})"
        raise LmstatsError(f"{url}: cannot open it ({exc}){hint}; install the package for its scheme (s3fs, gcsfs, ...)") from None


def _size(url: str, storage_options: dict | None) -> int:
    fs, path = _fs(url, storage_options)
    try:
        return int(fs.size(path))
    except FileNotFoundError:
        raise LmstatsError(f"{url}: no such file; check the path") from None


def range_target(urls: list[str], workers: int, storage_options: dict | None = None) -> int:
    """Bytes per range for ``workers``: :data:`TARGET_BYTES`, or less so that every worker reads at least
    :data:`RANGES_PER_WORKER` ranges (but no fewer than :data:`MIN_TARGET_BYTES` each)."""
    total = sum(_size(url, storage_options) for url in urls)
    return max(MIN_TARGET_BYTES, min(TARGET_BYTES, -(-total // (RANGES_PER_WORKER * max(1, workers)))))


def byte_ranges(urls: list[str], target: int = TARGET_BYTES, storage_options: dict | None = None) -> list[ByteRange]:
    """The ranges of ``urls``, in order: about ``target`` bytes each; a compressed file is one range."""
    if target < 1:
        raise ValueError("target must be at least one byte")
    out = []
    for url in urls:
        size = _size(url, storage_options)
        if url.lower().endswith(_COMPRESSED):
            out.append(ByteRange(url, 0, None))
            continue
        cuts = list(range(0, size, target)) + [size]
        out += [ByteRange(url, a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)] or [ByteRange(url, 0, size)]
    return out


def _line_start(fh, x: int, block: int) -> int:
    """The first line start at or after ``x`` in the open file ``fh`` (its size when there is none)."""
    if x == 0:
        return 0
    fh.seek(x - 1)
    pos = x - 1
    while True:
        data = fh.read(block)
        if not data:
            return pos
        nl = data.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(data)


def range_chunks(r: ByteRange, *, block: int = CHUNK_BYTES, storage_options: dict | None = None) -> Iterator[str]:
    """The text of range ``r`` in chunks of whole lines (a line longer than ``block`` cut inside, at a character
    boundary), decoded and checked as the local reader does."""
    fs, path = _fs(r.url, storage_options)
    if r.end is None:  # compressed: the whole file, decompressed by fsspec
        with fs.open(path, "rb", compression="infer") as fh:
            yield from decoded_chunks(fh, r.url, block)
        return
    with fs.open(path, "rb") as fh:
        a, b = _line_start(fh, r.start, block), _line_start(fh, r.end, block)
        if a < b:
            fh.seek(a)
            yield from decoded_chunks(fh, r.url, block, start=a, stop=b)


@dataclass(frozen=True, eq=False)
class RangeTypes:
    """One range read into type ids of its own: its types (first-seen order), their counts, its lines."""

    types: list[str]
    counts: NDArray[np.int64]
    text: TypeIds


def read_range(r: ByteRange, reading: Reading, *, block: int = CHUNK_BYTES, storage_options: dict | None = None) -> RangeTypes:
    """Range ``r`` read into type ids (a worker's task)."""
    table = TypeTable()
    text = ingest_texts([range_chunks(r, block=block, storage_options=storage_options)], table, level=reading.level,
                        lower=reading.lower, letters_only=reading.letters_only)
    return RangeTypes(table.types, table.type_counts(text.ids), text)


def type_counts(part: RangeTypes) -> tuple[dict[str, int], int]:
    """A range's counts by type string, and its lines (what :func:`merge_counts` merges)."""
    return dict(zip(part.types, part.counts.tolist(), strict=True)), part.text.n_lines


def merge_counts(a: tuple[dict[str, int], int], b: tuple[dict[str, int], int]) -> tuple[dict[str, int], int]:
    """Two ranges' (or merged groups') counts, summed."""
    big, small = (a[0], b[0]) if len(a[0]) >= len(b[0]) else (b[0], a[0])
    merged = dict(big)
    for t, c in small.items():
        merged[t] = merged.get(t, 0) + c
    return merged, a[1] + b[1]


def vocab_of(merged: tuple[dict[str, int], int], *, min_count: int = 1, max_size: int | None = None) -> Vocab:
    counts, n_lines = merged
    return Vocab.from_counts(list(counts), np.fromiter(counts.values(), dtype=np.int64, count=len(counts)), n_lines,
                             min_count=min_count, max_size=max_size)


def encode_range(part: RangeTypes, vocab: Vocab) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """A range's tokens as vocabulary ids and its tokens per line: a partition of the counting engine."""
    return vocab_ids(part.types, vocab)[part.text.ids], part.text.lengths


def read_on_cluster(client, urls: list[str], reading: Reading, *, target: int = TARGET_BYTES, min_count: int = 1,
                    max_size: int | None = None, storage_options: dict | None = None, vocab: Vocab | None = None):
    """Read ``urls`` on the workers of ``client``: the vocabulary (merged as a tree of reductions, built on a worker;
    or ``vocab``, given) and one future per range of its encoded partition (ids, lengths); the client reads no text."""
    parts = read_ranges_on_cluster(client, urls, reading, target=target, storage_options=storage_options)
    from lmstats.ngram.dask_cluster import tree_reduce

    if vocab is None:
        merged = tree_reduce(client, [client.submit(type_counts, p) for p in parts], merge_counts)
        built = client.submit(vocab_of, merged, min_count=min_count, max_size=max_size)
    else:
        built = as_task(client, vocab)
    # (a task's result, not scattered data: a worker that dies loses nothing Dask cannot redo)
    return built.result(), [client.submit(encode_range, p, built) for p in parts]


def _given(value):
    return value


def as_task(client, value):
    """A future of ``value`` that a task computes (Dask rebuilds it when its worker dies; scattered data a client has let go
    of it cannot)."""
    return client.submit(_given, value)


def read_ranges_on_cluster(client, urls: list[str], reading: Reading, *, target: int = TARGET_BYTES,
                           storage_options: dict | None = None) -> list:
    """One future per byte range of ``urls`` of its :class:`RangeTypes`, read on a worker."""
    return [client.submit(read_range, r, reading, storage_options=storage_options, pure=False)
            for r in byte_ranges(urls, target, storage_options)]


def text_size(part: RangeTypes) -> tuple[int | None, int | None]:
    """The characters and UTF-8 bytes a range's sentences cover (:func:`lmstats.units.scored_text_size`)."""
    from lmstats.encoded import EncodedSplit, Lines
    from lmstats.units import scored_text_size

    text = part.text
    return scored_text_size(EncodedSplit("range", Lines.from_lengths(text.ids, text.lengths), None, text.line_chars, text.line_bytes),
                            "sentence")
