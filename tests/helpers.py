"""Test-only helpers shared by the test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]  # the checkout whose lmstats the tests import

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
    """A CLI user error: exit code 2, exactly one line 'lmstats: error: ...' naming ``pattern``, no traceback.
    ``result``: click's CliRunner result, or a finished subprocess (its stderr is read)."""
    if isinstance(result, subprocess.CompletedProcess):
        code, output, exception = result.returncode, result.stderr, None
    else:
        code, output, exception = result.exit_code, result.output, result.exception
    assert code == 2, (code, output)
    assert exception is None or isinstance(exception, SystemExit), exception
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("lmstats: error: "), lines[0]
    assert pattern.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in output


def assert_same_tables(a, b) -> None:
    """Two ``NgramCounts`` hold the same tables, array for array, dtypes included."""
    assert a.order == b.order and a.n_units == b.n_units
    for ta, tb in zip(a.tables, b.tables, strict=True):
        for field in ("keys", "counts", "suffix", "first"):
            x, y = getattr(ta, field), getattr(tb, field)
            assert np.array_equal(x, y) and x.dtype == y.dtype, (ta.order, field)



NOBODY = 65534
_PR_CAPBSET_DROP = 24
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the child between fork and exec only calls it
_PERMISSION_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root ignore file permissions


def _as_nobody() -> None:
    os.setgid(NOBODY)
    os.setgroups([])
    os.setuid(NOBODY)


def _without_permission_caps() -> None:
    for cap in _PERMISSION_CAPS:  # dropped from the bounding set, root's next program runs without them
        if _LIBC.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _unprivileged_way(cwd: str) -> tuple[str, object, int | None]:
    """How to run a command in ``cwd`` as a user whom file permissions bind: (name, preexec_fn, uid to own files or None).
    Not root: as this process.  Root: as nobody when nobody can run this Python, import this lmstats and read ``cwd``; else
    as root without the capabilities that override permissions (then the test's own files are that user's)."""
    if os.geteuid() != 0:
        return "this user", None, None
    probe = [sys.executable, "-c", "import os, sys, lmstats; os.listdir(sys.argv[1])", cwd]
    failures = []
    for name, preexec, uid in (("nobody", _as_nobody, NOBODY), ("root without CAP_DAC_OVERRIDE", _without_permission_caps, None)):
        try:
            proc = subprocess.run(probe, preexec_fn=preexec, env=_env(), cwd="/", capture_output=True, text=True, timeout=60)
        except OSError as exc:
            failures.append(f"{name}: {exc}")
            continue
        if proc.returncode == 0:
            return name, preexec, uid
        failures.append(f"{name}: {(proc.stderr.strip().splitlines() or ['exit ' + str(proc.returncode)])[-1]}")
    pytest.skip("no way to run a command that file permissions bind: " + "; ".join(failures))


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def run_unprivileged(args: list[str], cwd: Path, owned: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``lmstats ARGS`` in ``cwd`` in a subprocess that file permissions bind (a read-only folder stays read-only),
    also when the suite runs as root (see :func:`_unprivileged_way`); ``owned``: files and folders (not their contents)
    handed to that user first, as a user's own files would be.  Skips, saying why, when no such subprocess can run."""
    name, preexec, uid = _unprivileged_way(str(cwd))
    for path in owned:
        if uid is not None:
            os.chown(path, uid, uid)
    return subprocess.run([sys.executable, "-m", "lmstats", *args], preexec_fn=preexec, env=_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@contextlib.contextmanager
def permissions(*paths_and_modes):
    """Give each ``(path, mode)`` its mode for the block, and every path 0o755 back afterwards (so pytest can clean up)."""
    for path, mode in paths_and_modes:
        path.chmod(mode)
    try:
        yield
    finally:
        for path, _ in paths_and_modes:
            path.chmod(0o755)
