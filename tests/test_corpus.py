import bz2
import gzip
import lzma

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstats import CorpusSpec, LmstatsError, load_corpus, split_lines
from lmstats.text.ingest import TypeTable, ingest
from lmstats.text.reader import TextSource, read_chunks
from lmstats.text.sources import builtin_text

from helpers import shared_corpus
from oracles import reference_sentences, split_text_lines


def tokenize(lines, spec, chunk_bytes=1 << 20):
    """The library's streamed reading of ``lines`` (one text), decoded back to token lists."""
    table = TypeTable()
    text = ingest([TextSource("t", text="\n".join(lines) + "\n")], table, level=spec.level or "word", lower=spec.lower,
                  letters_only=spec.letters_only, stream=spec.format == "stream", chunk_bytes=chunk_bytes)
    tokens, bounds = [table.types[i] for i in text.ids], [0, *np.cumsum(text.lengths).tolist()]
    return [tokens[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]



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
    assert tokenize(["a b", "c"], CorpusSpec(format="stream")) == [["a", "b", "c"]]  # words: a break separates, adds nothing


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
        sizes[name] = sum(c.part(part).n_tokens for part in ('train', 'valid', 'test'))
    assert set(sizes.values()) == {120}
    folder = load_corpus(CorpusSpec(tmp_path))
    assert sum(folder.part(p).n_lines for p in ('train', 'valid', 'test')) == 120  # four files x 30 lines
    globbed = load_corpus(CorpusSpec(str(tmp_path / "z.*")))
    assert sum(globbed.part(p).n_lines for p in ('train', 'valid', 'test')) == 90


def test_folder_with_train_valid_test_uses_them(tmp_path):
    for split, n in [("train", 5), ("valid", 2), ("test", 3)]:
        (tmp_path / f"my.{split}.txt").write_text("".join(f"{split} x\n" for _ in range(n)))
    corpus = load_corpus(CorpusSpec(tmp_path))
    assert corpus.predefined
    assert (corpus.part("train").n_lines, corpus.part("valid").n_lines, corpus.part("test").n_lines) == (5, 2, 3)
    assert corpus.sentences("valid")[0] == ["valid", "x"]


def test_builtin_default_corpus_works_offline():
    corpus = load_corpus(CorpusSpec())
    assert corpus.name == "python-docs"
    n = corpus.part("train").n_tokens
    assert n > 20_000  # real prose: the Python reference topics
    assert "the" in {t for s in corpus.sentences("train") for t in s}
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


@pytest.mark.parametrize("level", ["word", "char"])
def test_a_seeded_split_of_one_line_is_refused_before_the_text_is_split(tmp_path, monkeypatch, level):
    """A one-line text cannot give three splits of whole lines: refused with --format stream suggested, before a split is copied."""
    import lmstats.text.corpus as corpus_module

    def never(*args, **kwargs):
        raise AssertionError("the one line was split")

    monkeypatch.setattr(corpus_module, "split_by_lines", never)
    (tmp_path / "one.txt").write_text("a single long line " * 50)
    with pytest.raises(LmstatsError, match="the corpus has 1 line and a seeded split assigns whole lines .* use --format stream"):
        load_corpus(CorpusSpec(str(tmp_path / "one.txt"), level=level))
    assert load_corpus(CorpusSpec(str(tmp_path / "one.txt"), level=level, format="stream")).part("test").n_tokens > 0


@pytest.mark.slow
def test_wikitext2_predefined_splits_match_published_counts():
    folder = shared_corpus("wikitext-2")
    corpus = load_corpus(CorpusSpec("wikitext-2"), data_dir=folder.parent)
    assert corpus.predefined
    # PyTorch word_language_model counts: words + one <eos> per line
    for split, expected in [("train", 2_088_628), ("valid", 217_646), ("test", 245_569)]:
        part = corpus.part(split)
        assert part.n_tokens + part.n_lines == expected
    vocab = corpus.build_vocab()
    assert len(vocab) == 33_278 + 1  # published 33,278 incl. <eos> and <unk>; plus <s>


@pytest.mark.slow
def test_ptb_counts_and_env_variable(monkeypatch):
    folder = shared_corpus("ptb")
    monkeypatch.setenv("LMSTATS_DATA", str(folder.parent))
    corpus = load_corpus(CorpusSpec("ptb"))
    assert corpus.part("train").n_tokens + corpus.part("train").n_lines == 929_589
    assert len(corpus.build_vocab()) == 10_000 + 1  # 9,999 words incl. <unk>, </s>, plus <s>


def test_tinyshakespeare_defaults_to_char_level():
    folder = shared_corpus("tinyshakespeare")
    corpus = load_corpus(CorpusSpec("tinyshakespeare"), data_dir=folder.parent)
    assert corpus.level == "char"
    chars = set(corpus.types.types)
    assert len(chars) == 64  # the 65 distinct characters less the newline, which becomes </s>
    assert sum(corpus.part(p).n_tokens + corpus.part(p).n_lines for p in ("train", "valid", "test")) == 1_115_394


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
    # the text's own characters only: as many tokens as lines mode has characters plus one </s> per line
    path = tmp_path / "zh.txt"
    path.write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    as_lines = load_corpus(CorpusSpec(path, level="char"))
    as_stream = load_corpus(CorpusSpec(path, level="char", format="stream"))
    n_lines = sum(as_lines.part(name).n_tokens + as_lines.part(name).n_lines for name in ("train", "valid", "test"))
    n_stream = sum(as_stream.part(name).n_tokens for name in ("train", "valid", "test")) + 1  # + the final </s>
    assert n_stream == n_lines and " " not in as_stream.types.types


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


# -- the streamed reader equals the line-by-line definition ----------------------------------
SPECS = [CorpusSpec(), CorpusSpec(level="char"), CorpusSpec(lower=True, letters_only=True), CorpusSpec(level="char", letters_only=True),
         CorpusSpec(format="stream"), CorpusSpec(level="char", format="stream"),
         CorpusSpec(level="char", letters_only=True, format="stream")]
PIECES = ["a", "b c", "Ü", "中文", "\t", "\r\n", "\n", "\u3000", "\u2028", "é-1", "  ", "\r", "x\u0301"]


def text_source(tmp_path_factory, text: str, as_file: bool) -> TextSource:
    """``text`` as a file (its UTF-8 bytes) or as a string source."""
    if not as_file:
        return TextSource("t", text=text)
    path = tmp_path_factory.mktemp("t") / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    return TextSource("t", path)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30), st.sampled_from(SPECS), st.integers(1, 40), st.booleans(), st.booleans())
def test_streamed_reading_equals_the_line_by_line_definition(tmp_path_factory, pieces, spec, chunk, bom, as_file):
    """Any text (CRLF, a BOM, Unicode whitespace, Chinese, a missing final newline), any chunk size."""
    text = ("\ufeff" if bom else "") + "".join(pieces)
    source = text_source(tmp_path_factory, text, as_file)
    table = TypeTable()
    got = ingest([source], table, level=spec.level or "word", lower=spec.lower, letters_only=spec.letters_only,
                 stream=spec.format == "stream", chunk_bytes=chunk)
    tokens, bounds = [table.types[i] for i in got.ids], [0, *np.cumsum(got.lengths).tolist()]
    assert [tokens[a:b] for a, b in zip(bounds, bounds[1:], strict=False)] == reference_sentences([text], spec)


LONG_SPECS = [CorpusSpec(), CorpusSpec(lower=True), CorpusSpec(lower=True, letters_only=True), CorpusSpec(level="char"),
              CorpusSpec(level="char", lower=True), CorpusSpec(level="char", letters_only=True),
              CorpusSpec(level="char", lower=True, letters_only=True), CorpusSpec(level="char", lower=True, format="stream")]
LONG_PIECES = ["ab", "Σ", "ΟΔΟΣ", "ΑΣ'", " ", "  ", "'", "x\u0301", "中", "é", "-", ".", "\r", "\r\n", "\t", "İ", "ß", "7", "\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LONG_PIECES), max_size=60), st.sampled_from(LONG_SPECS), st.integers(1, 9), st.booleans())
def test_lines_longer_than_a_chunk_are_read_in_pieces_with_the_same_tokens_and_sizes(tmp_path_factory, pieces, spec, chunk, as_file):
    """A line of many chunks is cut where cutting changes nothing (Greek final sigma under --lower included):
    its tokens are the line-by-line ones and its characters and bytes those of reading it whole."""
    text = "".join(pieces)
    source = text_source(tmp_path_factory, text, as_file)
    options = dict(level=spec.level or "word", lower=spec.lower, letters_only=spec.letters_only, stream=spec.format == "stream")
    table = TypeTable()
    got = ingest([source], table, chunk_bytes=chunk, **options)
    tokens, bounds = [table.types[i] for i in got.ids], [0, *np.cumsum(got.lengths).tolist()]
    assert [tokens[a:b] for a, b in zip(bounds, bounds[1:], strict=False)] == reference_sentences([text], spec)
    ended = text + "\n" if text and not text.endswith("\n") else text  # the same lines, every one ended
    whole = ingest([TextSource("t", text=ended)], TypeTable(), **options)  # one chunk: every line read whole
    assert got.line_chars.tolist() == whole.line_chars.tolist() and got.line_bytes.tolist() == whole.line_bytes.tolist()


@pytest.mark.parametrize("spec", [CorpusSpec(), CorpusSpec(lower=True, letters_only=True), CorpusSpec(level="char", lower=True),
                                  CorpusSpec(level="char", letters_only=True, format="stream")])
@pytest.mark.parametrize("as_file", [True, False])
def test_a_text_without_line_breaks_is_tokenized_a_chunk_at_a_time(tmp_path, monkeypatch, spec, as_file):
    """The text tokenized at once (the characters of one call to the tokenizer) stays within about two
    chunks for a line of 1,500 chunks."""
    rng = np.random.default_rng(0)
    words = ["Σοφία", "ΟΔΟΣ", "naïve", "word", "a", "中文", "x-y"]
    text = " ".join(words[i] for i in rng.integers(0, len(words), size=2_000))  # one line, no line break at all
    longest = [0]
    encode, encode_chars = TypeTable.encode, TypeTable.encode_chars

    def words_seen(self, tokens):
        longest[0] = max(longest[0], sum(len(t) + 1 for t in tokens))  # a word and the space after it
        return encode(self, tokens)

    def chars_seen(self, piece):
        longest[0] = max(longest[0], len(piece))
        return encode_chars(self, piece)

    monkeypatch.setattr(TypeTable, "encode", words_seen)
    monkeypatch.setattr(TypeTable, "encode_chars", chars_seen)
    if as_file:
        (tmp_path / "one.txt").write_text(text, encoding="utf-8")
        source = TextSource("one", tmp_path / "one.txt")
    else:
        source = TextSource("one", text=text)
    got = ingest([source], TypeTable(), level=spec.level or "word", lower=spec.lower, letters_only=spec.letters_only,
                 stream=spec.format == "stream", chunk_bytes=7)
    assert got.n_lines == 1 and got.n_tokens == len(reference_sentences([text], spec)[0])
    assert 0 < longest[0] <= 2 * 7 + 6  # two chunks and a word cut off at their end, not the 10,000-character line


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 7])
def test_a_file_without_line_breaks_is_read_in_pieces_of_whole_characters(tmp_path, chunk):
    text = "ab é中文 \U0001f600x " * 40  # one line of characters of 1 to 4 bytes
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    pieces = list(read_chunks(TextSource("t", tmp_path / "t.txt"), chunk))
    assert "".join(pieces) == text and len(pieces) > 1
    assert max(len(p.encode("utf-8")) for p in pieces) <= 2 * chunk + 3  # two blocks and a character cut off at their end
    (tmp_path / "bad.txt").write_bytes(b"abc\xe9def ghi")  # latin-1, no line break
    with pytest.raises(LmstatsError, match="byte 0xe9 at offset 3 is invalid"):
        list(read_chunks(TextSource("bad", tmp_path / "bad.txt"), chunk))


@pytest.mark.slow
@pytest.mark.parametrize("name, spec", [("wikitext-2", CorpusSpec("wikitext-2")), ("ptb", CorpusSpec("ptb")),
                                        ("timemachine", CorpusSpec("timemachine", lower=True, letters_only=True)),
                                        ("tinyshakespeare", CorpusSpec("tinyshakespeare"))])
def test_same_vocabulary_ids_and_splits_as_reading_line_by_line(name, spec):
    """The streamed loader gives the vocabulary, the ids and the splits of the per-line token lists."""
    from lmstats import Vocab
    from lmstats.text.catalogue import load_catalogue, locate_corpus

    folder = shared_corpus(name)
    corpus = load_corpus(spec, data_dir=folder.parent)
    files = locate_corpus(load_catalogue()[name], data_dir=folder.parent)
    level = corpus.spec
    if corpus.predefined:
        reference = {s: reference_sentences([files[s].read_text(encoding="utf-8")], level) for s in ("train", "valid", "test")}
    else:
        lines = reference_sentences([files["all"].read_text(encoding="utf-8")], level)
        reference = dict(zip(("train", "valid", "test"), split_lines(lines, corpus.spec.fractions, corpus.spec.seed), strict=True))
    vocab = corpus.build_vocab()
    assert vocab.tokens == Vocab.build(reference["train"]).tokens and (vocab.counts == Vocab.build(reference["train"]).counts).all()
    splits = corpus.encode(vocab)
    for s in ("train", "valid", "test"):
        expected = [vocab.encode(line) for line in reference[s]]
        assert splits[s].lines.lengths.tolist() == [len(e) for e in expected]
        assert np.array_equal(splits[s].lines.ids, np.concatenate(expected)), s
