"""Saving and opening n-gram models: a folder of plain ``.npy`` arrays and ``meta.json``, or one ``.npz``.

A folder opens memory-mapped: nothing is read until the model scores, and processes scoring
the same model share its pages.  ``meta.json`` records the smoothing, the vocabulary, what the
model was trained on (:class:`~lmstats.trained_on.TrainedOn`) and the dtype and length of every
array; opening checks each array against it, so a damaged model (an array cut short, replaced,
or of another dtype) is one error naming the array instead of a read past its end.

Besides the n-gram tables, a model stores what scoring would otherwise build at every opening:
the slot array of each hashed order's :class:`~lmstats.ngram.counts.KeyIndex` (``slots{k}``;
``meta["index"]`` says which orders are hashed and which binary-searched) and the vocabulary's
table for reading text (:class:`~lmstats.text.scan.TextEncoder`, ``text_*``), memory-mapped like
the rest.  Opening the WikiText-2 5-gram then builds nothing (building took 0.85 s of hashing and
0.3 s for the text table, numba's start included, in every process that scored), for about 56 MB
more on disk (4 bytes a slot, 2-4 slots a key); saving builds them if scoring has not (0.4-0.5 s
there).  A model of version 3 or 2, without them, still opens; its indexes are then built at the
first scoring, and saving it again stores them.

The folder is written beside its target and renamed into place; an existing folder is replaced
only when it is an lmstats model folder holding nothing but the files of a model, so a file of
the user's is never deleted (see :func:`check_model_folder`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write, check_own_folder, umask
from lmstats.hashtable import hash_bits, stored_bits
from lmstats.ngram.counts import KEY_SPREAD, KeyIndex, NgramCounts, OrderTable, SortedIndex, open_indexes
from lmstats.ngram.sharded_array import ShardedArray
from lmstats.ngram.smoothing import Estimate
from lmstats.npyfile import is_complete, release, whole_file
from lmstats.text.scan import TABLES as TEXT_TABLES
from lmstats.text.scan import TextEncoder
from lmstats.trained_on import TrainedOn
from lmstats.vocab import BOS, EOS, PAD, Vocab

FORMAT = "lmstats-ngram"
VERSION = 4  # 4: the hash indexes and the text table stored; 3: meta.json lists every array's dtype and length; 2 and 3 read too
SHARDED_VERSION = 5  # a sharded model (written by the cluster, lmstats.ngram.shards): meta.json lists every array's shards
META = "meta.json"
_DTYPES = {"keys": "<i8", "counts": "<i8", "suffix": "<i8", "first": "<i8", "prob": "<f8", "backoff": "<f8", "slots": "<i4"} | {
    f"text_{name}": dtype for name, dtype in TEXT_TABLES.items()}


def array_names(k: int, order: int, builder: bool = True) -> list[str]:
    """The arrays of order ``k`` in a saved model (the builder's counts, suffix rows and first words included or not)."""
    names = [f"keys{k}"] + ([f"counts{k}", f"suffix{k}", f"first{k}"] if builder else []) + [f"prob{k}"]
    return names + ([f"backoff{k}"] if k < order else [])


def index_names(meta: dict) -> list[str]:
    """The arrays of the stored indexes a model with this ``meta.json`` holds (none before version 4)."""
    index = meta.get("index") if isinstance(meta.get("index"), dict) else {}  # a malformed one is refused by _check_indexes
    hashed = [f"slots{k}" for k, kind in sorted(index.items()) if kind == "hash"]
    return hashed + ([f"text_{name}" for name in TEXT_TABLES] if meta.get("text_table") else [])


def model_files(meta: dict) -> set[str]:
    """The file names a model folder with this ``meta.json`` holds."""
    order = meta["params"]["order"]
    builder = not meta.get("query_only", False)
    names = [name for k in range(1, order + 1) for name in array_names(k, order, builder)] + index_names(meta)
    shards = meta.get("shards") if isinstance(meta.get("shards"), dict) else {}
    return {META} | {shard_file(name, r) for name in names for r in range(len(shards.get(name) or []))} | \
        {f"{name}.npy" for name in names if name not in shards}


def save_model(model, path: str | Path, *, trained_on: TrainedOn | None = None, query_only: bool = False) -> None:
    """Write the fitted ``model`` (an :class:`~lmstats.ngram.model.NgramLM`); see :meth:`NgramLM.save`."""
    est = model.estimate_
    query_only = query_only or model.counts_.tables[0].counts is None
    arrays = {}
    for t in model.counts_.tables:
        k = t.order
        arrays[f"keys{k}"] = t.keys
        if not query_only:
            arrays.update({f"counts{k}": t.counts, f"suffix{k}": t.suffix, f"first{k}": t.first})
        arrays[f"prob{k}"] = est.probs[k - 1]
        if k < model.order:
            arrays[f"backoff{k}"] = est.backoffs[k - 1]
    index = {}
    for k, ix in enumerate(model.indexes()[1:], start=2):
        hashed = isinstance(ix, KeyIndex) and ix.slots.dtype == np.int32  # the kernel's slots (KeyIndex: int32 below 2^31 keys)
        index[str(k)] = "hash" if hashed else "sorted"
        if hashed:
            arrays[f"slots{k}"] = ix.slots
    arrays.update({f"text_{name}": values for name, values in model.text_encoder().tables().items()})
    meta = model_meta(model, est, model.counts_.n_units, model.counts_.lmplz_last, query_only=query_only, trained_on=trained_on) | {
        "index": index, "text_table": True,
        "arrays": {name: [np.dtype(values.dtype).str, int(len(values))] for name, values in arrays.items()}}
    if str(path).endswith(".npz"):
        if query_only:
            raise LmstatsError(f"{path}: the query-only form is a folder of .npy files; give a path that does not end in .npz")
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **arrays)
    else:
        write_model_folder(Path(path), meta, arrays)


def model_meta(model, est: Estimate, n_units: int, lmplz_last: dict, *, query_only: bool = False,
               trained_on: TrainedOn | None = None) -> dict:
    """The ``meta.json`` record of ``model`` (an :class:`~lmstats.ngram.model.NgramLM`) with the estimate's scalars ``est``,
    less what its files add (``arrays``, ``index``, ``text_table``, ``shards``)."""
    return {
        "format": FORMAT, "version": VERSION, "params": model.params(), "vocab": model.vocab.to_dict(), "query_only": query_only,
        "low": est.low, "gamma_unseen": est.gamma_unseen, "is_distribution": est.is_distribution,
        "discounts": {str(k): v for k, v in est.discounts.items()}, "warnings": list(est.warnings),
        "n_units": n_units, "n_train_tokens": model.n_train_tokens_,
        "lmplz_last": {str(k): list(v) for k, v in lmplz_last.items()},
    } | (trained_on.to_dict() if trained_on else {})


def array_dtype(name: str) -> np.dtype:
    """The dtype of a model's array ``name`` (``prob3``, ``keys1``, ...)."""
    return np.dtype(_DTYPES[name.rstrip("0123456789")])


def shard_file(name: str, r: int) -> str:
    """The file of shard ``r`` of the array ``name`` in a sharded model (see :mod:`lmstats.ngram.shards`)."""
    return f"{name}.part{r:05d}.npy"


@dataclass(frozen=True)
class OpenedModel:
    """What :func:`read_model` opens: meta.json, the vocabulary, the count tables, the estimate, the training
    record, and the stored indexes and text encoder (None in a model saved before they were stored)."""

    meta: dict
    vocab: Vocab
    counts: NgramCounts
    estimate: Estimate
    trained_on: TrainedOn | None
    indexes: list[KeyIndex | SortedIndex | None] | None
    encoder: TextEncoder | None


def read_model(path: str | Path) -> OpenedModel:
    """The saved model at ``path``, every array checked (see the module docstring); nothing is built."""
    path = Path(path)
    meta, arrays = read_model_folder(path) if path.is_dir() else _read_npz(path)
    if isinstance(meta.get("version"), int) and meta["version"] > SHARDED_VERSION:
        raise LmstatsError(f"{path}: a model of format version {meta.get('version')!r}, newer than this lmstats reads ({SHARDED_VERSION}); "
                           "upgrade lmstats, or refit and save the model with this one")
    vocab = Vocab.from_dict(meta["vocab"], source=str(path))
    order = meta["params"]["order"]
    builder = not meta.get("query_only", False)
    _check_arrays(path, meta, arrays, order, builder)
    tables = tuple(OrderTable(k, arrays[f"keys{k}"], *(arrays.get(f"{n}{k}") for n in ("counts", "suffix", "first")))
                   for k in range(1, order + 1))
    est = Estimate(tuple(arrays[f"prob{k}"] for k in range(1, order + 1)), tuple(arrays[f"backoff{k}"] for k in range(1, order)),
                   meta["low"], meta["gamma_unseen"], meta["is_distribution"], {int(k): v for k, v in meta["discounts"].items()},
                   tuple(meta["warnings"]))
    lmplz_last = {int(k): tuple(v) for k, v in meta.get("lmplz_last", {}).items()}  # older models: none (textbook MKN)
    counts = NgramCounts(len(vocab), vocab.bos_id, tables, meta["n_units"], lmplz_last)
    indexes = None
    if "index" in meta:
        _check_indexes(path, meta, arrays, order)
        indexes = open_indexes(counts, {k: arrays[f"slots{k}"] for k in range(2, order + 1) if f"slots{k}" in arrays})
    encoder = None
    if meta.get("text_table"):
        _check_text_table(path, vocab, arrays)
        encoder = TextEncoder.from_tables(vocab, {name: arrays[f"text_{name}"] for name in TEXT_TABLES})
    return OpenedModel(meta, vocab, counts, est, TrainedOn.from_dict(meta), indexes, encoder)


def _check_arrays(path: Path, meta: dict, arrays: dict, order: int, builder: bool) -> None:
    """Every array present, of its dtype, and as long as meta.json says (older models: as long as its order's keys)."""
    names = [name for k in range(1, order + 1) for name in array_names(k, order, builder)] + index_names(meta)
    missing = [name for name in names if name not in arrays]
    if missing:
        raise LmstatsError(f"{path}: the model lacks the arrays {', '.join(missing)}; it is truncated or not ours — "
                           "refit and save it again")
    recorded = meta.get("arrays") or {}
    vocab_size = len(meta["vocab"]["tokens"])
    for name in names:
        values, kind = arrays[name], name.rstrip("0123456789")
        if name in recorded:
            length = recorded[name][1]
        elif kind in ("slots", *(f"text_{n}" for n in TEXT_TABLES)):  # stored since version 4, which records every array
            raise LmstatsError(f"{_damaged(path)} (meta.json does not record {name}.npy)")
        else:
            length = vocab_size if name[len(kind):] == "1" else len(arrays[f"keys{name[len(kind):]}"])
        if np.dtype(values.dtype).str != _DTYPES[kind] or values.ndim != 1:
            raise LmstatsError(f"{_damaged(path)} ({name}.npy holds {values.dtype} values of shape {values.shape}, "
                               f"expected a 1-D array of {np.dtype(_DTYPES[kind])})")
        if len(values) != length:
            raise LmstatsError(f"{_damaged(path)} ({name}.npy holds {len(values):,} values, expected {length:,})")


def _damaged(path: Path) -> str:
    return f"{path}: the model is damaged — refit and save it again"


def _check_slots(path: Path, name: str, slots, n: int) -> None:
    """A slot array fit for ``n`` entries: as many slots as their hash table has homes or more (a model saved with
    larger tables opens as it was; :func:`~lmstats.hashtable.stored_bits`), and an empty last slot
    that ends every probe (so a lookup never walks past the end); its entries are not read."""
    if stored_bits(len(slots)) < hash_bits(n, KEY_SPREAD) or slots[-1] != -1:
        raise LmstatsError(f"{_damaged(path)} ({name}.npy is not the hash table of {n:,} entries)")


def _check_indexes(path: Path, meta: dict, arrays: dict, order: int) -> None:
    index = meta["index"]
    if not isinstance(index, dict) or sorted(index) != sorted(str(k) for k in range(2, order + 1)) or \
            not set(index.values()) <= {"hash", "sorted"}:
        raise LmstatsError(f"{_damaged(path)} (meta.json's index does not name one kind, hash or sorted, for each order 2..{order})")
    for k in range(2, order + 1):
        if index[str(k)] == "hash":
            _check_slots(path, f"slots{k}", arrays[f"slots{k}"], len(arrays[f"keys{k}"]))


def _check_text_table(path: Path, vocab: Vocab, arrays: dict) -> None:
    """The text table holds every word of ``vocab`` (all but the markers read as ``<unk>``), its strings end to end."""
    strings, offsets, entry_ids = (arrays[f"text_{name}"] for name in ("strings", "offsets", "entry_ids"))
    words = len(vocab) - sum(marker in vocab for marker in (BOS, EOS, PAD))
    if len(entry_ids) != words or len(offsets) != words + 1 or int(offsets[-1]) != len(strings):
        raise LmstatsError(f"{_damaged(path)} (the text table's arrays do not hold the {words:,} words of its vocabulary)")
    _check_slots(path, "text_slots", arrays["text_slots"], words)


def _npz_meta(data, path: Path) -> dict:
    """The meta record of an opened ``.npz``; an :class:`LmstatsError` when it is not an lmstats n-gram model."""
    foreign = LmstatsError(f"{path}: not an lmstats n-gram model, or truncated; an ARPA file is scored with "
                           f"'lmstats ngram CORPUS --load {path.name}' or 'lmstats mix'; otherwise refit and save it again")
    try:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
    except (KeyError, ValueError, UnicodeDecodeError):
        raise foreign from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise foreign
    return meta


def _read_npz(path: Path, *, arrays: bool = True) -> tuple[dict, dict]:
    """meta and (unless ``arrays`` is false) every array of an ``.npz`` model."""
    if not path.is_file():
        raise LmstatsError(f"{path}: no such model file or folder; check the path")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = _npz_meta(data, path)
            return meta, ({name: data[name] for name in data.files if name != "meta"} if arrays else {})
    except LmstatsError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise LmstatsError(f"{path}: not an lmstats n-gram model, or truncated (it is not a readable .npz file); refit and "
                           "save it again") from None


def read_meta(path: Path) -> dict | None:
    """The ``meta.json`` of an lmstats model folder (None when ``path`` is not one)."""
    try:
        meta = json.loads((path / META).read_text("utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def read_model_folder(path: Path) -> tuple[dict, dict]:
    """meta.json and every ``.npy`` array of a model folder, memory-mapped (checked for truncation)."""
    meta = read_meta(path)
    if meta is None:
        raise LmstatsError(f"{path}: not an lmstats n-gram model folder (no readable meta.json); refit and save it again")
    shards = meta.get("shards")
    if shards is not None:
        return meta, _opened_shards(path, shards)
    return meta, {file.stem: open_array(path, file) for file in sorted(path.glob("*.npy"))}


def open_array(path: Path, file: Path):
    """The array ``file`` of the model folder ``path``, memory-mapped, or an error naming it when it is missing or truncated."""
    if not file.exists():
        raise LmstatsError(f"{path}: the model lacks {file.name}; it is truncated — refit it")
    if not is_complete(file):
        raise LmstatsError(f"{path}: the array {file.name} is truncated or not an .npy file; "
                           "the model is damaged — refit and save it again")
    try:
        return np.load(file, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise LmstatsError(f"{path}: cannot read {file.name} ({exc}); check its permissions, or refit the model") from None


def _opened_shards(path: Path, shards) -> dict:
    """Every array of a sharded model: its one shard memory-mapped, or a :class:`ShardedArray` of its shards, each
    memory-mapped (nothing joined)."""
    return {name: parts[0] if len(parts) == 1 else ShardedArray(parts) for name, parts in shard_arrays(path, shards)}


def shard_arrays(path: Path, shards) -> Iterator[tuple[str, list]]:
    """``(name, its shards memory-mapped, in order)`` for every array of the sharded model at ``path`` (``shards``: its
    meta.json's record), each shard checked: present, a complete ``.npy`` file (:func:`open_array`), as long as recorded."""
    if not isinstance(shards, dict) or not all(isinstance(v, list) and all(isinstance(n, int) for n in v) for v in shards.values()):
        raise LmstatsError(f"{_damaged(path)} (meta.json's shards are not lists of row counts)")
    for name, lengths in shards.items():
        parts = []
        for r, n in enumerate(lengths):
            file = path / shard_file(name, r)
            if not file.exists():
                raise LmstatsError(f"{path}: the model lacks the shard {file.name}; it is truncated — refit it")
            part = open_array(path, file)
            if len(part) != n:
                raise LmstatsError(f"{_damaged(path)} ({file.name} holds {len(part):,} values, expected {n:,})")
            parts.append(part)
        yield name, parts


def check_model_folder(path: Path, option: str = "--out") -> None:
    """Refuse a model folder ``path`` that may not be written (:func:`lmstats.fileio.check_own_folder`): one that exists
    and is not an lmstats model folder (of either form, full or compact), a model folder that also holds files lmstats
    did not write, or one whose files this process may not replace.  A missing path or an empty folder is fine."""
    from lmstats.ngram.compact_storage import compact_files  # a compact model's folder is an lmstats model folder too

    check_own_folder(path, option, what="an lmstats model folder",
                     is_ours=lambda p: read_meta(p) is not None or compact_files(p) is not None,
                     own_files=lambda p: model_files(read_meta(p)) if read_meta(p) is not None else compact_files(p))


def check_npz_output(path: Path, option: str = "--out") -> None:
    """Refuse an ``.npz`` output path that exists and is not an lmstats model (it would be overwritten)."""
    if path.is_file() and not _is_npz_model(path):
        raise LmstatsError(f"{option} {path}: exists and is not an lmstats n-gram model; give another path")
    if path.is_dir():
        raise LmstatsError(f"{option} {path}: is a folder; a path ending in .npz names one model file")


def _is_npz_model(path: Path) -> bool:
    try:
        _read_npz(path, arrays=False)  # its meta alone: an existing model is not read whole to be replaced
    except LmstatsError:
        return False
    return True


def write_model_folder(path: Path, meta: dict, arrays: dict) -> None:
    """Write the folder beside ``path`` and rename it into place (an interrupted save leaves the old one)."""
    def fill(staging: Path) -> None:
        for name, values in arrays.items():
            _place(values, staging / f"{name}.npy")
        with atomic_write(staging / META) as fh:
            json.dump(meta, fh)

    publish_folder(path, fill)


def publish_folder(path: Path, fill: Callable[[Path], None]) -> None:
    """A model folder at ``path``: ``fill(staging)`` writes a folder beside it, which then replaces ``path`` (a model
    folder, see :func:`check_model_folder`) in one rename; a failure or an interruption leaves what was there."""
    check_model_folder(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise LmstatsError(f"cannot write the model folder {path}: {exc.strerror or exc}; "
                           "choose another path or fix its permissions") from None
    old = None
    try:
        os.chmod(staging, 0o777 & ~umask())
        fill(staging)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / "model")
        os.replace(staging, path)
    except BaseException as exc:
        if old is not None and (old / "model").exists() and not path.exists():
            os.replace(old / "model", path)  # put the previous model back
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        if isinstance(exc, OSError):
            raise LmstatsError(f"cannot write the model folder {path}: {exc.strerror or exc}; "
                               "free some space or choose another path") from None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _place(values, dest: Path) -> None:
    """``np.save``, or a hard link of the ``.npy`` file a whole memory-mapped array comes from."""
    if whole_file(values):
        try:
            os.link(values.filename, dest)
        except OSError:
            shutil.copyfile(values.filename, dest)
        return
    sharded = isinstance(values, ShardedArray)  # its shards are written one after the other, never all in memory
    parts = values.parts if sharded else [np.ascontiguousarray(values)]
    with open(dest, "wb") as fh:  # header, then the bytes through fh.write: a full disk is an OSError with ENOSPC
        fmt = np.lib.format  # (np.save's tofile reports no errno)
        fmt.write_array_header_1_0(fh, {"descr": fmt.dtype_to_descr(values.dtype), "fortran_order": False, "shape": values.shape})
        for part in parts:
            fh.write(np.ascontiguousarray(part).data)
            if sharded:
                release(part)
