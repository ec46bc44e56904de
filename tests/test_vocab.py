import json

import numpy as np
import pytest

from lmstats import BOS, EOS, PAD, UNK, CorpusSpec, LmstatsError, Vocab


def test_specials_first_then_descending_count_ties_lexicographic(tiny):
    vocab = Vocab.build(tiny)
    # a=3, b=2, then c and d tie at 1 and go in lexicographic order
    assert vocab.tokens == [UNK, BOS, EOS, "a", "b", "c", "d"]
    assert (vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
    assert [vocab.count(t) for t in "abcd"] == [3, 2, 1, 1]
    assert vocab.count(EOS) == 2 and vocab.count(UNK) == 0
    assert vocab.count("zzz") == 0


def test_pad_is_optional_and_fourth():
    vocab = Vocab.build([["x"]], pad=True)
    assert vocab.tokens[:4] == [UNK, BOS, EOS, PAD] and vocab.pad_id == 3
    assert vocab.n_predictable == len(vocab) - 2
    assert set(vocab.predictable_ids.tolist()) == {0, 2, 4}
    with pytest.raises(LmstatsError, match="no <pad>"):
        _ = Vocab.build([["x"]]).pad_id


def test_min_count_and_max_size_send_the_rest_to_unk(tiny):
    vocab = Vocab.build(tiny, min_count=2)
    assert vocab.tokens[3:] == ["a", "b"]
    assert vocab.count(UNK) == 2  # c and d
    vocab = Vocab.build(tiny, max_size=1)
    assert vocab.tokens[3:] == ["a"] and vocab.count(UNK) == 4
    with pytest.raises(LmstatsError):
        Vocab.build(tiny, min_count=0)


def test_literal_unk_in_text_is_the_unknown_token():
    vocab = Vocab.build([["the", "<unk>", "cat"], ["<unk>"]])
    assert "<unk>" not in vocab.tokens[3:]
    assert vocab.count(UNK) == 2
    assert vocab.encode(["<unk>", "dog", "the"]).tolist() == [0, 0, vocab.id("the")]


def test_boundary_markers_in_text_are_read_as_unknown():
    vocab = Vocab.build([["a", "<s>", "</s>"]])
    assert vocab.tokens == [UNK, BOS, EOS, "a"]
    assert vocab.encode(["<s>", "</s>", "a"]).tolist() == [0, 0, 3]
    assert vocab.id(BOS) == 1  # the API lookup still names the special


def test_encode_decode_round_trip(tiny):
    vocab = Vocab.build(tiny)
    ids = vocab.encode(["a", "d", "zebra"])
    assert ids.dtype == np.int64 and ids.tolist() == [3, 6, 0]
    assert vocab.decode(ids) == ["a", "d", UNK]


def test_save_load_round_trip_and_equality(tmp_path, tiny):
    vocab = Vocab.build(tiny, pad=True)
    vocab.save(tmp_path / "v.json")
    again = Vocab.load(tmp_path / "v.json")
    assert again == vocab and again.tokens == vocab.tokens
    assert again.counts.tolist() == vocab.counts.tolist() and again.has_pad
    assert Vocab.build(tiny) != vocab  # no pad: different ids
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temp left


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "other"}), json.dumps({"format": "lmstats-vocab"})])
def test_load_rejects_files_that_are_not_ours(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(LmstatsError, match="not ours|not an lmstats vocabulary"):
        Vocab.load(path)


def test_vocab_is_built_from_train_only(text_file):
    from lmstats import load_corpus

    corpus = load_corpus(CorpusSpec(text_file, seed=0))
    vocab = corpus.build_vocab()
    train_types = {t for s in corpus.sentences('train') for t in s}
    assert set(vocab.tokens[3:]) == train_types


def test_extra_types_are_kept_with_count_zero_after_the_others():
    # a=2 b=1 seen; extra: b (seen: not repeated), z and y unseen (count 0, string order), markers dropped
    vocab = Vocab.from_counts(["b", "a"], [1, 2], 1, extra=["z", "b", UNK, "y", EOS])
    assert vocab.tokens == [UNK, BOS, EOS, "a", "b", "y", "z"]
    assert [vocab.count(t) for t in ("a", "b", "y", "z")] == [2, 1, 0, 0]
    assert vocab.encode(["y", "q"]).tolist() == [5, vocab.unk_id]
