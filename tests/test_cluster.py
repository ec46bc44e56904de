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
from lmstats.ngram.storage import model_files, read_meta

from helpers import assert_same_tables

distributed = pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")

from lmstats.ngram.cluster_fit import fit_on_cluster  # noqa: E402
from lmstats.ngram.distributed import dask_client  # noqa: E402

WORDS = [f"w{i}" for i in range(60)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with dask_client(None, workers=2, local_directory=tmp_path_factory.mktemp("dask")) as c:
        yield c


@pytest.fixture
def many_ranges(monkeypatch):
    """Key ranges of a few hundred n-grams, so that every join crosses ranges."""
    import lmstats.ngram.distributed as engine

    monkeypatch.setattr(engine, "BYTES_PER_ENTRY", 1 << 19)


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
    dask = NgramLM(split.vocab, order, smoothing).fit(split, engine="dask", scheduler=client, memory=400 << 20, tmp=tmp_path)
    assert_same_model(local, dask)
    assert order == 1 or len(written[0][f"prob{order}"]) >= 4  # the workers wrote it in key ranges
    a, b = evaluate(local, split), evaluate(dask, split)
    assert a.nll_sum == b.nll_sum


def test_a_sharded_model_opens_as_the_plain_one_and_names_a_missing_shard(client, tmp_path, many_ranges):
    paths = write_corpus(tmp_path, zipf_lines(1, 800), 2)
    folder = tmp_path / "model"
    fit_on_cluster(client, paths, folder, order=3, target=3000)
    meta = read_meta(folder)
    assert meta["version"] == 5 and {p.name for p in folder.iterdir()} == model_files(meta)
    assert len(meta["shards"]["prob3"]) >= 2
    loaded = NgramLM.load(folder)
    plain = tmp_path / "plain"
    loaded.save(plain)  # a plain folder, with its indexes
    assert_same_model(loaded, NgramLM.load(plain))
    assert_same_model(local_fit(paths, 3, "mkn"), loaded)
    fit_on_cluster(client, paths, folder, order=2, target=3000)  # a model folder is replaced whole
    assert read_meta(folder)["params"]["order"] == 2 and {p.name for p in folder.iterdir()} == model_files(read_meta(folder))
    victim = folder / "prob2.part00001.npy"
    victim.unlink()
    with pytest.raises(LmstatsError, match="lacks the shard prob2.part00001.npy"):
        NgramLM.load(folder)


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
