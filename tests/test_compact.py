"""Compact n-gram models (a bit-packed trie, values quantised with KenLM's binning): exact when unquantised, within
the codebook's error when quantised, saved and opened memory-mapped, refused when damaged."""

import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import lmstats
import lmstats.ngram.compact as compact_module
import lmstats.ngram.compact_kernel as compact_kernel
import lmstats.ngram.compact_vectorised as compact_vectorised
from lmstats import EncodedSplit, Lines, LmstatsError, Vocab, native
from lmstats.cli import main
from lmstats.ngram import NgramLM
from lmstats.ngram import model as model_module
from lmstats.ngram.compact import CompactNgramLM
from lmstats.ngram.quantize import bin_means, check_bits, nearest, quantize_backoffs, quantize_probs
from lmstats.ngram.vectorised import vectorised_probs
from lmstats.scoring import matched_lengths

from helpers import assert_one_line_error

WORDS = [f"w{i}" for i in range(40)]


def corpus(seed: int, n: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, len(WORDS) + 1)
    return [list(rng.choice(WORDS, size=rng.integers(1, 12), p=p / p.sum())) for _ in range(n)]


TRAIN, TEST = corpus(0, 400), corpus(1, 60) + [["unseen", "w1", "w2"]]


def encode(vocab: Vocab, lines) -> Lines:
    return Lines.from_seqs([vocab.encode(s) for s in lines])


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.build(TRAIN)


@pytest.fixture(scope="module", params=[("mkn", {}), ("kn", {}), ("eps", {"eps": 0.1, "eps_variant": "textbook"})],
                ids=["mkn", "kn", "eps-textbook"])
def full(request, vocab) -> NgramLM:
    smoothing, params = request.param
    return NgramLM(vocab, 4, smoothing, **params).fit(EncodedSplit("train", encode(vocab, TRAIN), vocab))


@pytest.fixture(params=["c", "numba"])
def backend(request, monkeypatch) -> str:
    """The compiled scorer's loop in C (lmstats/kernels.c; skipped, saying why, where the install built none), then numba's."""
    if request.param == "c" and not native.available():
        pytest.skip("the C loops were not built (no C compiler at install time); numba's are tested")
    if request.param == "numba":
        monkeypatch.setattr(native, "available", lambda: False)
    return request.param


def log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def full_reference(model: NgramLM, units: Lines) -> np.ndarray:
    """ln P by the full model's numpy scorer, called directly (whatever backend is on)."""
    return log(vectorised_probs(model.counts_, model.indexes(), model.estimate_, units, model.vocab.bos_id, model.vocab.predictable_mask,
                                model_module.SCORE_CHUNK))


def numpy_compact(model: CompactNgramLM, units: Lines) -> np.ndarray:
    """ln P by the compact model's numpy scorer, called directly."""
    return log(compact_vectorised.compact_probs(model._tables(), model.meta["low"], model.meta["gamma_unseen"], units,
                                                model.vocab.bos_id, model.vocab.predictable_mask, model_module.SCORE_CHUNK))


def both_scorers(model, units: Lines) -> list[np.ndarray]:
    """ln P of ``units`` through the numpy scorer and through the compiled kernel (C or numba, as the backend is)."""
    model._numpy_positions = 1 << 40  # past the short texts
    return [numpy_compact(model, units), model.logprobs_lines(units)]


def test_an_unquantised_compact_model_scores_bit_for_bit_as_the_full_model(full, vocab, backend):
    units = encode(vocab, TEST).with_eos(vocab.eos_id)
    expected = full_reference(full, units)
    exact = CompactNgramLM.from_model(full, bits=None)
    assert exact._scorer().native is not None if backend == "c" else exact._scorer().native is None
    for got in both_scorers(exact, units):
        assert np.array_equal(got, expected)
    assert np.array_equal(matched_lengths(exact, units), matched_lengths(full, units))
    assert exact.describe()["max_log_error"] == {"prob": [], "backoff": []}


@pytest.mark.parametrize("bits", [None, 4])
@pytest.mark.parametrize("threads", [1, 3])
def test_pieces_and_threads_give_the_same_numbers(full, vocab, backend, bits, threads):
    """Pieces of whole lines and a stream cut mid-line (a piece's first tokens with context before it) score as the numpy
    scorer does, on any number of threads."""
    model = CompactNgramLM.from_model(full, bits=bits)
    lines = encode(vocab, TEST).with_eos(vocab.eos_id)
    stream = Lines.single(lines.ids)
    for units in (lines, stream):
        expected = numpy_compact(model, units)
        for piece in (1, 5, 64, 1 << 16):
            assert np.array_equal(log(model._scorer().probs(units, piece, threads)), expected), (units is stream, piece)


@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_a_text_scored_in_pieces_gives_the_numbers_of_the_whole_text(full, vocab, backend, mode):
    """lmstats score's path: pieces of a few lines (sentence mode: those after a piece's first on the pool of threads),
    the stream carried across them."""
    from lmstats.scoring import TextScorer
    from lmstats.text.reader import TextSource

    model = CompactNgramLM.from_model(full, bits=8)
    lines = encode(vocab, TEST)
    units = lines.with_eos(vocab.eos_id) if mode == "sentence" else Lines.single(lines.with_eos(vocab.eos_id).ids)
    whole = model.logprobs_lines(units.nonempty())
    scorer = TextScorer(model, mode=mode)
    text = "".join(" ".join(words) + "\n" for words in TEST)
    pieces = list(scorer.pieces([TextSource("t", text=text)], chunk_bytes=40))
    assert len(pieces) > 3 and max(len(p.ends) for p in pieces[1:]) >= 2
    assert np.array_equal(np.concatenate([p.logprobs for p in pieces]), whole)


def test_with_the_c_loops_the_numpy_scorer_is_not_used(full, vocab, monkeypatch):
    """Where the C scorer is built, a compact model scores in C from its first position (nothing to start, as
    NgramLM.logprobs_lines); with numba only, its first positions go to numpy."""
    units = encode(vocab, TEST).with_eos(vocab.eos_id)
    expected = numpy_compact(CompactNgramLM.from_model(full, bits=8), units)
    used = []
    numpy_scorer, c_scorer, numba_scorer = compact_vectorised.compact_probs, native.compact_score, compact_kernel._score
    monkeypatch.setattr(compact_vectorised, "compact_probs", lambda *a: used.append("numpy") or numpy_scorer(*a))
    monkeypatch.setattr(native, "compact_score", lambda *a: used.append("c") or c_scorer(*a))
    monkeypatch.setattr(compact_kernel, "_score", lambda *a: used.append("numba") or numba_scorer(*a))
    for backend in ("c", "numba"):
        if backend == "c" and not native.available():
            continue
        with monkeypatch.context() as m:
            if backend == "numba":
                m.setattr(native, "available", lambda: False)
            fresh = CompactNgramLM.from_model(full, bits=8)  # no position scored yet
            used.clear()
            assert np.array_equal(fresh.logprobs_lines(units), expected)
            assert used == ([backend] if backend == "c" else ["numpy"])
    if not native.available():
        pytest.skip("the C loops were not built (no C compiler at install time); only numba's start was tested")


def test_garbage_records_read_nothing_out_of_bounds(full, vocab):
    """Records of random bits (each array of its right length: a model damaged past what opening can check) score the
    same in C and in numba (a read out of bounds would crash or differ): the bounds on every read hold whatever a record says."""
    if not native.available():
        pytest.skip("the C loops were not built (no C compiler at install time)")
    units = encode(vocab, TEST).with_eos(vocab.eos_id)
    rng = np.random.default_rng(5)
    for bits in (None, 3):
        model = CompactNgramLM.from_model(full, bits=bits)
        for k in range(1, model.order + 1):
            words = model.arrays[f"records{k}"]
            model.arrays[f"records{k}"] = rng.integers(0, 1 << 64, size=len(words), dtype=np.uint64)
        scorer = model._scorer()
        outs = []
        for c in (True, False):
            if not c:
                scorer.native = None
            outs.append(scorer.probs(units, 1 << 16))
        assert np.array_equal(outs[0], outs[1]) and np.all(np.isfinite(outs[0])) and np.all(outs[0] >= 0)


def test_kenlm_binning_by_hand():
    """build_binary's MakeBins: sorted values cut at n*(i+1)//B, each bin's mean; encoded to the nearest (ties: higher)."""
    logs = np.array([-1.0, -6.0, -4.0, -2.0, -5.0, -3.0])
    assert bin_means(logs, 4).tolist() == [-6.0, -4.5, -3.0, -1.5]  # bins {-6}, {-5,-4}, {-3}, {-2,-1}
    assert nearest(np.array([-3.0]), np.array([-4.0, -2.0])).tolist() == [1]
    book = quantize_probs(np.exp(logs), 2)
    assert book.bits == 2 and book.codes.tolist() == [3, 0, 1, 3, 1, 2]
    assert np.allclose(np.log(book.values), [-6.0, -4.5, -3.0, -1.5]) and book.max_log_error == pytest.approx(0.5)
    # backoffs: codes 0 and 1 reserved for a weight of exactly 1 (no context / a context), B - 2 bins for the rest
    back = quantize_backoffs(np.exp([0.0, 0.0, -1.0, -2.0, -3.0]), np.array([False, True, True, True, True]), 2)
    assert back.codes.tolist() == [0, 1, 3, 3, 2]  # bins {-3}, {-2,-1}: means -3, -1.5
    assert np.allclose(np.log(back.values), [0.0, 0.0, -3.0, -1.5]) and back.max_log_error == pytest.approx(0.5)
    # fewer distinct values than bins: each its own code, exact, and the code only as wide as they need
    few = quantize_probs(np.array([0.5, 0.25, 0.5]), 8)
    assert few.bits == 1 and few.max_log_error == 0.0 and np.array_equal(few.values[few.codes], [0.5, 0.25, 0.5])


@pytest.mark.parametrize("bits", [0, 1, 26, 40, 8.0, True])
def test_bits_outside_kenlms_range_are_refused(bits):
    with pytest.raises(LmstatsError, match="--quantize"):
        check_bits(bits)


@pytest.mark.parametrize("bits", [3, 8])
def test_quantised_probabilities_within_the_codebooks_error(full, vocab, bits, backend):
    units = encode(vocab, TEST).with_eos(vocab.eos_id)
    expected = full_reference(full, units)
    q = CompactNgramLM.from_model(full, bits=bits)
    numpy_scores, kernel_scores = both_scorers(q, units)
    assert np.array_equal(numpy_scores, kernel_scores)
    bound = q.describe()["log_sum_bound"]  # one probability and at most one backoff weight per order read per token
    assert np.all(np.abs(numpy_scores - expected) <= bound + 1e-12)
    assert bits == 8 or not np.array_equal(numpy_scores, expected)  # 3 bits: fewer codes than values


def context_sums(model, vocab: Vocab, contexts) -> np.ndarray:
    """exp(ln P) summed over the predictable set after each context."""
    words = [i for i in range(len(vocab)) if vocab.predictable_mask[i]]
    seqs = [np.array(list(vocab.encode(c)) + [w]) for c in contexts for w in words]
    lp = model.logprobs_lines(Lines.from_seqs(seqs))
    ends = np.cumsum([len(s) for s in seqs]) - 1
    return np.exp(lp[ends]).reshape(len(contexts), len(words)).sum(axis=1)


def test_every_context_sums_to_one(full, vocab, backend):
    contexts = [[], ["w0"], ["w1", "w0"], ["w0", "w0", "w1"], ["w3", "w2", "w1"], ["unseen"]]
    exact = CompactNgramLM.from_model(full, bits=None)
    assert np.allclose(context_sums(exact, vocab, contexts), 1.0, atol=1e-9)
    q = CompactNgramLM.from_model(full, bits=4)
    bound = q.describe()["log_sum_bound"]
    sums = context_sums(q, vocab, contexts)
    assert np.all((sums >= math.exp(-bound)) & (sums <= math.exp(bound)))
    assert not np.allclose(sums, 1.0, atol=1e-9)  # quantised: no renormalisation, as KenLM


def test_round_trip_opens_memory_mapped_and_scores_the_same(full, vocab, tmp_path, backend):
    units = encode(vocab, TEST).with_eos(vocab.eos_id)
    q = CompactNgramLM.from_model(full, bits=8)
    q.save(tmp_path / "q")
    opened = lmstats.load(tmp_path / "q")
    assert isinstance(opened, CompactNgramLM) and opened.bits == 8
    assert all(isinstance(a, np.memmap) for a in opened.arrays.values())
    assert set(opened.arrays) == set(q.arrays) and all(np.array_equal(opened.arrays[n], q.arrays[n]) for n in q.arrays)
    assert np.array_equal(both_scorers(opened, units)[1], both_scorers(q, units)[1])
    assert opened.describe() == q.describe()


def test_a_compact_model_is_no_source_for_another(full):
    with pytest.raises(LmstatsError, match="full n-gram model"):
        CompactNgramLM.from_model(CompactNgramLM.from_model(full, bits=8), bits=4)


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    """A small local corpus (train/valid/test files) and a test text."""
    folder = tmp_path_factory.mktemp("corpus")
    for name, lines in (("train", TRAIN), ("valid", corpus(2, 40)), ("test", TEST)):
        (folder / f"{name}.txt").write_text("".join(" ".join(s) + "\n" for s in lines), encoding="utf-8")
    return folder


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_quantize_writes_a_compact_model_that_scores_as_the_full_one(text_dir, tmp_path, backend):
    fitted = run("ngram", text_dir, "--n", 4, "--out", tmp_path / "full", "--eval", "test", "--json")
    quantised = run("ngram", text_dir, "--n", 4, "--out", tmp_path / "q8", "--quantize", 8, "--eval", "test", "--json")
    assert fitted.exit_code == 0 and quantised.exit_code == 0, quantised.output
    info = json.loads(quantised.stdout)["model"]
    assert info["quantize"] == 8 and info["ngrams_per_order"] == json.loads(fitted.stdout)["model"]["ngrams_per_order"]
    assert json.loads((tmp_path / "q8" / "meta.json").read_text())["format"] == compact_module.FORMAT
    text = text_dir / "test.txt"
    scores = {name: json.loads(run("score", tmp_path / name, text, "--json").stdout) for name in ("full", "q8")}
    assert scores["q8"]["description"] == "4-gram MKN (compact, 8-bit)" and scores["q8"]["n_tokens"] == scores["full"]["n_tokens"]
    bound = info["log_sum_bound"]
    assert abs(scores["q8"]["nll_sum"] - scores["full"]["nll_sum"]) <= bound * scores["full"]["n_tokens"]
    cells = {name: [c.split()[:2] for c in run("score", tmp_path / name, text, "--per-token").stdout.split("\t")
                     if not c.startswith("Total")] for name in ("full", "q8")}  # query's "token=id length log10p"
    assert cells["q8"] == cells["full"]  # the same tokens, ids and n-gram lengths (the trie stores the same n-grams)
    # an existing model turned compact: exact values score as the full model (same nll), --load scores it
    exact = run("ngram", "--load", tmp_path / "full", "--out", tmp_path / "exact", "--compact", "--eval", "test", "--json")
    assert exact.exit_code == 0, exact.output
    loaded = json.loads(run("ngram", "--load", tmp_path / "exact", "--eval", "test", "--json").stdout)
    assert loaded["results"]["test"]["sentence"]["nll_sum"] == json.loads(fitted.stdout)["results"]["test"]["sentence"]["nll_sum"]


def test_per_token_rows_of_an_exact_compact_model_equal_the_full_models(text_dir, tmp_path, backend):
    assert run("ngram", text_dir, "--n", 4, "--out", tmp_path / "full", "--eval", "none").exit_code == 0
    assert run("ngram", "--load", tmp_path / "full", "--out", tmp_path / "exact", "--compact", "--eval", "none").exit_code == 0
    rows = [run("score", tmp_path / name, text_dir / "test.txt", "--per-token").stdout for name in ("full", "exact")]
    assert rows[0] == rows[1] and " 4 " in rows[0]  # query's rows, n-gram lengths included


@pytest.mark.parametrize("bits", ["0", "40", "x"])
def test_quantize_out_of_range_is_one_error_and_writes_nothing(text_dir, tmp_path, bits):
    result = run("ngram", text_dir, "--out", tmp_path / "m", "--quantize", bits)
    assert_one_line_error(result, "--quantize")
    assert list(tmp_path.iterdir()) == []


def test_refused_combinations(text_dir, tmp_path):
    assert_one_line_error(run("ngram", text_dir, "--out", tmp_path / "m.npz", "--quantize", 8), "folder of .npy")
    assert run("ngram", text_dir, "--out", tmp_path / "q", "--quantize", 8, "--eval", "none").exit_code == 0
    assert_one_line_error(run("ngram", "--load", tmp_path / "q", "--out", tmp_path / "q4", "--quantize", 4), "compact model")
    assert_one_line_error(run("ngram", "--load", tmp_path / "q", "--arpa", tmp_path / "q.arpa"), "compact model")
    assert not (tmp_path / "q4").exists() and not (tmp_path / "q.arpa").exists()
    # a compact model's folder may be replaced by a full model, and the other way round
    assert run("ngram", text_dir, "--out", tmp_path / "q", "--eval", "none").exit_code == 0
    assert run("ngram", text_dir, "--out", tmp_path / "q", "--compact", "--eval", "none").exit_code == 0


@pytest.fixture
def saved(full, tmp_path):
    path = tmp_path / "q"
    CompactNgramLM.from_model(full, bits=8).save(path)
    return path


def damage(path, how: str) -> str:
    """Damage the saved model at ``path``; the name the error must give."""
    if how == "truncated":
        data = (path / "records3.npy").read_bytes()
        (path / "records3.npy").write_bytes(data[: len(data) // 2])
        return "records3.npy"
    if how == "missing":
        (path / "prob2.npy").unlink()
        return "prob2.npy"
    if how == "wrong length":
        np.save(path / "pointers2.npy", np.zeros(3, dtype=np.int64))
        return "pointers2.npy"
    if how == "wrong dtype":
        np.save(path / "backoff1.npy", np.zeros(len(np.load(path / "backoff1.npy")), dtype=np.float32))
        return "backoff1.npy"
    meta = json.loads((path / "meta.json").read_text())
    if how == "bad layout":
        meta["layout"][1]["word_bits"] = 99
        (path / "meta.json").write_text(json.dumps(meta))
        return "layout"
    if how == "narrow word codes":  # a width that would read other words' ids
        meta["layout"][2]["word_bits"] -= 1
        (path / "meta.json").write_text(json.dumps(meta))
        return "layout"
    (path / "meta.json").write_text("{not json")  # foreign: no meta.json of either format
    return "not an lmstats n-gram model"


@pytest.mark.parametrize("how", ["truncated", "missing", "wrong length", "wrong dtype", "bad layout", "narrow word codes",
                                 "foreign"])
def test_a_damaged_compact_model_is_one_error_naming_the_array(saved, tmp_path, how):
    name = damage(saved, how)
    with pytest.raises(LmstatsError, match=name):
        lmstats.load(saved)
    assert_one_line_error(run("score", saved, "-"), name)
    assert_one_line_error(run("ngram", "--load", saved), name)


def test_the_saved_folder_holds_only_its_own_files(saved):
    names = {p.name for p in saved.iterdir()}
    meta = json.loads((saved / "meta.json").read_text())
    assert names == {"meta.json"} | {f"{n}.npy" for n in meta["arrays"]}
    shutil.rmtree(saved)
