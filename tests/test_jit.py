"""Where numba's compiled code is cached: beside the source, else per user, else a temporary folder, else nowhere."""

import numba

from lmstats import jit


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
