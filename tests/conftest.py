"""Shared fixtures: a hand-countable corpus, a seeded rng, the shared corpora (or a skip), torch on one thread,
a fake clock for RNN training."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from helpers import SHARED, TINY  # tests/ is on sys.path (pytest's rootdir-relative import of conftest)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared corpora not present at {SHARED}")
    return SHARED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def tiny() -> list[list[str]]:
    return [list(s) for s in TINY]


@pytest.fixture
def text_file(tmp_path) -> Path:
    """A 40-line word corpus file, enough for a seeded 80/10/10 split."""
    lines = [f"the cat sat on mat number {i} and the dog ran" for i in range(40)]
    path = tmp_path / "small.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread: tiny models gain nothing from threads, and on a busy machine threads wait on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tight_memory(monkeypatch):
    """A ``memory`` budget 512 MB above what the test process holds, which forces out-of-core counting of
    anything larger than 0.5M positions: the plan is told that counting in memory costs 1000 bytes a position."""
    import lmstats.ngram.plan as plan
    from lmstats.resources import current_rss

    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 1000)
    return lambda: current_rss() + (512 << 20)


@pytest.fixture
def training_clock(monkeypatch):
    """RNN training on a fake clock: ``training_clock(step=0.1, validation=0.4, save=0.2)`` makes every optimizer step, every
    validation (the time budget's probe included) and every checkpoint write cost that many seconds and nothing else cost any,
    so budgets and time splits follow from the costs a test states, never from the machine's speed.  Returns the number of
    steps, validations and saves made so far (a dict that grows as training goes)."""
    import lmstats.rnn.train as train
    import lmstats.rnn.validation as rnn_validation

    now, calls = [0.0], {"step": 0, "validation": 0, "save": 0}

    def costing(name, real, seconds):
        def wrapped(*args, **kwargs):
            now[0] += seconds
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapped

    def install(*, step: float = 0.0, validation: float = 0.0, save: float = 0.0) -> dict:
        clock = types.SimpleNamespace(perf_counter=lambda: now[0])
        monkeypatch.setattr(train, "time", clock)
        monkeypatch.setattr(rnn_validation, "time", clock)
        monkeypatch.setattr(train.TrainingRun, "step", costing("step", train.TrainingRun.step, step))
        evaluating = costing("validation", train.evaluate, validation)
        monkeypatch.setattr(train, "evaluate", evaluating)
        monkeypatch.setattr(rnn_validation, "evaluate", evaluating)
        monkeypatch.setattr(train, "save_checkpoint", costing("save", train.save_checkpoint, save))
        return calls

    return install


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """A small repetitive corpus for neural-model training tests: its vocabulary and its encoded splits."""
    from lmstats import CorpusSpec, load_corpus

    path = tmp_path_factory.mktemp("rnn") / "small.txt"
    path.write_text("\n".join(f"the cat sat on the mat number {i % 7} and the dog ran" for i in range(60)) + "\n")
    corpus = load_corpus(CorpusSpec(path))
    vocab = corpus.build_vocab()
    return vocab, corpus.encode(vocab)
