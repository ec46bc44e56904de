"""Memory and disk of a fit, known before counting starts (as lmplz prints its plan).

Counting in memory costs about :data:`IN_MEMORY_BYTES_PER_POSITION` bytes per position (measured
peak of :func:`~lmstats.ngram.counts.count_ngrams`, the estimate included); beyond ``--memory``
the n-grams are counted out of core, where blocks and key ranges are sized to what the budget
leaves after what the process already holds (the corpus as ids, the vocabulary), so the peak is
the budget.  On disk, an order k holds at most one n-gram per position: 48 bytes per n-gram for
the table and its estimate (keys, counts, suffix, first word, probability, backoff) and, while it
is counted, 48 bytes per position of runs and row files; the plan states that upper bound (the
tables of real text are smaller: most n-grams of the low orders repeat).

A budget that cannot work (smaller than what the process holds plus :data:`MIN_WORKING`) is
refused at once, with the ``--memory`` that would work, instead of an out-of-memory kill later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmstats.errors import LmstatsError
from lmstats.resources import current_rss, format_size, free_disk

IN_MEMORY_BYTES_PER_POSITION = 112  # peak of count_ngrams per position (<s> and tokens), measured at 10M tokens
MIN_WORKING = 192 << 20  # the least working memory out-of-core counting and the on-disk estimate are given
TABLE_BYTES_PER_NGRAM = 48
RUN_BYTES_PER_POSITION = 48


@dataclass(frozen=True)
class CountingPlan:
    """Where a fit counts and what it is predicted to use."""

    positions: int  # <s> and tokens of every unit
    order: int
    memory: int | None  # the budget (None: unbounded, in memory)
    held: int  # resident memory of the process before counting
    in_memory: bool
    peak: int  # predicted peak resident memory
    disk: int  # upper bound of the work and table files (0 in memory)
    free: int  # free space where they go
    where: str  # the folder they go to

    def describe(self) -> str:
        budget = "" if self.memory is None else f" (--memory {format_size(self.memory)})"
        if self.in_memory:
            return (f"counting {self.positions:,} positions up to order {self.order} in memory: "
                    f"predicted peak {format_size(self.peak)}{budget}")
        return (f"counting {self.positions:,} positions up to order {self.order} out of core: predicted peak "
                f"{format_size(self.peak)}{budget}, of it {format_size(self.held)} held already; "
                f"files up to {format_size(self.disk)} in {self.where} ({format_size(self.free)} free"
                + ("; that may not be enough: --tmp DIR puts them on a larger disk)" if self.disk > self.free else ")"))


def plan_counting(positions: int, order: int, memory: int | None, tmp: str | Path | None = None) -> CountingPlan:
    """The plan of counting ``positions`` up to ``order`` within ``memory`` bytes, files in ``tmp``.

    Raises :class:`LmstatsError` when ``memory`` is below what the process holds plus :data:`MIN_WORKING`.
    """
    held = current_rss()
    in_memory = memory is None or held + positions * IN_MEMORY_BYTES_PER_POSITION <= memory
    where = str(Path(tmp)) if tmp else "the temporary folder"
    if in_memory:
        return CountingPlan(positions, order, memory, held, True, held + positions * IN_MEMORY_BYTES_PER_POSITION, 0, 0, where)
    if memory < held + MIN_WORKING:
        need = -(-(held + MIN_WORKING) // (128 << 20)) * (128 << 20)  # rounded up to 128M
        raise LmstatsError(
            f"--memory {format_size(memory)} cannot work: this process already holds {format_size(held)} (the corpus as ids and the "
            f"vocabulary) and counting needs at least {format_size(MIN_WORKING)} more; give --memory {format_size(need)} or more")
    disk = positions * (TABLE_BYTES_PER_NGRAM * max(order - 1, 0) + RUN_BYTES_PER_POSITION)
    return CountingPlan(positions, order, memory, held, False, memory, disk, free_disk(tmp), where)
