"""The edges around the core: outputs (writability, inputs, umask, disk full), signals, start-up."""

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from lmstats import LmstatsError
from lmstats.cli import main
from lmstats.fileio import atomic_write, check_outputs

from helpers import assert_one_line_error

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


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the /proc cases cover unwritable places here")
def test_read_only_folder_is_refused_before_any_work(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert_one_line_error(CliRunner().invoke(main, ["ngram", "--out", str(folder / "m.npz")]), "cannot write in")
    finally:
        folder.chmod(0o755)


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
