"""The whole fit on a Dask cluster (issue 25): smoothing by key range on the workers, a sharded model, workers that die.

Every check compares with the local engine bit for bit: the cluster does the same arithmetic in the same order."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from lmstats import EncodedSplit, Lines, LmstatsError, Vocab, evaluate
from lmstats.ngram import NgramLM
from lmstats.ngram.sharded_array import ShardedArray
from lmstats.ngram.storage import model_files, read_meta

from helpers import assert_same_tables

distributed = pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")

from lmstats.ngram.cluster_fit import fit_on_cluster  # noqa: E402
from lmstats.ngram.dask_cluster import dask_client  # noqa: E402

WORDS = [f"w{i}" for i in range(60)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with dask_client(None, workers=2, local_directory=tmp_path_factory.mktemp("dask")) as c:
        yield c


@pytest.fixture
def many_ranges(monkeypatch):
    """Key ranges of a few hundred n-grams, so that every join crosses ranges."""
    import lmstats.ngram.distributed as engine

    monkeypatch.setattr(engine, "BYTES_PER_ENTRY", 1 << 16)  # against a client budget of 64 MB, whatever this process holds
    monkeypatch.setattr(engine, "working_memory", lambda memory: 64 << 20)


def zipf_lines(seed: int, n_lines: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [[WORDS[j % len(WORDS)] for j in rng.zipf(1.3, size=int(rng.integers(0, 14)))] for _ in range(n_lines)]


def split_of(lines: list[list[str]]) -> EncodedSplit:
    vocab = Vocab.build(lines)
    return EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in lines]), vocab)


def assert_same_model(a: NgramLM, b: NgramLM) -> None:
    assert_same_tables(a.counts_, b.counts_)
    for k in range(a.order):
        assert np.array_equal(a.estimate_.probs[k], b.estimate_.probs[k]), f"order {k + 1} probabilities"
    for k in range(a.order - 1):
        assert np.array_equal(a.estimate_.backoffs[k], b.estimate_.backoffs[k]), f"order {k + 1} backoffs"
    assert a.estimate_.discounts == b.estimate_.discounts and a.estimate_.warnings == b.estimate_.warnings
    assert a.counts_.lmplz_last == b.counts_.lmplz_last


@pytest.mark.parametrize(("smoothing", "order"), [("mkn", 5), ("wb", 3), ("kn", 4), ("abs", 2), ("mkn", 1)])
def test_smoothed_on_the_workers_the_model_is_the_local_engines(client, tmp_path, many_ranges, monkeypatch, smoothing, order):
    from lmstats.ngram import shards

    written = []
    join = shards.join_shards
    monkeypatch.setattr(shards, "join_shards", lambda folder, dest: (written.append(read_meta(folder)["shards"]), join(folder, dest)))
    split = split_of(zipf_lines(0, 1500))
    local = NgramLM(split.vocab, order, smoothing).fit(split)
    dask = NgramLM(split.vocab, order, smoothing).fit(split, engine="dask", scheduler=client, tmp=tmp_path)
    assert_same_model(local, dask)
    assert order == 1 or len(written[0][f"prob{order}"]) >= 3  # the workers wrote it in key ranges
    a, b = evaluate(local, split), evaluate(dask, split)
    assert a.nll_sum == b.nll_sum


def test_a_sharded_model_opens_as_the_plain_one_and_names_a_missing_shard(client, tmp_path, many_ranges, monkeypatch):
    paths = write_corpus(tmp_path, zipf_lines(1, 800), 2)
    folder = tmp_path / "model"
    fit_on_cluster(client, paths, folder, order=3, target=3000)
    meta = read_meta(folder)
    assert meta["version"] == 5 and {p.name for p in folder.iterdir()} == model_files(meta)
    assert len(meta["shards"]["prob3"]) >= 2
    loaded = NgramLM.load(folder)
    sharded = [loaded.counts_.tables[2].keys, loaded.estimate_.probs[2], loaded.estimate_.backoffs[1]]
    assert loaded.is_sharded() and all(isinstance(a, ShardedArray) and len(a.parts) >= 2 for a in sharded)
    assert all(isinstance(p, np.memmap) for a in sharded for p in a.parts)  # every shard memory-mapped, none joined
    plain = tmp_path / "plain"
    loaded.save(plain)  # a plain folder, with its indexes, written shard after shard
    assert not NgramLM.load(plain).is_sharded()
    assert_same_model(loaded, NgramLM.load(plain))
    text = zipf_lines(2, 300) + [["unseen", "w1", "w2"]]
    units = Lines.from_seqs([loaded.vocab.encode(s) for s in text])
    opened = NgramLM.load(folder)
    with monkeypatch.context() as m:  # scoring reads the shards in place: a join would fail here
        m.setattr(ShardedArray, "__array__", lambda *args, **kwargs: pytest.fail("a shard array was joined to score"))
        scored = [evaluate(opened, EncodedSplit("test", units, opened.vocab), mode=mode) for mode in ("sentence", "stream")]
    for mode, a in zip(("sentence", "stream"), scored, strict=True):
        b = evaluate(NgramLM.load(plain), EncodedSplit("test", units, loaded.vocab), mode=mode)
        assert a.nll_sum == b.nll_sum and a.n_tokens == b.n_tokens  # the numpy scorer on the shards, the kernel on the plain
    assert_same_model(local_fit(paths, 3, "mkn"), loaded)
    fit_on_cluster(client, paths, folder, order=2, target=3000)  # a model folder is replaced whole
    assert read_meta(folder)["params"]["order"] == 2 and {p.name for p in folder.iterdir()} == model_files(read_meta(folder))
    from lmstats.ngram.cluster_scoring import open_sharded

    cut = folder / "keys2.part00000.npy"
    whole = cut.read_bytes()
    cut.write_bytes(whole[:-8])
    for opening in (NgramLM.load, open_sharded):  # here, and before scoring on the workers
        with pytest.raises(LmstatsError, match="keys2.part00000.npy is truncated"):
            opening(folder)
    cut.write_bytes(whole)
    victim = folder / "prob2.part00001.npy"
    victim.unlink()
    for opening in (NgramLM.load, open_sharded):
        with pytest.raises(LmstatsError, match="lacks the shard prob2.part00001.npy"):
            opening(folder)


def write_corpus(tmp_path, lines: list[list[str]], files: int) -> list[str]:
    paths = []
    for i in range(files):
        path = tmp_path / f"part{i}.txt"
        path.write_text("".join(" ".join(s) + "\n" for s in lines[i::files]), encoding="utf-8")
        paths.append(str(path))
    return paths


def local_fit(paths: list[str], order: int, smoothing: str) -> NgramLM:
    lines = [line.split() for p in paths for line in open(p, encoding="utf-8").read().split("\n")[:-1]]
    return NgramLM(split_of(lines).vocab, order, smoothing).fit(split_of(lines))


@pytest.mark.parametrize("smoothing", ["mkn", "wb"])
def test_files_read_counted_smoothed_and_written_by_the_workers(client, tmp_path, many_ranges, smoothing):
    """fit_on_cluster: files in byte ranges read on the workers, to a sharded model; the local fit of the same text
    (lmplz's last n-gram found on the cluster, so the MKN discounts are KenLM's)."""
    paths = write_corpus(tmp_path, zipf_lines(2, 1200), 3)
    stages: list[str] = []
    meta = fit_on_cluster(client, paths, tmp_path / "model", order=4, smoothing=smoothing, target=2000, on_stage=stages.append)
    assert stages[0].startswith("read ") and "counted order 4" in stages
    got = NgramLM.load(tmp_path / "model")
    expected = local_fit(paths, 4, smoothing)
    assert got.vocab.tokens == expected.vocab.tokens
    assert_same_model(expected, got)
    assert meta["n_train_tokens"] == expected.n_train_tokens_
    if smoothing == "mkn":
        assert got.counts_.lmplz_last  # the quirk was found


def test_bad_cluster_fits_are_one_error_before_any_work(client, tmp_path):
    paths = write_corpus(tmp_path, [["a"]], 1)
    with pytest.raises(LmstatsError, match="the cluster estimates abs, kn, mkn, wb, not eps"):
        fit_on_cluster(client, paths, tmp_path / "m", order=3, smoothing="eps")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(LmstatsError, match="the text has no tokens"):
        fit_on_cluster(client, [str(empty)], tmp_path / "m", order=3)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(LmstatsError, match="--out"):
        fit_on_cluster(client, paths, mine, order=3)
    assert (mine / "notes.txt").read_text() == "keep me"


def kill_one_worker_when(client, prefix: str, done: threading.Event, kills: list) -> threading.Thread:
    """A thread that kills one worker process (SIGKILL, as the kernel's OOM killer would) as soon as a task whose name starts
    with ``prefix`` is processing; the nanny starts a new worker and Dask reruns what was lost."""
    def watch():
        while not done.is_set():
            processing = client.processing()
            for address, keys in processing.items():
                if any(str(key).startswith(prefix) or (isinstance(key, tuple) and str(key[0]).startswith(prefix)) for key in keys):
                    pid = client.run(os.getpid, workers=[address])[address]
                    os.kill(pid, 9)
                    kills.append(pid)
                    return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["_count_task", "_local_task"])
def test_a_worker_killed_mid_count_or_mid_smoothing_costs_its_tasks_and_the_model_is_the_same(tmp_path, many_ranges, prefix):
    paths = write_corpus(tmp_path, zipf_lines(3, 3000), 4)
    with dask_client(None, workers=2, local_directory=tmp_path / "dask") as own:
        done, kills = threading.Event(), []
        watcher = kill_one_worker_when(own, prefix, done, kills)
        fit_on_cluster(own, paths, tmp_path / "model", order=4, target=4000)
        done.set()
        watcher.join()
    assert len(kills) == 1  # the worker died mid-run
    assert_same_model(local_fit(paths, 4, "mkn"), NgramLM.load(tmp_path / "model"))
    assert json.loads((tmp_path / "model" / "meta.json").read_text())["version"] == 5


@pytest.mark.slow
def test_the_cli_fits_on_the_workers_and_scores_as_the_local_engine(client, tmp_path):
    """`lmstats ngram DIR --engine dask` on a corpus of train/valid/test files: the workers read, count, smooth and write the
    model in shards; perplexities equal to the local engine's; a fit the cluster cannot do whole says why and reads here."""
    from click.testing import CliRunner

    from lmstats.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = zipf_lines(4, 900)
    for name, part in (("train", lines[:700]), ("valid", lines[700:800]), ("test", lines[800:])):
        (corpus / f"{name}.txt").write_text("".join(" ".join(s) + "\n" for s in part), encoding="utf-8")
    runner = CliRunner()
    local = runner.invoke(main, ["ngram", str(corpus), "--n", "3", "--json", "--out", str(tmp_path / "a")])
    dask = runner.invoke(main, ["ngram", str(corpus), "--n", "3", "--json", "--engine", "dask", "--out", str(tmp_path / "b")])
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    assert "the workers read 1 train file(s)" in dask.stderr and read_meta(tmp_path / "b")["version"] == 5
    ra, rb = json.loads(local.stdout)["results"], json.loads(dask.stdout)["results"]
    for split in ("valid", "test"):  # scored on the workers against the shards
        a, b = ra[split]["sentence"], rb[split]["sentence"]
        assert (a["n_tokens"], a["n_oov"]) == (b["n_tokens"], b["n_oov"]) and b["nll_sum"] == pytest.approx(a["nll_sum"], rel=1e-12)
    assert "scored test on the workers" in dask.stderr
    scored = runner.invoke(main, ["score", str(tmp_path / "b"), str(corpus / "test.txt"), "--json"])  # its corpus record kept
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["nll_sum"] == pytest.approx(ra["test"]["sentence"]["nll_sum"], rel=1e-12)
    on_workers = runner.invoke(main, ["score", str(tmp_path / "b"), str(corpus / "test.txt"), "--json", "--scheduler",
                                      client.scheduler.address])
    assert on_workers.exit_code == 0, on_workers.output
    got = json.loads(on_workers.stdout)
    assert got["nll_sum"] == pytest.approx(ra["test"]["sentence"]["nll_sum"], rel=1e-12)
    assert got["bits_per_char"] == pytest.approx(json.loads(scored.stdout)["bits_per_char"], rel=1e-12)
    refused = runner.invoke(main, ["score", str(tmp_path / "b"), "--per-line", "--scheduler", client.scheduler.address])
    assert refused.exit_code == 2 and "--scheduler scores files in sentence mode" in refused.stderr
    pruned = runner.invoke(main, ["ngram", str(corpus), "--n", "3", "--prune", "0,1", "--engine", "dask", "--eval", "none",
                                  "--out", str(tmp_path / "c")])
    assert pruned.exit_code == 0, pruned.output
    assert "the corpus was read here, not on the workers: pruning drops n-grams across key ranges" in pruned.stderr


def test_a_text_scored_on_the_workers_against_the_shards_gives_the_evaluators_sums(client, tmp_path, many_ranges):
    """score_on_cluster: the text read on the workers, every lookup a batched join with the shards; the local evaluator's
    sums (to the order of additions), including <unk> and words at the start of a sentence."""
    from lmstats.ngram.cluster_scoring import open_sharded, score_on_cluster
    from lmstats.text.ranges import Reading

    paths = write_corpus(tmp_path, zipf_lines(5, 1500), 2)
    fit_on_cluster(client, paths, tmp_path / "model", order=4, target=3000, range_bytes=1 << 26)
    held_out = tmp_path / "held.txt"
    held = zipf_lines(6, 300) + [["never", "seen", "w1"], ["w2"]]
    held_out.write_text("".join(" ".join(s) + "\n" for s in held) + "\n", encoding="utf-8")
    model = open_sharded(tmp_path / "model")
    assert len(model.first_keys[4]) >= 4
    got = score_on_cluster(client, model, [str(held_out)], Reading())
    local = NgramLM.load(tmp_path / "model")
    split = EncodedSplit("held", Lines.from_seqs([local.vocab.encode(s) for s in held if s]), local.vocab)
    expected = evaluate(local, split)
    assert (got.n_units, got.n_tokens, got.n_oov, got.n_zero) == (expected.n_units, expected.n_tokens, expected.n_oov, expected.n_zero)
    assert got.nll_sum == pytest.approx(expected.nll_sum, rel=1e-12)
    assert got.nll_sum_no_oov == pytest.approx(expected.nll_sum_no_oov, rel=1e-12)
    text = held_out.read_text(encoding="utf-8")
    assert got.n_chars == len("".join(line + "\n" for line in text.split("\n") if line.split()))  # sentences and their breaks
    assert got.n_oov > 0
