"""Test-only helpers shared by the test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# shared/corpora sits beside the checkout (../shared/corpora from the repo root), in CI too.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"

# Two sentences, 7 tokens: counts a=3, b=2, c=1, d=1.
TINY = [["a", "b", "a"], ["c", "a", "b", "d"]]


def shared_corpus(name: str) -> Path:
    """Folder of a shared corpus, or a skip that says why."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"shared corpus {name!r} not present at {path} (tests that need it run where ../shared/corpora exists)")
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


def assert_same_tables(a, b) -> None:
    """Two ``NgramCounts`` hold the same tables, array for array, dtypes included."""
    assert a.order == b.order and a.n_units == b.n_units
    for ta, tb in zip(a.tables, b.tables, strict=True):
        for field in ("keys", "counts", "suffix", "first"):
            x, y = getattr(ta, field), getattr(tb, field)
            assert np.array_equal(x, y) and x.dtype == y.dtype, (ta.order, field)

