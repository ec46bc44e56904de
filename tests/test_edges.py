"""The edges around the core: outputs (writability, inputs, umask, disk full), signals, start-up."""

import contextlib
import errno
import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmstats import LmstatsError
from lmstats.cli import main
from lmstats.fileio import atomic_write, check_outputs

from helpers import assert_one_line_error, permissions, run_unprivileged

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with atomic_write(tmp_path / "f.txt") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == mode


def test_disk_full_is_one_error_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    with pytest.raises(LmstatsError, match=r"cannot write .*out.txt: No space left on device; free some space"):
        with atomic_write(tmp_path / "out.txt") as fh:
            fh.write("data")
    assert list(tmp_path.iterdir()) == []


def test_check_outputs_refuses_inputs_duplicates_and_unwritable_places(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("text\n")
    with pytest.raises(LmstatsError, match="--out .*c.txt is an input of this command"):
        check_outputs({"--out": corpus}, inputs=[corpus])
    with pytest.raises(LmstatsError, match="is an input"):  # the same file under another name
        os.symlink(corpus, tmp_path / "link.txt")
        check_outputs({"--plot": tmp_path / "link.txt"}, inputs=[corpus])
    with pytest.raises(LmstatsError, match="--arpa and --out name the same file"):
        check_outputs({"--out": tmp_path / "m", "--arpa": tmp_path / "." / "m"})
    with pytest.raises(LmstatsError, match="cannot write in /proc"):
        check_outputs({"--out": "/proc/lmstats/x"})
    check_outputs({"--out": tmp_path / "new" / "deeper" / "m.npz", "--arpa": None}, inputs=[corpus])  # creatable: fine
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_read_only_folder_is_refused_before_any_work(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    with permissions((folder, 0o555)):
        proc = run_unprivileged(["ngram", "--out", str(folder / "m.npz")], cwd=tmp_path, owned=(tmp_path, folder))
        assert_one_line_error(proc, f"cannot write in {folder}")
        assert list(folder.iterdir()) == []


def test_a_model_folder_that_cannot_be_written_is_refused_and_kept(tmp_path, text_file):
    """Its files may not be deleted: refused up front, so no hidden .m.old-* folder is left and the old model stays."""
    model = tmp_path / "m"
    assert CliRunner().invoke(main, ["ngram", str(text_file), "--n", "1", "--out", str(model)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    with permissions((model, 0o555)):
        proc = run_unprivileged(["ngram", str(text_file), "--n", "2", "--out", "m"], cwd=tmp_path, owned=(tmp_path, model))
        assert_one_line_error(proc, "its files cannot be replaced (the folder is not writable)")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before


def test_an_unreadable_corpus_says_it_cannot_be_read(tmp_path, text_file):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(text_file, folder / "a.txt")
    hidden = tmp_path / "hidden.txt"
    shutil.copy(text_file, hidden)
    with permissions((folder, 0o000), (hidden, 0o000)):
        assert_one_line_error(run_unprivileged(["corpus", "info", "corpus"], cwd=tmp_path, owned=(tmp_path, folder)),
                              "corpus: cannot read the folder (Permission denied)")
        assert_one_line_error(run_unprivileged(["corpus", "info", "hidden.txt"], cwd=tmp_path, owned=(tmp_path, hidden)),
                              "hidden.txt: cannot read the file (Permission denied)")


def test_a_fifo_is_read_as_a_corpus(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "w") as fh:  # blocks until lmstats opens the FIFO
            fh.write("".join(f"a b c d e f {i}\n" for i in range(40)))

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "lmstats", "ngram", "p", "--split", "0.8,0.1,0.1", "--n", "2", "--out", "m",
                               "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    finally:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # lets a writer that was never read go
        writer.join(10)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["corpus"] == "p" and data["model"]["order"] == 2 and (tmp_path / "m" / "meta.json").is_file()


@pytest.mark.parametrize("tmp, pattern", [
    ("missing", "missing: no such folder"),
    ("c.txt", "c.txt: is a file, not a folder"),
    ("/proc/self", "/proc/self: cannot write there"),
])
def test_a_tmp_that_cannot_take_work_files_is_refused_at_once(tmp_path, tmp, pattern):
    (tmp_path / "c.txt").write_text("".join(f"line {i} of some text here\n" for i in range(40)))
    result = CliRunner().invoke(main, ["ngram", "c.txt", "--tmp", tmp, "--out", "m"])
    assert_one_line_error(result, f"--tmp: {pattern}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_a_read_only_tmp_is_refused_at_once(tmp_path, text_file):
    work = tmp_path / "work"
    work.mkdir()
    with permissions((work, 0o555)):
        proc = run_unprivileged(["ngram", str(text_file), "--tmp", "work", "--out", "m"], cwd=tmp_path, owned=(tmp_path, work))
        assert_one_line_error(proc, "work: cannot write there (Permission denied)")
    assert not (tmp_path / "m").exists()


def _out_of_core(monkeypatch, corpus, tmp):
    """``ngram CORPUS --tmp TMP`` counted out of core however small CORPUS is (counting in memory priced out of --memory)."""
    import lmstats.ngram.plan as plan
    from lmstats.resources import current_rss

    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 10**9)
    return CliRunner().invoke(main, ["ngram", str(corpus), "--n", "3", "--memory", str(current_rss() + (512 << 20)),
                                     "--tmp", str(tmp), "--out", "m"])


def assert_disk_full(result, tmp) -> None:
    """Progress lines, then one error line saying the disk is full; no work or model folder left in ``tmp``; no model."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert [line for line in lines if line.startswith("lmstats: error:")] == lines[-1:], result.output
    assert f"the disk of the work folder {tmp} is full (No space left on device)" in lines[-1], lines[-1]
    assert list(tmp.iterdir()) == [] and not os.path.exists("m")


def test_a_full_disk_under_tmp_is_one_error_and_leaves_nothing(tmp_path, text_file, monkeypatch):
    from lmstats.npyfile import NpyAppender

    def full(self, values):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(NpyAppender, "append", full)
    work = tmp_path / "work"
    work.mkdir()
    result = _out_of_core(monkeypatch, text_file, work)
    assert "out of core" in result.output
    assert_disk_full(result, work)


def test_a_real_full_disk_under_tmp_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    """A 1 MB tmpfs as --tmp (root only): numpy reports a short write without an errno, so lmstats writes through Python."""
    import numpy as np

    work = tmp_path / "tiny"
    work.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(work)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        words = np.random.default_rng(0).integers(0, 5000, size=(5000, 10))
        corpus = tmp_path / "c.txt"
        corpus.write_text("".join(" ".join(f"w{k}" for k in row) + "\n" for row in words))  # 6.6 MB of files planned
        assert_disk_full(_out_of_core(monkeypatch, corpus, work), work)
    finally:
        gc.collect()  # the failed command's frames (in reference cycles) may still map a file there
        busy = subprocess.run(["umount", str(work)], capture_output=True, text=True)
        if busy.returncode != 0:
            subprocess.run(["umount", "-l", str(work)], check=True)  # detached all the same
            raise AssertionError(f"a file in the tmpfs stays open after the command: {busy.stderr.strip()}")


@contextlib.contextmanager
def tiny_disk(folder: Path, size: str):
    """A tmpfs of ``size`` mounted at ``folder`` (root only; the test skips elsewhere, saying why)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        gc.collect()
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_while_writing_a_pruned_model_is_one_error_and_leaves_no_model(tmp_path):
    """The model folder (np.save reports a short write without an errno), an .npz, a compact model and an ARPA file, on a 200 KB tmpfs
    (numpy fails mid-array there)."""
    import numpy as np

    words = np.random.default_rng(0).integers(0, 2000, size=(3000, 8))
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(" ".join(f"w{k}" for k in row) + "\n" for row in words))
    with tiny_disk(tmp_path / "tiny", "200K") as tiny:
        for out in (["--out", str(tiny / "m")], ["--out", str(tiny / "m.npz")], ["--out", str(tmp_path / "m"), "--arpa",
                                                                                    str(tiny / "m.arpa")]):
            result = CliRunner().invoke(main, ["ngram", str(corpus), "--n", "3", "--prune", "0,0,1", "--eval", "test", *out])
            assert_one_line_error(result, "No space left on device; free some space")
            assert list(tiny.iterdir()) == [], out
    with tiny_disk(tmp_path / "tinier", "64K") as tiny:  # the compact model (a 0.1 MB trie here)
        result = CliRunner().invoke(main, ["ngram", str(corpus), "--n", "3", "--prune", "0,0,1", "--eval", "test", "--out",
                                           str(tiny / "q"), "--quantize", "8"])
        assert_one_line_error(result, "No space left on device; free some space")
        assert list(tiny.iterdir()) == []


@pytest.mark.slow
def test_report_out_dir_is_new_empty_or_an_earlier_report(tmp_path, text_file, monkeypatch):
    """A user's own report.md, a report folder holding a user's file, the corpus's folder: refused before any work."""
    import lmstats.report.run

    monkeypatch.setattr(lmstats.report.run, "run_comparison", lambda config, on_stage, on_progress: None)  # a report of no stages
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("# my own report\n")
    result = CliRunner().invoke(main, ["report", str(text_file), "--out-dir", str(mine)])
    assert_one_line_error(result, f"--out-dir {mine}: exists and is not a report folder lmstats wrote (no results.json of an "
                                  "lmstats report) (it holds report.md)")
    assert [p.name for p in mine.iterdir()] == ["report.md"] and (mine / "report.md").read_text() == "# my own report\n"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(text_file, corpus / "train.txt")
    for out_dir in (corpus, tmp_path):  # the corpus's folder, a folder above an input
        result = CliRunner().invoke(main, ["report", str(corpus), "--out-dir", str(out_dir)])
        assert_one_line_error(result, f"--out-dir {out_dir}: holds {corpus / 'train.txt'}, an input of this command")
    assert sorted(p.name for p in corpus.iterdir()) == ["train.txt"]
    ours = tmp_path / "ours"
    for _ in range(2):  # a new folder, then the folder lmstats wrote
        result = CliRunner().invoke(main, ["report", str(text_file), "--out-dir", str(ours)])
        assert result.exit_code == 0, result.output
    assert json.loads((ours / "results.json").read_text())["format"] == "lmstats-report"
    (ours / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["report", str(text_file), "--out-dir", str(ours)])
    assert_one_line_error(result, "the folder also holds notes.txt, which lmstats did not write there")
    assert (ours / "notes.txt").read_text() == "mine"


def test_a_report_folder_from_before_the_format_key_is_still_ours(tmp_path):
    from lmstats.report.render import check_out_dir

    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"lmstats": "0.1", "command": "lmstats report", "config": {}, "results": []}))
    (folder / "report.md").write_text("# report\n")
    (folder / ".report.md.k2j4x9q1.tmp").write_text("")  # an interrupted write's temporary file
    check_out_dir(folder)
    from lmstats.report.plots import FIGURES

    for name in FIGURES:  # every plot a report draws (the size plot was once missing: a second run refused its own folder)
        (folder / f"{name}.png").write_bytes(b"")
    check_out_dir(folder)
    (folder / "results.json").write_text(json.dumps({"results": []}))
    with pytest.raises(LmstatsError, match="no results.json of an lmstats report"):
        check_out_dir(folder)


def test_zipf_plot_over_the_corpus_is_refused(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"line {i} of some text here\n" for i in range(40)))
    before = corpus.read_bytes()
    assert_one_line_error(CliRunner().invoke(main, ["zipf", str(corpus), "--plot", str(corpus)]), "is an input of this command")
    assert corpus.read_bytes() == before
    assert_one_line_error(CliRunner().invoke(main, ["zipf", str(corpus), "--plot", "/proc/lmstats/z.png"]), "cannot write in /proc")


def test_report_out_dir_that_cannot_be_written_is_refused_at_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["report", "--out-dir", str(blocker / "out")])
    assert_one_line_error(result, "is not a folder")


def test_synth_refuses_an_unwritable_output_before_sampling():
    assert_one_line_error(CliRunner().invoke(main, ["corpus", "synth", "/proc/lmstats/s.txt"]), "cannot write in /proc")


def _run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, cwd=ROOT, **kwargs)


def test_help_version_and_ngram_commands_do_not_import_torch():
    proc = _run_python("""
        import sys
        from lmstats.cli import main
        for args in (["--help"], ["--version"], ["ngram", "--help"], ["rnn", "train", "--help"], ["report", "--help"], ["zipf", "--help"]):
            try:
                main(args)
            except SystemExit as exc:
                assert exc.code == 0, (args, exc.code)
        heavy = [m for m in ("torch", "matplotlib", "pandas", "scipy") if m in sys.modules]
        print("HEAVY", heavy)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path):
    """SIGTERM arrives while a file is being written: exit 143, one line, no .tmp file, no output."""
    proc = _run_python(f"""
        import os, signal, click
        from lmstats.cli import main
        from lmstats.fileio import atomic_write

        @main.command("write-slowly")
        def write_slowly():
            with atomic_write({str(tmp_path / "big.arpa")!r}) as fh:
                fh.write("partial data")
                os.kill(os.getpid(), signal.SIGTERM)
                fh.write("never")

        main(["write-slowly"])
    """)
    assert proc.returncode == 143, (proc.returncode, proc.stderr)
    assert proc.stderr.strip().startswith("lmstats: error: terminated (SIGTERM)") and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_is_one_line_with_exit_130(tmp_path):
    proc = _run_python("""
        import os, signal
        from lmstats.cli import main

        @main.command("wait")
        def wait():
            os.kill(os.getpid(), signal.SIGINT)

        main(["wait"])
    """)
    assert proc.returncode == 130 and proc.stderr.strip().startswith("lmstats: error: interrupted") and "Traceback" not in proc.stderr


def test_json_output_parses_and_progress_goes_to_stderr(tmp_path):
    result = CliRunner().invoke(main, ["ngram", "--n", "2", "--json", "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"]["order"] == 2
