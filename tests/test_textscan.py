"""Text to ids, through the compiled byte scanner and through the short-text path (str.split and the vocabulary's
dict), equals the ingest path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmstats.text.scan as textscan
from lmstats import native
from lmstats.text.ingest import TypeTable, ingest
from lmstats.text.reader import TextSource
from lmstats.text.scan import TextEncoder, encode_text
from lmstats.vocab import Vocab

SPACES = " \t\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
WORDS = ["the", "cat", "naïve", "日本", "é", "<unk>", "<s>", "</s>", "<pad>", "x" * 40, "\u200b", "a\u00adb"]


@pytest.fixture(autouse=True, params=["c", "numba"])
def scanner(request, monkeypatch):
    """Every test here with the scan's loop in C (lmstats/kernels.c), then numba's."""
    if request.param == "c" and not native.available():
        pytest.skip("the C loops were not built (no C compiler at install time); numba's are tested")
    if request.param == "numba":
        monkeypatch.setattr(native, "available", lambda: False)
    return request.param


def by_ingest(text: str, vocab: Vocab):
    table = TypeTable()
    part = ingest([TextSource("t", text=text)], table)
    lut = table.vocab_ids(vocab) if len(table) else np.zeros(0, dtype=np.int32)
    return lut[part.ids], part.lengths


def compiled(vocab: Vocab) -> TextEncoder:
    """An encoder past its short texts: it scans compiled."""
    encoder = TextEncoder(vocab)
    encoder.short_bytes = textscan.SHORT_BYTES + 1
    return encoder


def check(text: str, vocab: Vocab) -> None:
    ids, lengths = by_ingest(text, vocab)
    for encoder in (TextEncoder(vocab), compiled(vocab)):
        lines = encoder(text)
        np.testing.assert_array_equal(lines.ids, ids)
        np.testing.assert_array_equal(lines.lengths, lengths)
        assert np.array_equal(encoder(text.encode("utf-8")).ids, ids)


VOCAB = Vocab.build([["the", "cat", "naïve", "日本", "é", "x" * 40, "the"]])


@pytest.mark.parametrize("path", ["short", "compiled"])
def test_hand_made_text(path):
    text = "\ufeffthe cat\r\n\n  naïve\u3000日本 dog \u00a0é<s>\n<s> </s> <unk> the\u2028cat\nlast line"
    lines = (TextEncoder(VOCAB) if path == "short" else compiled(VOCAB))(text)
    v = VOCAB.id
    unk = VOCAB.unk_id
    assert lines.lengths.tolist() == [2, 0, 4, 5, 2]
    assert lines.ids.tolist() == [v("the"), v("cat"), v("naïve"), v("日本"), unk, unk, unk, unk, unk, v("the"), v("cat"), unk, unk]
    check(text, VOCAB)


def test_bytes_that_are_not_utf8_are_parts_of_words_on_both_paths():
    data = "the \xff cat\xe2\x80 \xe2\xe2\x80\x80the\xc2\n\x85é \xe3\x80".encode("latin-1")
    v, unk = VOCAB.id, VOCAB.unk_id
    for encoder in (TextEncoder(VOCAB), compiled(VOCAB)):
        lines = encoder(data)
        assert lines.ids.tolist() == [v("the"), unk, unk, unk, unk, unk, unk] and lines.lengths.tolist() == [5, 2]


def test_an_encoder_reads_its_first_bytes_with_str_split_then_compiled(monkeypatch, scanner):
    """Without the C loops, the short path until SHORT_BYTES in all; the text that passes them and every later one, the
    compiled scan.  With them, the compiled scan from the first byte."""
    text = "the cat\nnaïve dog\n"
    monkeypatch.setattr(textscan, "SHORT_BYTES", 2 * len(text) + 1)
    used = []
    split, scan = TextEncoder._split, TextEncoder._scan
    monkeypatch.setattr(TextEncoder, "_split", lambda self, t: used.append("short") or split(self, t))
    monkeypatch.setattr(TextEncoder, "_scan", lambda self, part: used.append("compiled") or scan(self, part))
    encoder = TextEncoder(VOCAB)
    expected = by_ingest(text, VOCAB)[0]
    for _ in range(4):
        assert np.array_equal(encoder(text).ids, expected)
    assert used == (["short", "short", "compiled", "compiled"] if scanner == "numba" else ["compiled"] * 4)


def test_a_stored_table_reads_as_the_built_one():
    encoder = TextEncoder(VOCAB)
    tables = {name: values.copy() for name, values in encoder.tables().items()}
    assert {name: values.dtype.str for name, values in tables.items()} == textscan.TABLES
    text = "the cat\n naïve é dog 日本\n"
    for again in (TextEncoder.from_tables(VOCAB, tables), compiled(VOCAB)):
        assert np.array_equal(again(text).ids, encoder(text).ids)


def test_edges_of_the_text():
    for text in ("", "\n", "\n\n", "   ", "the", "the\n", "the \n ", "\ufeff\n", "cat\r", "a\x00b"):
        check(text, VOCAB)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(list(SPACES)), st.just("\n"), st.just("\r\n"),
                          st.text(min_size=1, max_size=3)), max_size=40))
def test_random_texts_equal_the_ingest_path(pieces):
    check("".join(pieces), VOCAB)


def test_parts_scanned_on_threads_give_the_same_lines(monkeypatch):
    rng = np.random.default_rng(0)
    text = "\n".join(" ".join(rng.choice(WORDS, size=rng.integers(0, 6))) for _ in range(200))
    expected = encode_text(text, VOCAB, threads=1)
    monkeypatch.setattr(textscan, "PARALLEL_BYTES", 10)
    monkeypatch.setattr(textscan, "SHORT_BYTES", -1)  # every text compiled
    for threads in (2, 3, 7, 500):
        for variant in (text, text + "\n", "\n" + text):
            got = encode_text(variant, VOCAB, threads=threads)
            ids, lengths = by_ingest(variant, VOCAB)
            np.testing.assert_array_equal(got.ids, ids)
            np.testing.assert_array_equal(got.lengths, lengths)
    assert np.array_equal(encode_text(text, VOCAB, threads=4).ids, expected.ids)
