"""Counting and estimating out of core: equal to the in-memory path, bounded, and clean when interrupted."""

import errno
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstats import CorpusSpec, EncodedSplit, Lines, LmstatsError, Vocab, evaluate, load_corpus
from lmstats.ngram import NgramLM
from lmstats.ngram.chunked import estimate_on_disk
from lmstats.ngram.counts import count_ngrams, unique_keys
from lmstats.ngram.external import count_ngrams_external
from lmstats.ngram.smoothing import SmoothingSpec, estimate
from lmstats.npyfile import NpyAppender, is_complete, read_slice, take
from lmstats.resources import parse_memory, work_dir
from lmstats.units import scored_units

from helpers import assert_same_tables


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(3, 9), max_size=12), min_size=1, max_size=25), st.integers(1, 6),
       st.sampled_from(["sentence", "stream"]), st.integers(10, 200))
def test_external_counting_equals_in_memory_counting(tmp_path_factory, lines, order, mode, block):
    """Random texts, orders 1-6, both modes, blocks as small as 10 positions (many runs and ranges)."""
    import lmstats.ngram.external as external

    vocab = Vocab(["<unk>", "<s>", "</s>", *[f"w{i}" for i in range(3, 10)]], [0] * 10)
    split = EncodedSplit("train", Lines.from_seqs(lines), vocab)
    units = scored_units(split, mode)
    expected = count_ngrams(units, order, len(vocab), vocab.bos_id)
    folder = tmp_path_factory.mktemp("c")
    old = external.MIN_BLOCK, external.BYTES_PER_POSITION, external.BYTES_PER_ENTRY
    try:  # a budget of a few hundred bytes: blocks of `block` positions, ranges of a few entries
        external.MIN_BLOCK, external.BYTES_PER_POSITION, external.BYTES_PER_ENTRY = block, 1 << 40, 1 << 30
        got = count_ngrams_external(units, order, len(vocab), vocab.bos_id, memory=1 << 32, workdir=folder)
    finally:
        external.MIN_BLOCK, external.BYTES_PER_POSITION, external.BYTES_PER_ENTRY = old
    assert_same_tables(expected, got)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(("keys", "counts", "suffix", "first"))) == []


@pytest.fixture(scope="module")
def wikitext2(tmp_path_factory):
    from helpers import shared_corpus

    folder = shared_corpus("wikitext-2")
    corpus = load_corpus(CorpusSpec("wikitext-2"), data_dir=folder.parent)
    vocab = corpus.build_vocab()
    return vocab, corpus.encode(vocab)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_wikitext2_out_of_core_gives_the_same_tables_and_perplexity(wikitext2, tmp_path, mode, tight_memory):
    """A 64 MB budget on WikiText-2 (2.1M positions: many blocks, runs merged in several ranges)."""
    vocab, splits = wikitext2
    units = scored_units(splits.train, mode)
    expected = count_ngrams(units, 5, len(vocab), vocab.bos_id)
    got = count_ngrams_external(units, 5, len(vocab), vocab.bos_id, memory=64 << 20, workdir=tmp_path)
    assert_same_tables(expected, got)
    in_memory = NgramLM(vocab, 5, mode=mode).fit(splits.train)
    out_of_core = NgramLM(vocab, 5, mode=mode).fit(splits.train, memory=tight_memory(), tmp=tmp_path)
    assert isinstance(out_of_core.counts_.table(5).keys, np.memmap)  # it did go to disk
    for x, y in zip(in_memory.estimate_.probs + in_memory.estimate_.backoffs, out_of_core.estimate_.probs + out_of_core.estimate_.backoffs,
                    strict=True):
        assert np.array_equal(x, y)  # the same model, bit for bit
    a, b = evaluate(in_memory, splits.test, mode=mode), evaluate(out_of_core, splits.test, mode=mode)
    assert a.n_tokens == b.n_tokens and a.nll_sum == b.nll_sum


@pytest.mark.parametrize("smoothing", ["mkn", "kn", "abs"])
def test_estimate_on_disk_equals_the_in_memory_estimate(tmp_path, smoothing):
    lines = [[3 + (i * j) % 7 for j in range(1 + i % 9)] for i in range(300)]
    vocab = Vocab(["<unk>", "<s>", "</s>", *[f"w{i}" for i in range(3, 10)]], [0] * 10)
    units = scored_units(EncodedSplit("train", Lines.from_seqs(lines), vocab), "sentence")
    counts = count_ngrams_external(units, 4, len(vocab), vocab.bos_id, memory=1 << 30, workdir=tmp_path)
    spec = SmoothingSpec(smoothing, discount_fallback=True)
    expected = estimate(count_ngrams(units, 4, len(vocab), vocab.bos_id), spec, vocab.predictable_mask)
    import lmstats.ngram.chunked as chunked

    old = chunked.BYTES_PER_ROW, chunked.MIN_SLICE
    try:
        chunked.BYTES_PER_ROW, chunked.MIN_SLICE = 1 << 40, 5  # slices of about 5 rows (whole contexts), many per table
        got = estimate_on_disk(counts, spec, vocab.predictable_mask, tmp_path, 1 << 30)
    finally:
        chunked.BYTES_PER_ROW, chunked.MIN_SLICE = old
    for x, y in zip(expected.probs + expected.backoffs, got.probs + got.backoffs, strict=True):
        assert np.array_equal(np.asarray(y), x)  # bit for bit: a context's sums are never split between slices
    assert expected.discounts == got.discounts and expected.warnings == got.warnings
    assert not list(tmp_path.glob("adjusted*.npy"))


def test_unique_keys_equals_numpy_unique_on_both_paths(rng):
    for high in (1 << 20, 1 << 62):  # packable with the index, and not (np.unique itself)
        keys = rng.integers(0, high, 5000)
        keys[::7] = keys[0]
        uniq, inv, counts = unique_keys(keys)
        ref_u, ref_i, ref_c = np.unique(keys, return_inverse=True, return_counts=True)
        assert np.array_equal(uniq, ref_u) and np.array_equal(inv, ref_i) and np.array_equal(counts, ref_c)


def test_npy_appender_take_and_truncation(tmp_path):
    out = NpyAppender(tmp_path / "a.npy", np.int64)
    out.append(np.arange(10))
    out.append(np.arange(5) + 100)
    out.write_at(2, np.array([-1, -2]))
    out.close()
    loaded = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert loaded.tolist() == [0, 1, -1, -2, 4, 5, 6, 7, 8, 9, 100, 101, 102, 103, 104]
    assert take(loaded, 9, 12).tolist() == [9, 100, 101] and take(loaded[5:], 0, 2).tolist() == [5, 6]
    assert read_slice(tmp_path / "a.npy", 13, 10).tolist() == [103, 104]
    (tmp_path / "a.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-8])
    assert not is_complete(tmp_path / "a.npy")


@pytest.mark.parametrize("text, expected", [("4G", 4 << 30), ("500M", 500 << 20), ("1.5g", int(1.5 * (1 << 30))), ("100000000", 100000000)])
def test_memory_sizes(text, expected):
    assert parse_memory(text) == expected
    assert 64 << 20 <= parse_memory("40%") <= parse_memory("100%")
    for bad in ("4X", "-1G", "0%", "150%", "1M"):
        with pytest.raises(LmstatsError):
            parse_memory(bad)


def test_work_folder_is_removed_on_interrupt_and_a_full_disk_is_one_error(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with work_dir(tmp_path) as folder:
            (folder / "spill").write_bytes(b"x" * 100)
            raise KeyboardInterrupt
    with pytest.raises(LmstatsError, match="the disk of the work folder .* is full .*give --tmp DIR on a larger disk"):
        with work_dir(tmp_path) as folder:
            (folder / "spill").write_bytes(b"x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LmstatsError, match="cannot make a work folder"):
        with work_dir(Path("/proc/lmstats-no")):
            pass


def test_the_plan_predicts_and_refuses_a_budget_that_cannot_work(tmp_path):
    from lmstats.ngram.plan import MIN_WORKING, plan_counting
    from lmstats.resources import current_rss

    held = current_rss()
    small = plan_counting(1000, 3, 8 << 30, tmp_path)
    assert small.in_memory and small.disk == 0 and "in memory: predicted peak" in small.describe()
    big = plan_counting(10**9, 3, held + (1 << 30), tmp_path)
    assert not big.in_memory and big.peak == held + (1 << 30)
    assert big.disk == 10**9 * (48 * 2 + 48)  # two tables above the unigrams and the runs of one order, at most
    assert f"in {tmp_path}" in big.describe() and "free" in big.describe()
    with pytest.raises(LmstatsError, match=r"--memory .* cannot work: this process already holds .* give --memory .* or more"):
        plan_counting(10**9, 3, held + MIN_WORKING // 2, tmp_path)
    vocab = Vocab.build([["a", "b"]])
    with pytest.raises(LmstatsError, match="cannot work"):  # refused before any counting
        NgramLM(vocab, 2).fit(EncodedSplit("train", Lines.from_seqs([[3, 4] * 100_000]), vocab), memory=held // 2)
