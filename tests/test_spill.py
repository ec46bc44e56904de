"""Disk-backed text: token ids kept as memory-mapped files in a work folder give the same numbers."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import lmstats.encoded as encoded
from lmstats import CorpusSpec, Lines, load_corpus
from lmstats.cli import main
from lmstats.encoded import map_pieces, reduce_pieces, spill_folder
from lmstats.ngram import NgramLM
from lmstats.npyfile import NpyAppender
from lmstats.units import scored_units

from helpers import assert_same_tables


def on_disk(folder, values, dtype=np.int32):
    out = NpyAppender(folder / f"x{len(list(folder.iterdir()))}.npy", dtype)
    out.append(values)
    return np.load(out.close(), mmap_mode="r")


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(encoded, "PIECE", 7)


def test_lines_made_from_a_disk_backed_text_equal_the_in_memory_ones(tmp_path, small_pieces):
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 6, size=60)
    ids = rng.integers(0, 50, size=int(lengths.sum())).astype(np.int32)
    memory = Lines.from_lengths(ids, lengths)
    disk = Lines.from_lengths(on_disk(tmp_path, ids), lengths)
    assert spill_folder(disk.ids) == tmp_path and spill_folder(memory.ids) is None
    for made, expected in ((disk.nonempty(), memory.nonempty()), (disk.with_eos(2), memory.with_eos(2)),
                           (disk.nonempty().with_eos(2), memory.nonempty().with_eos(2))):
        assert spill_folder(made.ids) == tmp_path  # written beside it, not held in memory
        np.testing.assert_array_equal(made.ids, expected.ids)
        np.testing.assert_array_equal(made.bounds, expected.bounds)
    np.testing.assert_array_equal(map_pieces(disk.ids, lambda p: p * 2, np.int64), ids * 2)
    assert sum(reduce_pieces(disk.ids, np.sum)) == ids.sum() and len(reduce_pieces(disk.ids, np.sum)) == -(-len(ids) // 7)


@pytest.mark.parametrize("source", ["folder", "file"])
def test_a_spilled_corpus_gives_the_same_splits_and_model(tmp_path, small_pieces, text_file, source):
    if source == "folder":
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        lines = text_file.read_text().splitlines()
        for name, part in (("train", lines[:-4]), ("valid", lines[-4:-2]), ("test", lines[-2:])):
            (corpus / f"{name}.txt").write_text("\n".join(part) + "\n")
        spec = CorpusSpec(str(corpus))
    else:
        spec = CorpusSpec(str(text_file), split=(0.6, 0.2, 0.2))
    (tmp_path / "work").mkdir()
    plain = load_corpus(spec)
    spilled = load_corpus(spec, spill=tmp_path / "work")
    a, b = plain.encode(plain.build_vocab()), spilled.encode(spilled.build_vocab())
    assert a.vocab == b.vocab
    for name in ("train", "valid", "test"):
        assert spill_folder(b[name].lines.ids) == tmp_path / "work"
        np.testing.assert_array_equal(a[name].lines.ids, b[name].lines.ids)
        np.testing.assert_array_equal(a[name].lines.bounds, b[name].lines.bounds)
        assert a[name].n_oov == b[name].n_oov
    m1 = NgramLM(a.vocab, 3).fit(a.train)
    m2 = NgramLM(b.vocab, 3).fit(b.train)
    assert_same_tables(m1.counts_, m2.counts_)
    units_a, units_b = scored_units(a.test, "sentence"), scored_units(b.test, "sentence")
    np.testing.assert_array_equal(m1.logprobs_lines(units_a), m2.logprobs_lines(units_b))


def test_out_of_core_fit_of_a_spilled_corpus(tmp_path, small_pieces, text_file, tight_memory):
    spec = CorpusSpec(str(text_file), split=(0.6, 0.2, 0.2))
    (tmp_path / "work").mkdir()
    plain, spilled = load_corpus(spec), load_corpus(spec, spill=tmp_path / "work")
    a, b = plain.encode(plain.build_vocab()), spilled.encode(spilled.build_vocab())
    m1 = NgramLM(a.vocab, 3).fit(a.train)
    m2 = NgramLM(b.vocab, 3).fit(b.train, memory=tight_memory(), tmp=tmp_path)
    for x, y in zip(m1.estimate_.probs, m2.estimate_.probs, strict=True):
        np.testing.assert_array_equal(x, y)


def test_the_cli_keeps_a_large_corpus_on_disk_and_removes_it(tmp_path, monkeypatch, text_file):
    import lmstats.text.spill as spill_policy

    args = ["ngram", str(text_file), "--split", "0.6,0.2,0.2", "--n", "3", "--json", "--tmp", str(tmp_path)]
    plain = json.loads(CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a")], catch_exceptions=False).stdout)
    monkeypatch.setattr(spill_policy, "SPILL_SHARE", 0.0)  # every corpus counts as large
    seen = []
    real_load = spill_policy.work_dir

    def watching(parent):
        folder_cm = real_load(parent)
        seen.append(parent)
        return folder_cm

    monkeypatch.setattr(spill_policy, "work_dir", watching)
    spilled = json.loads(CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b")], catch_exceptions=False).stdout)
    assert seen, "the corpus was not read into a work folder"
    untimed = lambda results: {split: {mode: {k: v for k, v in r.items() if k not in ("seconds", "tokens_per_s")}  # noqa: E731
                                       for mode, r in modes.items()} for split, modes in results.items()}
    assert untimed(plain["results"]) == untimed(spilled["results"]) and plain["model"] == spilled["model"]
    assert not list(tmp_path.glob("lmstats-work-*"))  # removed at the end


@pytest.mark.slow
@pytest.mark.parametrize("out_of_core", [False, True])
def test_zipf_of_a_corpus_kept_on_disk_gives_the_same_figures(tmp_path, monkeypatch, out_of_core, tight_memory):
    import lmstats.ngram.plan as plan
    import lmstats.text.spill as spill_policy

    args = ["zipf", "--n", "2", "--no-compare", "--json", "--tmp", str(tmp_path)]
    if out_of_core:
        monkeypatch.setattr(plan, "IN_MEMORY_BYTES_PER_POSITION", 1 << 20)
        args += ["--memory", str(tight_memory())]
    expected = json.loads(CliRunner().invoke(main, args, catch_exceptions=False).stdout)
    monkeypatch.setattr(spill_policy, "SPILL_SHARE", 0.0)
    folders = []
    real = spill_policy.work_dir
    monkeypatch.setattr(spill_policy, "work_dir", lambda parent: folders.append(parent) or real(parent))
    spilled = CliRunner().invoke(main, args, catch_exceptions=False)
    assert folders == [str(tmp_path)]  # the corpus was read into a work folder
    assert json.loads(spilled.stdout) == expected
    assert not list(tmp_path.glob("lmstats-work-*"))


def test_drop_spilled_keeps_only_the_files_read_from(tmp_path):
    from lmstats.text.spill import drop_spilled

    kept, gone = on_disk(tmp_path, np.arange(5)), on_disk(tmp_path, np.arange(3))
    gone_name = gone.filename
    del gone
    drop_spilled(tmp_path, kept, np.arange(4))  # an in-memory array keeps nothing
    assert [p.name for p in tmp_path.iterdir()] == [kept.filename.name] and not gone_name.exists()
    drop_spilled(None, kept)  # no folder: nothing to do


def test_a_char_level_corpus_is_kept_on_disk_where_its_words_would_not_be(tmp_path, monkeypatch):
    """At char level every character is an id of 4 bytes, so the same file spills at a fifth of the size."""
    import lmstats.text.spill as spill_policy
    from lmstats import CorpusSpec

    (tmp_path / "t.txt").write_text("x" * 99 + "\n")  # 100 bytes; 25% of the 1,000 bytes left is 250
    monkeypatch.setattr(spill_policy, "working_memory", lambda memory: 1000)
    for level, spills in ((None, False), ("word", False), ("char", True)):
        with spill_policy.text_spill(CorpusSpec(str(tmp_path / "t.txt"), level=level), 1 << 30, tmp_path) as folder:
            assert (folder is not None) == spills, level


def test_a_disk_backed_line_longer_than_a_piece_is_handled_a_piece_at_a_time(tmp_path, small_pieces, monkeypatch):
    """A text of one line of 40 tokens with pieces of 7: the same lines as in memory, made from arrays of at most a piece."""
    rng = np.random.default_rng(1)
    lengths = np.array([3, 40, 0, 9, 7, 8])
    ids = rng.integers(3, 50, size=int(lengths.sum())).astype(np.int32)
    memory, disk = Lines.from_lengths(ids, lengths), Lines.from_lengths(on_disk(tmp_path, ids), lengths)
    longest = [0]
    append = NpyAppender.append
    monkeypatch.setattr(NpyAppender, "append", lambda self, values: longest.__setitem__(0, max(longest[0], len(values)))
                        or append(self, values))
    for made, expected in ((disk.with_eos(2), memory.with_eos(2)), (disk.nonempty(), memory.nonempty()),
                           (Lines.single(disk.ids).with_eos(2), Lines.single(ids).with_eos(2))):
        np.testing.assert_array_equal(made.ids, expected.ids)
        np.testing.assert_array_equal(made.bounds, expected.bounds)
    assert longest[0] <= 7 + 2  # a piece and the end-of-line tokens of its lines, not the 40-token line
