import json
import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import LmstatsError
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


def test_corpus_info_text_table(tmp_path):
    """A corpus with its own splits, counted by hand.  --min-count 2 keeps the, cat, sat (+ 3 specials); OOV are the tokens
    outside them and the literal <unk>.  train: 4 lines (one empty), 9 tokens, 5 types, OOV dog ran;
    valid: 2 lines, 5 tokens, 5 types (<unk> is one), OOV bird <unk>; test: 1 line, 4 tokens, 4 types, all OOV."""
    for split, text in (("train", "the cat sat\nthe dog sat\n\nthe cat ran\n"), ("valid", "the bird sat\n<unk> cat\n"),
                        ("test", "a dog ran fast\n")):
        (tmp_path / f"{split}.txt").write_text(text)
    expected = {"train": (4, 9, 5, 2), "valid": (2, 5, 5, 2), "test": (1, 4, 4, 4)}  # lines, tokens, types, OOV
    data = json.loads(run(["corpus", "info", str(tmp_path), "--min-count", "2", "--json"]).stdout)
    assert data["vocab_size"] == 6 and data["splits_from"] == "the corpus's own files"
    rows = {r["split"]: r for r in data["splits"]}
    assert {name: (r["lines"], r["tokens"], r["types"], r["oov"]) for name, r in rows.items()} == expected
    assert [rows[name]["oov_rate"] for name in ("train", "valid", "test")] == [2 / 9, 2 / 5, 1.0]
    assert (rows["train"]["empty_lines"], rows["valid"]["literal_unk"]) == (1, 1)
    result = run(["corpus", "info", str(tmp_path), "--min-count", "2"])
    assert result.exit_code == 0, result.output
    table = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[3:]}
    assert table == {name: [*map(str, counts), f"{counts[3] / counts[1]:.4%}"] for name, counts in expected.items()}


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
    (["corpus", "info", ""], "the corpus is an empty string"),  # it read the current folder, recorded as python-docs
    (["corpus", "info", "{tmp}/emptydir"], "no text files"),
    (["corpus", "info", "{tmp}/empty.txt"], "empty corpus"),
    (["corpus", "info", "{tmp}/binary.dat"], "binary"),
    (["corpus", "info", "{tmp}/latin1.txt"], "not UTF-8"),
    (["corpus", "info", "no-such-corpus"], "not a known corpus name"),
    (["corpus", "info", "{tmp}/two.txt"], "the corpus has 2 lines"),
    (["corpus", "info", "--split", "0.5,0.5"], "three fractions"),
    (["corpus", "info", "--split", "nan,0.1,0.1"], "three finite numbers >= 0 summing to 1 (train > 0), got nan,0.1,0.1"),
    (["corpus", "info", "--split", "0.8,0.1,nan"], "three finite numbers"),
    (["corpus", "info", "--split", "inf,0.1,0.1"], "three finite numbers"),
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


def test_split_fractions_that_are_not_finite_are_refused_by_the_library_too():
    from lmstats.text.spec import CorpusSpec

    for split in ((math.nan, 0.1, 0.1), (0.8, 0.1, math.nan), (math.inf, 0.1, 0.1)):
        with pytest.raises(LmstatsError, match="three finite numbers"):
            CorpusSpec("c.txt", split=split)


@pytest.fixture
def predefined(tmp_path):
    """A folder with predefined train/valid/test files of Zipf-distributed words (enough distinct counts for a CSN fit)."""
    folder = tmp_path / "pre"
    folder.mkdir()
    gen = np.random.default_rng(0)
    for name, lines in (("train", 40), ("valid", 5), ("test", 5)):
        (folder / f"{name}.txt").write_text("".join(" ".join(f"w{k}" for k in gen.zipf(1.6, size=12)) + "\n" for _ in range(lines)))
    return folder


@pytest.mark.parametrize("args, pattern", [
    (["ngram", "{pre}", "--seed", "3", "--out", "{tmp}/m"], "--seed would be ignored: the corpus has predefined"),
    (["corpus", "info", "{pre}", "--seed", "3"], "--seed would be ignored: the corpus has predefined"),
    (["zipf", "{pre}", "--seed", "3"], "--seed would be ignored: the corpus has predefined"),
    (["rnn", "train", "{pre}", "--resume", "--force", "--checkpoint", "{tmp}/x.pt"], "--resume continues the run in --checkpoint"),
    (["rnn", "generate", "--greedy", "--temperature", "0.5", "--checkpoint", "{tmp}/x.pt"], "--temperature would be ignored: --greedy"),
    (["rnn", "generate", "--greedy", "--seed", "3", "--checkpoint", "{tmp}/x.pt"], "--seed would be ignored: --greedy"),
])
def test_an_option_that_would_be_ignored_is_refused(tmp_path, predefined, args, pattern):
    result = CliRunner().invoke(main, [a.format(pre=predefined, tmp=tmp_path) for a in args])
    assert_one_line_error(result, pattern)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pre"]


def test_options_used_elsewhere_are_accepted(tmp_path, predefined, text_file):
    """--seed seeds zipf's bootstrap on predefined splits; --memory with --load bounds the text, not a fit."""
    data = json.loads(run(["zipf", str(predefined), "--seed", "3", "--bootstrap", "10", "--json"]).stdout)
    assert data["corpus"] == "pre"
    model = tmp_path / "m"
    assert run(["ngram", str(text_file), "--n", "2", "--out", str(model)]).exit_code == 0
    loaded = json.loads(run(["ngram", "--load", str(model), "--memory", "1G", "--json"]).stdout)
    assert loaded["loaded"] == str(model) and loaded["results"]["test"]["sentence"]["ppl"] > 1


@pytest.mark.slow
def test_zipf_plot_format_follows_its_suffix(tmp_path, predefined):
    assert run(["zipf", str(predefined), "--plot", str(tmp_path / "z.pdf")]).exit_code == 0
    assert (tmp_path / "z.pdf").read_bytes()[:5] == b"%PDF-"
    result = CliRunner().invoke(main, ["zipf", str(predefined), "--plot", str(tmp_path / "z.jpg")])
    assert_one_line_error(result, "--plot " + str(tmp_path / "z.jpg") + ": the suffix must name the format, one of .png, .pdf, .svg")
    assert not (tmp_path / "z.jpg").exists()


def test_a_mixture_that_lists_itself_is_one_error_line(tmp_path, text_file):
    models = [tmp_path / "a.npz", tmp_path / "b"]
    for order, path in enumerate(models, start=1):
        assert run(["ngram", str(text_file), "--n", str(order), "--out", str(path)]).exit_code == 0

    def mixture(path, *parts):
        components = [{"path": str(part), "weight": 1 / len(parts)} for part in parts]
        path.write_text(json.dumps({"format": "lmstats-mixture", "version": 1, "components": components}))

    own, p, q = tmp_path / "self.json", tmp_path / "p.json", tmp_path / "q.json"
    mixture(own, models[0], own)
    mixture(p, models[0], q)
    mixture(q, models[1], p)
    assert_one_line_error(CliRunner().invoke(main, ["mix", str(own), str(models[1])]), f"the mixture lists itself ({own} -> {own})")
    assert_one_line_error(CliRunner().invoke(main, ["mix", str(p), str(models[0])]), f"lists itself ({p} -> {q} -> {p})")
