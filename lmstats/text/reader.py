"""The one text reader: files (plain or compressed, pipes too), open streams (standard input) or strings, as UTF-8 text in chunks.

Every text lmstats reads goes through :func:`read_chunks`: corpora, ARPA files, vocabularies,
mixture files.  A file is opened once (so a named pipe or ``/dev/stdin`` works), its first bytes
are peeked to recognise gzip, bzip2 and xz by their magic numbers (the suffix ``.gz``, ``.bz2``
or ``.xz`` names them too), and it is read in blocks that end at a line end where the block
holds one, else at a character boundary (a multi-byte character is never cut), so a piece holds
at most two blocks whatever the lengths of the lines: a file that is one long line is read in
pieces too, and the reader of the pieces joins a line that spans them.  A user's mistake is one
:class:`LmstatsError` that names the file: missing, a folder, unreadable, corrupt compressed
data, binary content (a NUL byte anywhere) or bytes that are not UTF-8 (with the offset of the
first bad byte).  A byte-order mark at the start is dropped.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lmstats.errors import LmstatsError

CHUNK_BYTES = 1 << 20  # the strings of one chunk stay in Python's allocator pools afterwards (lmstats.text.ingest)
_DECOMPRESSORS = {".gz": lambda raw: gzip.GzipFile(fileobj=raw), ".bz2": bz2.BZ2File, ".xz": lzma.LZMAFile}
_MAGIC = {b"\x1f\x8b": ".gz", b"BZh": ".bz2", b"\xfd7zXZ\x00": ".xz"}
_CORRUPT = (OSError, EOFError, lzma.LZMAError, zlib.error)


@dataclass(frozen=True)
class TextSource:
    """A text to read: a file (plain or compressed), a string (the built-in corpus), or an open binary
    ``stream`` such as standard input (read as it comes, decompressed when its first bytes say so, never closed)."""

    label: str
    path: Path | None = None
    text: str | None = None
    stream: IO[bytes] | None = None


def open_binary(path: Path) -> IO[bytes]:
    """``path`` opened once for reading bytes, decompressed when its suffix or first bytes say so."""
    raw = open(path, "rb")  # returned to the caller, who closes it
    try:
        kind = next((s for s in _DECOMPRESSORS if path.name.lower().endswith(s)), None)
        return _decompressed(raw, kind)
    except BaseException:
        raw.close()
        raise


def _decompressed(raw: IO[bytes], kind: str | None = None) -> IO[bytes]:
    """``raw`` itself, or a decompressing reader over it when ``kind`` (a suffix) or its first bytes name a compression."""
    if kind is None:
        head = raw.peek(6)[:6]
        kind = next((s for magic, s in _MAGIC.items() if head.startswith(magic)), None)
    return _DECOMPRESSORS[kind](raw) if kind else raw


def read_chunks(source: TextSource, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The source's text in pieces of at most ``2 * chunk_bytes`` bytes (characters for a string) that end
    at a line end where they can (see the module docstring)."""
    if source.text is not None:
        text = source.text.removeprefix("\ufeff")
        for start in range(0, len(text), chunk_bytes):
            yield text[start : start + chunk_bytes]
        return
    name = source.label if source.stream is not None else Path(source.path)
    if source.stream is None:
        if name.is_dir():
            raise LmstatsError(f"{name}: is a folder, expected a text file; give the folder itself as CORPUS, or one of its files")
        if not name.exists():
            raise LmstatsError(f"{name}: no such file; check the path (or give a corpus name, see 'lmstats corpus list')")
    try:
        with _opened(source) as fh:
            yield from decoded_chunks(fh, name, chunk_bytes)
    except PermissionError as exc:
        raise LmstatsError(f"{name}: cannot read the file ({exc.strerror}); check its permissions") from None
    except _CORRUPT as exc:
        raise LmstatsError(f"{name}: cannot decompress or read it ({exc}); the file may be truncated or corrupt") from None


def decoded_chunks(fh: IO[bytes], name: Path | str, chunk_bytes: int = CHUNK_BYTES, *, start: int = 0,
                   stop: int | None = None) -> Iterator[str]:
    """The bytes of ``fh`` from where it stands (the file's offset ``start``) to the offset ``stop`` (None: its end),
    decoded in pieces of at most ``2 * chunk_bytes`` bytes that end at a line end where they can, each checked by
    :func:`_decode` (offsets in its errors are the file's; a BOM is dropped at offset 0 only)."""
    offset, rest = start, b""
    while True:
        want = chunk_bytes if stop is None else min(chunk_bytes, stop - offset - len(rest))
        block = fh.read(want) if want > 0 else b""
        data = rest + block
        cut = _cut(data) if block else len(data)
        piece, rest = data[:cut], data[cut:]
        if piece:
            yield _decode(piece, offset, name)
            offset += len(piece)
        if not block:
            return


def _opened(source: TextSource) -> contextlib.AbstractContextManager[IO[bytes]]:
    """The source's bytes: its file opened (and closed afterwards), or its stream (left open for its owner)."""
    if source.stream is None:
        return open_binary(Path(source.path))
    stream = source.stream if hasattr(source.stream, "peek") else io.BufferedReader(source.stream)
    return contextlib.nullcontext(_decompressed(stream))


def _cut(data: bytes) -> int:
    """Where to end a piece of ``data``: after its last line end, else before an unfinished UTF-8
    character at its end (lead bytes 0b11xxxxxx, continuation bytes 0b10xxxxxx)."""
    cut = data.rfind(b"\n") + 1
    if cut:
        return cut
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:  # ASCII: every character before it is whole
            return len(data)
        if byte >= 0xC0:  # the lead byte of the last character: 2, 3 or 4 bytes long
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= length else len(data) - back
    return len(data)  # not UTF-8 (four continuation bytes): decoding says where


def read_text(path: str | Path) -> str:
    """The whole file as text (see :func:`read_chunks` for what is checked)."""
    return "".join(read_chunks(TextSource(str(path), Path(path))))


def _decode(data: bytes, offset: int, path: Path | str) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise LmstatsError(
            f"{path}: looks binary (NUL byte at offset {offset + nul}), not text; give a UTF-8 text file "
            "(.gz/.bz2/.xz compressed text is fine)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LmstatsError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {offset + exc.start} is invalid); "
            "convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    return text.removeprefix("\ufeff") if offset == 0 else text
