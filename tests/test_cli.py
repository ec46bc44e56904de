import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lmstats.cli import main

from helpers import assert_one_line_error


def run(args, **kw):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kw)


def test_help_and_version():
    result = run(["--help"])
    assert result.exit_code == 0, result.output
    assert "corpus" in result.output
    assert run(["--version"]).output.startswith("lmstats, version")


def test_corpus_info_default_corpus_json():
    result = run(["corpus", "info", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["corpus"] == "python-docs"
    rows = {r["split"]: r for r in data["splits"]}
    assert rows["train"]["oov"] == 0 and rows["test"]["oov"] > 0
    assert 0 < rows["test"]["oov_rate"] < 0.2
    assert data["vocab_size"] == rows["train"]["types"] + 3


def test_corpus_info_text_table(text_file):
    result = run(["corpus", "info", str(text_file), "--lower", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "train" in result.output and "OOV rate" in result.output


def test_corpus_list_json():
    data = json.loads(run(["corpus", "list", "--json"]).stdout)
    assert {"python-docs", "wikitext-2", "ptb"} <= {row["name"] for row in data}


def test_synth_writes_text_and_source_description(tmp_path):
    out = tmp_path / "s.txt"
    result = run(["corpus", "synth", str(out), "--tokens", "5000", "--vocab", "100", "--classes", "5", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tokens"] >= 5000 and data["true_perplexity"] > 1
    assert json.loads((tmp_path / "s.txt.source.json").read_text())["entropy_rate_nats"] == data["entropy_rate_nats"]
    again = tmp_path / "t.txt"
    run(["corpus", "synth", str(again), "--tokens", "5000", "--vocab", "100", "--classes", "5", "--seed", "1"])
    assert again.read_text() == out.read_text()  # same seed, same text


def test_fetch_checks_a_local_copy(shared_dir):
    result = run(["corpus", "fetch", "ptb", "--data-dir", str(shared_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["train"].endswith("ptb.train.txt")


BAD = [
    (["corpus", "info", "{tmp}/missing.txt"], "no such file"),
    (["corpus", "info", "{tmp}/emptydir"], "no text files"),
    (["corpus", "info", "{tmp}/empty.txt"], "empty corpus"),
    (["corpus", "info", "{tmp}/binary.dat"], "binary"),
    (["corpus", "info", "{tmp}/latin1.txt"], "not UTF-8"),
    (["corpus", "info", "no-such-corpus"], "not a known corpus name"),
    (["corpus", "info", "{tmp}/two.txt"], "the corpus has 2 lines"),
    (["corpus", "info", "--split", "0.5,0.5"], "three fractions"),
    (["corpus", "info", "--min-count", "0"], "min-count"),
    (["corpus", "info", "--level", "byte"], "level"),
    (["corpus", "fetch", "nope"], "not a catalogue corpus"),
    (["corpus", "synth", "{tmp}/x.txt", "--zipf", "0"], "zipf"),
    (["corpus", "synth", "{tmp}/x.txt", "--classes", "2", "--branching", "5"], "branching"),
    (["no-such-command"], "No such command"),
]


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.dat").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "latin1.txt").write_bytes("na\u00efve text\n".encode("latin-1"))
    (tmp_path / "two.txt").write_text("a b\nc d\n")
    return tmp_path


@pytest.mark.parametrize("args, pattern", BAD)
def test_bad_input_is_one_line_exit_2_no_traceback(bad_files, args, pattern):
    args = [a.format(tmp=bad_files) for a in args]
    result = CliRunner().invoke(main, args)
    assert_one_line_error(result, pattern)
    assert not (bad_files / "x.txt").exists()  # no output written on error


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "lmstats", "corpus", "info", "missing-file.txt"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("lmstats: error:") and "Traceback" not in proc.stderr
