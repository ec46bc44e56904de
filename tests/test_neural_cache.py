"""The neural cache (lmstats.neural_cache): a hand-computed case at theta 0, the sum over the vocabulary, tuning on valid."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lmstats import EncodedSplit, Lines, LmstatsError, UniformLM, Vocab, evaluate  # noqa: E402
from lmstats.neural_cache import NeuralCacheLM, cache_probs, tune_neural_cache  # noqa: E402
from lmstats.rnn.lm import RNNLM  # noqa: E402
from lmstats.rnn.nets import build_net  # noqa: E402
from lmstats.rnn.recipe import RNNConfig  # noqa: E402

VOCAB = Vocab.build([["a", "b", "c", "d", "e"]])


@pytest.fixture(scope="module")
def rnn():
    torch.manual_seed(0)
    return RNNLM(build_net(VOCAB, RNNConfig(cell="lstm", embed_size=8, hidden_size=8, num_layers=1, softmax="full")), VOCAB)


def test_theta_zero_is_the_words_share_of_the_window(rnn):
    """θ = 0: every state in the window weighs the same, so P_cache(w) is w's share of the window. ids a b a, λ = 0.5:
    position 0 the RNN alone; 1: b is not in (a), 0.5 P_rnn; 2: a is half of (a, b), 0.5 P_rnn + 0.25."""
    a, b = VOCAB.encode(["a", "b"])
    ids = np.array([a, b, a])
    p_rnn = np.exp(rnn.logprobs(ids))
    got = np.exp(NeuralCacheLM(rnn, window=10, theta=0.0, lam=0.5).logprobs(ids))
    assert got == pytest.approx([p_rnn[0], 0.5 * p_rnn[1], 0.5 * p_rnn[2] + 0.25], rel=1e-9)
    p, seen = cache_probs(ids, np.ones((3, 2)), window=1, theta=0.0)  # a window of one: only the token before
    assert list(p) == [0.0, 0.0, 0.0] and list(seen) == [False, True, True]


def test_states_alike_weigh_more():
    """Two states in the window, the query equal to the first: with θ the first's word takes e^{θ|h|²} / (e^{θ|h|²} + 1)."""
    feats = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    p, _ = cache_probs(np.array([5, 6, 5]), feats, window=10, theta=2.0)
    assert p[2] == pytest.approx(math.exp(2.0) / (math.exp(2.0) + 1.0), rel=1e-12)


def test_probabilities_sum_to_one_over_the_vocabulary(rnn):
    words = np.flatnonzero(VOCAB.predictable_mask)
    model = NeuralCacheLM(rnn, window=3, theta=1.5, lam=0.4)
    rng = np.random.default_rng(0)
    for length in (0, 1, 2, 6):
        history = rng.choice(words, size=length)
        total = sum(math.exp(model.logprobs(np.append(history, w))[-1]) for w in words)
        assert total == pytest.approx(1.0, rel=1e-5)  # the RNN's float32 softmax


def test_tuned_on_valid_the_cache_helps_a_text_that_repeats_itself(rnn):
    rng = np.random.default_rng(1)
    words = np.flatnonzero(VOCAB.predictable_mask)
    lines = [np.repeat(rng.choice(words, size=2), 6) for _ in range(30)]  # each line repeats its own two words
    valid, test = (EncodedSplit(name, Lines.from_seqs(part), VOCAB) for name, part in (("valid", lines[:15]), ("test", lines[15:])))
    model, valid_ppl = tune_neural_cache(rnn, valid, "sentence", windows=(5, 50), thetas=(0.0, 1.0), lambdas=(0.1, 0.5))
    assert valid_ppl == pytest.approx(evaluate(model, valid).ppl, rel=1e-9)
    assert evaluate(model, test).ppl < 0.8 * evaluate(rnn, test).ppl and model.lam == 0.5


@pytest.mark.parametrize(("kwargs", "pattern"), [({"window": 0}, "window"), ({"theta": -0.1}, "theta"), ({"lam": 1.0}, "lambda")])
def test_bad_settings_are_one_clear_error(rnn, kwargs, pattern):
    with pytest.raises(LmstatsError, match=pattern):
        NeuralCacheLM(rnn, **kwargs)


def test_an_ngram_model_has_no_hidden_states():
    with pytest.raises(LmstatsError, match="has none"):
        NeuralCacheLM(UniformLM(VOCAB))
