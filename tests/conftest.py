"""Shared fixtures: a hand-countable corpus, a seeded rng, the shared corpora (or a skip), torch on one thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import SHARED, TINY  # tests/ is on sys.path (pytest's rootdir-relative import of conftest)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared corpora not present at {SHARED}")
    return SHARED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def tiny() -> list[list[str]]:
    return [list(s) for s in TINY]


@pytest.fixture
def text_file(tmp_path) -> Path:
    """A 40-line word corpus file, enough for a seeded 80/10/10 split."""
    lines = [f"the cat sat on mat number {i} and the dog ran" for i in range(40)]
    path = tmp_path / "small.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread: tiny models gain nothing from threads, and on a busy machine threads wait on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tight_memory(monkeypatch):
    """A ``memory`` budget 512 MB above what the test process holds, which forces out-of-core counting of
    anything larger than 0.5M positions: the plan is told that counting in memory costs 1000 bytes a position."""
    import lmstats.ngram.plan as plan
    from lmstats.resources import current_rss

    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 1000)
    return lambda: current_rss() + (512 << 20)
