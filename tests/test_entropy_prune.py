"""Relative-entropy pruning (Stolcke 1998, SRILM's ngram -prune): a hand-computed model, the sums-to-1
invariant, KenLM reading the pruned ARPA, θ = 0, monotony in θ, storage, the fit option, bad input,
and WikiText-2 perplexities at a few thresholds."""

import json
import math
from itertools import pairwise

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import CorpusSpec, EncodedSplit, Lines, LmstatsError, MarkovSource, SourceConfig, Vocab, evaluate, load_corpus
from lmstats.cli import main
from lmstats.ngram import NgramLM
from lmstats.ngram.arpa import write_arpa
from lmstats.ngram.arpa_reader import read_arpa
from lmstats.ngram.counts import NgramCounts, OrderTable
from lmstats.ngram.entropy_prune import entropy_increases, prune_entropy
from lmstats.ngram.smoothing import Estimate
from lmstats.units import scored_units

from helpers import assert_one_line_error, assert_same_tables, shared_corpus
from oracles import log10_sentence_scores

BACKOFF_SMOOTHERS = [("eps", {"eps": (0.5, 1.0, 2.0, 4.0)}), ("wb", {}), ("abs", {}), ("kn", {}), ("mkn", {})]


def synthetic(n_tokens=6000, seed=3):
    """Sentences from a seeded Markov source: enough repeated n-grams for pruning to have choices."""
    src = MarkovSource(SourceConfig(vocab_size=40, n_classes=5, order=2, branching=3, mean_words=8, seed=seed))
    return [[src.words[r] for r in s] for s in src.sample(n_tokens, np.random.default_rng(seed))]


def encoded(sentences, vocab, name="train"):
    return EncodedSplit(name, Lines.from_seqs([vocab.encode(s) for s in sentences]), vocab)


def fitted(smoothing="mkn", order=4, mode="sentence", **kw):
    sentences = synthetic()
    vocab = Vocab.build(sentences)
    return NgramLM(vocab, order, smoothing, mode=mode, **kw).fit(encoded(sentences, vocab)), sentences


def sizes(model):
    return [len(t) for t in model.counts_.tables]


# -- a model small enough to prune by hand -------------------------------------------------------------
# vocab <unk>0 <s>1 </s>2 a3 b4; unigrams P(<unk>) .1, P(</s>) .2, P(a) .4, P(b) .3 (sum 1 over the predictable set).
# bigrams P(a|<s>) .6, P(b|<s>) .25, P(b|a) .5; trigram P(b|<s> a) .9.  Backoff weights, 1 - Σ stored P over
# 1 - Σ lower P: α(<s>) = .15/.3 = .5, α(a) = .5/.7, α(<s> a) = .1/(1 - P(b|a)) = .2; every other context 1.
def hand_model():
    vocab = Vocab.build([["a", "b"]])
    V, bos, eos, a, b = len(vocab), vocab.bos_id, vocab.eos_id, vocab.id("a"), vocab.id("b")
    unigram = OrderTable(1, np.arange(V), np.ones(V, dtype=np.int64), np.full(V, -1), np.arange(V))
    bigram_words = [(bos, a), (bos, b), (a, b)]  # sorted by key = first * V + second
    bigrams = OrderTable(2, np.array([h * V + w for h, w in bigram_words]), np.ones(3, dtype=np.int64),
                         np.array([w for _, w in bigram_words]), np.array([h for h, _ in bigram_words]))
    trigrams = OrderTable(3, np.array([0 * V + b]), np.ones(1, dtype=np.int64), np.array([2]), np.array([bos]))  # context row 0 = <s> a
    p1 = np.zeros(V)
    p1[[vocab.unk_id, eos, a, b]] = [0.1, 0.2, 0.4, 0.3]
    alpha1 = np.ones(V)
    alpha1[[bos, a]] = [0.5, 0.5 / 0.7]
    est = Estimate((p1, np.array([0.6, 0.25, 0.5]), np.array([0.9])), (alpha1, np.array([0.2, 1.0, 1.0])), "lower", 1.0, True)
    return NgramLM.from_estimate(vocab, NgramCounts(V, bos, (unigram, bigrams, trigrams), 1), est, smoothing="arpa")


def prob(model, context, word):
    ids = np.append(model.vocab.encode(context), model.vocab.id(word)).astype(np.int64)  # P(word | <s> context)
    return math.exp(model.logprobs(ids)[-1])


def test_hand_computed_increases_and_which_n_grams_go():
    model = hand_model()
    # ΔH = -p(h) [P(w|h) (ln P(w|h') + ln α'(h) - ln P(w|h)) + N(h) (ln α'(h) - ln α(h))], α'(h) = (N(h) + P(w|h)) / (D(h) + P(w|h'))
    # <s> b: p(<s>) = P(</s>) = .2, N = .15, D = .3, α' = .4/.6
    d_sb = -0.2 * (0.25 * math.log(0.3 * (2 / 3) / 0.25) + 0.15 * math.log((2 / 3) / 0.5))
    # <s> a: α' = .75/.7
    d_sa = -0.2 * (0.6 * math.log(0.4 * (0.75 / 0.7) / 0.6) + 0.15 * math.log((0.75 / 0.7) / 0.5))
    # a b: p(a) = .4, N = .5, D = .7, α' = 1/1
    d_ab = -0.4 * (0.5 * math.log(0.3 / 0.5) + 0.5 * math.log(1 / (0.5 / 0.7)))
    # <s> a b: p(<s> a) = P(</s>) P(a|<s>) = .12, N = .1, D = .5, α' = 1/1
    d_sab = -0.12 * (0.9 * math.log(0.5 / 0.9) + 0.1 * math.log(1 / 0.2))
    assert [d_sb, d_sa, d_ab, d_sab] == pytest.approx([0.0025267, 0.0175125, 0.0348707, 0.0441677], abs=1e-7)
    bigrams, trigrams = entropy_increases(model)
    np.testing.assert_allclose(bigrams, [d_sa, d_sb, d_ab], rtol=1e-12)  # rows: <s> a, <s> b, a b
    np.testing.assert_allclose(trigrams, [d_sab], rtol=1e-12)
    # dropped when exp(ΔH) - 1 < θ; exp(ΔH) - 1 = .00253, .01767, .03549, .04516
    assert sizes(prune_entropy(model, 0.001)) == [5, 3, 1]
    at_01 = prune_entropy(model, 0.01)  # <s> b goes
    assert sizes(at_01) == [5, 2, 1]
    assert prob(at_01, [], "a") == pytest.approx(0.6)  # stored: kept as it is
    assert prob(at_01, [], "b") == pytest.approx(0.4 / 0.6 * 0.3)  # after <s>: α'(<s>) = (1 - .6) / (1 - .4), times P(b)
    assert prob(at_01, [], "</s>") == pytest.approx(0.4 / 0.6 * 0.2)
    assert prob(at_01, ["a"], "b") == pytest.approx(0.9)  # the trigram stays
    # <s> a is under θ = .02 but is the context of the kept trigram; a b is under .04 but is its suffix: both stay
    assert sizes(prune_entropy(model, 0.02)) == sizes(prune_entropy(model, 0.04)) == [5, 2, 1]
    at_05 = prune_entropy(model, 0.05)  # the trigram goes, and with it everything above the unigrams
    assert sizes(at_05) == [5, 0, 0]
    assert prob(at_05, ["a"], "b") == pytest.approx(0.3) and prob(at_05, [], "a") == pytest.approx(0.4)
    assert all(np.all(np.asarray(b) == 1.0) for b in at_05.estimate_.backoffs)


def test_a_removal_that_changes_nothing_is_dropped_at_any_positive_theta_and_kept_at_zero():
    """P(w|h) equal to its backoff estimate α'(h) P(w|h') gives ΔH = 0: SRILM drops it for every θ > 0."""
    model = hand_model()
    model.estimate_.probs[1][1] = 0.2  # P(b|<s>) = .2: N(<s>) = .2, α(<s>) = .2/.3 = α'(<s>) = .4/.6
    model.estimate_.backoffs[0][model.vocab.bos_id] = 0.2 / 0.3
    assert entropy_increases(model)[0][1] == pytest.approx(0.0, abs=1e-15)
    assert sizes(prune_entropy(model, 1e-12)) == [5, 2, 1] and sizes(prune_entropy(model, 0.0)) == [5, 3, 1]


def assert_sums_to_one(model, contexts):
    predictable = model.vocab.predictable_ids
    for ctx in contexts:
        units = Lines.from_seqs([np.append(ctx, w) for w in predictable])
        total = np.exp(model.logprobs_lines(units)[units.bounds[1:] - 1]).sum()
        assert total == pytest.approx(1.0, abs=1e-9), (ctx, total)


@pytest.mark.parametrize("smoothing, kw", BACKOFF_SMOOTHERS)
@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_every_context_sums_to_one_after_pruning(smoothing, kw, mode):
    model, sentences = fitted(smoothing, mode=mode, **kw)
    pruned = prune_entropy(model, 2e-4)
    assert all(a < b for a, b in zip(sizes(pruned)[1:], sizes(model)[1:], strict=True)), (sizes(pruned), sizes(model))
    assert sizes(pruned)[1] > 0
    vocab = model.vocab
    rng = np.random.default_rng(0)
    text = np.concatenate([vocab.encode(s) for s in sentences])
    starts = rng.choice(len(text) - 4, 40, replace=False)
    contexts = [[]] + [text[s : s + n] for s, n in zip(starts, rng.integers(1, 4, len(starts)), strict=True)]
    contexts += [vocab.encode(["<unk>", "<unk>"]), vocab.encode([sentences[0][0], "<unk>", sentences[1][0]])]
    assert_sums_to_one(pruned, contexts)
    # the n-grams that stay keep their probabilities
    units = scored_units(encoded(sentences[:50], vocab), mode)
    kept = pruned.logprobs_lines(units) == model.logprobs_lines(units)
    assert 0 < kept.mean() < 1


def test_theta_zero_prunes_nothing():
    model, _ = fitted("kn")
    same = prune_entropy(model, 0.0)
    assert_same_tables(same.counts_, model.counts_)
    for ours, theirs in zip(same.estimate_.probs + same.estimate_.backoffs, model.estimate_.probs + model.estimate_.backoffs, strict=True):
        assert np.array_equal(ours, theirs)


def test_a_larger_theta_prunes_more():
    model, sentences = fitted("mkn")
    counts = [sizes(prune_entropy(model, theta)) for theta in (0.0, 1e-5, 1e-4, 3e-4, 1e-3, 1e-2)]
    for smaller, larger in pairwise(counts):
        assert all(b <= a for a, b in zip(smaller, larger, strict=True)), counts
    assert counts[-1][1:] < counts[0][1:] and counts[0] == sizes(model)
    test = encoded(sentences[-100:], model.vocab, "test")
    ppl = [evaluate(prune_entropy(model, theta), test).ppl for theta in (0.0, 1e-2)]
    assert ppl[1] > ppl[0]  # on text the model was fitted on, dropping n-grams costs perplexity


def test_kenlm_and_our_reader_read_the_pruned_arpa(tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="the kenlm module is a test extra: pip install -e '.[test]'")
    model, sentences = fitted("mkn")
    pruned = prune_entropy(model, 1e-4)
    write_arpa(pruned, tmp_path / "p.arpa")
    test = sentences[-60:]
    units = scored_units(encoded(test, model.vocab, "test"), "sentence")
    ken = kenlm.Model(str(tmp_path / "p.arpa"))
    theirs = [sum(p for p, _, _ in ken.full_scores(" ".join(s), bos=True, eos=True)) for s in test]
    np.testing.assert_allclose(log10_sentence_scores(pruned, units), theirs, atol=1e-4)
    assert not np.allclose(log10_sentence_scores(model, units), theirs, atol=1e-4)  # the check has teeth
    again = read_arpa(tmp_path / "p.arpa", vocab=model.vocab)  # every context and suffix is there
    np.testing.assert_allclose(again.logprobs_lines(units), pruned.logprobs_lines(units), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["folder", "m.npz"])
def test_the_pruned_model_saves_loads_and_refuses_to_be_smoothed_again(tmp_path, name):
    model, sentences = fitted("mkn", order=3)
    pruned = prune_entropy(model, 1e-4)
    pruned.save(tmp_path / name)
    again = NgramLM.load(tmp_path / name)
    assert again.params() == pruned.params() and again.prune_entropy == 1e-4 and again.describe()["prune_entropy"] == 1e-4
    assert sizes(again) == sizes(pruned) and "prune_entropy" not in model.describe()
    units = scored_units(encoded(sentences[:40], model.vocab), "sentence")
    np.testing.assert_array_equal(again.logprobs_lines(units), pruned.logprobs_lines(units))
    for call in (lambda m: m.resmooth(smoothing="kn"), lambda m: m.with_order(2)):
        with pytest.raises(LmstatsError, match="pruned by relative entropy"):
            call(again)
    assert prune_entropy(pruned, 1e-5).prune_entropy == 1e-4  # pruning again at a smaller θ records the larger one


def test_the_fit_option_prunes_as_the_function_does_in_memory_and_out_of_core(tmp_path, monkeypatch):
    import lmstats.ngram.plan as plan
    from lmstats.resources import current_rss

    sentences = synthetic()
    vocab = Vocab.build(sentences)
    split = encoded(sentences, vocab)
    after = prune_entropy(NgramLM(vocab, 4, "kn").fit(split), 1e-4)
    during = NgramLM(vocab, 4, "kn", prune_entropy=1e-4).fit(split)
    assert_same_tables(during.counts_, after.counts_)
    assert during.params() == after.params()
    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 10**7)  # counting in memory "needs" more than --memory: out of core
    reports = []
    out_of_core = NgramLM(vocab, 4, "kn", prune_entropy=1e-4).fit(split, memory=current_rss() + (512 << 20), tmp=tmp_path,
                                                                  on_plan=reports.append)
    assert not reports[0].in_memory
    assert_same_tables(out_of_core.counts_, after.counts_)
    for ours, theirs in zip(out_of_core.estimate_.probs + out_of_core.estimate_.backoffs, after.estimate_.probs + after.estimate_.backoffs,
                            strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("theta", [-1e-9, math.nan, math.inf, "often"])
def test_bad_thresholds_are_refused(theta):
    model, _ = fitted("mkn", order=2)
    with pytest.raises(LmstatsError, match="finite number >= 0"):
        prune_entropy(model, theta)
    with pytest.raises(LmstatsError, match="finite number >= 0"):
        NgramLM(model.vocab, 2, prune_entropy=theta)


@pytest.mark.parametrize("smoothing, kw, why", [
    ("laplace", {}, "uniform distribution"), ("lidstone", {"k": 0.1}, "uniform distribution"), ("mle", {}, "probability 0"),
    ("stupid", {}, "0.4"), ("eps", {"eps": 0.5, "eps_variant": "textbook"}, "textbook"),
])
def test_smoothers_arpa_cannot_express_are_refused(smoothing, kw, why):
    with pytest.raises(LmstatsError, match=f"backoff model.*{why}"):
        NgramLM(Vocab.build([["a"]]), 2, smoothing, prune_entropy=1e-8, **kw)
    model, _ = fitted(smoothing, order=2, **kw)
    with pytest.raises(LmstatsError, match=f"backoff model.*{why}"):
        prune_entropy(model, 1e-8)


def test_a_query_only_model_is_refused(tmp_path):
    model, _ = fitted("mkn", order=2)
    model.save(tmp_path / "q", query_only=True)
    with pytest.raises(LmstatsError, match="query-only model keeps no suffix rows"):
        prune_entropy(NgramLM.load(tmp_path / "q"), 1e-8)


def test_cli_prunes_and_refuses_bad_use(tmp_path, text_file):
    base = ["ngram", str(text_file), "--n", "3", "--json", "--eval", "test", "--out", str(tmp_path / "m")]
    full = json.loads(CliRunner().invoke(main, base, catch_exceptions=False).stdout)
    result = CliRunner().invoke(main, [*base[:-1], str(tmp_path / "p"), "--prune-entropy", "0.05"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    pruned = json.loads(result.stdout)
    assert pruned["model"]["prune_entropy"] == 0.05 and "prune_entropy" not in full["model"]
    assert pruned["model"]["ngrams_per_order"][2] < full["model"]["ngrams_per_order"][2]
    assert NgramLM.load(tmp_path / "p").prune_entropy == 0.05
    for value, pattern in (("-1", "finite number >= 0, got -1"), ("nan", "got nan"), ("x", "--prune-entropy: 'x' is not a valid float")):
        assert_one_line_error(CliRunner().invoke(main, ["ngram", str(text_file), "--prune-entropy", value]), pattern)
    assert_one_line_error(CliRunner().invoke(main, ["ngram", str(text_file), "--smoothing", "laplace", "--prune-entropy", "1e-8"]),
                          "--prune-entropy: relative-entropy pruning removes n-grams from a backoff model")
    assert_one_line_error(CliRunner().invoke(main, ["ngram", "--load", str(tmp_path / "m"), "--prune-entropy", "1e-8"]),
                          "--prune-entropy would be ignored: it prunes the model being fitted")


@pytest.mark.slow
def test_wikitext2_perplexity_at_a_few_thresholds(capsys):
    """The WikiText-2 5-gram (MKN) pruned at SRILM's usual thresholds: fewer n-grams, a higher test perplexity
    (reported, asserted only to move the right way)."""
    folder = shared_corpus("wikitext-2")
    corpus = load_corpus(CorpusSpec("wikitext-2"), data_dir=folder.parent)
    vocab = corpus.build_vocab()
    splits = corpus.encode(vocab)
    model = NgramLM(vocab, 5, "mkn").fit(splits["train"])
    rows = [(0.0, sizes(model), evaluate(model, splits["test"]).ppl)]
    for theta in (1e-9, 1e-8, 1e-7):
        pruned = prune_entropy(model, theta)
        rows.append((theta, sizes(pruned), evaluate(pruned, splits["test"]).ppl))
    with capsys.disabled():
        for theta, n, ppl in rows:
            print(f"\nWikiText-2 5-gram mkn, θ = {theta:g}: {sum(n):,} n-grams {n}, test ppl {ppl:.2f}", end="")
    assert rows[0][2] == pytest.approx(224.81, rel=1e-3)
    for (_, n_small, ppl_small), (_, n_large, ppl_large) in pairwise(rows):
        assert sum(n_large) < sum(n_small) and ppl_large > ppl_small
    assert rows[-1][2] < 1.2 * rows[0][2]


def test_a_model_read_from_an_arpa_file_prunes_as_the_model_that_wrote_it(tmp_path):
    """SRILM's use: prune an ARPA file made elsewhere (here lmstats' own, read back under the same vocabulary)."""
    model, sentences = fitted("mkn")
    write_arpa(model, tmp_path / "m.arpa")
    from_arpa = prune_entropy(read_arpa(tmp_path / "m.arpa", vocab=model.vocab), 1e-4)
    direct = prune_entropy(model, 1e-4)
    assert sizes(from_arpa) == sizes(direct) and from_arpa.smoothing == "arpa"
    units = scored_units(encoded(sentences[:40], model.vocab), "sentence")
    np.testing.assert_allclose(from_arpa.logprobs_lines(units), direct.logprobs_lines(units), rtol=0, atol=1e-8)
