import math

import numpy as np
import pytest

from lmstats import CorpusSpec, EncodedSplit, LanguageModel, Lines, LmstatsError, UniformLM, Vocab, evaluate, load_corpus
from lmstats.units import scored_units


class UnigramMLE(LanguageModel):
    """P(w) = count(w) / N over train tokens plus one </s> per line (hand-checkable)."""

    def __init__(self, vocab, probs):
        self._vocab = vocab
        self.probs = probs

    @property
    def vocab(self):
        return self._vocab

    def logprobs(self, ids):
        with np.errstate(divide="ignore"):
            return np.log(self.probs[np.asarray(ids)])


@pytest.fixture
def tiny_split(tiny):
    vocab = Vocab.build(tiny)  # <unk> <s> </s> a b c d
    test = [["a", "b"], [], ["e", "a"]]  # e is OOV; an empty line
    lines = Lines.from_seqs([vocab.encode(s) for s in test])
    return vocab, EncodedSplit("test", lines, vocab)


def test_units_per_mode(tiny_split):
    vocab, split = tiny_split
    sent = scored_units(split, "sentence")
    assert [u.tolist() for u in sent] == [[3, 4, 2], [0, 3, 2]]  # empty line skipped
    stream = scored_units(split, "stream")
    assert [u.tolist() for u in stream] == [[3, 4, 2, 2, 0, 3, 2]]  # empty line is one </s>
    with pytest.raises(LmstatsError, match="evaluation mode must be one of sentence, stream, got 'other'"):
        scored_units(split, "other")


@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_uniform_model_has_perplexity_equal_to_the_predictable_set(tiny_split, mode):
    vocab, split = tiny_split
    result = evaluate(UniformLM(vocab), split, mode=mode)
    assert vocab.n_predictable == 6
    assert result.ppl == pytest.approx(6.0, rel=1e-12)
    assert result.bits_per_token == pytest.approx(math.log2(6))
    assert result.ppl_no_oov == pytest.approx(6.0)


def test_hand_computed_unigram(tiny_split):
    vocab, split = tiny_split
    # train: a=3 b=2 c=1 d=1, 2 lines -> </s>=2; N=9.  P(<unk>)=0.
    probs = np.array([0, 0, 2, 3, 2, 1, 1], dtype=float) / 9
    model = UnigramMLE(vocab, probs)
    r = evaluate(model, split, mode="sentence")
    # tokens: a b </s> | <unk> a </s>  -> one zero-probability token (<unk>)
    assert (r.n_tokens, r.n_oov, r.n_zero, r.n_units) == (6, 1, 1, 2)
    assert r.ppl == math.inf and r.to_dict()["ppl"] is None
    expected_no_oov = -(math.log(3 / 9) * 2 + math.log(2 / 9) + math.log(2 / 9) * 2)
    assert r.nll_sum_no_oov == pytest.approx(expected_no_oov)
    assert r.ppl_no_oov == pytest.approx(math.exp(expected_no_oov / 5))
    # give <unk> some mass and check the full perplexity by hand
    probs2 = np.array([1, 0, 2, 3, 2, 1, 0], dtype=float) / 9
    r2 = evaluate(UnigramMLE(vocab, probs2), split, mode="stream")
    # stream tokens: a b </s> </s> <unk> a </s> -> a twice, b once, </s> three times, <unk> once
    nll = -(2 * math.log(3 / 9) + math.log(2 / 9) + 3 * math.log(2 / 9) + math.log(1 / 9))
    assert r2.n_tokens == 7 and r2.nll_sum == pytest.approx(nll)
    assert r2.ppl == pytest.approx(math.exp(nll / 7))


def test_vocabulary_mismatch_is_refused(tiny_split):
    _, split = tiny_split
    other = Vocab.build([["x", "y"]])
    with pytest.raises(LmstatsError, match="the model uses another vocabulary .5 types. than the test split .7 types.; "
                                           "perplexities are only comparable"):
        evaluate(UniformLM(other), split)


def test_model_output_is_checked(tiny_split):
    vocab, split = tiny_split

    class Broken(UniformLM):
        def logprobs_lines(self, lines):
            return np.zeros(lines.n_tokens + 1)

    with pytest.raises(LmstatsError, match="Broken returned 7 log-probabilities for 6 tokens"):
        evaluate(Broken(vocab), split)

    class Positive(UniformLM):
        def logprobs_lines(self, lines):
            return np.full(lines.n_tokens, 0.5)

    with pytest.raises(LmstatsError, match="NaN or positive"):
        evaluate(Positive(vocab), split)

    class NotAModel:
        def __init__(self, v):
            self.vocab = v

        def logprobs(self, ids):
            return np.zeros(len(ids))

    with pytest.raises(LmstatsError, match="does not implement the LanguageModel protocol"):
        evaluate(NotAModel(vocab), split)


def test_the_default_logprobs_lines_scores_each_line_from_the_start(tiny_split):
    """A model with only ``logprobs`` gets ``logprobs_lines`` from the protocol: line by line."""
    vocab, split = tiny_split

    class Position(UniformLM):  # ln P depends on the position in the line, so lines must restart
        logprobs_lines = LanguageModel.logprobs_lines

        def logprobs(self, ids):
            return -np.log(np.arange(2, len(ids) + 2, dtype=float))

    lines = Lines.from_seqs([[3, 4], [5], [6, 6, 6]])
    expected = -np.log([2, 3, 2, 2, 3, 4])
    np.testing.assert_allclose(Position(vocab).logprobs_lines(lines), expected)


def test_uniform_on_a_real_corpus_both_modes(text_file):
    corpus = load_corpus(CorpusSpec(text_file))
    vocab = corpus.build_vocab()
    test = corpus.encode(vocab)["test"]
    for mode in ("sentence", "stream"):
        assert evaluate(UniformLM(vocab), test, mode=mode).ppl == pytest.approx(len(vocab) - 1)
