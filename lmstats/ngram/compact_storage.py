"""Saving and opening compact n-gram models: a folder of ``.npy`` arrays and a ``meta.json`` of format
``lmstats-ngram-compact`` (see :mod:`lmstats.ngram.compact`).

meta.json records the layout (per order: rows, the widths of a record's fields, whether the values
are coded), and every array's dtype and length follow from it (:func:`array_lengths`).  Opening
maps the arrays and checks each against the layout, so a truncated, replaced or foreign array is
one error naming it; with lengths that agree, no content can make the scorer read out of bounds
(:mod:`lmstats.ngram.compact_kernel`).  The folder is written as a full model folder is
(:func:`lmstats.ngram.storage.write_model_folder`: beside its target, then renamed into place),
and may replace an lmstats model folder of either form that holds nothing but its own files.
A compact model keeps no text table: ``lmstats score`` builds the vocabulary's (15-30 ms for
WikiText-2) as it does for any model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lmstats.errors import LmstatsError
from lmstats.ngram.bitpack import MAX_WIDTH, n_words, required_bits
from lmstats.ngram.compact import FIELDS, FORMAT, VERSION
from lmstats.ngram.model import MAX_ORDER
from lmstats.ngram.quantize import MAX_BITS
from lmstats.ngram.storage import META, write_model_folder
from lmstats.npyfile import is_complete
from lmstats.trained_on import TrainedOn
from lmstats.vocab import Vocab

LOWS = ("lower", "unigram", "uniform")  # what a backoff weight multiplies (Estimate.low)


def array_lengths(layout: list[dict]) -> dict[str, tuple[str, int]]:
    """The dtype and length of every array of a compact model with this layout, by name."""
    order = len(layout)
    out = {}
    for k, lay in enumerate(layout, 1):
        last = k == order
        out[f"records{k}"] = ("<u8", n_words(lay["rows"] + (0 if last else 1), sum(lay[f] for f in FIELDS)))
        out[f"prob{k}"] = ("<f8", 1 << lay["prob_bits"] if lay["coded"] else lay["rows"])
        if not last:
            out[f"backoff{k}"] = ("<f8", 1 << lay["backoff_bits"] if lay["coded"] else lay["rows"])
            out[f"pointers{k}"] = ("<i8", (lay["rows"] >> lay["pointer_shift"]) + 1)
    return out


def save_compact(path: Path, meta: dict, arrays: dict, trained_on: TrainedOn | None) -> None:
    """Write a compact model folder at ``path`` (refused before anything is written where
    :func:`lmstats.ngram.storage.check_model_folder` refuses it)."""
    meta = meta | {"arrays": {name: [np.dtype(a.dtype).str, int(len(a))] for name, a in arrays.items()}}
    meta |= trained_on.to_dict() if trained_on else {}
    write_model_folder(path, meta, arrays)


def read_compact_meta(path: Path) -> dict | None:
    """The meta.json of a compact model folder (None when ``path`` is not one)."""
    try:
        meta = json.loads((path / META).read_text("utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def is_compact(path: str | Path) -> bool:
    """Whether ``path`` is a compact model folder (by its meta.json)."""
    path = Path(path)
    return path.is_dir() and read_compact_meta(path) is not None


def compact_files(path: Path) -> set[str] | None:
    """The file names of the compact model folder ``path`` (None when it is not one): what
    :func:`lmstats.ngram.storage.check_model_folder` lets a new model replace."""
    meta = read_compact_meta(path)
    arrays = meta.get("arrays") if meta else None
    return {META} | {f"{name}.npy" for name in arrays} if isinstance(arrays, dict) else None


def read_compact(path: Path) -> tuple[dict, Vocab, dict]:
    """meta.json, the vocabulary and every array (memory-mapped) of a compact model folder, all checked."""
    if not path.is_dir():
        raise LmstatsError(f"{path}: no such compact model folder; check the path")
    meta = read_compact_meta(path)
    if meta is None:
        raise LmstatsError(f"{path}: not a compact lmstats n-gram model (no readable meta.json of format {FORMAT}); write it again "
                           "with 'lmstats ngram ... --quantize BITS'")
    if meta.get("version") != VERSION:
        raise LmstatsError(f"{path}: compact model version {meta.get('version')!r}; this lmstats reads version {VERSION} — write it "
                           "again with this lmstats")
    damaged = f"{path}: the compact model is damaged — write it again with 'lmstats ngram ... --quantize BITS'"
    try:
        vocab = Vocab.from_dict(meta["vocab"], source=str(path))
        layout = _check_meta(meta, len(vocab))
        recorded = meta["arrays"]
    except (KeyError, TypeError, ValueError):
        raise LmstatsError(f"{damaged} (meta.json lacks a field or holds a wrong value)") from None
    if layout is None:
        raise LmstatsError(f"{damaged} (meta.json's layout is not one a compact model can have)")
    arrays = {}
    for name, (dtype, length) in array_lengths(layout).items():
        file = path / f"{name}.npy"
        if not file.is_file():
            raise LmstatsError(f"{damaged} (it lacks {file.name})")
        if not is_complete(file):
            raise LmstatsError(f"{damaged} ({file.name} is truncated or not an .npy file)")
        values = np.load(file, mmap_mode="r")
        if np.dtype(values.dtype).str != dtype or values.ndim != 1:
            raise LmstatsError(f"{damaged} ({file.name} holds {values.dtype} values of shape {values.shape}, expected a 1-D array "
                               f"of {np.dtype(dtype)})")
        if len(values) != length or recorded.get(name) != [dtype, length]:
            raise LmstatsError(f"{damaged} ({file.name} holds {len(values):,} values, expected {length:,})")
        arrays[name] = values
    return meta, vocab, arrays


def _check_meta(meta: dict, vocab_size: int) -> list[dict] | None:
    """meta.json's layout when it and the fields scoring reads are ones a compact model can have, else None."""
    layout = meta["layout"]
    if not isinstance(layout, list) or not 1 <= len(layout) <= MAX_ORDER or meta["params"]["order"] != len(layout):
        return None
    if meta["low"] not in LOWS or not isinstance(meta["gamma_unseen"], (int, float)) or not isinstance(meta["arrays"], dict):
        return None
    for k, lay in enumerate(layout, 1):
        if not isinstance(lay, dict) or not all(type(lay.get(f)) is int and 0 <= lay[f] <= MAX_WIDTH for f in FIELDS):
            return None
        if type(lay.get("rows")) is not int or not 0 <= lay["rows"] < 1 << 40 or type(lay.get("coded")) is not bool \
                or type(lay.get("pointer_shift")) is not int or not 0 <= lay["pointer_shift"] <= 40:
            return None
        if k == 1 and (lay["rows"] != vocab_size or lay["coded"]):
            return None
        if lay["word_bits"] != (required_bits(vocab_size - 1) if k > 1 else 0):  # the word codes are read with this width
            return None
        if lay["coded"] and max(lay["prob_bits"], lay["backoff_bits"]) > MAX_BITS:
            return None
    return layout
