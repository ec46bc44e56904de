"""Writing files: outputs checked up front, every file written atomically.

Every file lmstats writes goes through :func:`atomic_write`: the data lands in a temporary
file in the same folder, which is renamed over the target only when writing succeeded, so an
interrupted run (Ctrl-C, or SIGTERM once the CLI has turned it into
:class:`~lmstats.interrupts.Terminated`) never
leaves a half-written output or a stray temporary file.  New files get the mode the umask
allows, as ``open`` would give them.  :func:`check_outputs` is called before any work: it
refuses outputs that cannot be written or that would overwrite an input.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO

from lmstats.errors import LmstatsError


def umask() -> int:
    """The process's umask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Errors of writing a file (not, say, of a download read inside an atomic_write block).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.EIO}


def _write_error(path: Path, exc: OSError) -> LmstatsError:
    reason = exc.strerror or str(exc)
    return LmstatsError(f"cannot write {path}: {reason}; free some space, fix the permissions or choose another path")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``, else delete it.

    The file gets mode ``0o666 & ~umask``.  An operating-system error (permission denied,
    disk full, read-only file system) becomes one :class:`LmstatsError` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    binary = "b" in mode
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise _write_error(path, exc) from None
        raise


def _nearest_folder(path: Path) -> Path:
    """``path``'s folder, or the nearest ancestor of it that exists (mkdir creates the rest)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(path: str | os.PathLike, option: str, *, folder: bool = False) -> None:
    """Refuse, before any work, a path that cannot be written (``option`` names the flag).

    ``folder``: the output is a folder (what it may replace is :func:`check_own_folder`'s question);
    a file output may not be an existing folder.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise LmstatsError(f"{option} {path}: is a folder; give a file path")
    folder = _nearest_folder(path.absolute())
    if not folder.is_dir():
        raise LmstatsError(f"{option} {path}: {folder} is not a folder; give a path inside a folder")
    try:  # the only reliable test (permissions, read-only mounts, root) is to create a file there
        fd, probe = tempfile.mkstemp(prefix=".lmstats-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LmstatsError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); choose a writable folder or fix its permissions"
        ) from None


def check_own_folder(path: Path, option: str, *, what: str, is_ours: Callable[[Path], bool],
                     own_files: Callable[[Path], Collection[str]], temporary: Callable[[str], bool] = lambda name: False) -> None:
    """Refuse, before any work, a folder output that would replace what lmstats did not write.

    ``path`` may be missing or an empty folder; otherwise it must be ``what`` (``is_ours``: a folder lmstats
    wrote, such as a model folder or a report folder), hold nothing but its own files (``own_files(path)``;
    ``temporary`` names the files of an interrupted write, which are ignored), and be writable, since
    replacing its files deletes them.  So a user's file is never overwritten or deleted.
    """
    if not path.exists():
        return
    if not path.is_dir():
        raise LmstatsError(f"{option} {path}: is a file, not a folder; give a new path or an empty folder")
    try:
        names = sorted(p.name for p in path.iterdir() if not temporary(p.name))
    except OSError as exc:
        raise LmstatsError(f"{option} {path}: cannot read the folder ({exc.strerror or exc}); fix its permissions or give "
                           "another path") from None
    if not names:
        return
    shown = lambda some: ", ".join(some[:3]) + (" …" if len(some) > 3 else "")  # noqa: E731
    if not is_ours(path):
        raise LmstatsError(f"{option} {path}: exists and is not {what} (it holds {shown(names)}); writing there could replace "
                           "files lmstats did not write — give a new path or an empty folder")
    extra = [name for name in names if name not in own_files(path)]
    if extra:
        raise LmstatsError(f"{option} {path}: the folder also holds {shown(extra)}, which lmstats did not write there; "
                           "replacing the folder's files could delete them — move them or give another path")
    if not os.access(path, os.W_OK | os.X_OK):
        raise LmstatsError(f"{option} {path}: its files cannot be replaced (the folder is not writable); fix its permissions "
                           "or give another path")


def check_outputs(outputs: dict[str, str | os.PathLike | None], inputs: Iterator | list | tuple = (),
                  folders: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, outputs that cannot be written, that repeat, or that are inputs.

    ``outputs`` maps the option that names a file (``--out``) to its path (None: not asked
    for); ``inputs`` are the files the command reads; ``folders`` are the options whose output
    is a folder (which may not hold an input either).  Writing over an input (the corpus,
    a model being scored) would destroy it, so it is an error, never a silent overwrite.
    """
    given = {option: Path(p) for option, p in outputs.items() if p is not None}
    read = [Path(p) for p in inputs if p is not None and Path(p).exists()]
    seen: dict[Path, str] = {}
    for option, path in given.items():
        key = path.resolve()
        if key in seen:
            raise LmstatsError(f"{option} and {seen[key]} name the same file {path}; give each output its own path")
        seen[key] = option
        for source in read:
            if key == source.resolve() or (path.exists() and os.path.samefile(path, source)):
                raise LmstatsError(f"{option} {path} is an input of this command; writing it would destroy the input — choose another path")
            if option in folders and source.resolve().is_relative_to(key):
                raise LmstatsError(f"{option} {path}: holds {source}, an input of this command; writing among the inputs could "
                                   "destroy them — give a folder of its own")
        check_writable(path, option, folder=option in folders)
