"""One array of a sharded model, its shards memory-mapped and never joined to be scored (issue 25, step 4).

A model the cluster wrote (:mod:`lmstats.ngram.shards`) keeps each array as shards by key range:
laid end to end they are the array of the plain model.  :func:`~lmstats.ngram.storage.read_model`
opens each array of several shards as a :class:`ShardedArray`: every shard memory-mapped, nothing
read until scored, and no file written beside the model.  Scoring needs three operations of it, and
they run shard by shard:

- ``values[rows]`` (probabilities and backoffs by row): each row goes to the shard whose row interval
  holds it (``offsets``), and is read there;
- ``np.searchsorted(keys, queries)`` (:class:`~lmstats.ngram.counts.SortedIndex`): the shards of a
  key array are key ranges, so each query goes to the last shard whose first key is not above it, and is
  searched there (the row is then that shard's offset plus its row within it);
- a slice inside one shard is that shard's memory-mapped view (one across shards joins only what it covers).

Any other numpy use (a ufunc, ``np.asarray``, ``np.concatenate``, pruning or smoothing a loaded
sharded model again) gets the shards joined in memory, as the array it stands for: the same numbers,
at the memory of the whole array.  Scoring a sharded model goes through the numpy scorer
(:mod:`lmstats.ngram.vectorised`) with sorted search, as the compiled kernel takes one contiguous
table per order; ``lmstats load`` then ``save`` writes a plain folder, which the kernel scores.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin
from numpy.typing import NDArray


class ShardedArray(NDArrayOperatorsMixin):
    """The 1-D array that ``parts`` (1-D arrays of one dtype, usually memory-mapped) make end to end."""

    def __init__(self, parts: list[NDArray]):
        if not parts or len({np.dtype(p.dtype) for p in parts}) != 1 or any(np.ndim(p) != 1 for p in parts):
            raise ValueError("a sharded array takes one or more 1-D arrays of one dtype")
        self.parts = list(parts)
        self.offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        self.dtype = np.dtype(parts[0].dtype)
        self._firsts: NDArray | None = None  # the first value of every non-empty shard (a sorted key array's shard bounds)

    # -- what numpy asks of an array ---------------------------------------------------------
    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def size(self) -> int:
        return len(self)

    @property
    def nbytes(self) -> int:
        return len(self) * self.dtype.itemsize

    def __getattr__(self, name: str):
        """Any other ndarray attribute (``astype``, ``sum``, ``copy``, ...): that of the joined array."""
        if name.startswith("_") or name in ("parts", "offsets", "dtype") or not hasattr(np.ndarray, name):
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def __repr__(self) -> str:
        return f"ShardedArray({len(self.parts)} shards, {len(self):,} x {self.dtype})"

    def __array__(self, dtype=None, copy=None):
        joined = np.concatenate(self.parts) if len(self.parts) > 1 else np.array(self.parts[0])
        return joined if dtype is None else joined.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(np.asarray(x) if isinstance(x, ShardedArray) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.searchsorted:
            return self.searchsorted(*args[1:], **kwargs)
        joined = [np.asarray(a) if isinstance(a, ShardedArray) else a for a in args]
        return func(*joined, **{k: np.asarray(v) if isinstance(v, ShardedArray) else v for k, v in kwargs.items()})

    # -- the operations scoring uses, shard by shard ----------------------------------------
    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            i = int(index) + (len(self) if index < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"index {index} is out of bounds for a sharded array of {len(self)} values")
            s = int(np.searchsorted(self.offsets, i, side="right")) - 1
            return self.parts[s][i - self.offsets[s]]
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            s = int(np.searchsorted(self.offsets, start, side="right")) - 1 if start < len(self) else len(self.parts) - 1
            if step == 1 and stop <= self.offsets[s + 1]:
                return self.parts[s][start - self.offsets[s] : max(stop, start) - self.offsets[s]]
            if step == 1:  # the pieces of the shards it crosses, and only those, joined
                last = int(np.searchsorted(self.offsets, stop, side="left"))
                return np.concatenate([self.parts[t][max(start - self.offsets[t], 0) : stop - self.offsets[t]]
                                       for t in range(s, last)])
            return np.asarray(self)[index]
        index = np.asarray(index)
        if index.dtype.kind not in "iu":
            return np.asarray(self)[index]
        return self.take(index)

    def take(self, rows: NDArray) -> NDArray:
        """``array[rows]`` for integer ``rows`` (negative ones count from the end), each read from its shard."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = np.where(rows < 0, rows + len(self), rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"a row outside the sharded array of {len(self)} values")
        out = np.empty(rows.shape, dtype=self.dtype)
        shard = np.searchsorted(self.offsets, rows, side="right") - 1
        for s in np.unique(shard):
            at = shard == s
            out[at] = self.parts[s][rows[at] - self.offsets[s]]
        return out

    def searchsorted(self, v, side: str = "left", sorter=None) -> NDArray[np.int64]:
        """``np.searchsorted`` of the joined array (sorted, as the key array of every order is), shard by shard."""
        if sorter is not None:
            return np.searchsorted(np.asarray(self), v, side=side, sorter=sorter)
        queries = np.asarray(v)
        flat = queries.reshape(-1)
        if self._firsts is None:
            self._nonempty = np.array([s for s, p in enumerate(self.parts) if len(p)], dtype=np.int64)
            self._firsts = np.array([self.parts[s][0] for s in self._nonempty], dtype=self.dtype)
        if len(self._nonempty) == 0:
            return np.zeros(queries.shape, dtype=np.int64)
        # the shard a query falls in: the last whose first key is below it (side="left") or not above it ("right");
        # a query below every shard is row 0 of the first
        shard = np.maximum(np.searchsorted(self._firsts, flat, side=side) - 1, 0)
        out = np.empty(len(flat), dtype=np.int64)
        for i in np.unique(shard):
            at = shard == i
            s = self._nonempty[i]
            out[at] = self.offsets[s] + np.searchsorted(self.parts[s], flat[at], side=side)
        return out.reshape(queries.shape)
