""".npy files written by appending, and read back in slices or memory-mapped.

An :class:`NpyAppender` writes a ``.npy`` file whose length is not known in advance: the
header is written first with room to spare, the data is appended block by block, and
:meth:`~NpyAppender.close` rewrites the header with the final shape.  The result is a plain
``.npy`` file: ``np.load(path, mmap_mode="r")`` opens it without reading it, so a model of
gigabytes opens in milliseconds and its pages are shared between processes.

Reading slices goes through ``np.fromfile`` (a copy; nothing stays mapped), so a pass over a
large file keeps the memory it holds to one slice.
"""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

HEADER_BYTES = 128  # magic (6) + version (2) + header length (2) + the header dict padded with spaces


def _header(dtype: np.dtype, length: int) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)})
    body = text.encode("latin1").ljust(HEADER_BYTES - 10 - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def data_offset(path: str | Path) -> tuple[np.dtype, int, int]:
    """(dtype, length, byte offset of the data) of a ``.npy`` file (ValueError if it is not one)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)
        return dtype, int(np.prod(shape)), fh.tell()


def is_complete(path: str | Path) -> bool:
    """True when the file holds as many bytes as its header promises (False for a truncated file)."""
    try:
        dtype, length, offset = data_offset(path)
    except (ValueError, OSError, EOFError):
        return False
    return Path(path).stat().st_size == offset + length * dtype.itemsize


def _raw(values: NDArray, dtype: np.dtype) -> memoryview:
    """The bytes of ``values`` as ``dtype``, for ``fh.write``: a full disk is then an OSError carrying ENOSPC
    (numpy's ``tofile`` reports a short write as an OSError without an errno)."""
    return np.ascontiguousarray(values, dtype=dtype).data


class NpyAppender:
    """A 1-D ``.npy`` file of ``dtype`` being written by appending (see the module docstring)."""

    def __init__(self, path: str | Path, dtype):
        self.path, self.dtype, self.size = Path(path), np.dtype(dtype), 0
        with open(self.path, "wb") as fh:
            fh.write(_header(self.dtype, 0))

    def append(self, values: NDArray) -> int:
        """Append ``values``; returns the index where they start."""
        start = self.size
        with open(self.path, "ab") as fh:
            fh.write(_raw(values, self.dtype))
        self.size += len(values)
        return start

    def write_at(self, start: int, values: NDArray) -> None:
        """Overwrite items ``start .. start + len(values)`` (inside what was appended)."""
        with open(self.path, "r+b") as fh:
            fh.seek(HEADER_BYTES + start * self.dtype.itemsize)
            fh.write(_raw(values, self.dtype))

    def read(self, start: int = 0, count: int | None = None) -> NDArray:
        return read_slice(self.path, start, self.size - start if count is None else count, self.dtype)

    def close(self) -> Path:
        """Write the final shape into the header; the file is then a valid ``.npy``."""
        with open(self.path, "r+b") as fh:
            fh.write(_header(self.dtype, self.size))
        return self.path

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def read_slice(path: str | Path, start: int, count: int, dtype=None) -> NDArray:
    """Items ``start .. start + count`` of a 1-D ``.npy`` file, copied (no mapping kept)."""
    file_dtype, length, offset = data_offset(path) if dtype is None else (np.dtype(dtype), None, HEADER_BYTES)
    count = max(0, min(count, length - start) if length is not None else count)
    if count == 0:
        return np.zeros(0, dtype=file_dtype)
    return np.fromfile(path, dtype=file_dtype, count=count, offset=offset + start * file_dtype.itemsize)


def take(values: NDArray, start: int, stop: int) -> NDArray:
    """``values[start:stop]`` as an array of its own; for a memory-mapped ``.npy`` read from the file,
    so that a pass over it in slices never keeps more than one slice in memory."""
    if whole_file(values):
        return np.fromfile(values.filename, dtype=values.dtype, count=max(0, min(stop, len(values)) - start),
                           offset=values.offset + start * values.dtype.itemsize)
    return np.array(values[start:stop])


def whole_file(values) -> bool:
    """True for a memory-mapped array that is all of a 1-D ``.npy`` file (not a slice of one: a slice keeps the map's offset)."""
    source = getattr(values, "filename", None)
    if not (isinstance(values, np.memmap) and source and values.ndim == 1):
        return False
    try:
        dtype, length, offset = data_offset(source)
    except (OSError, ValueError, EOFError):
        return False
    return values.offset == offset and len(values) == length and values.dtype == dtype


RELEASE_ABOVE = 64 << 20  # arrays smaller than this keep their pages (dropping them would only cost page faults)


def release(*arrays) -> None:
    """Drop the pages of large memory-mapped arrays from this process (they stay in the page cache):
    the resident memory of random reads from a large model stays bounded."""
    for values in arrays:
        if hasattr(values, "parts"):  # a sharded model's array (lmstats.ngram.sharded_array): each shard
            release(*values.parts)
            continue
        mm = getattr(values, "_mmap", None)
        if mm is not None and values.nbytes > RELEASE_ABOVE:
            with contextlib.suppress(OSError, ValueError):
                mm.madvise(mmap.MADV_DONTNEED)


def npy_length(path: str | Path) -> int:
    return data_offset(path)[1]
