"""Saved n-gram models open ready to query: the hash indexes and the text table are stored, checked, and never rebuilt."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import lmstats.hashtable as hashtable
import lmstats.ngram.counts as counts_module
import lmstats.ngram.model as model_module
from lmstats import EncodedSplit, Lines, LmstatsError, Vocab
from lmstats.ngram import NgramLM
from lmstats.ngram.counts import KeyIndex
from lmstats.ngram.storage import SHARDED_VERSION, VERSION, model_files
from lmstats.text.scan import TextEncoder

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [line.split() for line in ("the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the end")] * 3
TEXT = "the cat sat on the log\nthe bird sat\n\na dog and the cat on the mat\n"


@pytest.fixture(scope="module")
def fitted():
    vocab = Vocab.build(TRAIN)
    return NgramLM(vocab, 3, "mkn").fit(EncodedSplit("train", Lines.from_seqs([vocab.encode(s) for s in TRAIN]), vocab))


def scores(model: NgramLM, text: str = TEXT) -> dict[str, np.ndarray]:
    """ln P of the text's tokens through the numpy scorer and through the compiled kernel."""
    units = model.text_encoder()(text).with_eos(model.vocab.eos_id)
    out = {}
    for name, short in (("numpy", 1 << 20), ("kernel", -1)):
        model_module.SHORT_POSITIONS, before = short, model_module.SHORT_POSITIONS
        try:
            model._numpy_positions = 0
            out[name] = model.logprobs_lines(units)
        finally:
            model_module.SHORT_POSITIONS = before
    return out


def nothing_built(monkeypatch) -> None:
    """Any building of an index or a text table fails the test."""
    def fail(*args, **kwargs):
        pytest.fail("opening or scoring a saved model built an index or a text table")

    monkeypatch.setattr(counts_module, "build_indexes", fail)
    monkeypatch.setattr(model_module, "build_indexes", fail)
    monkeypatch.setattr(KeyIndex, "__init__", fail)
    monkeypatch.setattr(TextEncoder, "__init__", fail)


@pytest.mark.parametrize("name", ["m", "m.npz"])
def test_an_opened_model_scores_bit_identically_and_builds_nothing(fitted, tmp_path, monkeypatch, name):
    expected = scores(fitted)
    assert np.array_equal(expected["numpy"], expected["kernel"])
    fitted.save(tmp_path / name)
    nothing_built(monkeypatch)
    opened = NgramLM.load(tmp_path / name)
    got = scores(opened)
    for scorer in ("numpy", "kernel"):
        np.testing.assert_array_equal(got[scorer], expected[scorer])
    assert [ix.bits for ix in opened.indexes()[1:]] == [ix.bits for ix in fitted.indexes()[1:]]
    if name == "m":
        assert all(isinstance(ix.slots, np.memmap) for ix in opened.indexes()[1:])
        assert all(isinstance(values, np.memmap) for values in opened.text_encoder().tables().values())


def test_meta_json_records_the_stored_arrays(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["version"] == VERSION == 4 and meta["index"] == {"2": "hash", "3": "hash"} and meta["text_table"] is True
    for name in ("slots2", "slots3", "text_strings", "text_offsets", "text_entry_ids", "text_slots"):
        values = np.load(tmp_path / "m" / f"{name}.npy")
        assert meta["arrays"][name] == [values.dtype.str, len(values)]
    assert model_files(meta) == {p.name for p in (tmp_path / "m").iterdir()}
    np.testing.assert_array_equal(np.load(tmp_path / "m" / "slots3.npy"), fitted.indexes()[2].slots)


def _shorter(path):
    np.save(path, np.load(path)[:-1])


def _int64(path):
    np.save(path, np.load(path).astype(np.int64))


def _last_slot_taken(path):
    values = np.load(path)
    values[-1] = 0
    np.save(path, values)


def _remove(path):
    path.unlink()


@pytest.mark.parametrize("damage, name, pattern", [
    (_shorter, "slots2", "slots2.npy holds"),
    (_int64, "slots3", "slots3.npy holds int64 values"),
    (_remove, "slots3", "lacks the arrays slots3"),
    (_last_slot_taken, "slots2", "slots2.npy is not the hash table of"),
    (_last_slot_taken, "text_slots", "text_slots.npy is not the hash table of"),
    (_remove, "text_offsets", "lacks the arrays text_offsets"),
    (_shorter, "text_strings", "text_strings.npy holds"),
])
def test_a_damaged_stored_index_is_one_error_naming_it(fitted, tmp_path, damage, name, pattern):
    fitted.save(tmp_path / "m")
    damage(tmp_path / "m" / f"{name}.npy")
    with pytest.raises(LmstatsError, match=pattern):
        NgramLM.load(tmp_path / "m")


def test_a_text_table_of_another_vocabulary_is_refused(fitted, tmp_path):
    """Arrays consistent with meta.json but not with the vocabulary: the words do not add up."""
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    for name in ("entry_ids", "offsets"):
        values = np.load(tmp_path / "m" / f"text_{name}.npy")[:-1]
        np.save(tmp_path / "m" / f"text_{name}.npy", values)
        meta["arrays"][f"text_{name}"][1] = len(values)
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LmstatsError, match="the text table's arrays do not hold the .* words of its vocabulary"):
        NgramLM.load(tmp_path / "m")


def as_version_3(folder: Path) -> None:
    """The folder as lmstats wrote it before indexes were stored."""
    meta = json.loads((folder / "meta.json").read_text())
    for name in [n for n in meta["arrays"] if n.startswith(("slots", "text_"))]:
        (folder / f"{name}.npy").unlink()
        del meta["arrays"][name]
    del meta["index"], meta["text_table"]
    meta["version"] = 3
    (folder / "meta.json").write_text(json.dumps(meta))


def test_a_model_saved_before_indexes_were_stored_opens_and_builds_them_once(fitted, tmp_path, monkeypatch):
    fitted.save(tmp_path / "m")
    as_version_3(tmp_path / "m")
    built = []
    build = model_module.build_indexes
    monkeypatch.setattr(model_module, "build_indexes", lambda counts: built.append(1) or build(counts))
    old = NgramLM.load(tmp_path / "m")
    assert built == []  # built at the first scoring, not when opened
    expected = scores(fitted)
    got = scores(old)
    assert built == [1] and all(np.array_equal(got[s], expected[s]) for s in expected)
    old.save(tmp_path / "again", query_only=True)  # saving it again stores what it built
    nothing_built(monkeypatch)
    np.testing.assert_array_equal(scores(NgramLM.load(tmp_path / "again"))["kernel"], expected["kernel"])


def test_a_model_saved_with_larger_hash_tables_opens_and_scores_the_same(fitted, tmp_path):
    """Slot tables of 4x the keys (saved before the n-gram index took 1.25x, they were 2x): their size says their bits."""
    expected = scores(fitted)
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    hashed = [k for k, kind in meta["index"].items() if kind == "hash"]
    assert hashed
    for k in hashed:
        keys = np.load(tmp_path / "m" / f"keys{k}.npy")
        index = KeyIndex.__new__(KeyIndex)
        index.bits = hashtable.hash_bits(len(keys), 4.0)
        slots = hashtable.slot_table(index._home(keys), index.bits)
        assert len(slots) > len(np.load(tmp_path / "m" / f"slots{k}.npy"))
        np.save(tmp_path / "m" / f"slots{k}.npy", slots)
        meta["arrays"][f"slots{k}"] = [slots.dtype.str, len(slots)]
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    opened = NgramLM.load(tmp_path / "m")
    assert [ix.bits for ix in opened.indexes()[1:]] == [hashtable.hash_bits(len(ix.keys), 4.0) for ix in opened.indexes()[1:]]
    got = scores(opened)
    for scorer in ("numpy", "kernel"):
        np.testing.assert_array_equal(got[scorer], expected[scorer])


def test_a_model_from_a_newer_lmstats_is_refused(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    meta["version"] = SHARDED_VERSION + 1
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LmstatsError, match=f"format version {SHARDED_VERSION + 1}, newer than this lmstats reads"):
        NgramLM.load(tmp_path / "m")


def test_a_copy_of_an_opened_model_links_its_stored_arrays(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    NgramLM.load(tmp_path / "m").save(tmp_path / "q", query_only=True)
    for name in ("slots2", "text_slots", "text_strings"):
        assert os.path.samefile(tmp_path / "m" / f"{name}.npy", tmp_path / "q" / f"{name}.npy")


def test_opening_a_model_and_scoring_a_sentence_never_imports_numba(fitted, tmp_path):
    """The short run: the stored indexes and text table, str.split and the numpy scorer; no compiler in the process."""
    fitted.save(tmp_path / "m")
    code = f"""
        import sys
        from lmstats.ngram import NgramLM
        model = NgramLM.load({str(tmp_path / "m")!r})
        units = model.text_encoder()({TEXT!r}).with_eos(model.vocab.eos_id)
        print(float(model.logprobs_lines(units).sum()), "numba" in sys.modules)
    """
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    total, numba_imported = proc.stdout.split()
    assert float(total) == float(scores(fitted)["numpy"].sum()) and numba_imported == "False"


@pytest.mark.parametrize("n, bits", [(0, 4), (1, 4), (15, 4), (40, 4), (300, 6), (300, 9), (5000, 14)])
def test_the_slot_table_is_linear_probing_in_home_order(n, bits):
    """Entries placed one by one in order of home (then entry) at the first free slot from home: the vectorised
    table is that table, its last slot is empty, and it has 2^bits homes."""
    home = np.random.default_rng(n).integers(0, 1 << bits, n)
    expected = np.full((1 << bits) + n + 1, -1)
    for entry in np.argsort(home, kind="stable"):
        slot = home[entry]
        while expected[slot] >= 0:
            slot += 1
        expected[slot] = entry
    slots = hashtable.slot_table(home, bits)
    assert slots.dtype == np.int32 and slots[-1] == -1 and len(slots) >= (1 << bits) + 1
    assert n >= 1 << bits or hashtable.stored_bits(len(slots)) == bits  # the size says the bits (fewer entries than homes)
    np.testing.assert_array_equal(slots, expected[: len(slots)])
    assert (expected[len(slots):] == -1).all()
