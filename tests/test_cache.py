"""The unigram cache (lmstats.cache): a hand-computed case, the sum over the vocabulary, the units it resets at."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmstats import EncodedSplit, Lines, LmstatsError, Mixture, UniformLM, Vocab, evaluate
from lmstats.cache import CacheLM

VOCAB = Vocab.build([["a", "b", "c", "d"]])


def test_by_hand():
    """ids a b a a, window 2, alpha 1, P predictable words: 1/P; (1/P)/2; (1 + 1/P)/3 (window a b); (1 + 1/P)/3 (b a)."""
    a, b = VOCAB.encode(["a", "b"])
    P = VOCAB.n_predictable
    got = np.exp(CacheLM(VOCAB, window=2).logprobs(np.array([a, b, a, a])))
    assert got == pytest.approx([1 / P, (1 / P) / 2, (1 + 1 / P) / 3, (1 + 1 / P) / 3], rel=1e-12)
    wide = np.exp(CacheLM(VOCAB, window=10, alpha=0.5).logprobs(np.array([a, b, a, a])))
    assert wide[3] == pytest.approx((2 + 0.5 / P) / (3 + 0.5), rel=1e-12)  # a twice in a b a


def test_probabilities_over_the_predictable_words_sum_to_one_for_every_history():
    rng = np.random.default_rng(0)
    words = np.flatnonzero(VOCAB.predictable_mask)
    for window, alpha in ((1, 1.0), (3, 0.1), (50, 2.0)):
        model = CacheLM(VOCAB, window=window, alpha=alpha)
        for length in (0, 1, 4, 9):
            history = rng.choice(words, size=length)
            total = sum(math.exp(model.logprobs(np.append(history, w))[-1]) for w in words)
            assert total == pytest.approx(1.0, rel=1e-12)


def test_the_cache_starts_empty_at_every_unit_and_runs_across_lines_in_a_stream():
    a = VOCAB.encode(["a"])[0]
    lines = Lines.from_seqs([[a, a], [a, a]])
    model = CacheLM(VOCAB, window=100)
    P = VOCAB.n_predictable
    per_line = np.exp(model.logprobs_lines(lines))
    assert per_line[2] == pytest.approx(1 / P) and per_line[3] == pytest.approx((1 + 1 / P) / 2)
    split = EncodedSplit("test", lines, VOCAB)
    sentence, stream = evaluate(model, split, mode="sentence"), evaluate(model, split, mode="stream")
    assert stream.ppl < sentence.ppl  # the stream's second line finds a (and </s>) in the cache


def test_a_huge_alpha_is_the_uniform_model_and_a_mixture_takes_it():
    rng = np.random.default_rng(1)
    words = np.flatnonzero(VOCAB.predictable_mask)
    split = EncodedSplit("test", Lines.from_seqs([rng.choice(words, size=7) for _ in range(20)]), VOCAB)
    assert evaluate(CacheLM(VOCAB, window=5, alpha=1e12), split).ppl == pytest.approx(VOCAB.n_predictable, rel=1e-9)
    mixed = evaluate(Mixture([UniformLM(VOCAB), CacheLM(VOCAB, window=5)], [0.5, 0.5]), split, mode="stream")
    assert math.isfinite(mixed.ppl)


@pytest.mark.parametrize(("kwargs", "pattern"), [({"window": 0}, "window"), ({"window": -3}, "window"), ({"window": 2.5}, "window"),
                                                 ({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"), ({"alpha": math.nan}, "alpha")])
def test_bad_settings_are_one_clear_error(kwargs, pattern):
    with pytest.raises(LmstatsError, match=pattern):
        CacheLM(VOCAB, **kwargs)
