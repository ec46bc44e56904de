"""The two n-gram scorers: the compiled kernel (lmstats.ngram.kernel) and whole-array numpy
(lmstats.ngram.vectorised), which scores a model's first positions and is the kernel's reference.

The numpy scorer agreed with KenLM to 1e-6 before the kernel existed; the kernel must give the same
numbers bit for bit, for every smoother, hashed and sorted tables, memory-mapped models, any piece
size, any number of threads, and streams cut into pieces.
"""

import numpy as np
import pytest

from lmstats import EncodedSplit, Lines, Vocab, native
from lmstats.ngram import NgramLM
from lmstats.ngram import counts as counts_module
from lmstats.ngram import kernel as kernel_module
from lmstats.ngram import model as model_module
from lmstats.ngram.counts import KeyIndex, SortedIndex
from lmstats.ngram.vectorised import vectorised_probs
from lmstats.threads import default_threads


def reference_logprobs(model: NgramLM, units: Lines, piece: int = 1 << 16) -> np.ndarray:
    """ln P by the numpy scorer, called directly."""
    p = vectorised_probs(model.counts_, model.indexes(), model.estimate_, units, model.vocab.bos_id, model.vocab.predictable_mask,
                         piece)
    with np.errstate(divide="ignore"):
        return np.log(p)


@pytest.fixture(params=["c", "numba"])
def kernel(request, monkeypatch):
    """Every scoring call of these tests goes to the compiled kernel: its loop in C (lmstats/kernels.c), then numba's."""
    monkeypatch.setattr(model_module, "SHORT_POSITIONS", -1)
    use_backend(request.param, monkeypatch)


def use_backend(name: str, monkeypatch) -> None:
    """The kernel's loop in C (skipped, saying why, where the install built none) or numba's."""
    if name == "c" and not native.available():
        pytest.skip("the C loops were not built (no C compiler at install time); numba's are tested")
    if name == "numba":
        monkeypatch.setattr(native, "available", lambda: False)


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
def test_kernel_equals_the_vectorised_scorer_bit_for_bit(texts, kernel, smoothing, extra, order):
    vocab, train, units = texts
    model = NgramLM(vocab, order, smoothing, **extra).fit(train)
    np.testing.assert_array_equal(model.logprobs_lines(units), reference_logprobs(model, units))


def test_any_piece_size_and_thread_count_give_the_same_numbers(texts, kernel, monkeypatch):
    vocab, train, units = texts
    model = NgramLM(vocab, 5, "mkn").fit(train)
    expected = reference_logprobs(model, units)
    for piece in (1, 7, 64, 1 << 16):
        np.testing.assert_array_equal(reference_logprobs(model, units, piece), expected, err_msg=f"numpy {piece=}")
        monkeypatch.setattr(model_module, "SCORE_CHUNK", piece)
        for threads in (1, 3):
            np.testing.assert_array_equal(model.logprobs_lines(units, threads=threads), expected, err_msg=f"{piece=} {threads=}")


@pytest.mark.parametrize("order", [2, 3, 6])
def test_a_stream_cut_into_pieces_keeps_its_context(texts, kernel, monkeypatch, order):
    """One long line is scored in pieces of a few tokens, each with order-1 tokens of context before it."""
    vocab, train, units = texts
    model = NgramLM(vocab, order, "mkn", mode="stream").fit(train)
    stream = units.as_stream()
    expected = reference_logprobs(model, stream)
    for piece in (1, 2, 5, 33):
        monkeypatch.setattr(model_module, "SCORE_CHUNK", piece)
        np.testing.assert_array_equal(model.logprobs_lines(stream, threads=2), expected, err_msg=f"{piece=}")


@pytest.mark.parametrize("hash_limit", [0, counts_module.HASH_LIMIT])
def test_sorted_tables_and_memory_mapped_models(texts, kernel, monkeypatch, tmp_path, hash_limit):
    """Tables above HASH_LIMIT are binary-searched, and saved so; a saved folder is scored memory-mapped,
    with its stored hash slots."""
    vocab, train, units = texts
    monkeypatch.setattr(counts_module, "HASH_LIMIT", hash_limit)
    model = NgramLM(vocab, 4, "mkn").fit(train)
    expected = reference_logprobs(model, units)
    model.save(tmp_path / "m")
    loaded = NgramLM.load(tmp_path / "m")
    assert isinstance(loaded.estimate_.probs[1], np.memmap)
    kind = SortedIndex if hash_limit == 0 else KeyIndex
    assert all(type(ix) is kind for ix in loaded.indexes()[1:])
    if kind is KeyIndex:
        assert all(isinstance(ix.slots, np.memmap) for ix in loaded.indexes()[1:])
    np.testing.assert_array_equal(reference_logprobs(loaded, units), expected)
    np.testing.assert_array_equal(loaded.logprobs_lines(units), expected)


def test_a_model_scores_its_first_positions_with_numpy_then_with_the_kernel(texts, monkeypatch):
    """Without the C loops: up to SHORT_POSITIONS positions in all, numpy (no JIT to start); the call that passes them and
    every later one, numba's kernel."""
    use_backend("numba", monkeypatch)
    vocab, train, units = texts
    model = NgramLM(vocab, 3, "kn").fit(train)
    expected = reference_logprobs(model, units)
    used = []
    numpy_scorer, kernel_probs = model_module.vectorised_probs, kernel_module.Scorer.probs
    monkeypatch.setattr(model_module, "vectorised_probs", lambda *a: used.append("numpy") or numpy_scorer(*a))
    monkeypatch.setattr(kernel_module.Scorer, "probs", lambda *a, **k: used.append("kernel") or kernel_probs(*a, **k))
    positions = units.n_tokens + len(units)
    monkeypatch.setattr(model_module, "SHORT_POSITIONS", 2 * positions + 5)
    for _ in range(4):
        np.testing.assert_array_equal(model.logprobs_lines(units), expected)
    assert used == ["numpy", "numpy", "kernel", "kernel"]
    fresh = NgramLM(vocab, 3, "kn").fit(train)
    short = Lines.from_seqs([[vocab.id("w1")]])
    monkeypatch.setattr(model_module, "SHORT_POSITIONS", positions - 1)
    fresh.logprobs_lines(units)
    fresh.logprobs_lines(short)
    assert used[4:] == ["kernel", "kernel"]  # a long first text: the kernel at once, and for the short text after it


def test_with_the_c_loops_the_kernel_scores_from_the_first_position(texts, monkeypatch):
    use_backend("c", monkeypatch)
    vocab, train, units = texts
    model = NgramLM(vocab, 3, "kn").fit(train)
    monkeypatch.setattr(model_module, "vectorised_probs", lambda *a: pytest.fail("numpy scored with the C loops there"))
    np.testing.assert_array_equal(model.logprobs_lines(units), reference_logprobs(model, units))


def test_the_install_built_the_c_loops_where_there_is_a_c_compiler():
    """pip install compiles lmstats/kernels.c (an optional extension); where a compiler is there, a missing build is a
    failure here, not a silent fall back on numba."""
    import shutil
    import sysconfig

    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the install builds no C loops and numba's run")
    assert native.available(), "a C compiler is here but lmstats/_kernels*.so is not: reinstall (pip install -e .)"


@pytest.mark.parametrize("short_positions", [-1, 1 << 20])  # the kernel, numpy
def test_unpredictable_words_get_zero_probability(texts, monkeypatch, short_positions):
    monkeypatch.setattr(model_module, "SHORT_POSITIONS", short_positions)
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
