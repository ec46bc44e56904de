"""Open-addressing hash tables with linear probing, built in one vectorised pass.

Two lookups share this layout: the n-gram key index (:class:`lmstats.ngram.counts.KeyIndex`) and
a vocabulary's table of UTF-8 strings (:class:`lmstats.text.scan.TextEncoder`).  An entry's home
slot is the top ``bits`` bits of its 64-bit hash; it sits in the first free slot at or after its
home, with no wrap-around, so a lookup walks from the home until it finds the entry or an empty
slot.  The table has ``spread`` times as many home slots as entries or more (:func:`hash_bits`: twice for a
vocabulary's table, 1.25 times for the n-gram index, whose entries are many), plus the overflow past the last
home, plus one empty slot that ends every walk.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def hash_bits(n: int, spread: float = 2.0) -> int:
    """log2 of the number of home slots of a table of ``n`` entries: at least ``spread`` times as many as entries
    (``spread`` > 1, so every walk meets an empty slot)."""
    return max(4, int(np.ceil(np.log2(max(spread * n, 1)))))


def stored_bits(n_slots: int) -> int:
    """The ``bits`` a slot array of ``n_slots`` slots was built with (:func:`slot_table`): it holds ``2**bits`` homes, fewer
    than ``2**bits`` slots of overflow past the last (at most one per entry, and there are fewer entries than homes), and
    the empty slot at the end."""
    return max(0, (n_slots - 1).bit_length() - 1)


def slot_table(home: NDArray[np.int64], bits: int) -> NDArray:
    """The slot array of entries 0..n-1 with these home slots: the entry in each slot, -1 where empty
    (int32 below 2^31 entries).  Ordered by home, the i-th entry takes slot ``i + max_{j<=i}(home_j - j)``,
    a cumulative maximum; entries of one home keep their order.  The order by home comes from one
    ``np.sort`` of each home and entry packed in one int64 (about twice as fast as a stable argsort)."""
    n = len(home)
    if n == 0:
        return np.full((1 << bits) + 1, -1, dtype=np.int32)
    entry_bits = max(1, int(n - 1).bit_length())
    if bits + entry_bits <= 62:
        packed = (home.astype(np.int64) << entry_bits) | np.arange(n, dtype=np.int64)
        packed.sort()
        by_home = packed & ((1 << entry_bits) - 1)
        packed >>= entry_bits  # the homes in order
    else:
        by_home = np.argsort(home, kind="stable")
        packed = home[by_home].astype(np.int64)
    rank = np.arange(n, dtype=np.int64)
    packed -= rank
    np.maximum.accumulate(packed, out=packed)
    packed += rank  # the slot of each entry, in home order
    slots = np.full(max(1 << bits, int(packed[-1]) + 1) + 1, -1, dtype=np.int32 if n < 2**31 else np.int64)
    slots[packed] = by_home
    return slots
