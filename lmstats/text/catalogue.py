"""Named corpora: the catalogue in ``corpora/catalogue.toml``, local copies, verified downloads.

Where a named corpus's files are looked for, in order:

1. ``--data-dir DIR`` or the ``LMSTATS_DATA`` environment variable: ``DIR/<name>/<file>``
   (the layout of ``shared/corpora``).  Files there are used as they are.
2. The user cache, ``$XDG_CACHE_HOME/lmstats`` (default ``~/.cache/lmstats``), or
   ``LMSTATS_CACHE``: ``<cache>/<name>/<file>``, verified against the catalogue checksum.
3. A download from the catalogue URL into the cache: streamed to a temporary file, checked
   against the checksum, then renamed into place.  Any ``file://`` or ``http(s)://`` URL works.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tomllib

from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write


@dataclass(frozen=True)
class CatalogueFile:
    split: str  # train | valid | test | all
    path: str
    url: str | None
    sha256: str | None
    sha1: str | None
    member: str | None  # path inside the entry's archive, if the file comes in one
    bytes: int | None


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    description: str
    level: str
    format: str
    license: str
    files: tuple[CatalogueFile, ...]
    archive: CatalogueFile | None = None

    @property
    def predefined_splits(self) -> bool:
        """True when the files are train/valid/test; False for one file (split "all") split by lines."""
        return all(f.split != "all" for f in self.files)


def load_catalogue(path: Path | None = None) -> dict[str, CatalogueEntry]:
    """The catalogue (the installed ``corpora/catalogue.toml`` unless ``path`` is given)."""
    if path is None:
        raw = tomllib.loads(resources.files("lmstats._corpora").joinpath("catalogue.toml").read_text("utf-8"))
    else:
        raw = tomllib.loads(Path(path).read_text("utf-8"))
    return {name: _entry(name, spec) for name, spec in raw.items()}


def _entry(name: str, spec: dict) -> CatalogueEntry:
    def file(split: str, f: dict) -> CatalogueFile:
        return CatalogueFile(split, f.get("path", ""), f.get("url"), f.get("sha256"), f.get("sha1"), f.get("member"), f.get("bytes"))

    archive = spec.get("archive")
    return CatalogueEntry(
        name=name,
        description=spec.get("description", ""),
        level=spec.get("level", "word"),
        format=spec.get("format", "lines"),
        license=spec.get("license", ""),
        files=tuple(file(split, f) for split, f in spec["files"].items()),
        archive=file("archive", archive) if archive else None,
    )


def default_cache_dir() -> Path:
    if os.environ.get("LMSTATS_CACHE"):
        return Path(os.environ["LMSTATS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lmstats"


def data_dir_from_env(data_dir: str | Path | None) -> Path | None:
    """``data_dir`` if given, else ``LMSTATS_DATA`` if set, else None."""
    if data_dir:
        return Path(data_dir)
    env = os.environ.get("LMSTATS_DATA")
    return Path(env) if env else None


def locate_corpus(
    entry: CatalogueEntry,
    *,
    data_dir: str | Path | None = None,
    cache_dir: Path | None = None,
    download: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Path]:
    """Paths of the entry's files by split, from the local copy, the cache or a download."""
    local = data_dir_from_env(data_dir)
    if local is not None:
        paths = {f.split: local / entry.name / f.path for f in entry.files}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise LmstatsError(
                f"corpus {entry.name!r}: {', '.join(missing)} not found under the data folder {local} "
                "(--data-dir / LMSTATS_DATA); put the files there or unset it to download"
            )
        return paths
    cache = (cache_dir or default_cache_dir()) / entry.name
    paths = {f.split: cache / f.path for f in entry.files}
    todo = [f for f in entry.files if not (paths[f.split].is_file() and _matches(paths[f.split], f))]
    if todo and not download:
        raise LmstatsError(
            f"corpus {entry.name!r} is not in the cache {cache}; run 'lmstats corpus fetch {entry.name}' "
            "or point --data-dir/LMSTATS_DATA at a local copy"
        )
    if todo and entry.archive is not None:
        archive_path = cache / Path(entry.archive.url or "archive.zip").name
        if not (archive_path.is_file() and _matches(archive_path, entry.archive)):
            fetch_file(entry.archive, archive_path, progress=progress)
        _extract(archive_path, todo, cache)
    else:
        for f in todo:
            fetch_file(f, paths[f.split], progress=progress)
    return paths


def _checksum(f: CatalogueFile) -> tuple[str, str] | None:
    if f.sha256:
        return "sha256", f.sha256
    if f.sha1:
        return "sha1", f.sha1
    return None


def _file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _matches(path: Path, f: CatalogueFile) -> bool:
    check = _checksum(f)
    return check is None or _file_digest(path, check[0]) == check[1]


def fetch_file(
    f: CatalogueFile,
    dest: Path,
    *,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``f.url`` to ``dest`` through a temporary file; verify the checksum; rename.

    ``progress(bytes_so_far, total_or_None)`` is called per block.  A checksum mismatch or a
    network failure leaves nothing at ``dest``.
    """
    if not f.url:
        raise LmstatsError(f"{dest.name}: the catalogue gives no download URL; put a copy under --data-dir")
    import urllib.error  # (here: http, ssl and email cost every other command 7 MB and 15 ms to import)
    import urllib.request

    check = _checksum(f)
    h = hashlib.new(check[0]) if check else None
    try:
        with urllib.request.urlopen(f.url, timeout=timeout) as resp, atomic_write(dest, "wb") as out:
            length = getattr(resp, "length", None) or resp.headers.get("Content-Length")
            total = int(length) if length else f.bytes
            done = 0
            for block in iter(lambda: resp.read(1 << 20), b""):
                out.write(block)
                if h is not None:
                    h.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            if h is not None and h.hexdigest() != check[1]:
                raise LmstatsError(
                    f"{f.url}: {check[0]} mismatch (got {h.hexdigest()[:16]}…, catalogue says {check[1][:16]}…); "
                    "the download is corrupt or the file changed upstream; nothing was kept, try again or use --data-dir"
                )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, LmstatsError):
            raise
        reason = getattr(exc, "reason", exc)
        raise LmstatsError(
            f"cannot download {f.url} ({reason}); check the network, or put the files under --data-dir / LMSTATS_DATA"
        ) from None
    return dest


def _extract(archive_path: Path, files: list[CatalogueFile], dest_dir: Path) -> None:
    try:
        with zipfile.ZipFile(archive_path) as zf:
            for f in files:
                target = dest_dir / f.path
                with zf.open(f.member or f.path) as src, atomic_write(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                if not _matches(target, f):
                    target.unlink()
                    raise LmstatsError(f"{f.path} extracted from {archive_path.name} fails its checksum; "
                                       f"delete {archive_path} and fetch again")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise LmstatsError(f"{archive_path}: not the expected zip archive ({exc}); delete it and fetch again") from None
