"""lmstats/text/ranges.py: files cut into byte ranges at line starts, read apart, give the text and vocabulary of reading
them whole (issue 25, step 1)."""

from __future__ import annotations

import gzip
import importlib.util

import numpy as np
import pytest

from lmstats import LmstatsError
from lmstats.text.ingest import TypeTable, ingest
from lmstats.text.ranges import (
    ByteRange,
    Reading,
    byte_ranges,
    encode_range,
    merge_counts,
    range_chunks,
    read_on_cluster,
    read_range,
    type_counts,
    vocab_of,
)
from lmstats.text.reader import TextSource, read_text
from lmstats.vocab import Vocab

WORDS = ["a", "bb", "ccc", "é", "日本", "x\ty", "z"]


def random_text(seed: int) -> str:
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(int(rng.integers(0, 40))):
        n = int(rng.integers(0, 9))
        line = " ".join(rng.choice(WORDS, size=n)) if n else ""
        lines.append(line + ("\r\n" if rng.random() < 0.2 else "\n"))
    text = "".join(lines)
    if rng.random() < 0.3:
        text = text.rstrip("\n")  # no line break at the end
    if rng.random() < 0.2:
        text = "\ufeff" + text
    return text


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("target", [1, 3, 7, 50, 1 << 20])
def test_ranges_tile_the_file_every_line_in_one(tmp_path, seed, target):
    path = write(tmp_path, "t.txt", random_text(seed))
    ranges = byte_ranges([str(path)], target)
    size = path.stat().st_size
    assert ranges[0].start == 0 and ranges[-1].end == size
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:], strict=False))
    got = "".join("".join(range_chunks(r, block=5)) for r in ranges)
    assert got == read_text(path)


def local(path, reading: Reading):
    table = TypeTable()
    text = ingest([TextSource(str(path), path)], table, level=reading.level, lower=reading.lower, letters_only=reading.letters_only)
    vocab = Vocab.from_counts(table.types, table.type_counts(text.ids), text.n_lines)
    return vocab, table.vocab_ids(vocab)[text.ids], text


@pytest.mark.parametrize("reading", [Reading(), Reading("char"), Reading(lower=True, letters_only=True)])
@pytest.mark.parametrize("seed", range(6))
def test_ranges_read_apart_give_the_vocabulary_and_ids_of_the_whole(tmp_path, seed, reading):
    path = write(tmp_path, "t.txt", random_text(seed) + "A Bb é\n" * 3)
    vocab, ids, text = local(path, reading)
    parts = [read_range(r, reading, block=4) for r in byte_ranges([str(path)], 11)]
    merged = type_counts(parts[0])
    for p in parts[1:]:
        merged = merge_counts(merged, type_counts(p))
    got = vocab_of(merged)
    assert got == vocab and got.tokens == vocab.tokens
    encoded = [encode_range(p, got) for p in parts]
    np.testing.assert_array_equal(np.concatenate([e[0] for e in encoded]), ids)
    np.testing.assert_array_equal(np.concatenate([e[1] for e in encoded]), text.lengths)
    np.testing.assert_array_equal(np.concatenate([p.text.line_chars for p in parts]), text.line_chars)


def test_a_compressed_file_is_one_range(tmp_path):
    text = random_text(3) + "end of it\n"
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    ranges = byte_ranges([str(path)], 5)
    assert ranges == [ByteRange(str(path), 0, None)]
    assert "".join(range_chunks(ranges[0])) == read_text(path) == text.removeprefix("\ufeff")


@pytest.mark.parametrize("content, pattern", [
    (b"ok\n\xff\xfe bad\n", "not UTF-8 text .byte 0xff at offset 3"),
    (b"ok\nbin\x00ary\n", "looks binary .NUL byte at offset 6"),
])
def test_bad_bytes_are_one_error_with_the_file_offset(tmp_path, content, pattern):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(LmstatsError, match=pattern):
        for r in byte_ranges([str(path)], 2):
            read_range(r, Reading())


def test_missing_files_unknown_schemes_and_levels_are_errors(tmp_path):
    with pytest.raises(LmstatsError, match="no such file"):
        byte_ranges([str(tmp_path / "none.txt")])
    with pytest.raises(LmstatsError, match="cannot open it"):
        byte_ranges(["nosuchscheme://bucket/x.txt"])
    for scheme, package in (("s3", "s3fs"), ("gs", "gcsfs")):  # a scheme fsspec knows, without its package: named, no traceback
        if importlib.util.find_spec(package) is None:
            with pytest.raises(LmstatsError, match=rf"(?i){scheme}://bucket/x.txt: cannot open it \(.*install {package}"):
                byte_ranges([f"{scheme}://bucket/x.txt"])
    with pytest.raises(LmstatsError, match="word or char level"):
        Reading("bpe")


def test_the_workers_read_the_ranges(tmp_path):
    """On a LocalCluster of 2 worker processes: the vocabulary and the partitions of reading the file whole."""
    pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")
    from lmstats.ngram.dask_cluster import dask_client

    path = write(tmp_path, "t.txt", "".join(random_text(s) + "\n" for s in range(20)))
    vocab, ids, text = local(path, Reading())
    with dask_client(None, workers=2, local_directory=tmp_path / "dask") as client:
        got, futures = read_on_cluster(client, [str(path)], Reading(), target=64)
        assert len(futures) > 4
        parts = client.gather(futures)
    assert got == vocab and got.tokens == vocab.tokens
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), ids)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), text.lengths)


@pytest.mark.slow
def test_counted_where_they_were_read_the_tables_are_the_local_engines(tmp_path):
    """Files read on the workers (read_on_cluster) and counted there (count_partitions_dask): the tables of counting
    the whole text here, array for array; the client never held the text."""
    pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")
    from lmstats.encoded import Lines
    from lmstats.ngram.counts import count_ngrams
    from lmstats.ngram.dask_cluster import dask_client
    from lmstats.ngram.distributed import count_partitions_dask

    from helpers import assert_same_tables

    paths = [write(tmp_path, f"t{i}.txt", "".join(random_text(10 * i + s) + "\n" for s in range(10))) for i in range(2)]
    table = TypeTable()
    text = ingest([TextSource(str(p), p) for p in paths], table)
    vocab = Vocab.from_counts(table.types, table.type_counts(text.ids), text.n_lines)
    expected = count_ngrams(Lines.from_lengths(table.vocab_ids(vocab)[text.ids], text.lengths), 4, len(vocab), vocab.bos_id)
    with dask_client(None, workers=2, local_directory=tmp_path / "dask") as client:
        got_vocab, parts = read_on_cluster(client, [str(p) for p in paths], Reading(), target=100)
        assert got_vocab == vocab
        n_units = sum(client.gather([client.submit(lambda part: len(part[1]), p) for p in parts]))
        tables = tmp_path / "tables"
        tables.mkdir()
        got = count_partitions_dask(parts, n_units, 4, len(vocab), vocab.bos_id, client=client, tables_dir=tables, memory=1 << 30)
        assert_same_tables(got, expected)
