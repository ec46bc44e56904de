"""The compiled ARPA line formatter: numbers by hand and against Python's own formatting of the same rule."""

import numpy as np

from lmstats.ngram.arpatext import DECIMALS, format_lines


def python_number(value: float) -> str:
    """The rule, written with Python's integers and f-strings: rint(|x| * 10^10), a '-' when x < 0."""
    scaled = int(np.rint(abs(value) * 10.0**DECIMALS))
    return f"{'-' if value < 0 else ''}{scaled // 10**DECIMALS}.{scaled % 10**DECIMALS:0{DECIMALS}d}"


TOKENS = [b"<unk>", b"<s>", b"</s>", "naïve".encode(), b"x" * 30, b""]
STRINGS = np.frombuffer(b"".join(TOKENS), dtype=np.uint8)
OFFSETS = np.concatenate([[0], np.cumsum([len(t) for t in TOKENS])]).astype(np.int64)


def test_lines_by_hand():
    words = np.array([[1, 3], [3, 2], [4, 0]])
    text = bytes(format_lines(words, np.array([-1.23456789012345, -99.0, 0.0]), np.array([-0.5, -1e-12, 12.34]), STRINGS, OFFSETS))
    assert text.decode("utf-8") == (
        "-1.2345678901\t<s> naïve\t-0.5000000000\n"
        "-99.0000000000\tnaïve </s>\t-0.0000000000\n"
        f"0.0000000000\t{'x' * 30} <unk>\t12.3400000000\n"
    )
    assert bytes(format_lines(words[:1, :1], np.array([-0.25]), None, STRINGS, OFFSETS)) == b"-0.2500000000\t<s>\n"
    assert bytes(format_lines(np.zeros((0, 3), dtype=np.int64), np.zeros(0), None, STRINGS, OFFSETS)) == b""


def test_numbers_equal_the_python_rule():
    rng = np.random.default_rng(0)
    values = np.concatenate([-rng.exponential(2.0, 5000), rng.normal(0, 3, 5000), -rng.uniform(0, 1e-9, 100),
                             [0.0, -0.0, -99.0, 5e-11, -5e-11, 1234.5678, -7.0]])
    words = np.full((len(values), 1), 5)  # the empty token
    lines = bytes(format_lines(words, values, values[::-1].copy(), STRINGS, OFFSETS)).decode().splitlines()
    assert lines == [f"{python_number(a)}\t\t{python_number(b)}" for a, b in zip(values, values[::-1], strict=True)]


def test_every_order_has_its_section_even_when_empty(tmp_path):
    """Lines of one word have no 4-grams: the file still has the '\\4-grams:' section, read back as it was written."""
    from lmstats import EncodedSplit, Lines, Vocab
    from lmstats.ngram import NgramLM
    from lmstats.ngram.arpa import write_arpa
    from lmstats.ngram.arpa_reader import read_arpa

    sentences = [["a"], ["b"], ["a"]]
    vocab = Vocab.build(sentences)
    split = EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in sentences]), vocab)
    model = NgramLM(vocab, 4, "kn").fit(split)
    for threads in (1, 3):
        write_arpa(model, tmp_path / "m.arpa", threads=threads)
        text = (tmp_path / "m.arpa").read_text()
        assert "ngram 4=0\n" in text and text.index("\\3-grams:") < text.index("\\4-grams:") < text.index("\\end\\")
        again = read_arpa(tmp_path / "m.arpa", vocab=vocab)
        units = split.lines.with_eos(vocab.eos_id)
        np.testing.assert_allclose(again.logprobs_lines(units), model.logprobs_lines(units), rtol=0, atol=1e-9)
