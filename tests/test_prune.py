"""Count pruning (``--prune``, lmplz's meaning): KenLM's own output, a hand-computed case, sums to 1, the kenlm module,
the same model out of core and on Dask, and bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import EncodedSplit, Lines, LmstatsError, Vocab
from lmstats.cli import main
from lmstats.ngram import NgramLM
from lmstats.ngram.arpa import write_arpa
from lmstats.ngram.arpa_reader import read_arpa
from lmstats.ngram.prune import check_thresholds
from lmstats.units import scored_units

from helpers import assert_one_line_error, assert_same_tables
from oracles import log10_sentence_scores

DATA = Path(__file__).parent / "data" / "prune"
LMPLZ_ARPA = DATA / "lmplz-o4-prune-0-1-1-2.arpa"  # lmplz -o 4 --prune 0 1 1 2 on train.txt (tests/data/README.md)


def encoded(sentences, vocab=None):
    vocab = vocab or Vocab.build(sentences)
    return EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in sentences]), vocab)


def fixture_text() -> list[list[str]]:
    return [line.split() for line in (DATA / "train.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def p(model, context, word):
    """P(word | <s> context) through the protocol."""
    ids = np.append(model.vocab.encode(context), model.vocab.eos_id if word == "</s>" else model.vocab.id(word))
    return math.exp(model.logprobs(ids)[-1])


def test_the_arpa_file_equals_lmplz_prune(tmp_path):
    """lmplz -o 4 --prune 0 1 1 2 (KenLM 0.3.0) on a 15k-token text: the same n-grams, log10 probabilities and backoffs to 1e-5."""
    train = encoded(fixture_text())
    model = NgramLM(train.vocab, 4, "mkn", prune=(0, 1, 1, 2)).fit(train)
    write_arpa(model, tmp_path / "ours.arpa")
    ours = read_arpa(tmp_path / "ours.arpa")
    theirs = read_arpa(LMPLZ_ARPA, vocab=ours.vocab)
    assert [len(t) for t in model.counts_.tables] == [658, 1387, 1091, 289]  # the header of lmplz's file
    for k in range(1, 5):
        assert np.array_equal(ours.counts_.table(k).keys, theirs.counts_.table(k).keys), k  # the same n-grams
        pa, pb = ours.estimate_.probs[k - 1], theirs.estimate_.probs[k - 1]
        if k == 1:
            pa, pb = np.delete(pa, ours.vocab.bos_id), np.delete(pb, ours.vocab.bos_id)  # <s>: never predicted
        np.testing.assert_allclose(np.log10(pa), np.log10(pb), rtol=0, atol=1e-5)
        if k < 4:
            np.testing.assert_allclose(np.log10(ours.estimate_.backoffs[k - 1]), np.log10(theirs.estimate_.backoffs[k - 1]),
                                       rtol=0, atol=1e-5)
    unpruned = NgramLM(train.vocab, 4, "mkn").fit(train)
    assert model.estimate_.discounts == unpruned.estimate_.discounts  # counts-of-counts taken before pruning


def test_hand_computed_kneser_ney_bigrams_with_pruning():
    """'a b', 'a b', 'a c'; kn, bigrams, --prune 0,1 drops 'a c' and 'c </s>' (seen once).
    Unigrams (continuation counts a1 b1 c1 </s>2, sum 5, D1 = 3/(3+2) = 0.6, V = 5):
    P(a) = P(b) = P(c) = 0.4/5 + 2.4/5/5 = 0.176, P(</s>) = 1.4/5 + 0.096 = 0.376, P(<unk>) = 0.096.
    Bigrams (raw counts <s>a 3, ab 2, b</s> 2, ac 1, c</s> 1: D2 = 2/(2 + 2·2) = 1/3):
    γ(a) = (D2 + 1) / 3 = 4/9 (the dropped 'a c' gives its whole count), P(b|a) = (2 - 1/3)/3 + 4/9·0.176,
    P(c|a) = 4/9·0.176; γ(c) = 1/1 (its only child dropped), P(</s>|c) = 0.376; γ(<s>) = (1/3)/3."""
    train = encoded([["a", "b"], ["a", "b"], ["a", "c"]])
    model = NgramLM(train.vocab, 2, "kn", prune=(0, 1)).fit(train)
    assert len(model.counts_.table(2)) == 3  # <s> a, a b, b </s>
    assert p(model, [], "a") == pytest.approx(8 / 9 + 0.176 / 9, rel=1e-12)
    assert p(model, ["a"], "b") == pytest.approx(5 / 9 + 4 / 9 * 0.176, rel=1e-12)
    assert p(model, ["a"], "c") == pytest.approx(4 / 9 * 0.176, rel=1e-12)
    assert p(model, ["a", "c"], "</s>") == pytest.approx(0.376, rel=1e-12)
    assert p(model, ["a", "b"], "</s>") == pytest.approx(5 / 6 + 0.376 / 6, rel=1e-12)
    unpruned = NgramLM(model.vocab, 2, "kn").fit(train)
    assert p(unpruned, ["a"], "c") == pytest.approx(2 / 9 + 2 / 9 * 0.176, rel=1e-12)


def test_a_lower_order_ngram_is_pruned_by_its_raw_count_not_its_continuation_count():
    """'x y' occurs 3 times, always after 'a' (continuation count 1): --prune 0,1 keeps it, as lmplz does (its ARPA for
    this text has exactly these n-grams)."""
    text = [s.split() for s in ["a x y b", "a x y c", "a x y d", "b c d", "c d e"]]
    model = NgramLM(Vocab.build(text), 3, "mkn", prune=(0, 1)).fit(encoded(text))
    words = lambda k: {" ".join(model.vocab.token(int(i)) for i in row) for row in _grams(model, k)}  # noqa: E731
    assert words(2) == {"<s> a", "a x", "x y", "c d", "d </s>"}
    assert words(3) == {"<s> a x", "a x y"}


def _grams(model, k):
    from lmstats.ngram.arpa import _words_of

    return _words_of(model.counts_, k, 0, len(model.counts_.table(k)))


SUM_CORPUS = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the mat was red",
    "on the log sat a frog", "the frog and the cat", "a red dog sat", "the cat the cat the cat",
]]


@pytest.mark.parametrize("smoothing", ["mkn", "kn", "abs"])
@pytest.mark.parametrize("order, prune", [(2, (0, 1)), (3, (0, 1)), (4, (0, 0, 1, 2)), (5, (0, 1, 1, 1))])
@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_every_context_sums_to_one_after_pruning(smoothing, order, prune, mode):
    vocab = Vocab.build(SUM_CORPUS)
    model = NgramLM(vocab, order, smoothing, mode=mode, prune=prune).fit(encoded(SUM_CORPUS, vocab))
    unpruned = NgramLM(vocab, order, smoothing, mode=mode).fit(encoded(SUM_CORPUS, vocab))
    assert sum(map(len, model.counts_.tables)) < sum(map(len, unpruned.counts_.tables))  # something was dropped
    predictable = vocab.predictable_ids
    for ctx in [[], ["the"], ["the", "cat"], ["sat", "on", "the"], ["cat", "the", "cat"], ["mat", "dog"], ["zebra", "the"],
                ["a", "frog", "<unk>"], ["on", "the", "log", "sat"]]:
        units = Lines.from_seqs([np.append(vocab.encode(ctx), w) for w in predictable])
        total = np.exp(model.logprobs_lines(units)[units.bounds[1:] - 1]).sum()
        assert total == pytest.approx(1.0, abs=1e-9), (ctx, total)


def test_the_fixture_models_contexts_sum_to_one():
    """Every context of the pruned 4-gram model (kept n-grams' contexts and a sample of others)."""
    train = encoded(fixture_text())
    model = NgramLM(train.vocab, 4, "mkn", prune=(0, 1, 1, 2)).fit(train)
    contexts = [list(row) for k in (1, 2, 3) for row in _grams(model, k)[::40]]
    predictable = train.vocab.predictable_ids
    for ctx in contexts:
        ctx = [w for w in ctx if w != train.vocab.bos_id]  # a context that starts with <s> is a sentence start
        units = Lines.from_seqs([np.append(np.asarray(ctx, dtype=np.int64), w) for w in predictable])
        assert np.exp(model.logprobs_lines(units)[units.bounds[1:] - 1]).sum() == pytest.approx(1.0, abs=1e-9), ctx


def test_the_kenlm_module_reads_the_pruned_arpa_and_agrees(tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="the kenlm module is a test extra: pip install -e '.[test]'")
    sentences = fixture_text()
    train = encoded(sentences)
    model = NgramLM(train.vocab, 4, "mkn", prune=(0, 1, 1, 2)).fit(train)
    write_arpa(model, tmp_path / "m.arpa")
    ken = kenlm.Model(str(tmp_path / "m.arpa"))
    test = sentences[::25] + [["zebra", *sentences[0]], sentences[1] + ["unseenword"]]
    ours = log10_sentence_scores(model, scored_units(encoded(test, train.vocab), "sentence"))
    theirs = [sum(prob for prob, _, _ in ken.full_scores(" ".join(s), bos=True, eos=True)) for s in test]
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_saved_pruned_models_round_trip_and_refuse_resmoothing(tmp_path):
    train = encoded(SUM_CORPUS)
    model = NgramLM(train.vocab, 3, "mkn", prune=(0, 1)).fit(train)
    assert model.prune == (0, 1, 1) and model.describe()["prune"] == [0, 1, 1]
    ids = train.vocab.encode(["the", "cat", "sat", "on", "a", "log"])
    for path in (tmp_path / "folder", tmp_path / "m.npz"):
        model.save(path)
        again = NgramLM.load(path)
        assert again.prune == (0, 1, 1) and [len(t) for t in again.counts_.tables] == [len(t) for t in model.counts_.tables]
        np.testing.assert_array_equal(again.logprobs(ids), model.logprobs(ids))
    for call in (lambda: model.with_order(2), lambda: model.resmooth(smoothing="kn")):
        with pytest.raises(LmstatsError, match="a model pruned by count thresholds keeps the counts of its kept n-grams only"):
            call()
    zero = NgramLM(train.vocab, 3, "mkn", prune=(0,)).fit(train)  # all thresholds 0: lmplz's "no pruning"
    assert zero.prune is None and "prune" not in zero.describe()
    np.testing.assert_array_equal(zero.logprobs(ids), NgramLM(train.vocab, 3, "mkn").fit(train).logprobs(ids))


def assert_same_model(a, b):
    assert_same_tables(a.counts_, b.counts_)
    for x, y in zip(a.estimate_.probs + a.estimate_.backoffs, b.estimate_.probs + b.estimate_.backoffs, strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))  # bit for bit


def out_of_core(monkeypatch):
    """Any text counted out of core, the estimate and the pruning in slices of a few hundred rows."""
    import lmstats.ngram.chunked as chunked
    import lmstats.ngram.plan as plan
    from lmstats.resources import current_rss

    monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 1 << 30)
    monkeypatch.setattr(chunked, "BYTES_PER_ROW", 1 << 40)
    monkeypatch.setattr(chunked, "MIN_SLICE", 300)
    return current_rss() + (512 << 20)


@pytest.mark.parametrize("smoothing", ["mkn", "kn"])
def test_out_of_core_pruning_gives_the_in_memory_model(tmp_path, monkeypatch, smoothing):
    train = encoded(fixture_text())
    in_memory = NgramLM(train.vocab, 4, smoothing, prune=(0, 1, 1, 2)).fit(train)
    memory = out_of_core(monkeypatch)
    on_disk = NgramLM(train.vocab, 4, smoothing, prune=(0, 1, 1, 2)).fit(train, memory=memory, tmp=tmp_path)
    assert isinstance(on_disk.counts_.table(4).keys, np.memmap) and isinstance(on_disk.estimate_.probs[3], np.memmap)
    assert_same_model(in_memory, on_disk)
    write_arpa(in_memory, tmp_path / "a.arpa")
    write_arpa(on_disk, tmp_path / "b.arpa")
    assert (tmp_path / "a.arpa").read_bytes() == (tmp_path / "b.arpa").read_bytes()
    on_disk.save(tmp_path / "saved")
    assert_same_model(in_memory, NgramLM.load(tmp_path / "saved"))
    assert not list(tmp_path.glob("lmstats-model-*/pruned-*"))  # the pruned arrays replaced the unpruned ones


@pytest.mark.slow
@pytest.mark.parametrize("tight", [False, True])
def test_the_dask_engine_prunes_to_the_local_model(tmp_path, monkeypatch, tight):
    pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")
    from lmstats.ngram.dask_cluster import dask_client

    train = encoded(fixture_text())
    local = NgramLM(train.vocab, 4, prune=(0, 1, 1, 2)).fit(train)
    memory = out_of_core(monkeypatch) if tight else None
    with dask_client(None, workers=2, local_directory=tmp_path) as client:
        dask = NgramLM(train.vocab, 4, prune=(0, 1, 1, 2)).fit(train, memory=memory, tmp=tmp_path, engine="dask", scheduler=client)
    assert isinstance(dask.counts_.table(4).keys, np.memmap) == tight
    assert_same_model(local, dask)


@pytest.mark.parametrize("values, pattern", [
    ((0, 1, 1, 1), "--prune takes 1 to 3 thresholds for a 3-gram model"),
    ((), "--prune takes 1 to 3 thresholds"),
    ((0, -1), "--prune thresholds are counts >= 0, got 0,-1"),
    ((0, 1.5), "--prune thresholds are whole counts"),
    ((1, 1), "the unigram threshold must be 0"),
    ((0, 2, 1), "must not decrease from one order to the next, got 0,2,1"),
])
def test_bad_thresholds_are_refused_with_the_reason(values, pattern):
    with pytest.raises(LmstatsError, match=pattern):
        check_thresholds(values, 3, "mkn")
    assert check_thresholds((0, 1), 4, "mkn") == (0, 1, 1, 1)  # the last value repeats upwards, as lmplz pads


def test_the_cli_prunes_and_refuses_bad_prune_options(tmp_path):
    run = lambda *args: CliRunner().invoke(main, ["ngram", *args])  # noqa: E731
    done = run("--prune", "0,1", "--json", "--out", str(tmp_path / "m"), "--eval", "test")
    assert done.exit_code == 0, done.output
    full = json.loads(run("--json", "--out", str(tmp_path / "full"), "--eval", "test").stdout)
    info = json.loads(done.stdout)
    assert info["model"]["prune"] == [0, 1, 1]
    assert info["model"]["ngrams_per_order"][0] == full["model"]["ngrams_per_order"][0]
    assert all(a < b for a, b in zip(info["model"]["ngrams_per_order"][1:], full["model"]["ngrams_per_order"][1:], strict=True))
    assert_one_line_error(run("--n", "3", "--prune", "0,1,1,1", "--out", str(tmp_path / "x")),
                          "--prune takes 1 to 3 thresholds for a 3-gram model")
    assert_one_line_error(run("--prune", "0,-1"), "--prune thresholds are counts >= 0, got 0,-1")
    assert_one_line_error(run("--prune", "0,x"), "--prune takes whole counts per order")
    assert_one_line_error(run("--prune", "0,2,1"), "must not decrease")
    assert_one_line_error(run("--smoothing", "wb", "--prune", "0,1"), "--prune applies to --smoothing mkn, kn, abs only, not wb")
    assert_one_line_error(run("--load", str(tmp_path / "m"), "--prune", "0,1"), "--prune")


def test_the_default_output_name_says_the_thresholds():
    from lmstats.ngram.recipe import NgramRecipe

    assert NgramRecipe(4, "mkn", prune=(0, 1, 1, 2)).label == "4mkn-prune0-1-1-2"
    assert NgramRecipe(3, "mkn", prune=(0,)).label == "3mkn"
