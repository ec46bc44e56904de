import json

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats.cli import main

from helpers import assert_one_line_error


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_ngram_default_corpus_json(tmp_path):
    out = tmp_path / "m.npz"
    result = run(["ngram", "--json", "--out", str(out), "--eval", "train,valid,test"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"]["smoothing"] == "mkn" and data["model"]["order"] == 3
    res = {split: by_mode["sentence"] for split, by_mode in data["results"].items()}
    assert res["train"]["ppl"] < res["valid"]["ppl"]
    assert 1 < res["test"]["ppl"] < data["vocab_size"]
    assert out.exists() and data["written"]["model"] == str(out)
    # the saved model reproduces the figures, on the corpus it names (no CORPUS given)
    again = json.loads(run(["ngram", "--load", str(out), "--json", "--eval", "test"]).stdout)
    assert again["results"]["test"]["sentence"]["nll_sum"] == pytest.approx(res["test"]["nll_sum"], rel=1e-12)
    assert again["written"] == {} and again["loaded"] == str(out)
    stream = json.loads(run(["ngram", "--load", str(out), "--mode", "stream", "--json"]).stdout)  # scored another way
    assert set(stream["results"]["test"]) == {"stream"} and stream["model"]["mode"] == "sentence"
    assert set(stream["results"]) == {"valid", "test"}  # the default: valid and test, not train


@pytest.mark.slow
def test_model_folder_out_of_core_and_query_only(tmp_path, monkeypatch, shared_dir, tight_memory):
    """The default model is a folder of .npy arrays; a tight --memory counts WikiText-2 out of core to the
    same model (the plan and one line per order on stderr); the query-only form scores the same and opens
    without the builder's arrays; --memory below what the process holds is refused at once."""
    monkeypatch.chdir(tmp_path)
    args = ["ngram", "wikitext-2", "--data-dir", str(shared_dir), "--n", "4", "--json", "--eval", "test"]
    big = json.loads(run(args).stdout)
    folder = tmp_path / "lmstats-out" / "ngram-wikitext-2-4mkn"
    assert big["written"]["model"] == str(folder.relative_to(tmp_path)) and (folder / "meta.json").is_file()
    assert (folder / "keys4.npy").is_file() and (folder / "counts4.npy").is_file()
    result = run([*args, "--memory", str(tight_memory()), "--tmp", str(tmp_path), "--out", "ooc"])
    small = json.loads(result.stdout)
    assert "out of core: predicted peak" in result.stderr and "order 4 counted in" in result.stderr and "files so far" in result.stderr
    assert small["model"]["ngrams_per_order"] == big["model"]["ngrams_per_order"]
    assert small["results"]["test"]["sentence"]["nll_sum"] == pytest.approx(big["results"]["test"]["sentence"]["nll_sum"], rel=1e-12)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("lmstats-work")] == []  # work files removed
    assert_one_line_error(CliRunner().invoke(main, [*args, "--memory", "64M", "--out", "no"]),
                          "--memory 64.0M cannot work: this process already holds")
    query = json.loads(run(["ngram", "--load", "ooc", "--query-only", "--out", "q", "--json", "--eval", "test", "--data-dir",
                            str(shared_dir)]).stdout)
    assert not (tmp_path / "q" / "counts4.npy").exists() and (tmp_path / "q" / "prob4.npy").exists()
    again = json.loads(run(["ngram", "--load", "q", "--json", "--eval", "test", "--data-dir", str(shared_dir)]).stdout)
    assert again["results"]["test"]["sentence"]["nll_sum"] == pytest.approx(query["results"]["test"]["sentence"]["nll_sum"], rel=1e-12)
    (tmp_path / "q" / "prob4.npy").write_bytes((tmp_path / "q" / "prob4.npy").read_bytes()[:200])
    assert_one_line_error(CliRunner().invoke(main, ["ngram", "--load", "q"]), "the array prob4.npy is truncated")
    (tmp_path / "q" / "prob4.npy").unlink()
    assert_one_line_error(CliRunner().invoke(main, ["ngram", "--load", "q"]), "lacks the arrays prob4")


def test_eps_values_per_order_and_tuning(tmp_path):
    fixed = json.loads(run(["ngram", "--n", "2", "--eps", "1,0.5", "--json", "--out", str(tmp_path / "a.npz")]).stdout)
    assert fixed["model"]["smoothing"] == "eps" and fixed["model"]["eps"] == [1.0, 0.5]
    tuned = json.loads(run(["ngram", "--n", "2", "--eps", "--json", "--out", str(tmp_path / "b.npz")]).stdout)
    assert set(tuned["results"]) == {"valid", "test"}
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
    data = json.loads(run(["ngram", "--smoothing", "mle", "--json", "--out", str(tmp_path / "m.npz")]).stdout)
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
    (["ngram", "--load", "{tmp}/model.npz", "--lower"], "--lower would be ignored: CORPUS options apply only to a CORPUS given"),
    (["ngram", "--load", "{tmp}/model.npz", "{tmp}/other.txt", "--min-count", "2"],
     "--min-count would be ignored: the model {tmp}/model.npz is scored under its own vocabulary"),
    (["ngram", "--load", "{tmp}/model.npz", "--n", "5", "--smoothing", "kn"],
     "--n, --smoothing would be ignored: they describe a model to fit"),
    (["ngram", "--eps=-1"], "--eps must be > 0 for every order, got -1"),
    (["ngram", "--eps", "1e-300"], "so small that some probabilities underflow"),
    (["ngram", "{tmp}/other.txt", "--out", "{tmp}/other.txt"], "--out {tmp}/other.txt is an input of this command"),
    (["ngram", "--out", "{tmp}/m.npz", "--arpa", "{tmp}/m.npz"], "name the same file"),
    (["ngram", "--out", "{tmp}/other.txt/m.npz"], "is not a folder"),
    (["ngram", "--out", "/proc/lmstats-test/m.npz"], "cannot write in /proc"),
    (["ngram", "--out", "{tmp}"], "exists and is not an lmstats model folder"),
    (["ngram", "--eval", "train,dev"], "--eval takes split names"),
    (["ngram", "--memory", "12X"], "give a size such as 500M"),
    (["ngram", "--memory", "10M"], "at least 64M"),
    (["ngram", "--load", "{tmp}/model.npz", "--out", "{tmp}/again"], "add --query-only"),
    (["ngram", "{tmp}/other.txt", "--split", "nan,0.1,0.1", "--out", "{tmp}/s"], "three finite numbers"),  # NaN never reaches meta.json
    (["ngram", "{tmp}/other.txt", "--split", "0.8,0.1,nan", "--out", "{tmp}/s"], "three finite numbers"),
    (["ngram", "{tmp}/other.txt", "--split", "inf,0.1,0.1", "--out", "{tmp}/s"], "three finite numbers"),
    (["ngram", "{tmp}/other.txt", "--eps", "inf", "--out", "{tmp}/s"], "--eps must be a finite number > 0"),
    (["ngram", "{tmp}/other.txt", "--k", "0.3", "--out", "{tmp}/s"], "--k applies to --smoothing lidstone only, not mkn"),
    (["ngram", "{tmp}/other.txt", "--eps-variant", "textbook", "--smoothing", "kn", "--out", "{tmp}/s"],
     "--eps-variant applies to --smoothing eps only, not kn"),
    (["ngram", "{tmp}/other.txt", "--out", "{tmp}/garbage.npz"], "exists and is not an lmstats n-gram model"),
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


@pytest.fixture
def small_model(tmp_path, text_file):
    """A bigram model folder of the 40-line corpus (its files: keys2.npy, prob2.npy, ...)."""
    folder = tmp_path / "m"
    assert run(["ngram", str(text_file), "--n", "2", "--smoothing", "kn", "--out", str(folder)]).exit_code == 0
    return folder


def _truncated(path):
    path.write_bytes(path.read_bytes()[:-16])


def _int32(path):
    np.save(path, np.load(path).astype(np.int32))  # a valid .npy of the same length, of another dtype


def _shorter(path):
    np.save(path, np.load(path)[:-1])  # a valid .npy of its dtype, one value short


@pytest.mark.parametrize("damage, name, pattern", [
    (_truncated, "prob2", "the array prob2.npy is truncated"),
    (_int32, "keys2", "keys2.npy holds int32 values"),
    (_int32, "counts1", "counts1.npy holds int32 values"),
    (_shorter, "suffix2", "suffix2.npy holds"),
])
def test_a_damaged_model_folder_is_one_error_naming_the_array(small_model, text_file, damage, name, pattern):
    """Never a perplexity from a misread array, never a numba traceback: one line naming the array, also through mix."""
    good = small_model.parent / "good.npz"
    assert run(["ngram", str(text_file), "--n", "1", "--out", str(good)]).exit_code == 0
    damage(small_model / f"{name}.npy")
    assert_one_line_error(CliRunner().invoke(main, ["ngram", "--load", str(small_model)]), pattern)
    assert_one_line_error(CliRunner().invoke(main, ["ngram", str(text_file), "--load", str(small_model)]), pattern)
    assert_one_line_error(CliRunner().invoke(main, ["mix", str(small_model), str(good)]), pattern)


def test_an_npz_model_with_an_array_of_another_dtype_is_one_error(tmp_path, text_file):
    path = tmp_path / "m.npz"
    assert run(["ngram", str(text_file), "--n", "2", "--out", str(path)]).exit_code == 0
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["prob2"] = arrays["prob2"].astype(np.float32)
    np.savez(path, **arrays)
    assert_one_line_error(CliRunner().invoke(main, ["ngram", "--load", str(path)]), "prob2.npy holds float32 values")


def test_an_npz_model_is_replaced_and_an_npz_file_of_the_users_is_not(tmp_path, text_file):
    out = tmp_path / "m.npz"
    first = json.loads(run(["ngram", str(text_file), "--n", "1", "--out", str(out), "--json"]).stdout)
    second = json.loads(run(["ngram", str(text_file), "--n", "2", "--out", str(out), "--json"]).stdout)
    assert first["model"]["order"] == 1 and second["written"]["model"] == str(out)
    assert json.loads(run(["ngram", "--load", str(out), "--json"]).stdout)["model"]["order"] == 2
    foreign = tmp_path / "x.npz"
    np.savez(foreign, data=np.arange(3))
    before = foreign.read_bytes()
    assert_one_line_error(CliRunner().invoke(main, ["ngram", str(text_file), "--out", str(foreign)]),
                          f"--out {foreign}: exists and is not an lmstats n-gram model")
    assert foreign.read_bytes() == before


def test_a_model_folder_holding_a_users_file_is_not_replaced(small_model, text_file):
    (small_model / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in small_model.iterdir()}
    result = CliRunner().invoke(main, ["ngram", str(text_file), "--n", "3", "--out", str(small_model)])
    assert_one_line_error(result, "the folder also holds notes.txt, which lmstats did not write")
    assert {p.name: p.read_bytes() for p in small_model.iterdir()} == before
    assert [p.name for p in small_model.parent.iterdir() if p.name.startswith(".")] == []


def test_an_arpa_file_scores_on_corpus_as_its_model_folder_does(tmp_path, text_file):
    arpa = tmp_path / "m.arpa"
    folder = json.loads(run(["ngram", str(text_file), "--n", "2", "--smoothing", "kn", "--out", str(tmp_path / "m"), "--arpa",
                             str(arpa), "--json"]).stdout)
    assert_one_line_error(CliRunner().invoke(main, ["ngram", "--load", str(arpa)]), "an ARPA file records no corpus; give CORPUS")
    scored = json.loads(run(["ngram", str(text_file), "--load", str(arpa), "--json"]).stdout)
    for split in ("valid", "test"):
        assert scored["results"][split]["sentence"]["ppl"] == pytest.approx(folder["results"][split]["sentence"]["ppl"], rel=1e-6)


def test_a_saved_model_scores_another_corpus_under_its_own_vocabulary(tmp_path, text_file):
    """CORPUS with --load: the text is encoded with the model's vocabulary, a word it does not know being <unk>
    (as KenLM's query reads any text), and the figures equal the library's on those ids."""
    from lmstats import CorpusSpec, evaluate, load_corpus
    from lmstats.ngram import NgramLM

    run(["ngram", str(text_file), "--n", "2", "--out", str(tmp_path / "m"), "--json"])
    other = tmp_path / "other.txt"
    other.write_text("".join(f"the dog sat on a new mat number {i} today\n" for i in range(40)))
    data = json.loads(run(["ngram", str(other), "--load", str(tmp_path / "m"), "--eval", "test", "--json"]).stdout)
    model = NgramLM.load(tmp_path / "m")
    test = load_corpus(CorpusSpec(str(other))).encode(model.vocab).test
    want = evaluate(model, test)
    got = data["results"]["test"]["sentence"]
    assert got["n_oov"] == want.n_oov > 0 and got["ppl"] == pytest.approx(want.ppl, rel=1e-12)
    assert data["vocab_size"] == len(model.vocab)
