"""The n-gram engine: counting, every smoother by hand, normalisation, persistence, bad input."""

import math

import numpy as np
import pytest

from lmstats import EncodedSplit, Lines, LmstatsError, Vocab, evaluate
from lmstats.ngram import SMOOTHERS, NgramLM, count_ngrams
from lmstats.ngram.counts import KeyIndex

TINY = [["a", "b", "a"], ["c", "a", "b", "d"]]
# vocab: <unk>0 <s>1 </s>2 a3 b4 c5 d6; predictable B = 6
# unigram counts (scored): a3 b2 c1 d1 </s>2, n = 9
# bigrams: <s>a a b(2) b a a</s> <s>c c a b d d</s>; C(<s>)=2 C(a)=3 C(b)=2 C(c)=1 C(d)=1


def fit(smoothing, order=2, sentences=TINY, **kw):
    vocab = Vocab.build(sentences)
    split = EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in sentences]), vocab)
    return NgramLM(vocab, order, smoothing, **kw).fit(split)


def p(model, context, word):
    """P(word | <s> context) through the protocol alone."""
    ids = model.vocab.encode(list(context) + [word]) if word != "</s>" else np.append(model.vocab.encode(list(context)), 2)
    return math.exp(model.logprobs(ids)[-1])


def test_counts_all_orders():
    vocab = Vocab.build(TINY)
    units = Lines.from_seqs([vocab.encode(s) for s in TINY]).with_eos(vocab.eos_id)
    counts = count_ngrams(units, 3, len(vocab), vocab.bos_id)
    assert counts.table(1).counts.tolist() == [0, 2, 2, 3, 2, 1, 1]  # <s> counted once per sentence
    V = len(vocab)
    bigrams = {(int(k // V), int(k % V)): int(c) for k, c in zip(counts.table(2).keys, counts.table(2).counts, strict=True)}
    assert bigrams == {(1, 3): 1, (3, 4): 2, (4, 3): 1, (3, 2): 1, (1, 5): 1, (5, 3): 1, (4, 6): 1, (6, 2): 1}
    assert counts.table(3).counts.sum() == 7  # 9 tokens minus the 2 first tokens of each sentence
    # "<s> a b", "a b a", "b a </s>", "<s> c a", "c a b", "a b d", "b d </s>": all distinct
    assert len(counts.table(3)) == 7
    # suffix rows point to the (k-1)-gram w2..wk
    t3 = counts.table(3)
    suffix_keys = counts.table(2).keys[t3.suffix]
    assert set(zip((suffix_keys // V).tolist(), (suffix_keys % V).tolist(), strict=True)) <= set(bigrams)


def test_hand_computed_bigram_probabilities():
    # laplace: (c + 1) / (C + B)
    assert p(fit("laplace"), "a", "b") == pytest.approx(3 / 9)
    assert p(fit("laplace"), "a", "c") == pytest.approx(1 / 9)
    assert p(fit("lidstone", k=0.5), "a", "b") == pytest.approx(2.5 / 6)
    # mle
    assert p(fit("mle"), "a", "b") == pytest.approx(2 / 3)
    assert p(fit("mle"), "a", "c") == 0.0
    # eps (recursive): P1 = (c + e1/B)/(n + e1); P(b|a) = (2 + e2 P1(b)) / (3 + e2)
    p1_b = (2 + 1 / 6) / (9 + 1)
    assert p(fit("eps", eps=(1.0, 2.0)), "a", "b") == pytest.approx((2 + 2 * p1_b) / 5)
    # Witten-Bell: T1 = 5 seen types; T(a) = 2
    wb_b = (2 + 5 / 6) / (9 + 5)
    assert p(fit("wb"), "a", "b") == pytest.approx((2 + 2 * wb_b) / 5)
    # absolute discounting: D2 = n1/(n1+2n2) = 7/9 (bigram counts), D1 = 2/(2+4) = 1/3
    abs_b = (2 - 1 / 3) / 9 + (1 / 3) * 5 / 9 / 6
    assert p(fit("abs"), "a", "b") == pytest.approx((2 - 7 / 9) / 3 + (7 / 9) * 2 / 3 * abs_b)
    # Kneser-Ney: continuation counts a3 b1 c1 d1 </s>2 (sum 8), D1 = 3/(3+2); top order raw, D2 = 7/9
    kn_b = (1 - 0.6) / 8 + 0.6 * 5 / 8 / 6
    assert p(fit("kn"), "a", "b") == pytest.approx((2 - 7 / 9) / 3 + (7 / 9) * 2 / 3 * kn_b)
    # stupid backoff: relative frequency, else 0.4 x lower order
    assert p(fit("stupid"), "a", "b") == pytest.approx(2 / 3)
    assert p(fit("stupid"), "a", "c") == pytest.approx(0.4 * 1 / 9)


def test_hand_computed_modified_kneser_ney_with_fallback_discounts():
    # n3 = n4 = 0 on this corpus: discounts undefined -> KenLM's fallback (0.5, 1, 1.5), with a warning
    with pytest.raises(LmstatsError, match="counts-of-counts"):
        fit("mkn", discount_fallback=False)
    model = fit("mkn")
    assert any("fallback" in w for w in model.estimate_.warnings)
    # unigram adjusted a3 b1 c1 d1 </s>2 -> discounts 1.5, .5, .5, .5, 1; gamma0 = 4/8
    p1_b = (1 - 0.5) / 8 + 0.5 / 6
    # context a: a(a b) = 2 -> D 1.0; a(a </s>) = 1 -> D .5; gamma(a) = 1.5/3
    assert p(model, "a", "b") == pytest.approx((2 - 1) / 3 + 0.5 * p1_b)


def test_hand_computed_trigram_eps_variants():
    # context "a b": C = 2, trigrams "a b a" = 1, "a b d" = 1
    e = (1.0, 2.0, 3.0)
    p1_a = (3 + 1 / 6) / 10
    p2_a_given_b = (1 + 2 * p1_a) / (2 + 2)  # bigram "b a" = 1, C(b) = 2
    rec = fit("eps", order=3, eps=e)
    txt = fit("eps", order=3, eps=e, eps_variant="textbook")
    assert p(rec, "ab", "a") == pytest.approx((1 + 3 * p2_a_given_b) / (2 + 3))
    assert p(txt, "ab", "a") == pytest.approx((1 + 3 * p1_a) / (2 + 3))
    # sentence start: only the bigram context <s> exists, so P(a|<s>) is the bigram formula
    assert p(rec, "", "a") == pytest.approx((1 + 2 * p1_a) / (2 + 2))


SUM_CORPUS = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the mat was red",
    "on the log sat a frog", "the frog and the cat", "a red dog sat", "the cat the cat the cat",
]]


@pytest.mark.parametrize("smoothing", [s for s in SMOOTHERS if s != "stupid"])
@pytest.mark.parametrize("order", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_probabilities_sum_to_one_for_every_context(smoothing, order, mode):
    kw = {"eps": tuple(0.5 * (j + 1) for j in range(order))} if smoothing == "eps" else {}
    vocab = Vocab.build(SUM_CORPUS)
    split = EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in SUM_CORPUS]), vocab)
    model = NgramLM(vocab, order, smoothing, mode=mode, **kw).fit(split)
    predictable = vocab.predictable_ids
    sums_mle_unseen = []
    contexts = [[], ["the"], ["the", "cat"], ["sat", "on", "the"], ["cat", "the", "cat"], ["mat", "dog"], ["zebra", "the"],
                ["a", "frog", "<unk>"]]
    for ctx in contexts:
        base = vocab.encode(ctx)
        units = Lines.from_seqs([np.append(base, w) for w in predictable])
        lp = model.logprobs_lines(units)
        last = lp[units.bounds[1:] - 1]
        total = np.exp(last).sum()
        if smoothing == "mle" and total == 0.0:
            sums_mle_unseen.append(ctx)  # MLE has no distribution for an unseen context (0/0 -> 0, as NLTK)
            continue
        assert total == pytest.approx(1.0, abs=1e-9), (smoothing, order, ctx, total)
    assert len(sums_mle_unseen) < len(contexts)


def test_stupid_backoff_is_labelled_not_a_distribution():
    model = fit("stupid", order=3)
    assert model.is_distribution is False
    predictable = model.vocab.predictable_ids
    units = Lines.from_seqs([np.array([model.vocab.id("a"), w]) for w in predictable])
    total = np.exp(model.logprobs_lines(units)[units.bounds[1:] - 1]).sum()
    assert abs(total - 1) > 1e-3


def test_mle_reports_zero_probability_tokens():
    model = fit("mle", order=2)
    test = EncodedSplit("test", Lines.from_seqs([model.vocab.encode(["a", "c"])]), model.vocab)
    r = evaluate(model, test)
    # P(c | a) = 0 and P(</s> | c) = 0: "c </s>" never occurs in training
    assert r.n_zero == 2 and r.ppl == math.inf and r.to_dict()["ppl"] is None


def test_logprobs_of_one_sequence_equals_batched_lines():
    model = fit("mkn", order=3, sentences=SUM_CORPUS)
    seqs = [model.vocab.encode(s) for s in SUM_CORPUS[:4]]
    units = Lines.from_seqs(seqs)
    batched = model.logprobs_lines(units)
    single = np.concatenate([model.logprobs(s) for s in seqs])
    np.testing.assert_array_equal(batched, single)


def test_fit_twice_equals_fit_once():
    vocab = Vocab.build(SUM_CORPUS)
    split = EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in SUM_CORPUS]), vocab)
    model = NgramLM(vocab, 3, "kn").fit(split)
    first = [a.copy() for a in model.estimate_.probs]
    model.fit(split)
    assert all(np.array_equal(a, b) for a, b in zip(first, model.estimate_.probs, strict=True))


def test_key_index_finds_hits_and_misses(rng):
    keys = np.unique(rng.integers(0, 2**40, 50_000))
    index = KeyIndex(keys)
    queries = np.concatenate([keys[::-1], keys + 1, [-5, 2**41]])
    rows = index.find(queries)
    assert (rows[: len(keys)] == np.arange(len(keys))[::-1]).all()
    expected_misses = ~np.isin(queries[len(keys) :], keys)
    assert ((rows[len(keys) :] == -1) == expected_misses).all()


def test_binary_save_load_round_trip(tmp_path):
    model = fit("mkn", order=3, sentences=SUM_CORPUS)
    model.save(tmp_path / "m.npz")
    again = NgramLM.load(tmp_path / "m.npz")
    units = Lines.from_seqs([model.vocab.encode(s) for s in SUM_CORPUS])
    np.testing.assert_array_equal(model.logprobs_lines(units), again.logprobs_lines(units))
    assert again.params() == model.params() and again.vocab == model.vocab


def test_truncated_or_foreign_model_files_are_refused(tmp_path):
    model = fit("kn", order=2, sentences=SUM_CORPUS)
    model.save(tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.npz").write_text("hello")
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    for name in ("cut.npz", "text.npz", "other.npz"):
        with pytest.raises(LmstatsError, match="not an lmstats n-gram model|truncated"):
            NgramLM.load(tmp_path / name)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"order": 0}, "order"),
    ({"smoothing": "eps", "eps": 0.0}, "eps must be > 0"),
    ({"smoothing": "eps", "eps": -1.0}, "eps must be > 0"),
    ({"smoothing": "eps", "eps": (1.0, 2.0), "order": 3}, "one per order"),
    ({"smoothing": "nope"}, "unknown smoothing"),
    ({"smoothing": "lidstone", "k": 0.0}, "add-k"),
])
def test_bad_parameters_are_clear_errors(kwargs, pattern):
    order = kwargs.pop("order", 2)
    with pytest.raises(LmstatsError, match=pattern):
        fit(kwargs.pop("smoothing", "mkn"), order=order, **kwargs)


def test_scoring_a_split_of_another_vocabulary_is_refused():
    model = fit("kn", order=2)
    other = Vocab.build([["x", "y"]])
    split = EncodedSplit("test", Lines.from_seqs([other.encode(["x"])]), other)
    with pytest.raises(LmstatsError, match="uses another vocabulary"):
        evaluate(model, split)


def test_lower_order_from_higher_counts_equals_fitting_that_order():
    vocab = Vocab.build(SUM_CORPUS)
    split = EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in SUM_CORPUS]), vocab)
    big = NgramLM(vocab, 4, "mkn").fit(split)
    units = Lines.from_seqs([vocab.encode(s) for s in SUM_CORPUS[:3]])
    for order in (1, 2, 3):
        direct = NgramLM(vocab, order, "kn").fit(split)
        np.testing.assert_array_equal(big.with_order(order, smoothing="kn").logprobs_lines(units), direct.logprobs_lines(units))
    with pytest.raises(LmstatsError, match="fitted order"):
        big.with_order(5)


@pytest.mark.parametrize("smoothing, kw", [("laplace", {}), ("lidstone", {"k": 0.1}), ("eps", {"eps": 0.3}), ("kn", {})])
@pytest.mark.parametrize("order", [2, 3])
def test_boundary_markers_get_probability_zero_so_the_whole_vocabulary_sums_to_one(smoothing, kw, order):
    """Summed over the *whole* vocabulary (not only the predictable set), <s> adds nothing."""
    model = fit(smoothing, order=order, **kw)
    vocab = model.vocab
    for ctx in ([], ["a"], ["a", "b"], ["zebra"]):
        base = vocab.encode(ctx)
        units = Lines.from_seqs([np.append(base, w) for w in range(len(vocab))])
        lp = model.logprobs_lines(units)[units.bounds[1:] - 1]
        assert lp[vocab.bos_id] == -math.inf, (smoothing, ctx)
        assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-12), (smoothing, ctx)


def test_add_k_default_is_one_value_everywhere():
    """The library, the CLI and the report use the same lidstone k."""
    import inspect

    from lmstats.cli.ngram import ngram_command
    from lmstats.ngram.smoothing import DEFAULT_ADD_K, SmoothingSpec

    assert inspect.signature(NgramLM).parameters["k"].default == DEFAULT_ADD_K == SmoothingSpec().k == 0.5
    from lmstats.ngram.recipe import NgramRecipe

    assert next(p for p in ngram_command.params if p.name == "k").default is None  # not typed: the recipe's default
    assert NgramRecipe(smoothing="lidstone").model(Vocab.build([])).k == DEFAULT_ADD_K
    assert p(fit("lidstone"), "a", "b") == pytest.approx((2 + 0.5) / (3 + 0.5 * 6))


@pytest.mark.parametrize("smoothing, kw, pattern", [
    ("eps", {"eps": 1e-300}, "eps=1e-300 is so small that some probabilities underflow"),
    ("eps", {"eps": (1.0, 1e-310)}, "underflow"),
    ("lidstone", {"k": 1e-320}, "k=1e-320 is so small"),
])
def test_parameters_that_underflow_are_refused(smoothing, kw, pattern):
    with pytest.raises(LmstatsError, match=pattern):
        fit(smoothing, **kw)
    model = fit(smoothing, **{k: 1e-30 if not isinstance(v, tuple) else (1.0, 1e-30) for k, v in kw.items()})
    assert model.estimate_.probs[0].min() >= 0 and np.isfinite(model.logprobs(model.vocab.encode(["zebra", "a"]))).all()


def test_resmooth_rejects_unknown_parameters_and_bad_values():
    model = fit("kn", order=2)
    with pytest.raises(TypeError, match="epss"):
        model.resmooth(epss=0.1)
    with pytest.raises(LmstatsError, match="eps must be > 0"):
        model.resmooth(smoothing="eps", eps=-1.0)
    assert model.resmooth(smoothing="eps", eps=0.5).eps == 0.5


def test_describe_names_each_parameter_where_it_belongs():
    eps = fit("eps", eps=(1.0, 2.0)).describe()
    assert eps["eps"] == [1.0, 2.0] and "discounts" not in eps and "k" not in eps
    mkn = fit("mkn").describe()
    assert set(mkn["discounts"]) == {"1", "2"} and "eps" not in mkn
    assert fit("lidstone", k=0.25).describe()["k"] == 0.25


def test_from_estimate_builds_a_fitted_model_without_touching_attributes():
    model = fit("wb", order=2)
    again = NgramLM.from_estimate(model.vocab, model.counts_, model.estimate_, smoothing="wb")
    ids = model.vocab.encode(["a", "b", "zebra"])
    np.testing.assert_array_equal(again.logprobs(ids), model.logprobs(ids))
