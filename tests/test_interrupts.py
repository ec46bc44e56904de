"""Ctrl-C and SIGTERM at any moment: one line and an exit code, never a traceback, and no claim of a file that is not there."""

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from lmstats.cli import main
from lmstats.interrupts import Deferred, Terminated, describe, keep


def test_describe_says_what_was_kept():
    assert describe(KeyboardInterrupt()) == ("interrupted; finished outputs were kept, nothing half-written was left", 130)
    assert describe(Terminated()) == ("terminated (SIGTERM); finished outputs were kept, temporary files were removed", 143)
    assert describe(keep(KeyboardInterrupt(), "checkpoint saved to x.pt")) == ("interrupted; checkpoint saved to x.pt", 130)


def test_deferred_signals_wait_for_the_loop_and_a_second_one_stops_at_once():
    with Deferred() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.raised and interrupt.signum == signal.SIGINT  # the first one only sets the flag
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)  # the second stops at once, as what it means
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are put back


def _start(*args, **kwargs):
    """``python -m lmstats ARGS`` with Ctrl-C as a terminal gives it (the test runner may have SIGINT ignored)."""
    return subprocess.Popen([sys.executable, "-m", "lmstats", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


@pytest.mark.parametrize("delay", [0.05, 0.1, 0.15, 0.2, 0.25, 0.4])
def test_ctrl_c_in_the_first_moments_is_one_line(tmp_path, delay):
    """The console script imports click, numpy and the commands after the signal handling is in place: a Ctrl-C
    while they load ends with the one line and 130 (or, before Python has started, with the signal itself).  A
    Ctrl-C while the interpreter is still importing its own ``site`` module, before any line of lmstats runs, is
    Python's own fatal error (on a busy machine that can last past the first delay); that case is told apart."""
    proc = _start("ngram", "--n", "2", "--out", str(tmp_path / "m"), cwd=tmp_path)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if err.startswith("Fatal Python error: init_import_site"):
        assert "lmstats" not in err, err  # the interpreter's start-up, not ours
        return
    assert "Traceback" not in err, err
    if proc.returncode == 0:  # finished before the signal came: nothing to check
        return
    assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("counting", "\r"))]
    assert proc.returncode == -signal.SIGINT and not lines or lines == [lines[0]] and lines[0].startswith("lmstats: error: interrupted")


@pytest.fixture
def small_text(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("".join(f"the cat sat on mat number {i} and the dog ran\n" for i in range(40)))
    return path


TINY_RNN = ["--embed-size", "8", "--hidden-size", "8", "--layers", "1", "--seq-len", "4", "--batch-size", "2", "--epochs", "2",
            "--optimizer", "adam", "--valid-tokens", "0", "--start-share", "0", "--threads", "1"]


def test_ctrl_c_before_the_first_checkpoint_claims_none(small_text, tmp_path, monkeypatch):
    """Ctrl-C while the corpus is read or the network built: no checkpoint exists, so none is promised."""
    import lmstats.rnn.job

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lmstats.rnn.job, "build_net", interrupted)
    ckpt = tmp_path / "m.pt"
    result = CliRunner().invoke(main, ["rnn", "train", str(small_text), "--checkpoint", str(ckpt), *TINY_RNN])
    assert result.exit_code == 130 and not ckpt.exists()
    assert result.output.strip() == "lmstats: error: interrupted; finished outputs were kept, nothing half-written was left"


def test_ctrl_c_during_training_says_where_the_checkpoint_is(small_text, tmp_path, monkeypatch):
    import lmstats.rnn.train

    real, calls = lmstats.rnn.train.TrainingRun.step, []

    def step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # deferred: the step finishes, the position is saved
        return real(self, *args, **kwargs)

    monkeypatch.setattr(lmstats.rnn.train.TrainingRun, "step", step)
    ckpt = tmp_path / "m.pt"
    result = CliRunner().invoke(main, ["rnn", "train", str(small_text), "--checkpoint", str(ckpt), *TINY_RNN])
    assert result.exit_code == 130 and ckpt.is_file()
    lines = [line for line in result.output.splitlines() if line.startswith("lmstats:")]
    assert lines == [f"lmstats: error: interrupted; checkpoint saved to {ckpt} — run the same command with --resume to continue"]
    resumed = CliRunner().invoke(main, ["rnn", "train", str(small_text), "--checkpoint", str(ckpt), "--resume", "--json", *TINY_RNN])
    assert resumed.exit_code == 0, resumed.output
