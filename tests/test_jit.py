"""Compiled at the first call (numba imported then); the cache beside the source, else per user, else a temporary
folder, else nowhere."""

import os
import subprocess
import sys
from pathlib import Path

import numba

from lmstats import jit

ROOT = Path(__file__).resolve().parents[1]


def test_cache_falls_back_to_a_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(jit.tempfile, "gettempdir", lambda: str(tmp_path))
    writable = {"source": False, "user": False}

    def fake(folder):
        if folder.name == "__pycache__":
            return writable["source"]
        if folder.name == "numba":
            return writable["user"]
        return str(folder).startswith(str(tmp_path))

    monkeypatch.setattr(jit, "_writable", fake)
    assert jit._cache_location() and numba.config.CACHE_DIR.startswith(str(tmp_path))
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    writable["user"] = True
    assert jit._cache_location() and numba.config.CACHE_DIR == ""  # numba's own per-user folder
    monkeypatch.setattr(jit, "_writable", lambda folder: False)
    assert not jit._cache_location()  # nowhere: compiled code is not cached


def test_a_writable_folder_is_recognised(tmp_path):
    assert jit._writable(tmp_path / "a" / "b")
    assert not jit._writable(tmp_path / "file.txt" / "x") if (tmp_path / "file.txt").write_text("x") else False


@jit.njit()
def _twice(x):
    return 2 * x


@jit.njit()
def _twice_plus_one(x):
    return _twice(x) + 1  # a compiled function calling another: both compiled together


def test_compiled_at_the_first_call_with_the_module_s_other_functions():
    lazy = globals()["_twice_plus_one"]
    assert isinstance(lazy, jit.Compiled) and lazy.dispatcher is None
    assert lazy(20) == 41
    assert isinstance(globals()["_twice"], numba.core.dispatcher.Dispatcher) and globals()["_twice_plus_one"] is lazy.dispatcher


def test_modules_with_compiled_functions_import_without_numba():
    code = "import sys, lmstats.ngram.kernel, lmstats.text.scan, lmstats.ngram.arpatext; print('numba' in sys.modules)"
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and proc.stdout.split() == ["False"], proc.stderr


def test_numba_starts_without_importing_scipy_linalg_which_still_imports_after():
    code = """if True:
        import sys
        from lmstats.text.scan import TextEncoder
        from lmstats.vocab import Vocab
        encoder = TextEncoder(Vocab.build([["a"]]))
        encoder.short_bytes = 1 << 40  # the compiled scan
        ids = encoder("a b").ids.tolist()
        before = "scipy.linalg" in sys.modules
        import scipy.linalg.cython_blas
        print(ids, before, "numba" in sys.modules)
    """
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = os.environ | {"PYTHONPATH": path, "LMSTATS_NATIVE": "0"}  # numba's scan, not the C one
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[3,", "0]", "False", "True"]


def test_numba_starts_the_usual_way_when_the_shortcut_fails(monkeypatch):
    from numba.core.registry import cpu_target

    monkeypatch.delitem(sys.modules, "scipy.linalg", raising=False)
    monkeypatch.delitem(sys.modules, jit._BLAS_CHECK, raising=False)
    calls = []

    def refresh():
        calls.append(sys.modules.get(jit._BLAS_CHECK, "absent"))
        if len(calls) == 1:
            raise ImportError("scipy 0.16+ is required for linear algebra")

    monkeypatch.setattr(cpu_target.target_context, "refresh", refresh)
    jit._start_numba()
    assert calls == [None, "absent"] and jit._BLAS_CHECK not in sys.modules
