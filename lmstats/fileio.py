"""Reading text files (plain or compressed) and writing files atomically.

Every file lmstats writes goes through :func:`atomic_write`: the data lands in a temporary
file in the same folder, which is renamed over the target only when writing succeeded, so an
interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lmstats.errors import LmstatsError

COMPRESSED_SUFFIXES = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_MAGIC = {b"\x1f\x8b": ".gz", b"BZh": ".bz2", b"\xfd7zXZ\x00": ".xz"}


def read_text(path: Path) -> str:
    """The whole file as text: UTF-8 (a BOM is dropped), decompressed by suffix or magic bytes.

    Raises :class:`LmstatsError` for a missing or unreadable file, binary content (NUL bytes)
    and bytes that are not UTF-8, naming the offset of the first bad byte.
    """
    path = Path(path)
    if not path.exists():
        raise LmstatsError(f"{path}: no such file; check the path (or give a corpus name, see 'lmstats corpus list')")
    if path.is_dir():
        raise LmstatsError(f"{path}: is a folder, expected a text file")
    try:
        data = _read_bytes(path)
    except PermissionError as exc:
        raise LmstatsError(f"{path}: cannot read the file ({exc.strerror}); check its permissions") from None
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise LmstatsError(f"{path}: cannot decompress or read it ({exc}); the file may be truncated or corrupt") from None
    nul = data.find(b"\x00", 0, 1 << 20)
    if nul >= 0:
        raise LmstatsError(
            f"{path}: looks binary (NUL byte at offset {nul}), not text; give a UTF-8 text file "
            "(.gz/.bz2/.xz compressed text is fine)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LmstatsError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start} is invalid); "
            "convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    return text.removeprefix("\ufeff")


def _read_bytes(path: Path) -> bytes:
    opener = COMPRESSED_SUFFIXES.get(path.suffix.lower())
    if opener is None:
        with open(path, "rb") as fh:
            head = fh.read(6)
        suffix = next((s for magic, s in _MAGIC.items() if head.startswith(magic)), None)
        opener = COMPRESSED_SUFFIXES.get(suffix) if suffix else None
    if opener is None:
        return path.read_bytes()
    with opener(path, "rb") as fh:
        return fh.read()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
