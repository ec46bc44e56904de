"""Mixtures: the interpolation formula by hand, EM by hand and against a 1-D optimiser, the invariants
(sums to 1, the simplex, EM never worse, a model mixed with itself), and ``lmstats mix`` end to end."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.optimize import minimize_scalar

from lmstats import EncodedSplit, LanguageModel, Lines, LmstatsError, Mixture, UniformLM, Vocab, evaluate, tune_weights
from lmstats.cli import main
from lmstats.mixture import mix_logprobs
from lmstats.ngram.model import NgramLM

from helpers import assert_one_line_error

CORPUS = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the mat was red",
    "on the log sat a frog", "the frog and the cat", "a red dog sat", "the cat the cat the cat",
]]


class FixedLM(LanguageModel):
    """P(w | anything) = probs[w]: a context-free model whose values a test can compute by hand."""

    def __init__(self, vocab: Vocab, probs: np.ndarray):
        self._vocab, self.probs = vocab, probs

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def logprobs(self, ids):
        with np.errstate(divide="ignore"):
            return np.log(self.probs[np.asarray(ids)])


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.build(CORPUS)


@pytest.fixture(scope="module")
def split(vocab) -> EncodedSplit:
    return EncodedSplit("valid", Lines.from_seqs([vocab.encode(s) for s in CORPUS]), vocab)


def fitted(vocab, split, smoothing, order, **kw):
    return NgramLM(vocab, order, smoothing, **kw).fit(EncodedSplit("train", split.lines, vocab))


def unigram_probs(vocab, weights_by_token: dict[str, float]) -> np.ndarray:
    probs = np.zeros(len(vocab))
    for token, p in weights_by_token.items():
        probs[vocab.id(token)] = p
    return probs


def test_two_models_by_hand(vocab):
    predictable = vocab.predictable_ids
    uniform = UniformLM(vocab)
    probs = unigram_probs(vocab, {"the": 0.5, "cat": 0.25, "</s>": 0.25})
    mixture = Mixture([uniform, FixedLM(vocab, probs)], [0.3, 0.7])
    ids = np.append(vocab.encode(["the", "cat", "dog"]), vocab.eos_id)
    expected = [0.3 / len(predictable) + 0.7 * 0.5, 0.3 / len(predictable) + 0.7 * 0.25, 0.3 / len(predictable),
                0.3 / len(predictable) + 0.7 * 0.25]
    assert np.exp(mixture.logprobs(ids)) == pytest.approx(expected, rel=1e-12)
    lines = Lines.from_seqs([ids[:2], ids[2:]])
    assert mixture.logprobs_lines(lines) == pytest.approx(mixture.logprobs(ids), rel=1e-12)


def test_log_space_sum_keeps_tiny_probabilities_and_zero_weights():
    lp = np.array([[-2000.0, -1.0, -np.inf], [-2001.0, -np.inf, -np.inf]])
    out = mix_logprobs(lp, np.array([0.5, 0.5]))
    assert out[0] == pytest.approx(-2000.0 + math.log(0.5 * (1 + math.exp(-1))), rel=1e-15)  # exp(-2000) underflows
    assert out[1] == pytest.approx(math.log(0.5) - 1.0) and out[2] == -np.inf
    assert mix_logprobs(lp[:, :2], np.array([1.0, 0.0])) == pytest.approx(lp[0, :2])


def test_a_model_mixed_with_itself_has_its_own_perplexity(vocab, split):
    model = fitted(vocab, split, "mkn", 3)
    alone = evaluate(model, split, mode="sentence")
    for weights in ([0.5, 0.5], [0.9, 0.1], [0.0, 1.0]):
        mixed = evaluate(Mixture([model, model], weights), split, mode="sentence")
        assert mixed.nll_sum == pytest.approx(alone.nll_sum, rel=1e-12)


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.2, 0.8], [0.25, 0.25, 0.5]])
def test_probabilities_sum_to_one_for_every_context(vocab, split, weights):
    components = [fitted(vocab, split, "mkn", 3), fitted(vocab, split, "lidstone", 2, k=0.1), UniformLM(vocab)][:len(weights)]
    inner = Mixture(components, weights)
    for model in (inner, Mixture([inner, fitted(vocab, split, "wb", 4)], [0.6, 0.4])):  # a mixture of a mixture too
        assert model.is_distribution
        for ctx in ([], ["the"], ["the", "cat"], ["zebra", "a"], ["on", "the", "log"]):
            units = Lines.from_seqs([np.append(vocab.encode(ctx), w) for w in vocab.predictable_ids])
            last = model.logprobs_lines(units)[units.bounds[1:] - 1]
            assert np.exp(last).sum() == pytest.approx(1.0, abs=1e-9), ctx


def test_a_component_that_is_not_a_distribution_makes_the_mixture_not_one(vocab, split):
    assert not Mixture([fitted(vocab, split, "stupid", 3), UniformLM(vocab)]).is_distribution


def test_em_one_iteration_by_hand():
    # token 1: P1 = 0.4, P2 = 0.1; token 2: P1 = P2 = 0.2; start (0.5, 0.5)
    # posteriors of model 1: 0.2/(0.2+0.05) = 0.8 and 0.1/(0.1+0.1) = 0.5, so λ1 = 0.65
    lp = np.log([[0.4, 0.2], [0.1, 0.2]])
    seen = []
    fit = tune_weights(lp, max_iter=1, on_iteration=lambda i, w, ppl: seen.append((i, tuple(w), ppl)))
    assert fit.weights == pytest.approx((0.65, 0.35), abs=1e-15) and fit.iterations == 1 and not fit.converged
    ppl_after = math.exp(-0.5 * (math.log(0.65 * 0.4 + 0.35 * 0.1) + math.log(0.2)))
    assert fit.ppl_history == pytest.approx((math.exp(-0.5 * (math.log(0.25) + math.log(0.2))), ppl_after))
    assert seen == [(1, pytest.approx((0.65, 0.35)), pytest.approx(ppl_after))]


def test_em_reaches_the_likelihood_maximum_and_never_gets_worse(rng):
    n = 5000
    p1 = rng.uniform(0.01, 0.5, n)
    p2 = np.where(rng.random(n) < 0.3, rng.uniform(0.2, 0.9, n), rng.uniform(0.001, 0.05, n))
    lp = np.log(np.stack([p1, p2]))
    fit = tune_weights(lp, tol=1e-9)
    assert fit.converged and sum(fit.weights) == pytest.approx(1.0, abs=1e-12) and min(fit.weights) >= 0
    assert all(b <= a * (1 + 1e-12) for a, b in pairwise(fit.ppl_history))
    best = minimize_scalar(lambda w: -np.log(w * p1 + (1 - w) * p2).mean(), bounds=(0, 1), method="bounded",
                           options={"xatol": 1e-10})
    assert fit.weights[0] == pytest.approx(best.x, abs=1e-5)


def test_em_with_three_components_stays_on_the_simplex(rng):
    lp = np.log(rng.dirichlet(np.ones(4), size=(3, 300))[..., 0] + 1e-9)
    seen = []
    fit = tune_weights(lp, start=[0.7, 0.2, 0.1], tol=1e-7, on_iteration=lambda i, w, ppl: seen.append(w.copy()))
    for w in seen:
        assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert all(b <= a * (1 + 1e-12) for a, b in pairwise(fit.ppl_history))


def test_em_weights_beat_every_corner_on_held_out_text(vocab):
    train = EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in CORPUS[:6]]), vocab)
    held_out = Lines.from_seqs([vocab.encode(s) for s in CORPUS[6:]]).with_eos(vocab.eos_id)
    a, b = NgramLM(vocab, 3, "mkn").fit(train), NgramLM(vocab, 1, "lidstone", k=1.0).fit(train)
    lp = np.stack([a.logprobs_lines(held_out), b.logprobs_lines(held_out)])
    fit = tune_weights(lp, tol=1e-8)
    corners = [math.exp(-row.mean()) for row in lp]
    assert 0.01 < fit.weights[0] < 0.99  # an inner optimum: the mixture is better than either model
    assert fit.ppl < min(corners) * (1 - 1e-3)
    # at a corner optimum (a model scored on its own training text) EM creeps towards the corner:
    # it stops within its tolerance of it, never above the starting point
    own = np.stack([a.logprobs_lines(train.lines.with_eos(vocab.eos_id)), b.logprobs_lines(train.lines.with_eos(vocab.eos_id))])
    creep = tune_weights(own)
    assert creep.weights[0] > 0.999 and creep.ppl <= math.exp(-own[0].mean()) * (1 + 1e-5)


@pytest.mark.parametrize("weights, message", [
    ([0.5, 0.6], "sum to 1"), ([1.5, -0.5], ">= 0"), ([1.0], "needs 2 weights"), ([math.nan, 1.0], "finite"),
])
def test_bad_weights_are_refused(vocab, weights, message):
    with pytest.raises(LmstatsError, match=message):
        Mixture([UniformLM(vocab), UniformLM(vocab)], weights)


def test_components_under_other_vocabularies_are_refused(vocab):
    other = Vocab.build([["x", "y"]])
    with pytest.raises(LmstatsError, match="another vocabulary"):
        Mixture([UniformLM(vocab), UniformLM(other)])


def test_every_component_giving_zero_cannot_be_tuned():
    with pytest.raises(LmstatsError, match="probability 0 under every component"):
        tune_weights(np.array([[-1.0, -np.inf], [-2.0, -np.inf]]))


# ---- lmstats mix --------------------------------------------------------------------------------------------------


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Three n-gram models of one 60-line corpus (folder, .npz, ARPA) and a 4-gram of another corpus."""
    folder = tmp_path_factory.mktemp("mix")
    corpus = folder / "small.txt"
    words = "the cat sat on mat and dog ran a red frog log was".split()
    gen = np.random.default_rng(3)
    corpus.write_text("\n".join(" ".join(gen.choice(words, size=gen.integers(3, 12))) for _ in range(60)) + "\n")
    paths = {"mkn": folder / "mkn3", "add": folder / "add1.npz", "arpa": folder / "kn2.arpa"}
    for args in (["--n", "3", "--out", paths["mkn"]], ["--n", "1", "--smoothing", "lidstone", "--k", "0.5", "--out", paths["add"]],
                 ["--n", "2", "--smoothing", "kn", "--out", folder / "kn2", "--arpa", paths["arpa"]]):
        result = run(["ngram", corpus, *args, "--json"])
        assert result.exit_code == 0, result.output
    other = folder / "other.txt"
    other.write_text("\n".join(f"x y z {i}" for i in range(40)) + "\n")
    assert run(["ngram", other, "--n", "2", "--out", folder / "other2"]).exit_code == 0
    return folder, corpus, paths


def mix_json(*args):
    result = run(["mix", *args, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_mix_tunes_weights_and_beats_its_components_on_valid(saved):
    folder, corpus, paths = saved
    data = mix_json(paths["mkn"], paths["add"])
    for mode in ("sentence", "stream"):
        fit = data["tuned"][mode]
        assert fit["converged"] and sum(fit["weights"]) == pytest.approx(1.0)
        history = fit["valid_ppl_history"]
        assert all(b <= a * (1 + 1e-12) for a, b in pairwise(history))
        valid = data["results"]["valid"][mode]
        assert valid["ppl"] <= valid["best_component_ppl"] * (1 + 1e-5) and valid["weights"] == fit["weights"]
        assert valid["ppl"] == pytest.approx(history[-1], rel=1e-12)
    # the components' figures are the evaluator's figures for each model alone
    alone = json.loads(run(["ngram", "--load", paths["mkn"], "--json"]).stdout)["results"]["test"]["sentence"]
    assert data["results"]["test"]["sentence"]["components"][0]["ppl"] == pytest.approx(alone["ppl"], rel=1e-12)
    for mode, unit in (("sentence", "line"), ("stream", "block of 16 tokens")):  # the statistics a paper cites (a short text)
        test = data["results"]["test"][mode]
        ci, vs = test["ppl_interval"], test["best_vs_mixture"]
        assert ci["low"] < test["ppl"] < ci["high"] and ci["unit"] == unit
        assert vs["ppl_b"] == pytest.approx(test["ppl"]) and vs["ppl_a"] == pytest.approx(test["best_component_ppl"])
        assert vs["low"] <= vs["difference"] <= vs["high"] and 0 <= vs["p_value"] <= 1
    assert data["results"]["test"]["sentence"]["ppl_interval"]["units"] == alone["n_units"]


def test_fixed_weights_one_and_zero_give_the_first_model(saved):
    folder, corpus, paths = saved
    data = mix_json(paths["mkn"], paths["add"], "--weights", "1,0", "--mode", "sentence")
    assert data["tuned"] is None
    test = data["results"]["test"]["sentence"]
    assert test["ppl"] == pytest.approx(test["components"][0]["ppl"], rel=1e-12) and test["gain_pct"] <= 1e-9


def test_a_written_mixture_is_a_model_again(saved, tmp_path):
    folder, corpus, paths = saved
    out = tmp_path / "mix.json"
    first = mix_json(paths["mkn"], paths["add"], "--mode", "sentence", "--out", out)
    stored = json.loads(out.read_text())
    assert [c["weight"] for c in stored["components"]] == pytest.approx(first["tuned"]["sentence"]["weights"])
    # the mixture and a uniform-weighted copy of its first component: weights 1,0 give the mixture's own figures
    again = mix_json(out, paths["mkn"], "--weights", "1,0", "--mode", "sentence")
    assert again["results"]["test"]["sentence"]["ppl"] == pytest.approx(first["results"]["test"]["sentence"]["ppl"], rel=1e-12)
    assert again["models"][0]["kind"] == "mixture"


def test_arpa_components_read_under_the_other_models_vocabulary(saved):
    folder, corpus, paths = saved
    data = mix_json(paths["mkn"], paths["arpa"], "--mode", "sentence")
    kn2 = json.loads(run(["ngram", "--load", folder / "kn2", "--json"]).stdout)["results"]["test"]["sentence"]["ppl"]
    assert data["results"]["test"]["sentence"]["components"][1]["ppl"] == pytest.approx(kn2, rel=1e-6)  # ARPA keeps 6-7 digits


def test_text_output_names_models_weights_and_gain(saved):
    folder, corpus, paths = saved
    result = run(["mix", paths["mkn"], paths["add"], "--mode", "stream"])
    assert result.exit_code == 0, result.output
    assert "weights tuned on valid (stream mode)" in result.stdout and "gain" in result.stdout
    assert "test stream: mixture" in result.stdout and "best model minus mixture" in result.stdout
    assert "iteration 1: weights" in result.stderr  # EM prints each iteration


def test_a_broken_mixture_file_is_one_error_line(saved, tmp_path):
    folder, corpus, paths = saved
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "lmstats-mixture", "version": 1, "components": [{"weight": 1.0}]}))
    assert_one_line_error(CliRunner().invoke(main, ["mix", str(broken), str(paths["mkn"])]), "each with a")


@pytest.mark.parametrize("args, pattern", [
    (["{mkn}"], "at least two MODELs"),
    (["{mkn}", "{add}", "--weights", "0.5,0.6"], "sum to 1"),
    (["{mkn}", "{add}", "--weights", "a,b"], "one number per model"),
    (["{mkn}", "{folder}/missing.npz"], "no such model"),
    (["{mkn}", "{folder}/small.txt"], "not a model lmstats can open"),
    (["{arpa}", "{arpa}"], "ARPA files and caches alone"),
    (["{mkn}", "{folder}/other2"], "different corpora"),
    (["{mkn}", "{add}", "--out", "{folder}/small.txt"], "is an input"),
])
def test_bad_input_is_one_error_line(saved, args, pattern):
    folder, corpus, paths = saved
    filled = [a.format(folder=folder, **paths) for a in args]
    result = CliRunner().invoke(main, ["mix", *filled])
    assert_one_line_error(result, pattern)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_an_rnn_checkpoint_mixes_with_an_ngram_model(saved, tmp_path):
    folder, corpus, paths = saved
    ckpt = tmp_path / "tiny.pt"
    trained = run(["rnn", "train", corpus, "--embed-size", "8", "--hidden-size", "8", "--seq-len", "8", "--batch-size", "4",
                   "--layers", "1", "--epochs", "1", "--checkpoint", ckpt, "--json"])
    assert trained.exit_code == 0, trained.output
    alone = json.loads(trained.stdout)["results"]["test"]
    data = mix_json(ckpt, paths["mkn"], "--threads", "1")
    assert data["models"][0]["kind"] == "rnn" and data["models"][0]["model"].startswith("LSTM 1×8")
    for mode in ("sentence", "stream"):
        test = data["results"]["test"][mode]
        assert test["components"][0]["ppl"] == pytest.approx(alone[mode]["ppl"], rel=1e-9)  # the evaluator's figure
        assert test["bits_per_char"] is not None and test["n_chars"] == alone[mode]["n_chars"]


def bursty_corpus(tmp_path):
    """Lines that repeat their own topic's words, and a trigram model of them at tmp_path/m3."""
    gen = np.random.default_rng(4)
    topics = [[f"t{i}w{j}" for j in range(6)] for i in range(40)]
    common = "the a of and to in is was".split()
    lines = []
    for _ in range(400):
        topic = topics[gen.integers(len(topics))]
        lines.append(" ".join(gen.choice(topic if gen.random() < 0.5 else common) for _ in range(gen.integers(10, 25))))
    corpus = tmp_path / "bursty.txt"
    corpus.write_text("\n".join(lines) + "\n")
    assert run(["ngram", corpus, "--n", "3", "--out", tmp_path / "m3"]).exit_code == 0
    return corpus


def test_a_cache_mixes_with_a_model_and_is_saved_with_the_mixture(tmp_path):
    """The unigram cache (cache:W, lmstats.cache) takes weight from EM on valid and lowers the trigram's test perplexity
    of a bursty text; a mixture with a cache is written and opens again, the cache by name."""
    bursty_corpus(tmp_path)
    data = mix_json(tmp_path / "m3", "cache:30", "--mode", "sentence", "--out", tmp_path / "mix.json")
    assert data["models"][1] == {"path": "cache:30", "kind": "cache", "model": "unigram cache, window 30"}
    test = data["results"]["test"]["sentence"]
    assert data["tuned"]["sentence"]["weights"][1] > 0.05 and test["ppl"] < test["components"][0]["ppl"] * 0.95
    stored = json.loads((tmp_path / "mix.json").read_text())["components"][1]
    assert stored["path"] == "cache:30"
    again = json.loads(run(["score", tmp_path / "mix.json", tmp_path / "bursty.txt", "--json"]).stdout)
    assert again["description"].startswith("mixture of") and "unigram cache, window 30" in again["description"]
    for bad, pattern in (("cache:0", "window"), ("cache:x", "cache:W")):
        assert_one_line_error(CliRunner().invoke(main, ["mix", str(tmp_path / "m3"), bad]), pattern)
    assert_one_line_error(CliRunner().invoke(main, ["mix", "cache:5", "cache:9"]), "caches alone")


@pytest.mark.usefixtures("one_thread")
def test_caches_chosen_on_valid_are_stored_with_the_mixture(tmp_path):
    """``cache`` (its window chosen on valid for this mixture) and ``neural-cache:CKPT`` (window, θ, λ chosen on valid): the
    choices are said, the mixture file stores them, and the file scores the test split as the mix command did."""
    from lmstats.cache import WINDOWS

    corpus = bursty_corpus(tmp_path)
    ckpt = tmp_path / "tiny.pt"
    assert run(["rnn", "train", corpus, "--embed-size", "8", "--hidden-size", "8", "--seq-len", "8", "--batch-size", "4",
                "--layers", "1", "--epochs", "1", "--checkpoint", ckpt]).exit_code == 0
    data = mix_json(tmp_path / "m3", "cache", f"neural-cache:{ckpt}", "--mode", "sentence", "--out", tmp_path / "mix.json")
    unigram, neural = data["chosen"]["sentence"]
    window = int(unigram.removeprefix("unigram cache, window ").replace(",", ""))
    assert window in WINDOWS and neural.startswith("LSTM 1×8 + neural cache (window ")
    assert [c["model"] for c in data["results"]["test"]["sentence"]["components"]][1:] == [unigram, neural]
    stored = json.loads((tmp_path / "mix.json").read_text())["components"]
    assert stored[1]["path"] == f"cache:{window}" and stored[2]["kind"] == "neural-cache" and set(stored[2]["settings"]) == {
        "window", "theta", "lam"}
    again = mix_json(tmp_path / "mix.json", "cache:1", "--weights", "1,0", "--mode", "sentence")  # the stored mixture alone
    assert again["results"]["test"]["sentence"]["components"][0]["ppl"] == pytest.approx(data["results"]["test"]["sentence"]["ppl"],
                                                                                        rel=1e-9)
    assert_one_line_error(CliRunner().invoke(main, ["mix", str(tmp_path / "m3"), f"neural-cache:{tmp_path / 'm3'}"]),
                          "give an RNN checkpoint")


class NotScoredLM(FixedLM):
    """A component whose ln P the caller already knows: scoring it again is the defect under test."""

    def logprobs(self, ids):
        raise AssertionError("a component with known ln P was scored again")


def test_known_logprobs_are_used_instead_of_scoring_again(vocab):
    """score_mixture's ``known``: the components' ln P of an earlier mixture give the same mixture, cache chosen on valid
    included, without scoring those components again (the report's cache stage reuses the mixture stage's)."""
    from lmstats.cache import ChosenCache
    from lmstats.mixture import score_mixture

    def part(name, rows):
        return EncodedSplit(name, Lines.from_seqs([vocab.encode(s) for s in rows]), vocab)

    train = part("train", CORPUS[:5])
    splits = {"valid": part("valid", CORPUS[5:7]), "test": part("test", CORPUS[7:])}
    a, b = NgramLM(vocab, 3, "mkn").fit(train), NgramLM(vocab, 1, "lidstone", k=1.0).fit(train)
    for mode in ("sentence", "stream"):
        pair = score_mixture([a, b], splits, mode)
        fresh = score_mixture([a, b, ChosenCache(vocab, windows=(2, 5))], splits, mode)
        stand_in = NotScoredLM(vocab, np.full(len(vocab), 1.0 / len(vocab)))
        reused = score_mixture([stand_in, stand_in, ChosenCache(vocab, windows=(2, 5))], splits, mode, known=pair.logprobs)
        assert reused.weights == pytest.approx(fresh.weights, abs=1e-12)
        assert reused.results["test"].ppl == pytest.approx(fresh.results["test"].ppl, rel=1e-12)
        assert reused.chosen[2].window == fresh.chosen[2].window
        assert set(pair.logprobs) == {"valid", "test"} and set(pair.logprobs["test"]) == {0, 1}
        assert np.array_equal(reused.logprobs["test"][0], pair.logprobs["test"][0])
