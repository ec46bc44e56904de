"""The decoder-only Transformer (lmstats/rnn/transformer.py): attention by hand, windows, streaming, training and resume."""

import math

import numpy as np
import pytest
import torch

from lmstats import Lines, LmstatsError, Vocab
from lmstats.rnn import RNNLM, RNNConfig, build_net, load_checkpoint, load_net, train_rnn
from lmstats.rnn.optim import make_optimizer
from lmstats.rnn.recipe import CELL_RECIPES, TRANSFORMER_RECIPE, for_cell
from lmstats.rnn.schedules import budget_lr
from lmstats.rnn.transformer import CausalSelfAttention, alibi_slopes

from oracles import next_log_probs

pytestmark = pytest.mark.usefixtures("one_thread")

LETTERS = [list("abcdefghijklmnopqrstuvwxyz"[: k + 1] * 2) for k in range(26)]
TINY = dict(cell="transformer", embed_size=8, hidden_size=16, num_layers=2, heads=2, seq_len=6, batch_size=3, dropout=0.0,
            optimizer="adamw", lr=3e-3, weight_decay=0.1, lr_schedule="cosine", warmup=0.2, clip=1.0, valid_tokens=None,
            start_share=0.0, epochs=2)


@pytest.fixture(scope="module")
def letters() -> Vocab:
    return Vocab.build(LETTERS)


def make_lm(vocab, **overrides) -> RNNLM:
    net = build_net(vocab, RNNConfig(**(TINY | overrides)))
    return RNNLM(net.double(), vocab)


def test_attention_hand_computed():
    """One head, window 2: softmax(q·k/√d − m·distance) over the query and the one before it."""
    torch.manual_seed(0)
    attn = CausalSelfAttention(dim=2, heads=1, window=2, dropout=0.0).double().eval()
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    y, memory = attn(x, None)
    q, k, v = attn.qkv(x)[0].split(2, dim=-1)
    m = 2.0 ** -8  # ALiBi's slope of a single head
    expected = []
    for t in range(3):
        keys = [j for j in (t - 1, t) if j >= 0]
        scores = torch.stack([q[t] @ k[j] / math.sqrt(2) - m * (t - j) for j in keys])
        weights = torch.softmax(scores, dim=0)
        expected.append(attn.out(sum(w * v[j] for w, j in zip(weights, keys, strict=True))))
    torch.testing.assert_close(y[0], torch.stack(expected), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(memory[0][0, 0], k[-1:], rtol=0, atol=0)  # the last window - 1 = 1 position is kept
    assert torch.allclose(alibi_slopes(4), torch.tensor([2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]))


@pytest.mark.parametrize("overrides", [dict(softmax="full", tie=True), dict(softmax="full", tie=False),
                                       dict(softmax="adaptive", cutoffs=(10, 20), tie=True)])
def test_sums_to_one_over_the_predictable_set(letters, overrides):
    lm = make_lm(letters, **overrides)
    for context in ([], [3], [4, 5, 2, 9, 11, 12, 13, 14, 15]):  # the last is longer than the window
        lp = next_log_probs(lm, context)
        assert math.fsum(np.exp(lp[letters.predictable_ids])) == pytest.approx(1.0, abs=1e-12)
        assert lp[letters.bos_id] == -math.inf


def test_uniform_transformer_has_perplexity_v(letters, rng):
    lm = make_lm(letters, softmax="full", tie=False)
    for p in lm.net.output.parameters():
        torch.nn.init.zeros_(p)  # zero logits: every predictable word 1/|V'|
    lp = lm.logprobs(rng.integers(3, len(letters), size=50))
    np.testing.assert_allclose(lp, -math.log(letters.n_predictable), rtol=1e-12)


def test_streaming_in_pieces_equals_one_piece(letters, rng):
    """Each token's window is a function of its position only, so chunk sizes and pieces change nothing."""
    lm = make_lm(letters)
    ids = rng.integers(3, len(letters), size=100)
    whole = lm.logprobs(ids)
    for chunk in (1, 5, 6, 7, 64):
        lm.chunk_len = chunk
        np.testing.assert_allclose(lm.logprobs(ids), whole, rtol=1e-12, atol=1e-12)
    out, state = [], None
    for piece in np.split(ids, [7, 30, 31, 77]):
        values, state = lm.logprobs_continued(piece, state)
        out.append(values)
    np.testing.assert_allclose(np.concatenate(out), whole, rtol=1e-12, atol=1e-12)


def test_receptive_field_is_layers_times_window(letters, rng):
    """With L layers and window C, the input L·(C−1) positions back still counts and one more does not."""
    lm = make_lm(letters, num_layers=2, seq_len=4)
    ids = rng.integers(3, len(letters), size=40)
    base = lm.logprobs(ids)
    changed = ids.copy()
    changed[10] = 3 if ids[10] != 3 else 4  # the input of position 11
    moved = np.flatnonzero(np.abs(lm.logprobs(changed) - base) > 1e-12)
    assert moved.tolist() == list(range(10, 11 + 2 * 3 + 1))  # its own target, then positions 11 .. 11 + L(C-1)


def test_lines_fast_path_equals_one_line_at_a_time(letters, rng):
    lm = make_lm(letters)
    lines = Lines.from_seqs([rng.integers(3, len(letters), size=n) for n in [3, 0, 1, 17, 5, 5, 40, 2]])
    lm.batch_tokens, lm.chunk_len = 20, 30
    expected = np.concatenate([lm.logprobs(line) for line in lines])
    np.testing.assert_allclose(lm.logprobs_lines(lines), expected, rtol=1e-12, atol=1e-12)


def test_warmup_then_cosine_hand_computed():
    config = RNNConfig(**(TINY | dict(epochs=10, lr=1.0, warmup=0.2)))
    assert budget_lr(config, 0, 0, 10, 0.0) == 0.0
    assert budget_lr(config, 1, 0, 10, 0.0) == pytest.approx(0.5)  # progress 0.1: half-way up
    assert budget_lr(config, 2, 0, 10, 0.0) == pytest.approx(1.0)  # the top
    assert budget_lr(config, 6, 0, 10, 0.0) == pytest.approx(0.5)  # half of the remaining 0.8: cos(π/2)
    assert budget_lr(config, 10, 0, 10, 0.0) == pytest.approx(0.0)


def test_adamw_decays_the_matrices_only(letters):
    net = build_net(letters, RNNConfig(**(TINY | dict(tie=True, softmax="full"))))
    decay, rest = make_optimizer(net, RNNConfig(**TINY).resolve(len(letters))).param_groups
    assert decay["weight_decay"] == 0.1 and rest["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    assert id(net.embedding.weight) not in decayed and id(net.blocks[0].attn.qkv.weight) in decayed
    assert not any(id(p) in decayed for p in (net.blocks[0].attn.qkv.bias, net.norm.weight))
    assert len(decay["params"]) + len(rest["params"]) == len(list(net.parameters()))


def test_training_learns_and_resume_equals_an_uninterrupted_run(small_corpus, tmp_path):
    vocab, splits = small_corpus
    config = RNNConfig(**(TINY | dict(dropout=0.2, seq_len=8, batch_size=4, start_share=0.2, epochs=3)))
    whole = build_net(vocab, config)
    full = train_rnn(whole, splits["train"], splits["valid"], config)
    assert full.epochs[-1].valid_ppl < full.epochs[0].valid_ppl < len(vocab)
    path = tmp_path / "ck.pt"

    def interrupt(progress):
        if progress.epoch == 2 and progress.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config, checkpoint=str(path), on_batch=interrupt)
    ckpt = load_checkpoint(path)
    assert (ckpt["training"]["position"]["epoch"], ckpt["training"]["position"]["step"]) == (1, 3)
    assert len(ckpt["training"]["hidden"]) == 2 * config.num_layers  # every block's keys and values, carried
    net, _, _ = load_net(ckpt)
    resumed = train_rnn(net, splits["train"], splits["valid"], config, resume=ckpt)
    for key, value in whole.state_dict().items():
        assert torch.equal(value, net.state_dict()[key]), key
    assert [e.valid_ppl for e in resumed.epochs] == [e.valid_ppl for e in full.epochs]


def test_cell_recipe_keeps_what_the_user_typed():
    config = for_cell(RNNConfig(hidden_size=64), "transformer", typed=["hidden_size"])
    assert config.hidden_size == 64 and config.embed_size == TRANSFORMER_RECIPE["embed_size"] and config.optimizer == "adamw"
    sgd = for_cell(RNNConfig(optimizer="sgd"), "transformer", typed=["optimizer"])
    assert sgd.optimizer == "sgd" and sgd.lr is None and sgd.weight_decay == 0.0 and sgd.resolve(100).lr == 20.0
    assert for_cell(RNNConfig(), "lstm") == RNNConfig() and set(CELL_RECIPES) <= {"rnn", "gru", "lstm", "transformer", "scratch"}


@pytest.mark.parametrize("overrides, message", [
    (dict(embed_size=10, heads=4), "multiple of --heads 4"),
    (dict(optimizer="adam", weight_decay=0.1), "needs --optimizer adamw"),
    (dict(lr_schedule="plateau", warmup=0.1), "goes with --lr-schedule linear or cosine"),
])
def test_configuration_errors(overrides, message):
    with pytest.raises(LmstatsError, match=message):
        RNNConfig(**(TINY | overrides))


def test_window_longer_than_the_text_is_refused(small_corpus):
    vocab, splits = small_corpus
    config = RNNConfig(**(TINY | dict(seq_len=5000)))
    with pytest.raises(LmstatsError, match="training split is too small.*--seq-len 5000"):
        train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config)
