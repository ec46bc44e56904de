import json
import re

import pytest
import torch
from click.testing import CliRunner

from lmstats.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


TINY_NET = ["--embed-size", "8", "--hidden-size", "8", "--seq-len", "8", "--batch-size", "4", "--layers", "1"]


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    """Default outputs (lmstats-out/) land in a fresh folder, never in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 40-line corpus file and a checkpoint trained on it for two epochs (JSON output)."""
    folder = tmp_path_factory.mktemp("rnncli")
    corpus = folder / "small.txt"
    corpus.write_text("\n".join(f"the cat sat on mat number {i} and the dog ran" for i in range(40)) + "\n")
    ckpt = folder / "m.pt"
    result = run(["rnn", "train", str(corpus), *TINY_NET, "--epochs", "2", "--checkpoint", str(ckpt), "--json"])
    assert result.exit_code == 0, result.output
    return corpus, ckpt, json.loads(result.stdout)


def test_train_json_reports_both_modes_and_speed(trained):
    corpus, ckpt, data = trained
    assert ckpt.exists() and data["checkpoint"] == str(ckpt)
    assert len(data["history"]["epochs"]) == 2 and data["history"]["stopped"] == "epochs"
    epochs = data["history"]["epochs"]  # the speeds are the recorded tokens over the recorded seconds, whatever the machine's
    assert data["train_tokens_per_s"] == sum(e["train_tokens"] for e in epochs) / sum(e["train_seconds"] for e in epochs)
    assert data["parameters"] > 0
    for split in ("valid", "test"):
        for mode in ("sentence", "stream"):
            r = data["results"][split][mode]
            assert 1 < r["ppl"] < data["vocab_size"] and r["tokens_per_s"] == r["n_tokens"] / max(r["seconds"], 1e-9)
    assert data["results"]["test"]["stream"]["n_tokens"] == data["results"]["test"]["sentence"]["n_tokens"]  # no empty lines


def test_eval_reproduces_the_training_figures(trained):
    corpus, ckpt, data = trained
    result = run(["rnn", "eval", "--checkpoint", str(ckpt), "--mode", "stream", "--json"])  # corpus from the checkpoint
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)["results"]
    assert set(again["test"]) == {"stream"}
    assert again["test"]["stream"]["nll_sum"] == pytest.approx(data["results"]["test"]["stream"]["nll_sum"], rel=1e-9)
    text = run(["rnn", "eval", str(corpus), "--checkpoint", str(ckpt)])
    assert text.exit_code == 0 and "sentence" in text.output and "ppl" in text.output


def test_generate_is_seeded(trained):
    _, ckpt, _ = trained
    args = ["rnn", "generate", "--checkpoint", str(ckpt), "--prefix", "the cat", "--length", "12", "--json"]
    a = json.loads(run(args + ["--seed", "3"]).stdout)
    b = json.loads(run(args + ["--seed", "3"]).stdout)
    assert a["ids"] == b["ids"] and len(a["ids"]) == 12 and a["level"] == "word"
    greedy = run(["rnn", "generate", "--checkpoint", str(ckpt), "--prefix", "the cat", "--greedy", "--length", "5"])
    assert greedy.exit_code == 0 and greedy.output.startswith("the cat ")


def test_resume_continues_to_more_epochs(trained, tmp_path):
    corpus, ckpt, data = trained
    copy = tmp_path / "c.pt"
    copy.write_bytes(ckpt.read_bytes())
    result = run(["rnn", "train", str(corpus), *TINY_NET, "--epochs", "3", "--checkpoint", str(copy), "--resume", "--json",
                  "--mode", "sentence"])
    assert result.exit_code == 0, result.output
    resumed = json.loads(result.stdout)
    assert "resumed from" in result.stderr and "epoch 3, step 0" in result.stderr
    assert resumed["history"]["resumed_from"] == {"epoch": 2, "step": 0}
    assert [e["valid_ppl"] for e in resumed["history"]["epochs"][:2]] == [e["valid_ppl"] for e in data["history"]["epochs"]]
    assert len(resumed["history"]["epochs"]) == 3 and set(resumed["results"]["test"]) == {"sentence"}


def test_time_budget_and_text_output(trained, tmp_path, training_clock):
    """Steps cost 0.1 s of a fake clock and validation nothing: a 0.5 s budget stops the run after five steps, in its first epoch."""
    training_clock(step=0.1)
    corpus, _, _ = trained
    result = run(["rnn", "train", str(corpus), *TINY_NET, "--cell", "scratch", "--epochs", "500", "--time-budget", "0.5",
                  "--checkpoint", str(tmp_path / "s.pt")])
    assert result.exit_code == 0, result.output
    assert "(time budget)" in result.output and "test" in result.output and "wrote checkpoint" in result.output
    assert "training steps 0.5 s, validation 0.0 s" in result.output  # five steps, then the budget left no room for a sixth
    assert re.search(r"; 0\.\d+ epochs \(time budget\)", result.output), result.output  # a share of one epoch, not "1 epochs"


def corpus_folder(root, train_text):
    root.mkdir()
    (root / "train.txt").write_text(train_text)
    (root / "valid.txt").write_text("a b c\n")
    (root / "test.txt").write_text("a b c\n")
    return root


@pytest.mark.parametrize("args, pattern", [
    (["rnn", "train", "{tmp}/empty"], "empty corpus"),
    (["rnn", "train", "{tmp}/onetoken"], "training split is too small"),
    (["rnn", "eval", "--checkpoint", "{ckpt}", "{tmp}/other.txt", "--max-vocab", "5"], "is scored under its own vocabulary"),
    (["rnn", "train", "{corpus}", "--min-count", "2", "--checkpoint", "{ckpt}", "--resume"], "another vocabulary"),
    (["rnn", "train", "{corpus}", *TINY_NET[:2], "--hidden-size", "16", *TINY_NET[4:], "--checkpoint", "{ckpt}", "--resume"],
     "another architecture"),
    (["rnn", "train", "{corpus}", "--checkpoint", "{tmp}/missing.pt", "--resume"], "no such checkpoint"),
    (["rnn", "eval", "--checkpoint", "{tmp}/junk.pt"], "not an lmstats RNN checkpoint"),
    (["rnn", "train", "{corpus}", "--softmax", "adaptive"], "cutoffs"),
    (["rnn", "train", "{corpus}", "--cutoffs", "x"], "--cutoffs takes"),
    (["rnn", "train", "{corpus}", "--cell", "scratch", "--layers", "2"], "one layer"),
    (["rnn", "generate", "--checkpoint", "{ckpt}", "--temperature", "0"], "temperature"),
    (["rnn", "train", "{corpus}", "--checkpoint", "{ckpt}"], "exists and would be overwritten; add --resume"),
    (["rnn", "train", "{corpus}", "--checkpoint", "{corpus}", "--force"], "is an input of this command"),
    (["rnn", "train", "{corpus}", "--checkpoint", "/proc/lmstats-test/m.pt"], "cannot write in /proc"),
    (["rnn", "eval", "--checkpoint", "{ckpt}", "--level", "char"], "--level would be ignored: CORPUS options apply only to a CORPUS"),
    (["rnn", "train", "{corpus}", "--device", "cuda"], "no CUDA GPU"),
])
def test_bad_input_one_line_exit_2(trained, tmp_path, args, pattern):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    corpus, ckpt, _ = trained
    before = (corpus.read_bytes(), ckpt.read_bytes())
    corpus_folder(tmp_path / "empty", "\n\n")
    corpus_folder(tmp_path / "onetoken", "word\n")
    (tmp_path / "other.txt").write_text("\n".join(f"other words in line {i}" for i in range(40)) + "\n")
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    result = CliRunner().invoke(main, [a.format(tmp=tmp_path, ckpt=ckpt, corpus=corpus) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lmstats: error: "), result.output
    assert pattern.lower() in lines[0].lower()
    assert (corpus.read_bytes(), ckpt.read_bytes()) == before  # the corpus and the checkpoint are untouched


def test_force_overwrites_a_checkpoint(trained, tmp_path):
    corpus, ckpt, _ = trained
    path = tmp_path / "f.pt"
    path.write_bytes(ckpt.read_bytes())
    result = run(["rnn", "train", str(corpus), *TINY_NET, "--epochs", "1", "--checkpoint", str(path), "--force", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["history"]["epochs"]) == 1 and "resumed" not in result.stderr


def test_defaults_are_the_recipe(trained):
    """No training options: SGD at lr 20, cosine, line starts, a validation sample, sparse-friendly; the time split is reported."""
    corpus, ckpt, data = trained
    c = data["config"]
    assert (c["optimizer"], c["lr"], c["lr_schedule"], c["clip"], c["dropout"]) == ("sgd", 20.0, "cosine", 0.25, 0.2)
    assert c["start_share"] == 0.2 and c["valid_tokens"] == 50_000 and c["softmax"] == "full"  # 15 types: full softmax
    times = data["time_split"]
    assert {"prepare_s", "train_s", "valid_s", "checkpoint_s", "other_s", "final_scoring_s"} <= set(times)
    assert {k: times[k] for k in data["history"]["time_split"]} == data["history"]["time_split"]  # the history's own split
    assert data["history"]["best_epoch"] in (1, 2)


@pytest.mark.slow
def test_softmax_auto_is_adaptive_above_10k_types(tmp_path):
    corpus = tmp_path / "many.txt"
    words = [f"w{i}" for i in range(12_000)]
    corpus.write_text("\n".join(" ".join(words[i : i + 50]) for i in range(0, len(words), 50)) * 3 + "\n")
    args = ["rnn", "train", str(corpus), *TINY_NET, "--hidden-size", "16", "--epochs", "1", "--json", "--mode", "stream"]
    result = run(args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["vocab_size"] > 10_000 and data["config"]["softmax"] == "adaptive"
    result = run([*args, "--softmax", "full", "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["softmax"] == "full"


def test_a_checkpoint_scores_another_corpus_under_its_own_vocabulary(trained, tmp_path):
    """CORPUS with rnn eval: the text is encoded with the checkpoint's vocabulary, unknown words as <unk>."""
    _, ckpt, _ = trained
    other = tmp_path / "other.txt"
    other.write_text("".join(f"a completely different line {i}\n" for i in range(40)))
    result = run(["rnn", "eval", str(other), "--checkpoint", str(ckpt), "--mode", "sentence", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    test = data["results"]["test"]["sentence"]
    assert test["n_oov"] > 0 and test["ppl"] > 0 and data["vocab_size"] == json.loads(
        run(["rnn", "eval", "--checkpoint", str(ckpt), "--mode", "sentence", "--json"]).stdout)["vocab_size"]
