"""The Dask engine: the same tables and estimate as the local engines, on a LocalCluster of 2 worker processes."""

import json
import socket
import time

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import CorpusSpec, EncodedSplit, Lines, LmstatsError, Vocab, evaluate, load_corpus
from lmstats.cli import main
from lmstats.ngram import NgramLM
from lmstats.ngram.counts import count_ngrams
from lmstats.ngram.distributed import count_ngrams_dask, dask_client, partition_units

from helpers import assert_one_line_error, assert_same_tables, shared_corpus

distributed = pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with dask_client(None, workers=2, local_directory=tmp_path_factory.mktemp("dask")) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        yield c


def random_units(seed: int, n_lines: int, vocab_size: int) -> Lines:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 12, size=n_lines)
    return Lines.from_lengths(rng.integers(3, vocab_size, size=int(lengths.sum())), lengths)


def test_partitions_are_whole_units_in_order():
    units = random_units(0, 500, 40)
    for size in (1, 7, 50, 10_000):
        parts = partition_units(units, size)
        assert np.array_equal(np.concatenate([p[0] for p in parts]), units.ids)
        assert np.array_equal(np.concatenate([p[1] for p in parts]), units.lengths)
        if size >= 13:  # every unit (<= 12 tokens and its <s>) fits: no partition overfull
            assert all(int((p[1] + 1).sum()) <= size for p in parts)


@pytest.mark.slow
@pytest.mark.parametrize("order", [1, 2, 4])
def test_dask_counting_equals_local_counting(client, tmp_path, order):
    """Many partitions of 1000 positions and key ranges of a few hundred entries (a tiny client budget)."""
    units = random_units(order, 2000, 60)
    expected = count_ngrams(units, order, 60, 1)
    import lmstats.ngram.distributed as engine

    old = engine.BYTES_PER_ENTRY
    try:  # ranges of about 300 entries
        engine.BYTES_PER_ENTRY = 1 << 18
        got = count_ngrams_dask(units, order, 60, 1, client=client, tables_dir=tmp_path, memory=64 << 20, partition_positions=1000)
    finally:
        engine.BYTES_PER_ENTRY = old
    assert_same_tables(expected, got)


def test_dask_counts_a_text_with_no_ngram_of_the_top_order(client, tmp_path):
    units = Lines.from_seqs([[3], [4, 5], []])
    assert_same_tables(count_ngrams(units, 4, 6, 1), count_ngrams_dask(units, 4, 6, 1, client=client, tables_dir=tmp_path, memory=64 << 20))


@pytest.mark.slow
@pytest.mark.parametrize("tight", [False, True])
def test_dask_engine_gives_the_local_engines_model_on_wikitext2(client, tmp_path, tight, tight_memory):
    """WikiText-2, 5-gram MKN: identical estimate (in memory, and on disk when --memory forces it)."""
    folder = shared_corpus("wikitext-2")
    corpus = load_corpus(CorpusSpec("wikitext-2"), data_dir=folder.parent)
    vocab = corpus.build_vocab()
    splits = corpus.encode(vocab)
    memory = tight_memory() if tight else None
    local = NgramLM(vocab, 5).fit(splits.train, memory=memory, tmp=tmp_path)
    dask = NgramLM(vocab, 5).fit(splits.train, memory=memory, tmp=tmp_path, engine="dask", scheduler=client)
    assert_same_tables(local.counts_, dask.counts_)
    assert isinstance(dask.counts_.table(5).keys, np.memmap) == tight  # on disk when the budget says so, as the local engine
    for k in range(1, 6):
        assert np.array_equal(local.estimate_.probs[k - 1], dask.estimate_.probs[k - 1])
    a, b = evaluate(local, splits.test), evaluate(dask, splits.test)
    assert a.nll_sum == b.nll_sum and a.n_tokens == b.n_tokens


def test_dask_engine_through_the_cli(tmp_path, capsys):
    """`--engine dask` on a small text: a LocalCluster of this machine's cores, the local engine's perplexities."""
    text = tmp_path / "c.txt"
    rng = np.random.default_rng(1)
    text.write_text("\n".join(" ".join(f"w{i}" for i in rng.integers(0, 30, size=rng.integers(1, 15))) for _ in range(400)) + "\n")
    local = CliRunner().invoke(main, ["ngram", str(text), "--n", "3", "--json", "--out", str(tmp_path / "a")])
    dask = CliRunner().invoke(main, ["ngram", str(text), "--n", "3", "--json", "--engine", "dask", "--out", str(tmp_path / "b")])
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    ra, rb = json.loads(local.stdout)["results"], json.loads(dask.stdout)["results"]
    for split in ("valid", "test"):
        a, b = ra[split]["sentence"], rb[split]["sentence"]
        assert (a["nll_sum"], a["n_tokens"]) == (b["nll_sum"], b["n_tokens"])
    assert "on the Dask cluster (a LocalCluster of this machine)" in dask.stderr


def test_unreachable_scheduler_is_one_clear_error_within_10_seconds(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = tmp_path / "c.txt"
    text.write_text("a b c\nb c d\n" * 50)
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["ngram", str(text), "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert time.perf_counter() - started < 10
    assert_one_line_error(result, "cannot reach a Dask scheduler")


def test_scheduler_with_engine_local_is_refused(tmp_path):
    text = tmp_path / "c.txt"
    text.write_text("a b c\n" * 20)
    result = CliRunner().invoke(main, ["ngram", str(text), "--engine", "local", "--scheduler", "tcp://127.0.0.1:1"])
    assert_one_line_error(result, "drop one of them")


def test_unknown_engine_is_refused():
    vocab = Vocab.build([["a"]])
    with pytest.raises(LmstatsError, match="engine must be one of"):
        NgramLM(vocab, 2).fit(EncodedSplit("train", Lines.from_seqs([[3]]), vocab), engine="spark")


@pytest.mark.parametrize("worker", [type("WorkerState", (), {"address": "tcp://127.0.0.1:1"})(), "no address"])
def test_a_worker_lost_mid_count_is_one_clear_error(client, tmp_path, monkeypatch, worker):
    """A worker killed (for memory, say) while counting: the cluster's exception becomes one LmstatsError
    (also when the exception cannot format itself: KilledWorker's message reads ``last_worker.address``)."""
    import lmstats.ngram.distributed as engine

    def killed(*args, **kwargs):
        raise distributed.KilledWorker("count-task", worker, 3)

    monkeypatch.setattr(engine, "count_ngrams_dask", killed)
    vocab = Vocab.build([["a", "b"]])
    with pytest.raises(LmstatsError, match="the Dask cluster lost work in progress .* a worker died"):
        NgramLM(vocab, 2).fit(EncodedSplit("train", Lines.from_seqs([[3, 4]]), vocab), engine="dask", scheduler=client, tmp=tmp_path)
