"""Shared fixtures: a hand-countable corpus, a seeded rng, and the shared corpora (or a skip)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# shared/corpora sits beside the checkout (../shared/corpora from the repo root), in CI too.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def shared_corpus(name: str) -> Path:
    """Folder of a shared corpus, or a skip that says why."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"shared corpus {name!r} not present at {path} (tests that need it run where ../shared/corpora exists)")
    return path


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared corpora not present at {SHARED}")
    return SHARED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# Two sentences, 7 tokens: counts a=3, b=2, c=1, d=1.
TINY = [["a", "b", "a"], ["c", "a", "b", "d"]]


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


def assert_one_line_error(result, pattern: str) -> None:
    """A CLI user error: exit code 2, exactly one line 'lmstats: error: ...' naming ``pattern``, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("lmstats: error: "), lines[0]
    assert pattern.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread: tiny models gain nothing from threads, and on a busy machine threads wait on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
