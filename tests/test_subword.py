"""Subword levels: pieces learned from the training split only, deterministic, round-tripping to the words,
the word level's text size, stored with models and reused when they are scored again."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import CorpusSpec, Lines, UniformLM, evaluate, load_corpus
from lmstats.cli import main
from lmstats.ngram import NgramLM
from lmstats.text.subword import WORD_START, PieceTable, expand_lines, most_pieces, smallest_size, train_subword
from lmstats.vocab import BOS, EOS, UNK

from helpers import assert_one_line_error

pytest.importorskip("tokenizers", reason="the subword levels need the 'tokenizers' package (a dependency of lmstats)")

WORDS = ("the cat sat on the mat while the other cats were sitting and the dog was running after "
         "a frog that jumped over the logs near the river bank").split()


def write_splits(folder, test_extra: str = "") -> None:
    """A folder with predefined train/valid/test files (seeded word salad)."""
    gen = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 120), ("valid", 20), ("test", 20)):
        lines = [" ".join(gen.choice(WORDS, size=gen.integers(2, 12))) for _ in range(n)]
        if name == "test":
            lines.append(f"the <unk> sat on zqxjv {test_extra}".strip())  # a literal <unk>, a word of unseen letters
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def splits_dir(tmp_path):
    folder = tmp_path / "corpus"
    write_splits(folder)
    return folder


def test_expand_lines_by_hand():
    # word types 0 "ab" -> pieces [5, 6]; 1 "c" -> [7]; 2 "<unk>" -> [0]
    table = PieceTable(np.array([5, 6, 7, 0], dtype=np.int32), np.array([0, 2, 3]), np.array([2, 1, 1]))
    ids, lengths = expand_lines(np.array([0, 1, 1, 2, 0], dtype=np.int32), np.array([3, 0, 2]), table)
    assert ids.tolist() == [5, 6, 7, 7, 0, 5, 6] and lengths.tolist() == [4, 0, 3]


@pytest.mark.parametrize("level", ["bpe", "unigram"])
def test_pieces_round_trip_to_the_words(splits_dir, level):
    words = load_corpus(CorpusSpec(splits_dir))
    pieces = load_corpus(CorpusSpec(splits_dir, level=level, bpe_vocab=60))
    assert pieces.spec.bpe_vocab == 60 and pieces.meta["tokenizer"]["kind"] == level
    for split in ("train", "valid", "test"):
        for w, p in zip(words.sentences(split), pieces.sentences(split), strict=True):
            if "zqxjv" in w:  # letters the training split never showed become <unk> pieces
                assert UNK in p
                continue
            assert "".join(p).replace(WORD_START, " ").strip() == " ".join(w)
    assert pieces.part("train").n_tokens > words.part("train").n_tokens  # words were cut


def test_a_literal_unk_stays_one_token(splits_dir):
    corpus = load_corpus(CorpusSpec(splits_dir, level="bpe", bpe_vocab=60))
    last = corpus.sentences("test")[-1]
    assert last[:2] == [f"{WORD_START}the", UNK] and last[2].startswith(f"{WORD_START}s")  # then the pieces of "sat"


def test_training_is_deterministic_and_uses_the_train_split_only(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_splits(a)
    write_splits(b, test_extra="supercalifragilistic supercalifragilistic supercalifragilistic")
    first = load_corpus(CorpusSpec(a, level="bpe", bpe_vocab=80))
    again = load_corpus(CorpusSpec(a, level="bpe", bpe_vocab=80))
    other_test = load_corpus(CorpusSpec(b, level="bpe", bpe_vocab=80))
    assert first.meta["tokenizer"] == again.meta["tokenizer"] == other_test.meta["tokenizer"]
    assert np.array_equal(first.part("test").ids, again.part("test").ids)
    vocab = json.loads(first.meta["tokenizer"]["json"])["model"]["vocab"]
    assert not any("fragil" in piece for piece in vocab)  # nothing learned from the test text


def test_text_size_is_the_word_levels(splits_dir):
    sizes = {}
    for level in ("word", "bpe", "char"):
        corpus = load_corpus(CorpusSpec(splits_dir, level=level, bpe_vocab=60 if level == "bpe" else None))
        vocab = corpus.build_vocab()
        test = corpus.encode(vocab)["test"]
        sizes[level] = [(r.n_chars, r.n_bytes) for r in (evaluate(UniformLM(vocab), test, mode=m) for m in ("sentence", "stream"))]
    assert sizes["bpe"] == sizes["word"] == sizes["char"]


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_ngram_model_stores_its_pieces_and_load_reuses_them(splits_dir, tmp_path, monkeypatch):
    out = tmp_path / "bpe3"
    fitted = run(["ngram", splits_dir, "--level", "bpe", "--bpe-vocab", "60", "--n", "3", "--out", out, "--json"])
    assert fitted.exit_code == 0, fitted.output
    first = json.loads(fitted.stdout)["results"]["test"]["sentence"]
    assert first["bits_per_char"] is not None
    import lmstats.text.corpus

    def refuse(*args, **kwargs):
        raise AssertionError("the stored pieces must be used, not trained again")

    monkeypatch.setattr(lmstats.text.corpus, "train_subword", refuse)
    again = run(["ngram", "--load", out, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["results"]["test"]["sentence"]["nll_sum"] == pytest.approx(first["nll_sum"], rel=1e-12)
    monkeypatch.undo()
    other = tmp_path / "bpe1"
    unigram = run(["ngram", splits_dir, "--level", "bpe", "--bpe-vocab", "60", "--n", "1", "--smoothing", "laplace", "--out", other])
    assert unigram.exit_code == 0, unigram.output
    monkeypatch.setattr(lmstats.text.corpus, "train_subword", refuse)
    mixed = run(["mix", out, other, "--mode", "sentence", "--json", "--quiet"])
    assert mixed.exit_code == 0, mixed.output
    test = json.loads(mixed.stdout)["results"]["test"]["sentence"]
    assert test["components"][0]["ppl"] == pytest.approx(first["ppl"], rel=1e-12) and test["n_chars"] == first["n_chars"]


@pytest.mark.usefixtures("one_thread")
def test_rnn_trains_scores_and_generates_at_bpe_level(splits_dir, tmp_path):
    ckpt = tmp_path / "bpe.pt"
    trained = run(["rnn", "train", splits_dir, "--level", "bpe", "--bpe-vocab", "60", "--embed-size", "8", "--hidden-size", "8",
                   "--layers", "1", "--seq-len", "8", "--batch-size", "4", "--epochs", "1", "--checkpoint", ckpt, "--json"])
    assert trained.exit_code == 0, trained.output
    first = json.loads(trained.stdout)["results"]["test"]["stream"]
    again = json.loads(run(["rnn", "eval", "--checkpoint", ckpt, "--mode", "stream", "--json"]).stdout)["results"]["test"]["stream"]
    assert again["nll_sum"] == pytest.approx(first["nll_sum"], rel=1e-9)
    text = json.loads(run(["rnn", "generate", "--checkpoint", ckpt, "--prefix", "the cat", "--length", "12", "--json"]).stdout)["text"]
    assert WORD_START not in text


@pytest.mark.parametrize("args, pattern", [
    (["--bpe-vocab", "100"], "add --level bpe"),
    (["--level", "bpe", "--bpe-vocab", "1"], "--bpe-vocab"),
    (["--level", "bpe", "--bpe-vocab", "60", "--min-count", "2"], "the vocabulary is the tokenizer's pieces"),
    (["--level", "unigram", "--bpe-vocab", "60", "--max-vocab", "10"], "set its size with --bpe-vocab"),
])
def test_bad_subword_options_are_one_error_line(splits_dir, args, pattern):
    assert_one_line_error(CliRunner().invoke(main, ["ngram", str(splits_dir), *args]), pattern)


UNSEEN_WORDS = "catdog frogs banking otherwise rivers thereafter"  # training letters, words the training split never shows


@pytest.mark.parametrize("level, size", [("bpe", 120), ("unigram", 60)])
def test_every_piece_of_the_tokenizer_is_in_the_vocabulary(tmp_path, level, size):
    """An unseen word cut into a piece the training split's cut never shows (a BPE merge always merged further,
    a character always inside a longer piece) gets that piece, not <unk>: only unseen characters and the literal
    <unk> are unknown."""
    write_splits(tmp_path, test_extra=UNSEEN_WORDS)
    corpus = load_corpus(CorpusSpec(tmp_path, level=level, bpe_vocab=size))
    vocab = corpus.build_vocab()
    train = {p for s in corpus.sentences("train") for p in s}
    test = [p for s in corpus.sentences("test") for p in s]
    beyond = {p for p in test if p not in train and p != UNK}
    assert beyond  # the case this test is about: pieces the training cut never produced
    assert set(vocab.tokens) == set(corpus.tokenizer.pieces) | {BOS, EOS}
    assert all(vocab.count(p) == 0 and vocab.text_id(p) != vocab.unk_id for p in beyond)
    last = re.sub(f"({re.escape(UNK)})+", "?", "".join(corpus.sentences("test")[-1]))
    assert last == f"{WORD_START}the?{WORD_START}sat{WORD_START}on{WORD_START}?jv" + "".join(WORD_START + w for w in UNSEEN_WORDS.split())
    ids = corpus.encode(vocab)["test"].lines.ids
    assert np.array_equal(ids == vocab.unk_id, np.array(test) == UNK)  # unknown: the literal <unk>, and z, q, x of zqxjv


@pytest.mark.parametrize("smoothing", ["mkn", "kn", "wb", "abs", "eps", "laplace", "lidstone"])
@pytest.mark.parametrize("order", [1, 3])
def test_pieces_of_count_zero_get_mass_and_every_context_sums_to_one(tmp_path, smoothing, order):
    write_splits(tmp_path, test_extra=UNSEEN_WORDS)
    corpus = load_corpus(CorpusSpec(tmp_path, level="bpe", bpe_vocab=120))
    vocab = corpus.build_vocab()
    unseen = np.flatnonzero((vocab.counts == 0) & vocab.predictable_mask)
    assert len(unseen) > 5
    model = NgramLM(vocab, order, smoothing).fit(corpus.encode(vocab)["train"])
    predictable = vocab.predictable_ids
    first_unseen = vocab.token(int(unseen[0]))
    for ctx in ([], [f"{WORD_START}the"], [f"{WORD_START}the", f"{WORD_START}cat"], [first_unseen], [first_unseen, UNK]):
        units = Lines.from_seqs([np.append(vocab.encode(ctx), w) for w in predictable])
        p = np.exp(model.logprobs_lines(units)[units.bounds[1:] - 1])
        assert p.sum() == pytest.approx(1.0, abs=1e-9), (smoothing, order, ctx)
        assert p[np.searchsorted(predictable, unseen)].min() > 0, (smoothing, order, ctx)


def train_words(folder):
    corpus = load_corpus(CorpusSpec(folder))
    counts = corpus.types.type_counts(np.asarray(corpus.part("train").ids))
    chars = set(WORD_START).union(*(w for w, c in zip(corpus.types.types, counts, strict=True) if c > 0 and w != UNK))
    return corpus.types.types, counts, len(chars)


@pytest.mark.parametrize("level", ["bpe", "unigram"])
def test_too_small_a_size_is_one_error_line_naming_the_smallest(splits_dir, level):
    _, _, n_chars = train_words(splits_dir)
    smallest = n_chars + (1 if level == "bpe" else 2)
    for size in (5, smallest - 1):
        result = CliRunner().invoke(main, ["ngram", str(splits_dir), "--level", level, "--bpe-vocab", str(size), "--eval", "none"])
        assert_one_line_error(result, f"the smallest size is {smallest}")


@pytest.mark.parametrize("level", ["bpe", "unigram"])
def test_the_smallest_size_is_the_size_the_model_gets(splits_dir, level):
    types, counts, n_chars = train_words(splits_dir)
    smallest = smallest_size(level, n_chars)
    assert train_subword(level, types, counts, smallest).n_pieces == smallest
    assert train_subword(level, types, counts, smallest + 3).n_pieces == smallest + 3


@pytest.mark.parametrize("level", ["bpe", "unigram"])
def test_a_size_beyond_what_the_text_can_make_gives_every_piece_it_can(splits_dir, level):
    types, counts, n_chars = train_words(splits_dir)
    lengths = np.array([len(w) + 1 for w, c in zip(types, counts, strict=True) if c > 0 and w != UNK])
    most = most_pieces(level, n_chars, lengths)
    huge = train_subword(level, types, counts, 2**70)  # the trainer takes a machine integer
    bound = train_subword(level, types, counts, most)
    assert huge.vocab_size == 2**70 and huge.n_pieces == bound.n_pieces < most
    assert sorted(huge.pieces) == sorted(bound.pieces)
