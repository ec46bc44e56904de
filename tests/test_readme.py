"""The README's first screen holds exactly two set-up commands, and CI runs the second verbatim."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

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


def test_main_job_runs_offline():
    main_job = readme_commands()[0].split("&&", 1)[1].strip()
    argv = shlex.split(main_job)
    assert argv[0] == "lmstats"
    proc = subprocess.run([sys.executable, "-m", "lmstats", *argv[1:]], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
