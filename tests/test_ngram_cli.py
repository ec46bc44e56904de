import json

import pytest
from click.testing import CliRunner

from lmstats.cli import main

from helpers import assert_one_line_error


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_ngram_default_corpus_json(tmp_path):
    out = tmp_path / "m.npz"
    result = run(["ngram", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"]["smoothing"] == "mkn" and data["model"]["order"] == 3
    res = {split: by_mode["sentence"] for split, by_mode in data["results"].items()}
    assert res["train"]["ppl"] < res["valid"]["ppl"]
    assert 1 < res["test"]["ppl"] < data["vocab_size"]
    assert out.exists() and data["written"]["model"] == str(out)
    # the saved model reproduces the figures, on the corpus it names (no CORPUS given)
    again = json.loads(run(["ngram", "--load", str(out), "--json"]).output)
    assert again["results"]["test"]["sentence"]["nll_sum"] == pytest.approx(res["test"]["nll_sum"], rel=1e-12)
    assert again["written"] == {} and again["loaded"] == str(out)
    stream = json.loads(run(["ngram", "--load", str(out), "--mode", "stream", "--json"]).output)  # scored another way
    assert set(stream["results"]["test"]) == {"stream"} and stream["model"]["mode"] == "sentence"


def test_eps_values_per_order_and_tuning(tmp_path):
    fixed = json.loads(run(["ngram", "--n", "2", "--eps", "1,0.5", "--json", "--out", str(tmp_path / "a.npz")]).output)
    assert fixed["model"]["smoothing"] == "eps" and fixed["model"]["eps"] == [1.0, 0.5]
    tuned = json.loads(run(["ngram", "--n", "2", "--eps", "--json", "--out", str(tmp_path / "b.npz")]).output)
    assert len(tuned["eps_tuning"]["eps"]) == 2
    assert tuned["results"]["valid"]["sentence"]["ppl"] <= fixed["results"]["valid"]["sentence"]["ppl"]
    assert tuned["eps_tuning"]["valid_ppl"] == pytest.approx(tuned["results"]["valid"]["sentence"]["ppl"])
    assert "discounts" not in fixed["model"]  # ε is a parameter of the model, not a discount


def test_text_output_and_arpa(tmp_path):
    result = run(["ngram", "--n", "2", "--smoothing", "kn", "--out", str(tmp_path / "m.npz"), "--arpa", str(tmp_path / "m.arpa")])
    assert result.exit_code == 0, result.output
    assert "test" in result.output and "ppl" in result.output
    assert (tmp_path / "m.arpa").read_text().startswith("\n\\data\\\nngram 1=")


def test_mle_reports_infinite_perplexity_honestly(tmp_path):
    data = json.loads(run(["ngram", "--smoothing", "mle", "--json", "--out", str(tmp_path / "m.npz")]).output)
    test = data["results"]["test"]["sentence"]
    assert test["ppl"] is None and test["n_zero"] > 0


@pytest.mark.parametrize("args, pattern", [
    (["ngram", "--n", "0"], "--n"),
    (["ngram", "--eps", "0"], "eps must be > 0"),
    (["ngram", "--eps", "-1"], "must be > 0"),
    (["ngram", "--eps", "x"], "--eps takes"),
    (["ngram", "--n", "3", "--eps", "1,2"], "one per order"),
    (["ngram", "--smoothing", "nope"], "smoothing"),
    (["ngram", "--smoothing", "kn", "--eps", "0.1"], "--eps applies"),
    (["ngram", "--smoothing", "stupid", "--arpa", "{tmp}/x.arpa"], "ARPA cannot express"),
    (["ngram", "--load", "{tmp}/missing.npz"], "no such model file"),
    (["ngram", "--load", "{tmp}/garbage.npz"], "not an lmstats n-gram model"),
    (["ngram", "--load", "{tmp}/model.npz", "--lower"], "--lower describes CORPUS, but none was given"),
    (["ngram", "--load", "{tmp}/model.npz", "{tmp}/other.txt"], "uses another vocabulary"),
    (["ngram", "--load", "{tmp}/model.npz", "--n", "5", "--smoothing", "kn"], "--n, --smoothing describe a model to fit"),
    (["ngram", "--eps=-1"], "--eps must be > 0 for every order, got -1"),
    (["ngram", "--eps", "1e-300"], "so small that some probabilities underflow"),
    (["ngram", "{tmp}/other.txt", "--out", "{tmp}/other.txt"], "--out {tmp}/other.txt is an input of this command"),
    (["ngram", "--out", "{tmp}/m.npz", "--arpa", "{tmp}/m.npz"], "name the same file"),
    (["ngram", "--out", "{tmp}/other.txt/m.npz"], "is not a folder"),
    (["ngram", "--out", "/proc/lmstats-test/m.npz"], "cannot write in /proc"),
    (["ngram", "--out", "{tmp}"], "is a directory"),
])
def test_bad_input_one_line_exit_2(tmp_path, args, pattern):
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really")
    other = tmp_path / "other.txt"
    other.write_text("".join(f"another text line {i} with words\n" for i in range(30)))
    run(["ngram", "--n", "1", "--out", str(tmp_path / "model.npz")])
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert_one_line_error(result, pattern.format(tmp=tmp_path))
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing written, nothing overwritten
