"""What a run may use: memory (``--memory``, as lmplz's ``-S``) and a temporary folder (``--tmp``, as ``-T``).

``--memory`` takes a size (``500M``, ``4G``, ``1.5G``; bytes with no suffix) or a share of the
machine's RAM (``40%``); the default is 40% of RAM.  The work folder is made inside ``--tmp``
(default: the system's temporary folder) and removed when the run ends, however it ends
(Ctrl-C and SIGTERM included); a full disk becomes one clear error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lmstats.errors import LmstatsError

DEFAULT_MEMORY = "40%"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)i?b?\s*$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def total_memory() -> int:
    """Physical memory of the machine in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 << 30


def parse_memory(text: str | int | None) -> int:
    """Bytes of ``--memory``: ``4G``, ``500M``, ``40%`` (of RAM) or plain bytes; None is the default."""
    if text is None:
        text = DEFAULT_MEMORY
    if isinstance(text, int):
        value = text
    elif str(text).strip().endswith("%"):
        try:
            share = float(str(text).strip()[:-1])
        except ValueError:
            share = -1.0
        if not 0 < share <= 100:
            raise LmstatsError(f"--memory {text}: a share of RAM must be in (0, 100]%, e.g. 40%")
        value = int(total_memory() * share / 100)
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise LmstatsError(f"--memory {text!r}: give a size such as 500M, 4G or 1.5G, or a share of RAM such as 40%")
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value < 64 << 20:
        raise LmstatsError(f"--memory {text}: at least 64M is needed (the interpreter and numpy alone take about 60 MB)")
    return value


def current_rss() -> int:
    """This process's resident memory in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 0


def working_memory(memory: int, floor: int = 64 << 20) -> int:
    """What a step may still allocate under ``memory``: the budget less what the process already holds."""
    return max(floor, memory - current_rss())


def format_size(n_bytes: float) -> str:
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f}{unit}"
    return f"{int(n_bytes)}B"


def free_disk(folder: str | Path | None) -> int:
    return shutil.disk_usage(Path(folder) if folder else Path(tempfile.gettempdir())).free


_OWN_FOLDERS: set[Path] = set()  # the folders this process made for its files (work folders, on-disk tables)


def make_folder(prefix: str, parent: str | Path | None = None) -> Path:
    """A fresh folder of this process's own inside ``parent`` (default: the system's temporary folder);
    its files count in :func:`own_bytes`.  The caller removes it."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    _OWN_FOLDERS.add(path)
    return path


def own_bytes() -> int:
    """Bytes of the files in the folders this process made with :func:`make_folder` that still exist."""
    total = 0
    for folder in list(_OWN_FOLDERS):
        if not folder.is_dir():
            _OWN_FOLDERS.discard(folder)
            continue
        for entry in folder.rglob("*"):
            try:
                total += entry.stat().st_size if entry.is_file() else 0
            except OSError:  # removed while we looked
                pass
    return total


def disk_full(exc: OSError) -> bool:
    """True for the errors of a full disk or an exhausted quota."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def work_dir(parent: str | Path | None = None) -> Iterator[Path]:
    """A fresh folder for spilled data inside ``parent``, removed at the end (also on Ctrl-C and SIGTERM)."""
    try:
        path = make_folder("lmstats-work-", parent)
    except OSError as exc:
        raise LmstatsError(f"--tmp {parent}: cannot make a work folder there ({exc.strerror or exc}); give a writable folder") from None
    try:
        yield path
    except OSError as exc:
        if disk_full(exc):
            raise LmstatsError(
                f"the disk of the work folder {path.parent} is full ({exc.strerror}); free space there or give --tmp DIR on a larger disk"
            ) from None
        raise
    finally:
        shutil.rmtree(path, ignore_errors=True)
