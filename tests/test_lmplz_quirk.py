"""lmplz's counts-of-counts (:mod:`lmstats.ngram.lmplz`): the one n-gram per lower order that lmplz counts with its raw
count, found by a pure-Python oracle, and KenLM's own ARPA files on a text where that n-gram changes the discounts."""

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from lmstats import EncodedSplit, Lines, Vocab
from lmstats.ngram import NgramLM
from lmstats.ngram.arpa import write_arpa
from lmstats.ngram.arpa_reader import read_arpa
from lmstats.ngram.lmplz import lmplz_last_counts, shift_counts_of_counts
from lmstats.ngram.smoothing import estimate

DATA = Path(__file__).parent / "data" / "quirk"  # tests/data/README.md says how each file was made


def encoded(sentences, vocab=None):
    vocab = vocab or Vocab.build(sentences)
    return EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in sentences]), vocab)


def fixture_text() -> list[list[str]]:
    return [line.split() for line in (DATA / "train.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def oracle(sentences: list[list[str]], order: int) -> dict[int, tuple[int, int]]:
    """lmplz's stream, spelled out: every N-gram of the padded text, last word first, sorted by lmplz's word ids
    (<unk> <s> </s>, then words as they first occur); the greatest one's suffixes up to <s>, with their continuation
    and raw counts counted from scratch."""
    ids = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for s in sentences:
        for w in s:
            ids.setdefault(w, len(ids))
    windows = []
    for s in sentences:
        padded = ["<s>"] * order + s + ["</s>"]
        for i in range(order, len(padded)):
            windows.append(tuple(padded[i - j] for j in range(order + 1)))  # last word first, one word more
    last = max(windows, key=lambda w: [ids[x] for x in w[:order]])
    out = {}
    for k in range(1, order):
        gram = last[:k]
        if "<s>" in gram:
            break
        matching = [w for w in windows if w[:k] == gram]
        out[k] = (len({w[k] for w in matching}), len(matching))
    return out


def random_text(rng: random.Random) -> list[list[str]]:
    words = [f"w{i}" for i in range(rng.randint(2, 9))]
    return [[rng.choice(words) for _ in range(rng.randint(1, 7))] for _ in range(rng.randint(1, 12))]


@pytest.mark.parametrize("seed", range(60))
def test_the_raw_counted_ngram_is_the_oracles(seed):
    sentences = random_text(random.Random(seed))
    order = 2 + seed % 4
    train = encoded(sentences)
    vocab = train.vocab
    units = Lines.from_seqs([np.append(vocab.encode(s), vocab.eos_id) for s in sentences])
    got = lmplz_last_counts(units, order, len(vocab), vocab.bos_id, vocab.eos_id)
    assert got == oracle(sentences, order)


def test_shifting_counts_of_counts_by_hand():
    assert shift_counts_of_counts([5, 4, 3, 2], adjusted=1, raw=3) == [4, 4, 4, 2]
    assert shift_counts_of_counts([5, 4, 3, 2], adjusted=2, raw=9) == [5, 3, 3, 2]  # raw above 4: leaves the buckets
    assert shift_counts_of_counts([5, 4, 3, 2], adjusted=3, raw=3) == [5, 4, 3, 2]


def test_the_fixture_exercises_the_quirk():
    """The text ends with 'q zzz' three times: 'zzz' and 'q zzz' have continuation count 1 and raw count 3."""
    sentences = fixture_text()
    train = encoded(sentences)
    counts = NgramLM(train.vocab, 3, "mkn").fit(train).counts_
    assert counts.lmplz_last == {1: (1, 3), 2: (1, 3)} == oracle(sentences, 3)


@pytest.mark.parametrize("arpa, prune", [("lmplz-o3.arpa", None), ("lmplz-o3-prune-0-1-1.arpa", (0, 1, 1))])
def test_the_arpa_equals_lmplz_where_the_quirk_moves_the_discounts(tmp_path, arpa, prune):
    train = encoded(fixture_text())
    model = NgramLM(train.vocab, 3, "mkn", prune=prune).fit(train)
    write_arpa(model, tmp_path / "ours.arpa")
    ours = read_arpa(tmp_path / "ours.arpa")
    theirs = read_arpa(DATA / arpa, vocab=ours.vocab)
    for k in range(1, 4):
        assert np.array_equal(ours.counts_.table(k).keys, theirs.counts_.table(k).keys), k
        pa, pb = ours.estimate_.probs[k - 1], theirs.estimate_.probs[k - 1]
        if k == 1:
            pa, pb = np.delete(pa, ours.vocab.bos_id), np.delete(pb, ours.vocab.bos_id)
        np.testing.assert_allclose(np.log10(pa), np.log10(pb), rtol=0, atol=1e-5)
        if k < 3:
            np.testing.assert_allclose(np.log10(ours.estimate_.backoffs[k - 1]), np.log10(theirs.estimate_.backoffs[k - 1]),
                                       rtol=0, atol=1e-5)
    if prune is None:  # without the raw-counted n-grams (the textbook's counts-of-counts) the discounts differ
        counts = model.counts_
        textbook = estimate(dataclasses.replace(counts, lmplz_last={}), model._spec(), train.vocab.predictable_mask)
        assert textbook.discounts[1] != model.estimate_.discounts[1]
        bos = train.vocab.bos_id
        off = np.abs(np.log10(np.delete(textbook.probs[0], bos)) - np.log10(np.delete(model.estimate_.probs[0], bos))).max()
        assert off > 1e-4  # this text tells the two apart (the model above equals lmplz to 1e-5)


def test_a_saved_model_keeps_the_raw_counted_ngrams(tmp_path):
    train = encoded(fixture_text())
    model = NgramLM(train.vocab, 3, "mkn").fit(train)
    for path in (tmp_path / "folder", tmp_path / "m.npz"):
        model.save(path)
        again = NgramLM.load(path)
        assert again.counts_.lmplz_last == {1: (1, 3), 2: (1, 3)}
        assert again.estimate_.discounts == model.estimate_.discounts
