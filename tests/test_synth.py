import math

import numpy as np
import pytest

from lmstats import CorpusSpec, LmstatsError, MarkovSource, SourceConfig, SourceLM, Vocab, evaluate, load_corpus


def test_entropy_rate_hand_computed():
    # 2 words in 1 class, zipf 1 -> P(w) = 2/3, 1/3.  Start state: a word surely.  Later states:
    # end with 1/2, another word with 1/2.  Per sentence: visits(start) = 1, visits(after a word) = 2,
    # so 3 tokens; H = [h_w + 2 (ln 2 + h_w / 2)] / 3.
    src = MarkovSource(SourceConfig(vocab_size=2, n_classes=1, order=1, branching=1, zipf=1.0, mean_words=2.0))
    h_w = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert src.mean_tokens_per_line == pytest.approx(3.0, abs=1e-12)
    assert src.entropy_rate == pytest.approx((2 * h_w + 2 * math.log(2)) / 3, abs=1e-12)


def test_unigram_is_a_distribution_and_zipfian():
    src = MarkovSource(SourceConfig(vocab_size=2000, n_classes=10, order=1, seed=3))
    u = src.unigram
    assert u.sum() == pytest.approx(1.0) and (u > 0).all()
    ranks = np.arange(1, 2001)
    slope = np.polyfit(np.log(ranks[20:1000]), np.log(np.sort(u)[::-1][20:1000]), 1)[0]
    assert -1.4 < slope < -0.6  # roughly Zipf with exponent ~1


def test_sampling_is_seeded_and_the_true_model_matches_the_entropy_rate():
    src = MarkovSource(SourceConfig(vocab_size=300, n_classes=6, order=2, branching=3, seed=1))
    a = src.sample(50_000, np.random.default_rng(5))
    b = src.sample(50_000, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)) and len(a) == len(b)
    assert all(len(s) >= 1 for s in a)  # no empty lines
    stream = np.concatenate([np.append(s, -1) for s in src.sample(400_000, np.random.default_rng(6))])
    lp = src.logprobs_words(stream)
    assert np.isfinite(lp).all()
    # Monte Carlo estimate of the entropy rate; 400k tokens -> standard error well below 1%
    assert -lp.mean() == pytest.approx(src.entropy_rate, rel=0.01)


def test_source_lm_plugs_into_the_evaluator(tmp_path):
    src = MarkovSource(SourceConfig(vocab_size=200, n_classes=5, order=1, branching=2, seed=2))
    path = tmp_path / "synth.txt"
    path.write_text(src.text(src.sample(60_000, np.random.default_rng(0))))
    corpus = load_corpus(CorpusSpec(path, seed=0))
    vocab = corpus.build_vocab()
    splits = corpus.encode(vocab)
    truth = SourceLM(src, vocab)
    sent = evaluate(truth, splits["test"], mode="sentence")
    stream = evaluate(truth, splits["test"], mode="stream")
    # sentences are independent and restart from <s>, so both modes give the same sums
    assert sent.nll_sum == pytest.approx(stream.nll_sum) and sent.n_tokens == stream.n_tokens
    assert sent.ppl == pytest.approx(src.perplexity, rel=0.05)
    with pytest.raises(LmstatsError, match="not in the vocabulary"):
        SourceLM(src, Vocab.build([["ba"]]))


def test_bad_source_config_is_a_clear_error():
    with pytest.raises(LmstatsError, match="branching"):
        SourceConfig(n_classes=3, branching=5)
