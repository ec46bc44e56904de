"""Text to ids through the compiled byte scanner equals the ingest path (str.split, dict lookups)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstats.text.ingest import TypeTable, ingest
from lmstats.text.reader import TextSource
from lmstats.text.scan import encode_text
from lmstats.vocab import Vocab

SPACES = " \t\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
WORDS = ["the", "cat", "naïve", "日本", "é", "<unk>", "<s>", "</s>", "<pad>", "x" * 40, "\u200b", "a\u00adb"]


def by_ingest(text: str, vocab: Vocab):
    table = TypeTable()
    part = ingest([TextSource("t", text=text)], table)
    lut = table.vocab_ids(vocab) if len(table) else np.zeros(0, dtype=np.int32)
    return lut[part.ids], part.lengths


def check(text: str, vocab: Vocab) -> None:
    lines = encode_text(text, vocab)
    ids, lengths = by_ingest(text, vocab)
    np.testing.assert_array_equal(lines.ids, ids)
    np.testing.assert_array_equal(lines.lengths, lengths)
    assert np.array_equal(encode_text(text.encode("utf-8"), vocab).ids, ids)


VOCAB = Vocab.build([["the", "cat", "naïve", "日本", "é", "x" * 40, "the"]])


def test_hand_made_text():
    text = "\ufeffthe cat\r\n\n  naïve\u3000日本 dog \u00a0é<s>\n<s> </s> <unk> the\u2028cat\nlast line"
    lines = encode_text(text, VOCAB)
    v = VOCAB.id
    unk = VOCAB.unk_id
    assert lines.lengths.tolist() == [2, 0, 4, 5, 2]
    assert lines.ids.tolist() == [v("the"), v("cat"), v("naïve"), v("日本"), unk, unk, unk, unk, unk, v("the"), v("cat"), unk, unk]
    check(text, VOCAB)


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
    import lmstats.text.scan as textscan

    rng = np.random.default_rng(0)
    text = "\n".join(" ".join(rng.choice(WORDS, size=rng.integers(0, 6))) for _ in range(200))
    expected = encode_text(text, VOCAB, threads=1)
    monkeypatch.setattr(textscan, "PARALLEL_BYTES", 10)
    for threads in (2, 3, 7, 500):
        for variant in (text, text + "\n", "\n" + text):
            got = encode_text(variant, VOCAB, threads=threads)
            ids, lengths = by_ingest(variant, VOCAB)
            np.testing.assert_array_equal(got.ids, ids)
            np.testing.assert_array_equal(got.lengths, lengths)
    assert np.array_equal(encode_text(text, VOCAB, threads=4).ids, expected.ids)
