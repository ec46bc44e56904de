"""Reading ARPA files: a hand-written 3-gram model read by hand, the same model however its lines are
spaced, and every malformed value or line refused with the file, the line number and the reason."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

from lmstats import LmstatsError, Vocab
from lmstats.cli import main
from lmstats.ngram.arpa_reader import read_arpa

from helpers import assert_one_line_error

GOOD = r"""\data\
ngram 1=6
ngram 2=4
ngram 3=2

\1-grams:
-1.0	<unk>	0
-99	<s>	-0.5
-0.5	</s>
-0.6	a	-0.3
-0.7	b	-0.2
-0.8	c	-0.1

\2-grams:
-0.2	<s> a	-0.1
-0.3	a b	-0.2
-0.4	b c
-0.5	b </s>

\3-grams:
-0.1	<s> a b
-0.2	a b c

\end\
""".split("\n")


def arpa_file(folder, lines, name="m.arpa"):
    path = folder / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def with_line(folder, old, new, name="bad.arpa"):
    """GOOD with its line ``old`` replaced by ``new``: the file and the (1-based) number of that line."""
    i = GOOD.index(old)
    return arpa_file(folder, GOOD[:i] + [new] + GOOD[i + 1 :], name), i + 1


def log10_scores(model, words):
    ids = np.append(model.vocab.encode(words), model.vocab.eos_id)
    return model.logprobs(ids) / math.log(10)


def test_hand_written_model_scores_by_backoff(tmp_path):
    model = read_arpa(arpa_file(tmp_path, GOOD))
    assert model.vocab.tokens == ["<unk>", "<s>", "</s>", "a", "b", "c"] and model.order == 3
    # a: bigram <s> a; b: trigram <s> a b; c: trigram a b c; </s>: backoff(b c)=0 + backoff(c)=-0.1 + unigram -0.5
    np.testing.assert_allclose(log10_scores(model, ["a", "b", "c"]), [-0.2, -0.1, -0.2, -0.6], rtol=0, atol=1e-12)


def _same_model(a, b):
    assert a.vocab.tokens == b.vocab.tokens
    for ta, tb in zip(a.counts_.tables, b.counts_.tables, strict=True):
        assert all(np.array_equal(getattr(ta, f), getattr(tb, f)) for f in ("keys", "suffix", "first"))
    for x, y in zip(a.estimate_.probs + a.estimate_.backoffs, b.estimate_.probs + b.estimate_.backoffs, strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("respace", [
    lambda line: line.replace("\t", " "),  # spaces instead of tabs
    lambda line: line.replace("\t", " \t  ").replace(" a", "   a"),  # runs of spaces and tabs
    lambda line: " " + line + " \t\r" if line[:1] not in ("\\", "n") else line + "\r",  # CRLF, blanks around entries
])
def test_spacing_does_not_change_the_model(tmp_path, respace):
    good = read_arpa(arpa_file(tmp_path, GOOD))
    lines = ["# a comment before the header", ""] + [respace(line) for line in GOOD]
    lines.insert(next(i for i, line in enumerate(lines) if line.startswith("\\2-grams:")) + 2, "  \t")  # a blank entry line
    _same_model(read_arpa(arpa_file(tmp_path, lines, "spaced.arpa")), good)


def test_legal_values_that_look_odd_are_read(tmp_path):
    """-inf for <s>'s unigram (never used), a positive backoff, a 0 backoff on the highest order."""
    lines = [line.replace("-99\t<s>", "-inf\t<s>").replace("-0.3\ta b\t-0.2", "-0.3\ta b\t0.7")
             .replace("-0.1\t<s> a b", "-0.1\t<s> a b\t0") for line in GOOD]
    model = read_arpa(arpa_file(tmp_path, lines))
    a_b = np.flatnonzero(model.counts_.table(2).keys == 3 * 6 + 4)  # rows of 2-grams: row of the context (its id) * V + word
    assert float(model.estimate_.backoffs[1][a_b[0]]) == pytest.approx(10**0.7)
    np.testing.assert_allclose(log10_scores(model, ["a", "b", "c"]), [-0.2, -0.1, -0.2, -0.6], rtol=0, atol=1e-12)


@pytest.mark.parametrize("old, new, says", [
    ("-0.3\ta b\t-0.2", "nan\ta b\t-0.2", "log10 P = nan of the 2-gram 'a b' is not a number"),
    ("-0.2\ta b c", "0.3\ta b c", "log10 P = 0.3 of the 3-gram 'a b c' is above 0, a probability above 1"),
    ("-0.7\tb\t-0.2", "inf\tb\t-0.2", "log10 P = inf of the 1-gram 'b' is above 0"),
    ("-0.6\ta\t-0.3", "-inf\ta\t-0.3", "gives a stored n-gram probability 0 (only <s>'s 1-gram may be -inf)"),
    ("-0.5\tb </s>", "-inf\tb </s>", "gives a stored n-gram probability 0"),
    ("-0.4\tb c", "-O.4\tb c", "has a field that is not a number where log10 P belongs"),
    ("-0.6\ta\t-0.3", "-0.6\ta\tnan", "the backoff nan of the 1-gram 'a' is not a finite number"),
    ("-0.2\t<s> a\t-0.1", "-0.2\t<s> a\t-inf", "the backoff -inf of the 2-gram '<s> a' is not a finite number"),
    ("-99\t<s>\t-0.5", "-99\t<s>\tinf", "the backoff inf of the 1-gram '<s>' is not a finite number"),
    ("-0.3\ta b\t-0.2", "-0.3\ta b\tx", "not a number where backoff belongs"),
    ("-0.2\ta b c", "-0.2\ta b c\t-0.3", "has a backoff (-0.3), but 3 is the highest order"),
    ("-0.4\tb c", "-0.4\tb", "malformed 2-gram line '-0.4\\tb'; expected log10 P, 2 words and an optional backoff"),
    ("-0.1\t<s> a b", "-0.1\t<s> a b c -1", "malformed 3-gram line"),
    ("-0.5\tb </s>", "-0.5\ta b", "the 2-gram 'a b' appears a second time (first at line 16)"),
    ("-0.8\tc\t-0.1", "-0.8\tb\t-0.1", "the 1-gram 'b' appears a second time (first at line 11)"),
    ("-0.2\ta b c", "-0.2\tc b c", "the context 'c b' of the 3-gram 'c b c' is not among the 2-grams"),
    ("-0.2\ta b c", "-0.2\t<s> a c", "the 3-gram '<s> a c' has no suffix 2-gram 'a c'"),
    ("-0.4\tb c", "-0.4\tb q", "the word 'q' of the 2-gram 'b q' is not one of the file's 1-grams"),
    ("\\2-grams:", "\\two-grams:", "unexpected line '\\\\two-grams:'"),  # section headers
    ("\\3-grams:", "\\2-grams:", "a second \\2-grams: section"),
])
def test_malformed_line_is_refused_with_its_number(tmp_path, old, new, says):
    path, line = with_line(tmp_path, old, new)
    with pytest.raises(LmstatsError) as caught:
        read_arpa(path)
    assert str(caught.value).startswith(f"{path}, line {line}: "), str(caught.value)
    assert says in str(caught.value)
    assert "; " in str(caught.value)  # what, then why or what to do


def test_a_word_outside_the_given_vocabulary_names_its_line(tmp_path):
    vocab = Vocab(["<unk>", "<s>", "</s>", "a", "b"], [0] * 5)
    with pytest.raises(LmstatsError, match=r"m.arpa, line 12: the word 'c' of the 1-gram 'c' is not in the vocabulary the file is read"):
        read_arpa(arpa_file(tmp_path, GOOD), vocab)
    # a word of the vocabulary that is not one of the file's 1-grams is a missing context or suffix
    lines = [line for line in GOOD if line != "-0.8\tc\t-0.1"]
    lines[lines.index("ngram 1=6")] = "ngram 1=5"
    with pytest.raises(LmstatsError, match=r"line 16: the 2-gram 'b c' has no suffix 1-gram 'c'"):
        read_arpa(arpa_file(tmp_path, lines), Vocab(["<unk>", "<s>", "</s>", "a", "b", "c"], [0] * 6))


def test_entries_before_any_section(tmp_path):
    path, line = with_line(tmp_path, "", "-1.0\tstray", "stray.arpa")  # the blank line after the header
    with pytest.raises(LmstatsError, match=rf"stray.arpa, line {line}: n-gram entries before any"):
        read_arpa(path)
    headless = [line for line in GOOD if not line.startswith("\\") or line == "\\data\\"]  # no section header at all
    with pytest.raises(LmstatsError, match=r"headless.arpa, line 6: n-gram entries before any"):
        read_arpa(arpa_file(tmp_path, headless, "headless.arpa"))


def test_cli_refuses_a_bad_arpa_file_in_one_line(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\nb c a\nc a b\n" * 10, encoding="utf-8")
    path, line = with_line(tmp_path, "-0.2\ta b c", "0.25\ta b c")
    result = CliRunner().invoke(main, ["ngram", str(corpus), "--load", str(path)])
    assert_one_line_error(result, f"{path}, line {line}: log10 P = 0.25 of the 3-gram 'a b c' is above 0")
