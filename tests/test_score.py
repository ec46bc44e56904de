"""``lmstats score`` and ``score_text``: a text scored in pieces as the model was trained, with the evaluator's figures."""

import gzip
import io
import json
import math
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import lmstats
from lmstats import CorpusSpec, LanguageModel, LmstatsError, Mixture, UniformLM, evaluate, load_corpus
from lmstats.bootstrap import stream_block, unit_sums
from lmstats.cli import main
from lmstats.ngram.model import NgramLM
from lmstats.saved import open_model, save_mixture
from lmstats.scoring import AHEAD, TextScorer, score_text
from lmstats.text.ingest import TypeTable, ingest
from lmstats.text.reader import TextSource
from lmstats.text.reading import TextReading, read_pieces
from lmstats.units import scored_units
from lmstats.vocab import Vocab

from helpers import assert_one_line_error

WORDS = "The cat sat on the mat . A dog ran , and naïve café it's big Σας small red house tree".split()


def run(args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)


def make_lines(rng: random.Random, n: int) -> list[str]:
    """Lines of words and unknown words, some empty, some very long (longer than a tiny piece)."""
    lines = []
    for i in range(n):
        length = rng.choice([0, 1, 3, 8, 15, 60])
        words = [rng.choice(WORDS) if rng.random() > 0.1 else f"zz{rng.randint(0, 99)}" for _ in range(length)]
        lines.append(" ".join(words) + ("\r" if i % 9 == 4 else ""))
    return lines


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """A corpus folder with train, valid and test files (its splits are predefined)."""
    folder = tmp_path_factory.mktemp("scorecorpus") / "corpus"
    folder.mkdir()
    rng = random.Random(0)
    for name, n in (("train", 300), ("valid", 30), ("test", 40)):
        (folder / f"{name}.txt").write_text("\n".join(make_lines(rng, n)) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def saved(corpus_dir, tmp_path_factory):
    """A 3-gram MKN fitted on the corpus (word level), saved with what it was trained on, and its ARPA file."""
    folder = tmp_path_factory.mktemp("scoremodels")
    corpus = load_corpus(CorpusSpec(str(corpus_dir)))
    splits = corpus.encode(corpus.build_vocab())
    NgramLM(splits.vocab, order=3).fit(splits.train).save(folder / "m3", trained_on=corpus.trained_on(lmstats.VocabSpec()))
    assert run(["ngram", "--load", folder / "m3", "--arpa", folder / "m3.arpa"]).exit_code == 0
    return folder, NgramLM.load(folder / "m3"), splits


# -- the text, read as the model was trained ---------------------------------------------------------------------------

def joined(pieces):
    """The pieces of :func:`read_pieces` put back together as whole lines (ids, lengths, characters, bytes)."""
    ids, lengths, chars, n_bytes, going = [], [], [], [], 0
    for p in pieces:
        ended = p.lengths.copy()
        if len(ended):
            ended[0] += going
            going = p.n_open
        else:
            going += p.n_open
        ids.append(p.ids), lengths.append(ended), chars.append(p.line_chars), n_bytes.append(p.line_bytes)
    assert going == 0
    return [np.concatenate([np.zeros(0, dtype=np.int64), *parts]) for parts in (ids, lengths, chars, n_bytes)]


def by_the_corpus_reader(text, vocab, reading):
    table = TypeTable()
    part = ingest([TextSource("t", text=text)], table, level=reading.level, lower=reading.lower, letters_only=reading.letters_only,
                  stream=reading.joined)
    lut = table.vocab_ids(vocab) if len(table) else np.zeros(0, dtype=np.int32)
    return [lut[part.ids], part.lengths, part.line_chars, part.line_bytes]


TRICKY = ["\ufeffThe Cat\r\n\n  naïve\u3000日本 dog \u00a0é<s>\n<s> </s> <unk> the\u2028cat\nlast line", "", "\n", "\n\n", "   ",
          "the", "the \n ", "cat\r", "a b\r\r\nc\n\ufeffx y\n", "one two three " * 30 + "\n" + "x" * 50 + " y\nΣΑΣ ab.cd, ef!\n"]


@pytest.mark.parametrize("reading", [TextReading(), TextReading(lower=True, letters_only=True), TextReading(joined=True),
                                     TextReading(level="char"), TextReading(level="char", lower=True, letters_only=True),
                                     TextReading(level="char", joined=True)], ids=lambda r: r.describe())
def test_pieces_of_any_size_read_as_the_corpus_reader(reading):
    """Ids, lines, characters and bytes equal the corpus reader's, whatever the piece size (a line cut anywhere)."""
    tokens = [list("the catnaïve日本é\nabxyσας")] if reading.level == "char" else [["the", "cat", "naïve", "日本", "é", "one", "x" * 50]]
    vocab = Vocab.build(tokens)
    for text in TRICKY:
        expected = by_the_corpus_reader(text, vocab, reading)
        for chunk in (1, 2, 3, 7, 1 << 20):
            for keep in (False, True):  # the plain reading takes the compiled scanner unless the token strings are kept
                got = joined(read_pieces([TextSource("t", text=text)], vocab, reading, keep_tokens=keep, chunk_bytes=chunk))
                for a, b, what in zip(got, expected, ("ids", "lengths", "chars", "bytes"), strict=True):
                    assert np.array_equal(a, b), (text[:20], chunk, keep, what, a, b)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["the", "Cat", "naïve", "ΣΑΣ", "x" * 30, " ", "  ", "\t", "\u3000", "\n", "\r\n", "\r", ".,", "\ufeff"]),
                max_size=40), st.integers(1, 12), st.sampled_from(["word", "lower", "char", "joined"]))
def test_random_texts_in_random_pieces_read_as_the_corpus_reader(parts, chunk, how):
    reading = {"word": TextReading(), "lower": TextReading(lower=True, letters_only=True), "char": TextReading(level="char"),
               "joined": TextReading(level="char", joined=True)}[how]
    vocab = Vocab.build([list("the catnaïve\n")] if reading.level == "char" else [["the", "cat", "naïve", "x" * 30]])
    text = "".join(parts)
    expected = by_the_corpus_reader(text, vocab, reading)
    for keep in (False, True):
        got = joined(read_pieces([TextSource("t", text=text)], vocab, reading, keep_tokens=keep, chunk_bytes=chunk))
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True)), (text, chunk, keep)


def test_a_model_records_how_it_reads():
    from lmstats.trained_on import TrainedOn

    assert TextReading.of(None) == TextReading()
    spec = CorpusSpec("x.txt", level="char", lower=True, letters_only=True, format="stream")
    assert TextReading.of(TrainedOn(spec)) == TextReading("char", True, True, True)
    with pytest.raises(lmstats.LmstatsError, match="does not store its subword pieces"):
        TextReading.of(TrainedOn(CorpusSpec("x.txt", level="bpe")))


# -- scored in pieces = scored whole -------------------------------------------------------------------------------------

def scored_in_pieces(model, text, mode, chunk_bytes, per_token=False):
    scorer = TextScorer(model, mode=mode, per_token=per_token)
    pieces = list(scorer.pieces([TextSource("t", text=text)], chunk_bytes=chunk_bytes))
    return scorer, pieces


@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_an_ngram_model_in_tiny_pieces_gives_the_numbers_of_the_whole_text(saved, corpus_dir, mode):
    """Pieces of 1 and 7 bytes (every line cut, the stream carried across hundreds of pieces): the log-probabilities
    of scoring the split whole, to the bit, and the evaluator's figures."""
    _, model, splits = saved
    text = (corpus_dir / "test.txt").read_text(encoding="utf-8")
    whole = model.logprobs_lines(scored_units(splits.test, mode))
    expected = evaluate(model, splits.test, mode=mode)
    for chunk in (1, 7, 300, 1 << 20):  # 300: pieces of several whole lines, those after the first scored on the pool
        scorer, pieces = scored_in_pieces(model, text, mode, chunk)
        assert len(pieces) > 100 or chunk > 7
        assert chunk != 300 or max(len(p.ends) for p in pieces[1:]) >= 3
        assert np.array_equal(np.concatenate([p.logprobs for p in pieces]), whole)
        got = scorer.result("test")
        for field in ("n_units", "n_tokens", "n_oov", "n_zero", "n_chars", "n_bytes"):
            assert getattr(got, field) == getattr(expected, field), field
        assert got.ppl == pytest.approx(expected.ppl, rel=1e-12) and got.ppl_no_oov == pytest.approx(expected.ppl_no_oov, rel=1e-12)
        units = scorer.unit_sums()  # the bootstrap's units: each scored line, or blocks of 256 tokens of the stream
        expected_units = unit_sums(scored_units(splits.test, mode), whole, mode)
        assert np.array_equal(units.n, expected_units.n) and units.unit == expected_units.unit
        np.testing.assert_allclose(units.nll, expected_units.nll, rtol=1e-12)
        assert len(units.n) == (expected.n_units if mode == "sentence" else -(-expected.n_tokens // stream_block(expected.n_tokens)))


def test_score_prints_the_perplexitys_interval_seeded(saved, corpus_dir):
    folder, _, _ = saved
    args = ["score", folder / "m3", corpus_dir / "test.txt", "--json"]
    a, b, c = (json.loads(run([*args, *extra]).stdout) for extra in ([], [], ["--seed", "1"]))
    ci = a["ppl_interval"]
    assert ci["low"] < a["ppl"] < ci["high"] and (ci["units"], ci["unit"], ci["replicates"]) == (a["n_units"], "line", 1000)
    assert a["ppl_interval"] == b["ppl_interval"] and c["ppl_interval"] != a["ppl_interval"]
    assert "ppl_interval" not in json.loads(run([*args, "--bootstrap", "0"]).stdout)
    summary = run(["score", folder / "m3", corpus_dir / "test.txt"]).stdout
    line = f"Perplexity 95% interval:\t{ci['low']:.4f} to {ci['high']:.4f} (bootstrap, 1,000 replicates over {a['n_units']} lines"
    assert line in summary


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_an_rnn_and_a_mixture_carry_their_state_across_pieces(saved, corpus_dir, mode, one_thread):
    torch = pytest.importorskip("torch")
    from lmstats.rnn.lm import RNNLM
    from lmstats.rnn.nets import build_net
    from lmstats.rnn.recipe import RNNConfig

    _, ngram, splits = saved
    torch.manual_seed(0)
    rnn = RNNLM(build_net(splits.vocab, RNNConfig(cell="gru", embed_size=8, hidden_size=8, num_layers=1)), splits.vocab, chunk_len=5)
    text = (corpus_dir / "test.txt").read_text(encoding="utf-8")
    for model in (rnn, Mixture([ngram, rnn, UniformLM(splits.vocab)], [0.5, 0.3, 0.2])):
        whole = model.logprobs_lines(scored_units(splits.test, mode))
        scorer, pieces = scored_in_pieces(model, text, mode, 7)
        np.testing.assert_allclose(np.concatenate([p.logprobs for p in pieces]), whole, rtol=0, atol=1e-5)  # float32 networks
        assert scorer.result().ppl == pytest.approx(evaluate(model, splits.test, mode=mode).ppl, rel=1e-6)


@pytest.mark.parametrize("mode", ["sentence", "stream"])
def test_a_model_of_another_kind_is_given_the_whole_unit_before_each_piece(saved, corpus_dir, mode):
    """A model lmstats knows nothing about (its ln P depends on the position in the unit) scores as it would whole."""
    _, _, splits = saved

    class Position(UniformLM):  # a subclass of a model scoring knows, but not that model
        logprobs_lines = LanguageModel.logprobs_lines

        def logprobs(self, ids):
            return -np.log(np.arange(2, len(ids) + 2, dtype=float))

    model = Position(splits.vocab)
    text = (corpus_dir / "test.txt").read_text(encoding="utf-8")
    _, pieces = scored_in_pieces(model, text, mode, 7)
    np.testing.assert_array_equal(np.concatenate([p.logprobs for p in pieces]), model.logprobs_lines(scored_units(splits.test, mode)))


def test_the_text_is_streamed_not_collected(saved):
    """The first scored piece comes out after the first chunk is read, not after the text ends."""
    _, model, _ = saved
    taken = []

    def chunks():
        for i in range(1000):
            taken.append(i)
            yield "the cat sat on the mat\n" * 50

    pieces = TextScorer(model).pieces([chunks()])
    first = next(pieces)
    assert len(first.ends) == 50
    assert len(taken) <= 2 + AHEAD  # the piece scored, those read ahead, and one the reader holds
    pieces.close()  # the consumer stops (| head): the reader stops too
    assert not [t for t in threading.enumerate() if t.name == "lmstats-read-ahead"]
    assert len(taken) <= 2 + AHEAD


def test_an_error_while_reading_ahead_is_raised_where_its_piece_would_come(saved):
    _, model, _ = saved

    def chunks():
        yield "the cat sat\n" * 10
        raise LmstatsError("t.txt: not UTF-8 text")

    pieces = TextScorer(model).pieces([chunks()])
    assert len(next(pieces).ends) == 10
    with pytest.raises(LmstatsError, match="not UTF-8"):
        next(pieces)
    assert not [t for t in threading.enumerate() if t.name == "lmstats-read-ahead"]


# -- the command --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["word", "char"])
def test_score_equals_ngram_load_on_the_test_split(corpus_dir, tmp_path, level):
    """The corpus's test file scored with ``lmstats score`` gives the figures ``lmstats ngram --load`` reports for its test split."""
    model = tmp_path / "m"
    assert run(["ngram", corpus_dir, "--level", level, "--n", "3", "--out", model]).exit_code == 0
    for mode in ("sentence", "stream"):
        expected = json.loads(run(["ngram", "--load", model, "--mode", mode, "--json"]).stdout)["results"]["test"][mode]
        got = json.loads(run(["score", model, corpus_dir / "test.txt", "--mode", mode, "--json"]).stdout)
        assert got["reading"] == f"{level} level" and got["mode"] == mode
        for field in ("n_units", "n_tokens", "n_oov", "n_chars", "n_bytes"):
            assert got[field] == expected[field], (mode, field)
        for field in ("ppl", "ppl_no_oov", "bits_per_char"):
            assert got[field] == pytest.approx(expected[field], rel=1e-12), (mode, field)


@pytest.mark.slow
@pytest.mark.parametrize("options", [["--level", "bpe", "--bpe-vocab", "60"], ["--level", "unigram", "--bpe-vocab", "80", "--lower"],
                                     ["--lower", "--letters-only"], ["--format", "stream"], ["--level", "char", "--format", "stream"]])
def test_score_reads_as_the_model_was_trained(corpus_dir, tmp_path, options):
    model = tmp_path / "m"
    assert run(["ngram", corpus_dir, *options, "--n", "3", "--out", model]).exit_code == 0
    for mode in ("sentence", "stream"):
        expected = json.loads(run(["ngram", "--load", model, "--mode", mode, "--json"]).stdout)["results"]["test"][mode]
        got = json.loads(run(["score", model, corpus_dir / "test.txt", "--mode", mode, "--json"]).stdout)
        assert [got[f] for f in ("n_tokens", "n_oov", "n_chars")] == [expected[f] for f in ("n_tokens", "n_oov", "n_chars")]
        assert got["ppl"] == pytest.approx(expected["ppl"], rel=1e-12)


def test_per_token_rows_are_querys_and_agree_with_kenlm(saved, corpus_dir):
    """``token=id length log10p`` per token and ``Total: log10p OOV: n`` per line, as KenLM's query prints them; the
    lengths and probabilities equal the kenlm module's on the same ARPA file (read alone, under its own unigrams)."""
    kenlm = pytest.importorskip("kenlm", reason="the kenlm module is a test extra: pip install -e '.[test]'")
    folder, _, _ = saved
    lines = (corpus_dir / "test.txt").read_text(encoding="utf-8").splitlines()
    result = run(["score", folder / "m3.arpa", corpus_dir / "test.txt", "--per-token"])
    rows = result.stdout.splitlines()
    assert len(rows) == len(lines)  # one row per line, empty ones too
    ken = kenlm.Model(str(folder / "m3.arpa"))
    unk = lmstats.load(folder / "m3.arpa").vocab.unk_id
    for line, row in zip(lines, rows, strict=True):
        *cells, total = row.split("\t")
        if not line.split():
            assert cells == [] and total == "Total: 0 OOV: 0"  # sentence mode scores no empty line
            continue
        theirs = list(ken.full_scores(line.strip(), bos=True, eos=True))
        assert len(cells) == len(theirs)
        for cell, word, (prob, length, oov) in zip(cells, [*line.split(), "</s>"], theirs, strict=True):
            token, numbers = cell.rsplit("=", 1)
            i, n, p = numbers.split(" ")
            assert token == word and (int(i) == unk) == oov  # the word as written, <unk>'s id when unknown
            assert int(n) == length and float(p) == pytest.approx(prob, abs=2e-6)
        assert float(total.split()[1]) == pytest.approx(sum(p for p, _, _ in theirs), rel=1e-6)
        assert int(total.split()[3]) == sum(oov for _, _, oov in theirs)
    assert "Perplexity including OOVs:" in result.stderr  # the summary goes to stderr


def test_per_line_rows_and_the_summary(saved, corpus_dir):
    folder, model, splits = saved
    result = run(["score", folder / "m3", corpus_dir / "test.txt", "--per-line"])
    header, *rows = result.stdout.splitlines()
    assert header == "line\tlog10_prob\ttokens\toov\tppl"
    lines = (corpus_dir / "test.txt").read_text(encoding="utf-8").splitlines()
    assert [int(r.split("\t")[0]) for r in rows] == list(range(1, len(lines) + 1))
    table = np.array([[float(x) for x in r.split("\t")] for r in rows])
    expected = evaluate(model, splits.test)
    assert table[:, 2].sum() == expected.n_tokens and table[:, 3].sum() == expected.n_oov
    assert -table[:, 1].sum() * math.log(10) == pytest.approx(expected.nll_sum, rel=1e-6)  # six decimals a row
    scored = table[:, 2] > 0
    np.testing.assert_allclose(table[scored, 4], 10 ** (-table[scored, 1] / table[scored, 2]), rtol=1e-4)
    assert np.isnan(table[~scored, 4]).all()
    summary = result.stderr.splitlines()
    assert summary[2] == f"Perplexity including OOVs:\t{expected.ppl:.4f}" and summary[4] == f"OOVs:\t{expected.n_oov}"


def test_stdin_files_and_compressed_text_are_one_text(saved, corpus_dir, tmp_path):
    folder, _, _ = saved
    text = (corpus_dir / "test.txt").read_bytes()
    half = text.index(b"\n", len(text) // 2) + 1
    (tmp_path / "a.txt").write_bytes(text[:half])
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(text[half:]))
    whole = json.loads(run(["score", folder / "m3", corpus_dir / "test.txt", "--json"]).stdout)
    for args, stdin in (([tmp_path / "a.txt", tmp_path / "b.txt.gz"], None), (["-"], text), ([], gzip.compress(text))):
        got = json.loads(run(["score", folder / "m3", *args, "--json"], input=stdin).stdout)
        assert got["n_tokens"] == whole["n_tokens"] and got["ppl"] == pytest.approx(whole["ppl"], rel=1e-12), args
    assert got["texts"] == ["stdin"]


def test_bad_input_is_one_line(saved, corpus_dir, tmp_path):
    folder, _, _ = saved
    test = corpus_dir / "test.txt"
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "cut.arpa").write_text((folder / "m3.arpa").read_text()[:400])
    (tmp_path / "m.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "m.json").write_text('{"a": 1}')
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"the cat\x00\x01\x02\n")
    (tmp_path / "empty.txt").write_text("\n\n")
    cases = [
        ([tmp_path / "cut.npz", test], "cut.npz"),
        ([tmp_path / "cut.arpa", test], "truncated"),
        ([tmp_path / "m.pt", test], "not an lmstats RNN checkpoint"),
        ([tmp_path / "m.json", test], "not a mixture file"),
        ([test, test], "not a model lmstats can open"),
        ([folder / "m3", tmp_path / "latin1.txt"], "latin1.txt: not UTF-8 text"),
        ([folder / "m3", tmp_path / "binary.txt"], "binary.txt: looks binary"),
        ([folder / "m3", tmp_path / "missing.txt"], "missing.txt: no such text file"),
        ([folder / "m3", tmp_path], "is a folder"),
        ([folder / "m3", tmp_path / "empty.txt"], "no tokens to score"),
        ([tmp_path / "m.pt", test, "--per-token"], "is an RNN checkpoint, not an n-gram model"),
        ([folder / "m3", test, "--level", "char"], "--level would be ignored: score reads TEXT as MODEL was trained"),
        ([folder / "m3", test, "--lower"], "--lower would be ignored"),
        ([folder / "m3", test, "--per-line", "--per-token"], "give one"),
        ([folder / "m3", test, "--per-line", "--json"], "--json prints one summary document"),
        ([folder / "m3", test, "--device", "cpu"], "--device would be ignored"),
        ([folder / "m3", "-", "-"], "given twice"),
    ]
    for args, message in cases:
        assert_one_line_error(CliRunner().invoke(main, ["score", *map(str, args)]), message)


def test_no_text_and_a_terminal_for_stdin_is_refused(saved):
    folder, _, _ = saved
    terminal = type("Terminal", (io.BytesIO,), {"isatty": lambda self: True})(b"the cat\n")
    assert_one_line_error(CliRunner().invoke(main, ["score", str(folder / "m3")], input=terminal), "standard input is a terminal")
    assert CliRunner().invoke(main, ["score", str(folder / "m3"), "-"], input=terminal).exit_code == 0  # '-': read it anyway


# -- the Python face ------------------------------------------------------------------------------------------------------

def test_load_opens_every_kind_and_score_text_gives_the_commands_figures(saved, corpus_dir, tmp_path):
    folder, model, _ = saved
    text = (corpus_dir / "test.txt").read_text(encoding="utf-8")
    model.save(tmp_path / "m3.npz", trained_on=model.trained_on_)
    save_mixture(tmp_path / "mix.json", [open_model(folder / "m3"), open_model(tmp_path / "m3.npz")], [0.5, 0.5])
    for path in (folder / "m3", tmp_path / "m3.npz", folder / "m3.arpa", tmp_path / "mix.json"):
        loaded = lmstats.load(path)
        assert isinstance(loaded, LanguageModel)
        cli = json.loads(run(["score", path, corpus_dir / "test.txt", "--json"]).stdout)
        for text_or_lines in (text, text.splitlines(), io.StringIO(text)):  # a str, its lines, an open file
            result = loaded.score_text(text_or_lines)
            assert result.n_tokens == cli["n_tokens"] and result.ppl == pytest.approx(cli["ppl"], rel=1e-12), path
    assert lmstats.load(folder / "m3.arpa").trained_on_ is None and len(lmstats.load(folder / "m3.arpa").vocab) == len(model.vocab)
    assert lmstats.load(folder / "m3").trained_on_.corpus.source == str(corpus_dir)


@pytest.mark.slow
def test_load_opens_an_rnn_checkpoint_and_per_token_needs_an_ngram_model(saved, corpus_dir, tmp_path, one_thread):
    pytest.importorskip("torch")
    from lmstats.rnn.checkpoint import checkpoint_payload, save_checkpoint
    from lmstats.rnn.nets import build_net
    from lmstats.rnn.recipe import RNNConfig

    folder, model, splits = saved
    config = RNNConfig(cell="gru", embed_size=8, hidden_size=8, num_layers=1)
    save_checkpoint(tmp_path / "r.pt", checkpoint_payload(build_net(splits.vocab, config), splits.vocab, config,
                                                            model.trained_on_, None))
    rnn = lmstats.load(tmp_path / "r.pt")
    text = (corpus_dir / "test.txt").read_text(encoding="utf-8")
    cli = json.loads(run(["score", tmp_path / "r.pt", corpus_dir / "test.txt", "--json"]).stdout)
    assert cli["kind"] == "rnn" and rnn.score_text(text).ppl == pytest.approx(cli["ppl"], rel=1e-6)  # (float32, other threads)
    with pytest.raises(lmstats.LmstatsError, match="not an n-gram model"):
        TextScorer(rnn, per_token=True)


def test_score_text_of_a_model_fitted_in_python_reads_words_as_they_are(saved):
    _, model, splits = saved
    fresh = NgramLM(splits.vocab, order=3).fit(splits.train)  # no trained_on_: words as they are
    assert fresh.score_text("the cat sat\n").n_tokens == 4
    assert score_text(fresh, ["the cat sat", "a dog"], mode="stream").n_tokens == 7


# -- endings --------------------------------------------------------------------------------------------------------------

def _start(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "lmstats", *map(str, args)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_it_quietly(saved, tmp_path):
    """``lmstats score M text --per-token | head -1``: no traceback, no "Exception ignored", exit code 1."""
    folder, _, _ = saved
    (tmp_path / "big.txt").write_text("the cat sat on the mat .\n" * 20000)
    proc = _start(["score", folder / "m3", tmp_path / "big.txt", "--per-token"], stdout=subprocess.PIPE)
    assert proc.stdout.readline().startswith("the=")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1 and err == "", err


@pytest.mark.slow
def test_ctrl_c_while_reading_stdin_is_one_line(saved):
    """Rows of the first piece come out while standard input stays open; Ctrl-C then: exit 130, the one line."""
    folder, _, _ = saved
    proc = _start(["score", folder / "m3", "-", "--per-line"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    text = ("the cat sat on the mat . " * 40 + "\n") * 1200  # more than one piece (1 MiB), in 1,200 rows of output
    writer = threading.Thread(target=lambda: (proc.stdin.write(text), proc.stdin.flush()), daemon=True)
    writer.start()
    assert proc.stdout.readline().startswith("line\t") and proc.stdout.readline().startswith("1\t")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    lines = [line for line in err.splitlines() if line.strip()]  # (click puts a line break before it)
    assert lines == ["lmstats: error: interrupted; finished outputs were kept, nothing half-written was left"], err
    writer.join(timeout=10)
