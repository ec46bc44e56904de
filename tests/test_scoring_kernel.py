"""The compiled scorer (lmstats.ngram.kernel) against the vectorised numpy scorer it replaced.

``reference_logprobs`` below is that scorer, kept here as the reference: whole-array lookups
of every order's rows (``lookup_rows``), then the probability rule order by order.  It agreed
with KenLM to 1e-6 before the kernel existed; the kernel must give the same numbers bit for
bit, for every smoother, hashed and sorted tables, memory-mapped models, any piece size, any
number of threads, and streams cut into pieces.
"""

import numpy as np
import pytest

from lmstats import EncodedSplit, Lines, Vocab
from lmstats.ngram import NgramLM
from lmstats.ngram import counts as counts_module
from lmstats.ngram import model as model_module
from lmstats.ngram.counts import build_indexes, layout, lookup_rows
from lmstats.threads import default_threads


def reference_logprobs(model: NgramLM, units: Lines) -> np.ndarray:
    est = model.estimate_
    pos = layout(units, model.vocab.bos_id)
    rows = lookup_rows(model.counts_, pos, build_indexes(model.counts_))
    ids = pos.ids
    mask = model.vocab.predictable_mask
    p = est.probs[0][ids]
    p1 = p.copy()
    for k in range(2, model.order + 1):
        at = np.flatnonzero(pos.depth >= k - 1)
        if len(at) == 0:
            continue
        h = rows[k - 2][at - 1]
        g = rows[k - 1][at]
        gamma = np.where(h >= 0, est.backoffs[k - 2][np.maximum(h, 0)], est.gamma_unseen)
        low = {"lower": p[at], "unigram": p1[at], "uniform": 1.0 / mask.sum()}[est.low]
        p[at] = np.where(g >= 0, est.probs[k - 1][np.maximum(g, 0)], gamma * low)
    p[~mask[ids]] = 0.0
    with np.errstate(divide="ignore"):
        return np.log(p[pos.scored])


def random_text(seed: int, n_lines: int = 300, types: int = 40) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(types)]
    weights = 1.0 / np.arange(1, types + 1)
    weights /= weights.sum()
    return [list(rng.choice(words, size=rng.integers(0, 25), p=weights)) for _ in range(n_lines)]


def split_of(vocab: Vocab, sentences, name="train") -> EncodedSplit:
    return EncodedSplit(name, Lines.from_seqs([vocab.encode(s) for s in sentences]), vocab)


@pytest.fixture(scope="module")
def texts():
    train, test = random_text(0), random_text(1, n_lines=120, types=50)  # test has words outside train
    vocab = Vocab.build(train)
    return vocab, split_of(vocab, train), Lines.from_seqs([vocab.encode(s) for s in test]).with_eos(vocab.eos_id)


SETTINGS = [("mkn", {}), ("kn", {}), ("abs", {}), ("wb", {}), ("laplace", {}), ("lidstone", {"k": 0.3}), ("mle", {}),
            ("stupid", {}), ("eps", {"eps": 0.5}), ("eps", {"eps": 0.5, "eps_variant": "textbook"})]


@pytest.mark.parametrize(("smoothing", "extra"), SETTINGS)
@pytest.mark.parametrize("order", [1, 2, 4])
def test_kernel_equals_the_vectorised_scorer_bit_for_bit(texts, smoothing, extra, order):
    vocab, train, units = texts
    model = NgramLM(vocab, order, smoothing, **extra).fit(train)
    np.testing.assert_array_equal(model.logprobs_lines(units), reference_logprobs(model, units))


def test_any_piece_size_and_thread_count_give_the_same_numbers(texts, monkeypatch):
    vocab, train, units = texts
    model = NgramLM(vocab, 5, "mkn").fit(train)
    expected = reference_logprobs(model, units)
    for piece in (1, 7, 64, 1 << 16):
        monkeypatch.setattr(model_module, "SCORE_CHUNK", piece)
        for threads in (1, 3):
            np.testing.assert_array_equal(model.logprobs_lines(units, threads=threads), expected, err_msg=f"{piece=} {threads=}")


@pytest.mark.parametrize("order", [2, 3, 6])
def test_a_stream_cut_into_pieces_keeps_its_context(texts, monkeypatch, order):
    """One long line is scored in pieces of a few tokens, each with order-1 tokens of context before it."""
    vocab, train, units = texts
    model = NgramLM(vocab, order, "mkn", mode="stream").fit(train)
    stream = units.as_stream()
    expected = reference_logprobs(model, stream)
    for piece in (1, 2, 5, 33):
        monkeypatch.setattr(model_module, "SCORE_CHUNK", piece)
        np.testing.assert_array_equal(model.logprobs_lines(stream, threads=2), expected, err_msg=f"{piece=}")


def test_sorted_tables_and_memory_mapped_models(texts, monkeypatch, tmp_path):
    """Tables above HASH_LIMIT are binary-searched; a saved folder is scored memory-mapped."""
    vocab, train, units = texts
    model = NgramLM(vocab, 4, "mkn").fit(train)
    expected = reference_logprobs(model, units)
    model.save(tmp_path / "m")
    monkeypatch.setattr(counts_module, "HASH_LIMIT", 0)
    loaded = NgramLM.load(tmp_path / "m")
    assert isinstance(loaded.estimate_.probs[1], np.memmap)
    np.testing.assert_array_equal(loaded.logprobs_lines(units), expected)
    assert all(not hasattr(ix, "slots") for ix in loaded._indexes()[1:])  # sorted search was the one used


def test_unpredictable_words_get_zero_probability(texts):
    vocab, train, _ = texts
    model = NgramLM(vocab, 3, "laplace").fit(train)
    units = Lines.from_seqs([[vocab.bos_id, vocab.id("w1")]])
    lp = model.logprobs_lines(units)
    assert lp[0] == -np.inf and np.isfinite(lp[1])


def test_thread_count_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LMSTATS_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("LMSTATS_THREADS", "no")
    assert default_threads() >= 1


def test_work_of_one_part_takes_one_thread_and_samples_nothing(monkeypatch):
    """A short text is one piece: one thread, and no quarter second spent sampling the idle cores."""
    import lmstats.threads as threads

    monkeypatch.delenv("LMSTATS_THREADS", raising=False)
    monkeypatch.setattr(threads, "_idle_default", lambda: pytest.fail("the cores were sampled for work of one part"))
    assert threads.resolve_threads(None, parts=1) == 1 and threads.resolve_threads(3, parts=1) == 3
    monkeypatch.setattr(threads, "_idle_default", lambda: 4)
    assert threads.resolve_threads(None, parts=2) == 2 and threads.resolve_threads(None, parts=9) == 4
