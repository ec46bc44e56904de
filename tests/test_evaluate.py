import math

import numpy as np
import pytest

from lmstats import CorpusSpec, EncodedSplit, LanguageModel, Lines, LmstatsError, UniformLM, Vocab, evaluate, load_corpus
from lmstats.text.ingest import TypeTable, ingest
from lmstats.text.reader import TextSource
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


# ---- bits per character and per byte -----------------------------------------------------------------------------


def test_text_size_by_hand():
    text = "ab c\r\n\nd\u00e9 x\n"  # lines "ab c" (4 chars, 4 bytes), "" and "dé x" (4 chars, 5 bytes)
    for level in ("word", "char"):
        table = TypeTable()
        read = ingest([TextSource("t", text=text)], table, level=level, chunk_bytes=4)  # chunks cut lines: sizes still whole
        assert read.line_chars.tolist() == [4, 0, 4] and read.line_bytes.tolist() == [4, 0, 5]
        vocab = Vocab.from_counts(table.types, table.type_counts(read.ids), read.n_lines)
        split = EncodedSplit("test", Lines.from_lengths(table.vocab_ids(vocab)[read.ids], read.lengths), vocab,
                             read.line_chars, read.line_bytes)
        stream = evaluate(UniformLM(vocab), split, mode="stream")
        assert (stream.n_chars, stream.n_bytes) == (4 + 0 + 4 + 3, 4 + 0 + 5 + 3)  # a line break per </s>
        sentence = evaluate(UniformLM(vocab), split, mode="sentence")
        assert (sentence.n_chars, sentence.n_bytes) == (4 + 4 + 2, 4 + 5 + 2)  # the empty line is not scored
        assert sentence.bits_per_char == pytest.approx(sentence.nll_sum / 10 / math.log(2))
        assert sentence.bits_per_byte == pytest.approx(sentence.nll_sum / 11 / math.log(2))
        assert sentence.to_dict()["bits_per_char"] == sentence.bits_per_char
        joined = ingest([TextSource("t", text=text)], TypeTable(), level=level, stream=True)
        assert (joined.line_chars.tolist(), joined.line_bytes.tolist()) == ([4 + 0 + 4 + 2], [4 + 0 + 5 + 2])  # the breaks between


def test_a_word_model_and_a_char_model_of_one_text_count_the_same_characters(tmp_path):
    path = tmp_path / "t.txt"
    gen = np.random.default_rng(1)
    words = ["the", "cat", "café", "naïve", "ran", "über", "a"]
    path.write_text("\n".join(" ".join(gen.choice(words, size=gen.integers(1, 9))) for _ in range(50)) + "\n", encoding="utf-8")
    sizes = {}
    for level in ("word", "char"):
        corpus = load_corpus(CorpusSpec(path, level=level, split=(0.6, 0.2, 0.2), seed=4))
        split = corpus.encode(corpus.build_vocab())["test"]
        sizes[level] = [(r.n_chars, r.n_bytes) for r in (evaluate(UniformLM(split.vocab), split, mode=m) for m in ("sentence", "stream"))]
    assert sizes["word"] == sizes["char"]
    assert sizes["word"][0][1] > sizes["word"][0][0]  # accented letters take two bytes


@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_uniform_char_model_has_log2_of_its_predictable_set_bits_per_char_in_stream_mode(text_file, mode):
    corpus = load_corpus(CorpusSpec(text_file, level="char"))
    vocab = corpus.build_vocab()
    result = evaluate(UniformLM(vocab), corpus.encode(vocab)["test"], mode=mode)
    assert result.n_chars == result.n_tokens  # every character and every line break is one token
    assert result.bits_per_char == pytest.approx(math.log2(vocab.n_predictable), rel=1e-12)
    assert result.bits_per_byte == pytest.approx(result.bits_per_char)  # ASCII text


def test_stream_format_keeps_sizes_at_char_level_and_has_none_at_word_level(text_file):
    char = load_corpus(CorpusSpec(text_file, level="char", format="stream"))
    split = char.encode(char.build_vocab())["test"]
    result = evaluate(UniformLM(split.vocab), split, mode="stream")
    assert result.n_chars == result.n_tokens and result.bits_per_char == pytest.approx(math.log2(split.vocab.n_predictable))
    word = load_corpus(CorpusSpec(text_file, format="stream"))
    split = word.encode(word.build_vocab())["test"]
    result = evaluate(UniformLM(split.vocab), split, mode="stream")
    assert result.n_chars is None and result.bits_per_char is None and result.to_dict()["bits_per_byte"] is None


def test_a_split_built_by_hand_has_no_text_size(tiny_split):
    vocab, split = tiny_split
    result = evaluate(UniformLM(vocab), split, mode="stream")
    assert result.n_chars is None and result.bits_per_char is None
