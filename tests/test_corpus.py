import bz2
import gzip
import lzma

import pytest

from lmstats import CorpusSpec, LmstatsError, load_corpus, split_lines, tokenize
from lmstats.corpus import builtin_text, split_text_lines

from helpers import shared_corpus


def test_word_and_char_tokenization():
    assert tokenize(["a  b\tc "], CorpusSpec()) == [["a", "b", "c"]]
    assert tokenize(["ab c"], CorpusSpec(level="char")) == [["a", "b", " ", "c"]]


def test_char_level_handles_chinese_and_full_width_space():
    text = "时间机器\u3000是一部小说"
    assert tokenize([text], CorpusSpec(level="char")) == [list("时间机器\u3000是一部小说")]
    assert tokenize([text], CorpusSpec(level="word")) == [["时间机器", "是一部小说"]]


def test_lower_and_d2l_letters_only():
    opts = CorpusSpec(lower=True, letters_only=True)
    assert tokenize(["The Time-Machine, by H. G. Wells [1898]"], opts) == [["the", "time", "machine", "by", "h", "g", "wells"]]
    assert tokenize(["Don't"], CorpusSpec(letters_only=True)) == [["Don", "t"]]


def test_stream_format_joins_lines():
    assert tokenize(["a b", "c"], CorpusSpec(format="stream")) == [["a", "b", "c"]]


def test_split_text_lines_counts_newlines_only():
    assert split_text_lines("a\r\nb\u2028c\n\nd\n") == ["a", "b\u2028c", "", "d"]


def test_seeded_split_is_deterministic_and_partitions():
    lines = [[str(i)] for i in range(100)]
    a = split_lines(lines, (0.8, 0.1, 0.1), seed=7)
    b = split_lines(lines, (0.8, 0.1, 0.1), seed=7)
    c = split_lines(lines, (0.8, 0.1, 0.1), seed=8)
    assert a == b and a != c
    assert [len(x) for x in a] == [80, 10, 10]
    flat = sorted(int(s[0]) for part in a for s in part)
    assert flat == list(range(100))
    assert all(part == sorted(part, key=lambda s: int(s[0])) for part in a)  # original order kept
    with pytest.raises(LmstatsError, match="fractions"):
        split_lines(lines, (0.5, 0.1, 0.1), seed=0)


def test_file_folder_glob_and_compressed(tmp_path):
    lines = [f"line {i} of text" for i in range(30)]
    text = "\n".join(lines) + "\n"
    (tmp_path / "plain.txt").write_text(text)
    (tmp_path / "z.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "z.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "z.xz").write_bytes(lzma.compress(text.encode()))
    sizes = {}
    for name in ["plain.txt", "z.gz", "z.bz2", "z.xz"]:
        c = load_corpus(CorpusSpec(tmp_path / name))
        sizes[name] = sum(len(s) for part in (c.train, c.valid, c.test) for s in part)
    assert set(sizes.values()) == {120}
    folder = load_corpus(CorpusSpec(tmp_path))
    assert sum(len(part) for part in (folder.train, folder.valid, folder.test)) == 120  # four files x 30 lines
    globbed = load_corpus(CorpusSpec(str(tmp_path / "z.*")))
    assert sum(len(part) for part in (globbed.train, globbed.valid, globbed.test)) == 90


def test_folder_with_train_valid_test_uses_them(tmp_path):
    for split, n in [("train", 5), ("valid", 2), ("test", 3)]:
        (tmp_path / f"my.{split}.txt").write_text("".join(f"{split} x\n" for _ in range(n)))
    corpus = load_corpus(CorpusSpec(tmp_path))
    assert corpus.predefined
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (5, 2, 3)
    assert corpus.valid[0] == ["valid", "x"]


def test_builtin_default_corpus_works_offline():
    corpus = load_corpus(CorpusSpec())
    assert corpus.name == "python-docs"
    n = sum(len(s) for s in corpus.train)
    assert n > 20_000  # real prose: the Python reference topics
    assert "the" in {t for s in corpus.train for t in s}
    assert builtin_text() == builtin_text()


@pytest.mark.parametrize(
    "setup, pattern",
    [
        (lambda p: p / "missing.txt", "no such file"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no text files"),
        (lambda p: (p / "e.txt").write_text("\n \n\n") and p / "e.txt", "empty corpus"),
        (lambda p: (p / "b.bin").write_bytes(b"\x00\x01\x02abc") and p / "b.bin", "binary"),
        (lambda p: (p / "l.txt").write_bytes("caf\u00e9 ok\n".encode("latin-1")) and p / "l.txt", "not UTF-8.*offset 3"),
        (lambda p: (p / "t.gz").write_bytes(gzip.compress(b"abc" * 100)[:20]) and p / "t.gz", "truncated or corrupt"),
        (lambda p: (p / "short.txt").write_text("one line\ntwo\n") and p / "short.txt", "the corpus has 2 lines .* use --format stream"),
        (lambda p: (p / "one.txt").write_text("a single long line " * 50) and p / "one.txt",
         "the corpus has 1 line and .* use --format stream"),
        (lambda p: "no-such-corpus", "not a known corpus name"),
    ],
)
def test_bad_input_gives_a_clear_error(tmp_path, setup, pattern):
    source = setup(tmp_path)
    with pytest.raises(LmstatsError, match=pattern):
        load_corpus(CorpusSpec(source))


def test_wikitext2_predefined_splits_match_published_counts():
    folder = shared_corpus("wikitext-2")
    corpus = load_corpus(CorpusSpec("wikitext-2"), data_dir=folder.parent)
    assert corpus.predefined
    # PyTorch word_language_model counts: words + one <eos> per line
    for split, expected in [("train", 2_088_628), ("valid", 217_646), ("test", 245_569)]:
        lines = corpus.split(split)
        assert sum(len(s) + 1 for s in lines) == expected
    vocab = corpus.build_vocab()
    assert len(vocab) == 33_278 + 1  # published 33,278 incl. <eos> and <unk>; plus <s>


def test_ptb_counts_and_env_variable(monkeypatch):
    folder = shared_corpus("ptb")
    monkeypatch.setenv("LMSTATS_DATA", str(folder.parent))
    corpus = load_corpus(CorpusSpec("ptb"))
    assert sum(len(s) + 1 for s in corpus.train) == 929_589
    assert len(corpus.build_vocab()) == 10_000 + 1  # 9,999 words incl. <unk>, </s>, plus <s>


def test_tinyshakespeare_defaults_to_char_level():
    folder = shared_corpus("tinyshakespeare")
    corpus = load_corpus(CorpusSpec("tinyshakespeare"), data_dir=folder.parent)
    assert corpus.level == "char"
    chars = {t for part in (corpus.train, corpus.valid, corpus.test) for s in part for t in s}
    assert len(chars) == 64  # the 65 distinct characters less the newline, which becomes </s>
    assert sum(len(s) + 1 for part in (corpus.train, corpus.valid, corpus.test) for s in part) == 1_115_394


def test_letters_only_keeps_unicode_letters_and_marks():
    spec = CorpusSpec(letters_only=True, lower=True)
    assert tokenize(["Café, naïve — Ünïcode 123 déjà-vu"], spec) == [["café", "naïve", "ünïcode", "déjà", "vu"]]
    chinese = "时间机器是一部小说，由威尔斯所著。"
    assert tokenize([chinese], CorpusSpec(letters_only=True, level="char")) == [list("时间机器是一部小说 由威尔斯所著")]
    hindi = "नमस्ते दुनिया!"  # vowel signs and the virama are combining marks: they stay with their letters
    assert tokenize([hindi], CorpusSpec(letters_only=True)) == [["नमस्ते", "दुनिया"]]
    assert tokenize(["a\u0301b"], CorpusSpec(letters_only=True)) == [["a\u0301b"]]  # a + combining acute


def test_nul_bytes_anywhere_mark_the_file_binary(tmp_path):
    path = tmp_path / "late.txt"
    path.write_bytes(b"words and more words\n" * 60_000 + b"\x00tail\n")  # the NUL lies after 1.2 MB of text
    with pytest.raises(LmstatsError, match=r"looks binary \(NUL byte at offset 1260000\)"):
        load_corpus(CorpusSpec(path))


def test_stream_format_at_char_level_keeps_line_breaks_as_the_newline_character(tmp_path):
    lines = ["时间机器", "是一部小说", "由威尔斯所著"]
    assert tokenize(lines, CorpusSpec(level="char", format="stream")) == [list("时间机器\n是一部小说\n由威尔斯所著")]
    assert tokenize(["a b", "c"], CorpusSpec(format="stream")) == [["a", "b", "c"]]  # words: a break separates, adds nothing
    # the text's own characters only: as many tokens as lines mode has characters plus one </s> per line
    path = tmp_path / "zh.txt"
    path.write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    as_lines = load_corpus(CorpusSpec(path, level="char"))
    as_stream = load_corpus(CorpusSpec(path, level="char", format="stream"))
    n_lines = sum(sum(len(s) + 1 for s in as_lines.split(name)) for name in ("train", "valid", "test"))
    n_stream = sum(len(s) for name in ("train", "valid", "test") for s in as_stream.split(name)) + 1  # + the final </s>
    assert n_stream == n_lines and " " not in {t for s in as_stream.train for t in s}


def test_split_fractions_on_a_corpus_with_predefined_splits_are_refused(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(f"{split} words here\n" * 5)
    with pytest.raises(LmstatsError, match="has predefined train/valid/test files, so --split does not apply"):
        load_corpus(CorpusSpec(tmp_path, split=(0.5, 0.25, 0.25)))
    assert load_corpus(CorpusSpec(tmp_path)).spec.split is None  # no fractions recorded where none were used


def test_the_resolved_spec_names_what_was_read():
    corpus = load_corpus(CorpusSpec())
    assert corpus.spec == CorpusSpec("python-docs", level="word", split=(0.8, 0.1, 0.1))
    assert CorpusSpec.from_dict(corpus.spec.to_dict()) == corpus.spec
    assert CorpusSpec("some/dir/file.txt").name == "file.txt" and CorpusSpec().name == "python-docs"
    with pytest.raises(LmstatsError, match="level must be one of word, char"):
        CorpusSpec(level="byte")
