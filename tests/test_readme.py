"""The README's first screen holds exactly two set-up commands, and CI runs the second verbatim."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    first_screen = "\n".join(text.splitlines()[:40])
    return re.findall(r"```bash\n(.*?)\n```", first_screen, flags=re.S)


def test_first_screen_has_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2, commands
    install_main, install_tests = commands
    assert install_main.startswith("pip install") and "&& lmstats" in install_main
    assert install_tests.startswith("pip install") and "pytest" in install_tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


@pytest.mark.slow
def test_main_job_runs_offline(tmp_path):
    """The README's main job, shortened: the same command with a 2-second RNN budget and a
    temporary output folder (the full run takes minutes; its time is measured in the README)."""
    main_job = readme_commands()[0].split("&&", 1)[1].strip()
    argv = shlex.split(main_job)
    assert argv[:2] == ["lmstats", "report"]
    extra = ["--rnn-budget", "2", "--out-dir", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-m", "lmstats", *argv[1:], *extra], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "report.html").exists()
    assert "report written" in proc.stdout


@pytest.mark.slow
def test_the_python_example_runs():
    """The five-line example of the README's "In Python" section, run as it is written."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## In Python", 1)[1]
    code = re.search(r"```python\n(.*?)\n```", section, flags=re.S).group(1)
    assert len(code.splitlines()) == 5
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 20 < float(proc.stdout.strip()) < 500  # a 3-gram MKN perplexity on English prose
