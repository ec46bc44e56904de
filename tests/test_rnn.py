"""RNN models, batching, the protocol adapter, training, checkpoints and generation (tiny cases)."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmstats import EncodedSplit, Lines, LmstatsError, Vocab, evaluate
from lmstats.rnn import (
    RNNLM,
    AdaptiveSoftmax,
    RNNConfig,
    ScratchRNN,
    build_net,
    generate,
    load_checkpoint,
    load_net,
    random_batches,
    resolve_device,
    sequential_batches,
    train_rnn,
)
from lmstats.rnn.checkpoint import check_compatible
from lmstats.rnn.nets import count_parameters
from lmstats.rnn.schedules import budget_lr
from lmstats.rnn.softmax import FullSoftmax, TiedAdaptiveSoftmax

from oracles import next_log_probs, scratch_bptt

pytestmark = pytest.mark.usefixtures("one_thread")


# 26 letters + 3 specials: small enough for exhaustive checks, large enough for two tail clusters.
LETTERS = [list("abcdefghijklmnopqrstuvwxyz"[: k + 1] * 2) for k in range(26)]
# Tiny runs take Adam at 2e-3 on a plateau schedule and validate on all of valid (the recipe's SGD at 20 is for real corpora).
ADAM = dict(optimizer="adam", lr=2e-3, lr_schedule="plateau", valid_tokens=None, start_share=0.0)
SMALL = ADAM | dict(embed_size=8, hidden_size=8, seq_len=6, batch_size=3, epochs=2)
TRAIN = SMALL | dict(seq_len=8, batch_size=8)  # ~10 steps per epoch on the small corpus


@pytest.fixture(scope="module")
def letters() -> Vocab:
    return Vocab.build(LETTERS)


def tiny_split(vocab: Vocab, name: str, seqs) -> EncodedSplit:
    return EncodedSplit(name, Lines.from_seqs([vocab.encode(s) for s in seqs]), vocab)


def net_variants():
    return [
        dict(cell="lstm"), dict(cell="gru", num_layers=1), dict(cell="rnn", dropout=0.0), dict(cell="scratch", num_layers=1),
        dict(cell="lstm", tie=True, hidden_size=6), dict(cell="lstm", softmax="adaptive", cutoffs=(10, 20), hidden_size=16),
        dict(cell="scratch", num_layers=1, softmax="adaptive", cutoffs=(8,)),
        dict(cell="lstm", tie=True, softmax="adaptive", cutoffs=(10, 20)),
        dict(cell="gru", num_layers=1, tie=True, hidden_size=12, softmax="adaptive", cutoffs=(6,)),
    ]


def make_lm(vocab, **overrides):
    config = RNNConfig(**(SMALL | overrides))
    return RNNLM(build_net(vocab, config), vocab), config


# -- the from-scratch RNN: hand-written BPTT and finite differences agree with autograd -----
def test_scratch_rnn_bptt_equals_autograd(letters):
    net = build_net(letters, RNNConfig(cell="scratch", num_layers=1, hidden_size=5)).double()
    for p in net.parameters():  # larger weights than the init, so every gradient term matters
        torch.nn.init.normal_(p, std=0.5, generator=torch.Generator().manual_seed(p.numel()))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, len(letters), (2, 4), generator=g)  # (B, T)
    y = torch.randint(2, len(letters), (2, 4), generator=g)  # never <s>
    feats, _ = net(x)
    loss = net.output.nll(feats.reshape(-1, 5), y.reshape(-1)).sum()
    loss.backward()
    ref_loss, grads = scratch_bptt(net.W_xh.detach(), net.W_hh.detach(), net.b_h.detach(), net.output.proj.weight.detach().T,
                                   net.output.proj.bias.detach(), x, y, torch.zeros(2, 5, dtype=torch.float64), net.output.mask)
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
    auto = {"W_xh": net.W_xh.grad, "W_hh": net.W_hh.grad, "b_h": net.b_h.grad,
            "W_hq": net.output.proj.weight.grad.T, "b_q": net.output.proj.bias.grad}
    for name, grad in grads.items():
        torch.testing.assert_close(auto[name], grad, rtol=1e-10, atol=1e-12, msg=name)
        assert grad.abs().max() > 1e-6, name


def test_scratch_rnn_gradcheck(letters):
    net = ScratchRNN(len(letters), 3, FullSoftmax(3, len(letters), [letters.bos_id])).double()
    x = torch.tensor([[1, 5, 7], [1, 2, 9]])
    y = torch.tensor([[5, 7, 2], [2, 9, 0]])
    names = [n for n, _ in net.named_parameters()]

    def loss(*params):
        feats, _ = torch.func.functional_call(net, dict(zip(names, params, strict=True)), (x,))
        return net.output.nll(feats.reshape(-1, 3), y.reshape(-1)).sum()

    params = tuple(p.detach().clone().normal_(0, 0.3, generator=torch.Generator().manual_seed(1)).requires_grad_()
                   for p in net.parameters())
    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-6)


# -- output layers: distributions over the predictable set ---------------------------------
@pytest.mark.parametrize("overrides", net_variants(), ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_sums_to_one_over_the_predictable_set(letters, overrides):
    lm, _ = make_lm(letters, **overrides)
    predictable = letters.predictable_ids
    for context in ([], [3], [4, 5, 2, 9]):
        lp = next_log_probs(lm, context)
        assert math.fsum(np.exp(lp[predictable])) == pytest.approx(1.0, abs=1e-6)
        assert lp[letters.bos_id] == -math.inf
        # the protocol gives the same values, one candidate at a time
        through_protocol = [lm.logprobs(np.array(context + [w]))[-1] for w in predictable]
        np.testing.assert_allclose(through_protocol, lp[predictable], rtol=1e-5, atol=1e-6)


def test_pad_is_never_predicted():
    vocab = Vocab.build(LETTERS, pad=True)
    for softmax in ("full", "adaptive"):
        lm, _ = make_lm(vocab, softmax=softmax, cutoffs=(10,))
        lp = next_log_probs(lm, [5, 6])
        assert lp[vocab.pad_id] == -math.inf and lp[vocab.bos_id] == -math.inf
        assert np.exp(lp[vocab.predictable_ids]).sum() == pytest.approx(1.0, abs=1e-6)


def test_adaptive_softmax_without_mask_equals_torch():
    layer = AdaptiveSoftmax(6, 40, [10, 25], 2.0, masked_ids=[])
    x = torch.randn(9, 6, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 3, 9, 10, 11, 24, 25, 30, 39])
    torch.testing.assert_close(layer.log_probs(x), layer.asm.log_prob(x))
    torch.testing.assert_close(layer.nll(x, targets), -layer.asm(x, targets).output)


def test_tied_adaptive_softmax_hand_computed():
    # V = 7, head = ids 0-2 + two cluster logits, tails {3, 4} and {5, 6}; id 1 masked (as <s>).
    # With x = (1, 0) each logit is the first column of its vector: e^logit = 2, (masked), 1 | clusters 3, 1;
    # tail 1: 1, 3; tail 2: 4, 1.  Head total 2 + 1 + 3 + 1 = 7.
    embedding = torch.nn.Embedding(7, 2)
    with torch.no_grad():
        embedding.weight.copy_(torch.tensor([[math.log(2), 5.0], [0.0, 5.0], [0.0, -1.0], [0.0, 2.0], [math.log(3), 0.0],
                                             [math.log(4), 1.0], [0.0, 3.0]]))
    layer = TiedAdaptiveSoftmax(embedding, [3, 5], masked_ids=[1])
    with torch.no_grad():
        layer.cluster_weight.copy_(torch.tensor([[math.log(3), 7.0], [0.0, -2.0]]))
    expected = [2 / 7, 0.0, 1 / 7, 3 / 7 * 1 / 4, 3 / 7 * 3 / 4, 1 / 7 * 4 / 5, 1 / 7 * 1 / 5]
    x = torch.tensor([[1.0, 0.0]])
    np.testing.assert_allclose(layer.log_probs(x).exp().detach().numpy()[0], expected, rtol=1e-6, atol=1e-12)
    targets = torch.tensor([0, 2, 3, 4, 5, 6])
    nll = layer.nll(x.expand(6, 2), targets).detach().numpy()
    np.testing.assert_allclose(nll, [-math.log(expected[t]) for t in targets.tolist()], rtol=1e-6)
    # the word vectors are the embedding's own parameter: one tensor, and the output loss reaches it
    assert layer.weight is embedding.weight
    layer.nll(x, torch.tensor([6])).sum().backward()
    assert embedding.weight.grad[6].abs().sum() > 0 and embedding.weight.grad[1].abs().sum() == 0


def test_tied_adaptive_net_shares_one_matrix(letters):
    net = build_net(letters, RNNConfig(**SMALL, tie=True, softmax="adaptive", cutoffs=(10, 20)))
    assert net.output.weight is net.embedding.weight
    untied = build_net(letters, RNNConfig(**SMALL, softmax="adaptive", cutoffs=(10, 20), div_value=2.0))
    # tying drops the output's own word matrices; the biases and the two cluster vectors remain
    assert count_parameters(net) == count_parameters(untied) - sum(p.numel() for p in untied.output.parameters()) \
        + len(letters) + 2 * 8 + 2


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_mean_nll_equals_cross_entropy(letters, softmax):
    lm, _ = make_lm(letters, softmax=softmax, cutoffs=(12,))
    ids = letters.encode(list("hello world"))
    ids = np.append(ids, letters.eos_id)
    lp = lm.logprobs(ids)
    inputs = torch.from_numpy(np.concatenate([[letters.bos_id], ids[:-1]]))[None]
    lm.net.eval()
    with torch.no_grad():
        feats, _ = lm.net(inputs)
        log_probs = lm.net.output.log_probs(feats[0])  # (T, V)
        logits = lm.net.output.logits(feats[0]) if softmax == "full" else None  # (T, V)
    assert -lp.mean() == pytest.approx(float(F.nll_loss(log_probs, torch.from_numpy(ids))), rel=1e-6)
    if logits is not None:
        assert -lp.mean() == pytest.approx(float(F.cross_entropy(logits, torch.from_numpy(ids))), rel=1e-6)


# -- the protocol adapter: chunking and batching change nothing ------------------------------
@pytest.mark.parametrize("overrides", [dict(cell="lstm"), dict(cell="gru", softmax="adaptive", cutoffs=(10, 20), hidden_size=16),
                                       dict(cell="scratch", num_layers=1),
                                       dict(cell="lstm", tie=True, softmax="adaptive", cutoffs=(10, 20))])
def test_chunked_equals_unchunked(letters, overrides, rng):
    lm, _ = make_lm(letters, **overrides)
    lm.net.double()
    ids = rng.integers(2, len(letters), size=200)
    whole = lm.logprobs(ids)
    lm.chunk_len = 7
    np.testing.assert_allclose(lm.logprobs(ids), whole, rtol=1e-12, atol=1e-12)
    assert whole.shape == (200,) and whole.dtype == np.float64 and (whole < 0).all()


@pytest.mark.parametrize("overrides", [dict(cell="lstm"), dict(cell="scratch", num_layers=1, softmax="adaptive", cutoffs=(8,))])
def test_lines_fast_path_equals_one_line_at_a_time(letters, overrides, rng):
    lm, _ = make_lm(letters, **overrides)
    lm.net.double()
    lengths = [3, 0, 1, 17, 5, 5, 40, 2]
    lines = Lines.from_seqs([rng.integers(2, len(letters), size=n) for n in lengths])
    lm.batch_tokens, lm.chunk_len = 20, 30  # several batches, and one line scored in chunks
    expected = np.concatenate([lm.logprobs(line) for line in lines])
    np.testing.assert_allclose(lm.logprobs_lines(lines), expected, rtol=1e-12, atol=1e-12)


def test_scoring_has_no_side_effects(letters):
    lm, _ = make_lm(letters, dropout=0.5)
    lm.net.train()
    ids = letters.encode(list("abcab"))
    first = lm.logprobs(ids)
    assert lm.net.training  # mode restored
    np.testing.assert_array_equal(lm.logprobs(ids), first)  # no dropout while scoring


# -- batching ---------------------------------------------------------------------------------
def test_sequential_batches_partition_the_stream_contiguously():
    stream = np.arange(103)  # ids = positions, so continuity is arithmetic
    batches = sequential_batches(stream, 4, 5, np.random.default_rng(0))
    for X, Y in batches:
        np.testing.assert_array_equal(Y, X + 1)
        assert (np.diff(X, axis=1) == 1).all()
    for (X0, _), (X1, _) in itertools.pairwise(batches):
        np.testing.assert_array_equal(X1[:, 0], X0[:, -1] + 1)  # each row continues where it stopped
    rows = np.concatenate([X for X, _ in batches], axis=1)
    assert (rows[1:, 0] == rows[:-1, -1] + 1).all()  # row b+1 follows row b in the stream
    offset = rows[0, 0]
    assert 0 <= offset < 5 and rows.size == 4 * ((102 - offset) // 4)


def test_random_batches_are_seeded_subsequences():
    stream = np.arange(200)
    batches = random_batches(stream, 4, 6, np.random.default_rng(1))
    starts = np.concatenate([X[:, 0] for X, _ in batches])
    for X, Y in batches:
        np.testing.assert_array_equal(Y, X + 1)
        assert (np.diff(X, axis=1) == 1).all() and X.shape[1] == 6
    assert len(set(starts)) == len(starts) and len(set(starts % 6)) == 1  # disjoint, one offset
    assert not (np.diff(starts) == 6).all()  # shuffled
    again = random_batches(stream, 4, 6, np.random.default_rng(1))
    assert all((a[0] == b[0]).all() for a, b in zip(batches, again, strict=True))
    # another seed may draw another offset, hence another number of batches: zip(strict=False)
    other = random_batches(stream, 4, 6, np.random.default_rng(2))
    assert any(a[0].shape != b[0].shape or (a[0] != b[0]).any() for a, b in zip(batches, other, strict=False))


def test_too_short_stream_is_refused():
    with pytest.raises(LmstatsError, match="too small"):
        sequential_batches(np.arange(3), 2, 5, np.random.default_rng(0))


# -- training -------------------------------------------------------------------------------
def params_of(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("overrides", [dict(), dict(batching="random", optimizer="sgd", lr=1.0, cell="gru")])
def test_training_is_deterministic_and_learns(small_corpus, overrides):
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=3, lr=1e-2) | overrides))
    runs = []
    for _ in range(2):
        net = build_net(vocab, config)
        history = train_rnn(net, splits["train"], splits["valid"], config)
        runs.append((history, params_of(net)))
    (h1, p1), (h2, p2) = runs
    assert [e.train_nll_sum for e in h1.epochs] == [e.train_nll_sum for e in h2.epochs]
    assert_same_params(p1, p2)
    assert len(h1.epochs) == 3 and h1.stopped == "epochs"
    assert h1.epochs[-1].valid_ppl < h1.epochs[0].valid_ppl < len(vocab)
    assert h1.epochs[-1].valid_ppl == pytest.approx(evaluate(RNNLM(net, vocab), splits["valid"], mode="sentence").ppl, rel=1e-12)


@pytest.mark.parametrize("batching, schedule, net", [("sequential", "plateau", {}), ("random", "plateau", {}), ("sequential", "linear", {}),
                                                     ("sequential", "cosine", {}),
                                                     ("sequential", "cosine", dict(optimizer="sgd", lr=1.0, start_share=0.3)),
                                                     ("sequential", "linear", dict(tie=True, softmax="adaptive", cutoffs=(10, 20)))])
def test_resume_equals_an_uninterrupted_run(small_corpus, tmp_path, batching, schedule, net):
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(batching=batching, dropout=0.3, lr_schedule=schedule) | net))
    whole = build_net(vocab, config)
    full = train_rnn(whole, splits["train"], splits["valid"], config)
    # stop after epoch 1, resume to epoch 2 (the linear schedule of the resumed run spans its 2 epochs: stop it by interrupting)
    path = tmp_path / "ck.pt"
    def stop_after_epoch_1(record):
        if record.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config, checkpoint=str(path), on_epoch=stop_after_epoch_1)
    ckpt = load_checkpoint(path)
    net, _, _ = load_net(ckpt)
    if config.tie and config.softmax == "adaptive":  # a loaded net keeps one matrix, so it keeps training it as one
        assert net.output.weight is net.embedding.weight
    resumed = train_rnn(net, splits["train"], splits["valid"], config, resume=ckpt, checkpoint=str(path))
    assert_same_params(params_of(whole), params_of(net))
    assert [e.valid_ppl for e in resumed.epochs] == [e.valid_ppl for e in full.epochs]
    # Ctrl-C in the middle of epoch 2: a checkpoint of that exact position, then the same end
    def interrupt(progress):
        if progress.epoch == 2 and progress.step == 3:
            raise KeyboardInterrupt

    assert_interrupted_run_resumes(small_corpus, config, whole, path, interrupt, KeyboardInterrupt, (1, 3))


def assert_interrupted_run_resumes(small_corpus, config, whole, path, on_batch, exception, position):
    """A run stopped by ``on_batch`` raises ``exception`` with a checkpoint at ``position`` (epochs
    finished, step), and resuming from it ends exactly where the uninterrupted run ``whole`` did."""
    vocab, splits = small_corpus
    with pytest.raises(exception):
        train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config, checkpoint=str(path), on_batch=on_batch)
    ckpt = load_checkpoint(path)
    assert (ckpt["training"]["position"]["epoch"], ckpt["training"]["position"]["step"]) == position
    net, _, _ = load_net(ckpt)
    train_rnn(net, splits["train"], splits["valid"], config, resume=ckpt)
    assert_same_params(params_of(whole), params_of(net))


def test_linear_schedule_hand_computed():
    config = RNNConfig(lr=2.0, epochs=4, lr_schedule="linear")
    assert budget_lr(config, 0, 0, 10, 0.0) == 2.0
    assert budget_lr(config, 1, 5, 10, 1e9) == pytest.approx(2.0 * (1 - 1.5 / 4))  # no time budget: the clock is ignored
    assert budget_lr(config, 4, 0, 10, 0.0) == 0.0
    timed = RNNConfig(lr=2.0, epochs=4, lr_schedule="linear", time_budget=100.0)
    assert budget_lr(timed, 1, 5, 10, 50.0) == pytest.approx(1.0)  # half the time used > 1.5 of 4 epochs
    assert budget_lr(timed, 3, 5, 10, 10.0) == pytest.approx(2.0 * (1 - 3.5 / 4))  # the epochs run out first
    assert budget_lr(timed, 0, 0, 10, 150.0) == 0.0  # never negative


def test_linear_schedule_in_training(small_corpus):
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=3, optimizer="sgd", lr=1.0, lr_schedule="linear")))
    histories = [train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config) for _ in range(2)]
    assert [e.lr for e in histories[0].epochs] == pytest.approx([1.0, 2 / 3, 1 / 3])  # the rate at each epoch's start
    assert [e.train_nll_sum for e in histories[0].epochs] == [e.train_nll_sum for e in histories[1].epochs]
    plateau = train_rnn(build_net(vocab, config), splits["train"], splits["valid"],
                        RNNConfig(**(TRAIN | dict(epochs=3, optimizer="sgd", lr=1.0))))
    assert plateau.epochs[1].train_nll_sum != histories[0].epochs[1].train_nll_sum  # the rates did change the updates


def test_cosine_schedule_hand_computed():
    config = RNNConfig(lr=20.0, epochs=4, lr_schedule="cosine")
    assert budget_lr(config, 0, 0, 10, 0.0) == 20.0
    assert budget_lr(config, 2, 0, 10, 0.0) == pytest.approx(10.0)  # halfway: (1 + cos(pi/2)) / 2 = 1/2
    assert budget_lr(config, 1, 0, 10, 0.0) == pytest.approx(20.0 * (1 + math.sqrt(0.5)) / 2)  # a quarter: cos(pi/4)
    assert budget_lr(config, 3, 0, 10, 0.0) == pytest.approx(20.0 * (1 - math.sqrt(0.5)) / 2)
    assert budget_lr(config, 4, 0, 10, 0.0) == pytest.approx(0.0, abs=1e-12)
    timed = RNNConfig(lr=20.0, epochs=100, lr_schedule="cosine", time_budget=900.0)
    assert budget_lr(timed, 0, 3, 10, 450.0) == pytest.approx(10.0)  # the clock is further on than the epochs
    assert budget_lr(timed, 0, 0, 10, 1e4) == pytest.approx(0.0, abs=1e-12)  # past the budget: 0, never back up


def test_cosine_schedule_in_training(small_corpus):
    """The rate at each epoch's start follows the half cosine (resuming is in test_resume_equals_an_uninterrupted_run)."""
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=4, optimizer="sgd", lr=1.0, lr_schedule="cosine")))
    history = train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config)
    assert [e.lr for e in history.epochs] == pytest.approx([(1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])


def test_the_budget_covers_validation(small_corpus, training_clock):
    """A step costs 0.1 s and a validation 0.4 s of a fake clock, inside a 1.2 s budget: the probe (0.4 s) leaves 0.8 s,
    so the run takes steps while one more leaves room for the closing validation (4 steps: 0.4 -> 0.8), then validates
    (0.8 -> 1.2) and stops exactly at the budget.  The decisions are asserted, not the machine's speed."""
    calls = training_clock(step=0.1, validation=0.4)
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=1000, time_budget=1.2)))
    history = train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config)
    assert history.stopped == "time budget" and [e.steps for e in history.epochs] == [4] and not history.epochs[0].complete
    assert calls == {"step": 4, "validation": 2, "save": 0}  # the probe and the cut epoch's validation
    assert history.elapsed == pytest.approx(1.2) and history.valid_seconds == pytest.approx(0.8)
    assert history.epochs_done == pytest.approx(4 / history.epochs[0].planned_steps)
    assert math.isfinite(history.epochs[-1].valid_ppl)  # the cut epoch is validated


@pytest.mark.parametrize("presses", [1, 2])
def test_resume_after_ctrl_c_during_validation_equals_an_uninterrupted_run(small_corpus, tmp_path, monkeypatch, presses):
    """Ctrl-C while epoch 1 is being validated (once: the validation finishes; twice: it is cut short)."""
    import os
    import signal

    import lmstats.rnn.train

    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=3, dropout=0.3)))
    whole = build_net(vocab, config)
    full = train_rnn(whole, splits["train"], splits["valid"], config)
    real, calls = lmstats.rnn.train.evaluate, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the validation of epoch 1
            os.kill(os.getpid(), signal.SIGINT)
            if presses == 2:
                os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(lmstats.rnn.train, "evaluate", interrupted)
    path = tmp_path / "ck.pt"
    with pytest.raises(KeyboardInterrupt):
        train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config, checkpoint=str(path))
    monkeypatch.setattr(lmstats.rnn.train, "evaluate", real)
    ckpt = load_checkpoint(path)
    net, _, _ = load_net(ckpt)
    resumed = train_rnn(net, splits["train"], splits["valid"], config, resume=ckpt)
    assert resumed.resumed_from == {"epoch": 1 if presses == 1 else 0, "step": 0 if presses == 1 else ckpt["training"]["position"]["step"]}
    assert [e.valid_ppl for e in resumed.epochs] == [e.valid_ppl for e in full.epochs]
    assert_same_params(params_of(whole), params_of(net))


def test_checkpoint_of_another_vocabulary_or_architecture_is_refused(small_corpus, letters, tmp_path):
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=1)))
    path = tmp_path / "ck.pt"
    train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config, checkpoint=str(path))
    ckpt = load_checkpoint(path)
    check_compatible(ckpt, vocab, config)
    with pytest.raises(LmstatsError, match="another vocabulary"):
        check_compatible(ckpt, letters)
    with pytest.raises(LmstatsError, match="another architecture.*hidden_size 8 vs 16"):
        check_compatible(ckpt, vocab, RNNConfig(**(TRAIN | dict(hidden_size=16))))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(LmstatsError, match="not an lmstats RNN checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_configuration_errors(letters):
    with pytest.raises(LmstatsError, match="tail cluster"):
        build_net(letters, RNNConfig(softmax="adaptive", cutoffs=(2000,)))
    with pytest.raises(LmstatsError, match="0-dimensional projection"):
        build_net(letters, RNNConfig(softmax="adaptive", cutoffs=(10, 20), hidden_size=8))
    with pytest.raises(LmstatsError, match="one layer"):
        RNNConfig(cell="scratch", num_layers=2)
    if not torch.cuda.is_available():
        with pytest.raises(LmstatsError, match="no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"


# -- generation -------------------------------------------------------------------------------
def test_generation_is_seeded_and_greedy_is_argmax(letters):
    lm, _ = make_lm(letters)
    prefix = letters.encode(list("abc"))
    sample = lambda seed: generate(lm.net, letters, prefix, 30, temperature=0.8, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert (sample(1) == sample(1)).all() and (sample(1) != sample(2)).any()
    assert letters.bos_id not in sample(3)
    greedy = generate(lm.net, letters, prefix, 5, greedy=True)
    context = list(prefix)
    for token in greedy:  # each greedy token is the argmax of the protocol's distribution
        assert token == int(np.argmax(next_log_probs(lm, context)))
        context.append(token)


def test_sigterm_stops_at_a_step_boundary_with_a_checkpoint(small_corpus, tmp_path):
    """SIGTERM is handled like Ctrl-C (the step finishes, the position is saved) but raises Terminated."""
    import os
    import signal

    from lmstats.interrupts import Terminated

    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=2)))
    whole = build_net(vocab, config)
    train_rnn(whole, splits["train"], splits["valid"], config)

    def terminate(progress):
        if progress.epoch == 1 and progress.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    assert_interrupted_run_resumes(small_corpus, config, whole, tmp_path / "ck.pt", terminate, Terminated, (0, 3))


# -- issue 14: line starts, sparse embedding gradients, best weights, validation sample, time split --


def test_start_steps_hand_computed():
    from lmstats.rnn.batching import start_steps

    assert [start_steps(i, 0.25) for i in range(1, 10)] == [0, 0, 1, 0, 0, 1, 0, 0, 1]  # one after every third: 1 in 4 of all steps
    assert [start_steps(i, 0.5) for i in range(1, 5)] == [1, 1, 1, 1]
    assert [start_steps(i, 0.0) for i in range(1, 5)] == [0, 0, 0, 0]
    assert [start_steps(i, 0.8) for i in range(1, 4)] == [4, 4, 4]
    n = 3000  # the share of all steps comes out as asked
    extra = sum(start_steps(i, 0.2) for i in range(1, n + 1))
    assert extra / (n + extra) == pytest.approx(0.2, abs=1e-3)


def test_line_start_batch_hand_computed():
    from lmstats.rnn.batching import line_start_batch

    lines = Lines.from_seqs([[5, 6, 7, 2], [8, 2], [9, 10, 11, 12, 13, 2]])  # 2 = </s>
    rng = np.random.default_rng(0)
    rows = np.random.default_rng(0).integers(0, 3, size=4)  # the draw line_start_batch makes
    X, Y, keep = line_start_batch(lines, 1, 4, 5, rng)
    expected = {0: [5, 6, 7, 2], 1: [8, 2], 2: [9, 10, 11, 12, 13]}  # cut at seq_len 5
    width = max(len(expected[int(r)]) for r in rows)
    assert X.shape == Y.shape == keep.shape == (4, width)
    for b, r in enumerate(rows):
        want = expected[int(r)]
        assert Y[b][keep[b]].tolist() == want and keep[b].sum() == len(want)
        assert X[b, 0] == 1 and X[b, 1 : len(want)].tolist() == want[:-1]  # <s>, then the line shifted by one


def test_line_starts_are_trained_from_the_zero_state(small_corpus):
    """start_share > 0: extra steps (counted in the epoch's tokens), deterministic, a different model from share 0."""
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=2, optimizer="sgd", lr=1.0, lr_schedule="cosine", start_share=0.5)))
    runs = [train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config) for _ in range(2)]
    plain_config = RNNConfig(**(TRAIN | dict(epochs=2, optimizer="sgd", lr=1.0, lr_schedule="cosine")))
    plain = train_rnn(build_net(vocab, plain_config), splits["train"], splits["valid"], plain_config)
    assert [e.train_nll_sum for e in runs[0].epochs] == [e.train_nll_sum for e in runs[1].epochs]
    assert runs[0].epochs[0].steps == plain.epochs[0].steps  # steps count stream batches
    assert runs[0].epochs[0].train_tokens > plain.epochs[0].train_tokens  # one line-start batch after each of them


def test_clip_grad_norm_matches_torch_and_takes_sparse_gradients(letters):
    from lmstats.rnn.optim import clip_grad_norm, use_sparse_embedding

    config = RNNConfig(**(SMALL | dict(optimizer="sgd", lr=1.0, dropout=0.0)))
    x = torch.tensor([[3, 4, 5, 4], [6, 7, 3, 3]])
    grads = {}
    for sparse in (False, True):
        net = build_net(letters, config)
        net.embedding.sparse = sparse
        feats, _ = net(x)
        net.output.nll(feats.reshape(-1, feats.shape[-1]), x.reshape(-1)).sum().backward()
        if sparse:
            norm = clip_grad_norm(net.parameters(), 0.05)
        else:
            reference = build_net(letters, config)
            reference.load_state_dict(net.state_dict())
            for p, q in zip(reference.parameters(), net.parameters(), strict=True):
                p.grad = q.grad.clone()
            want = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
            norm = clip_grad_norm(net.parameters(), 0.05)
            assert torch.equal(norm, want)
            for p, q in zip(reference.parameters(), net.parameters(), strict=True):
                assert torch.equal(p.grad, q.grad)
        grads[sparse] = (float(norm), {k: (p.grad.to_dense() if p.grad.is_sparse else p.grad) for k, p in net.named_parameters()})
        assert net.embedding.weight.grad.is_sparse == sparse
    assert grads[True][0] == pytest.approx(grads[False][0], rel=1e-6) and grads[False][0] > 0.05  # it did clip
    for k in grads[False][1]:
        assert torch.allclose(grads[True][1][k], grads[False][1][k], atol=1e-7), k
    net = build_net(letters, config)
    assert use_sparse_embedding(net, config) and not use_sparse_embedding(net, RNNConfig(**(SMALL | dict(optimizer="adam"))))
    assert not net.embedding.sparse  # set back for Adam
    assert not use_sparse_embedding(net, RNNConfig(**(SMALL | dict(optimizer="sgd", tie=True))))


def test_sparse_embedding_training_equals_dense(small_corpus, monkeypatch):
    """SGD with sparse embedding gradients ends at the dense run's weights, up to float summation order."""
    import lmstats.rnn.train

    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=2, optimizer="sgd", lr=1.0, dropout=0.0)))
    sparse_net = build_net(vocab, config)
    train_rnn(sparse_net, splits["train"], splits["valid"], config)
    assert sparse_net.embedding.sparse
    monkeypatch.setattr(lmstats.rnn.train, "use_sparse_embedding", lambda net, config: False)
    dense_net = build_net(vocab, config)
    train_rnn(dense_net, splits["train"], splits["valid"], config)
    assert not dense_net.embedding.sparse
    for (k, a), b in zip(params_of(sparse_net).items(), params_of(dense_net).values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), k


def test_best_validation_weights_are_kept(small_corpus, monkeypatch, tmp_path):
    """Validation 5, 3, 4: the run ends with epoch 2's weights, in the network and in the checkpoint."""
    import types

    import lmstats.rnn.train

    ppls = iter([5.0, 3.0, 4.0])
    monkeypatch.setattr(lmstats.rnn.train, "evaluate", lambda *a, **k: types.SimpleNamespace(ppl=next(ppls)))
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=3)))
    net, states = build_net(vocab, config), {}
    history = train_rnn(net, splits["train"], splits["valid"], config, checkpoint=str(tmp_path / "ck.pt"),
                        on_epoch=lambda r: states.__setitem__(r.epoch, params_of(net)))
    assert history.best_epoch == 2 and history.restored and history.best_valid_ppl == 3.0
    assert_same_params(params_of(net), states[2])
    assert not all(torch.equal(states[2][k], states[3][k]) for k in states[2])  # epoch 3 did change them
    assert_same_params(params_of(load_net(load_checkpoint(tmp_path / "ck.pt"))[0]), states[2])
    ppls = iter([5.0, 3.0, 2.0])  # the last is the best: nothing to restore
    net, states = build_net(vocab, config), {}
    history = train_rnn(net, splits["train"], splits["valid"], config, on_epoch=lambda r: states.__setitem__(r.epoch, params_of(net)))
    assert history.best_epoch == 3 and not history.restored
    assert_same_params(params_of(net), states[3])


def test_validation_sample(small_corpus):
    from lmstats.rnn.validation import validation_sample

    vocab, splits = small_corpus
    valid = splits["valid"]
    assert validation_sample(valid, None, 0) is valid and validation_sample(valid, 10**9, 0) is valid
    sample = validation_sample(valid, 30, 0)
    assert sample.n_tokens >= 30 and sample.n_tokens < 30 + int(valid.lines.lengths.max())  # whole lines, just past 30 tokens
    assert len(sample.lines) < len(valid.lines)
    rows = [tuple(valid.lines[i]) for i in range(len(valid.lines))]
    picked = [rows.index(tuple(line)) for line in sample.lines]  # (the lines of this corpus repeat, so index finds the first)
    assert all(tuple(line) in rows for line in sample.lines)
    assert sample.lines.ids.tolist() == validation_sample(valid, 30, 0).lines.ids.tolist()  # fixed by the seed
    assert picked and sample.vocab is vocab


def test_history_time_split_and_validation_tokens(small_corpus, tmp_path, training_clock):
    """Steps cost 0.1 s, validations 0.4 s and checkpoint writes 0.2 s of a fake clock: the split puts each where it belongs."""
    calls = training_clock(step=0.1, validation=0.4, save=0.2)
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=2, valid_tokens=25)))
    history = train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config, checkpoint=str(tmp_path / "ck.pt"))
    steps = sum(e.steps for e in history.epochs)
    assert calls == {"step": steps, "validation": 2, "save": 2 + history.restored}  # (a restored best epoch is saved again)
    split = history.time_split()
    assert split == pytest.approx({"train_s": 0.1 * steps, "valid_s": 0.8, "checkpoint_s": 0.2 * calls["save"], "other_s": 0.0,
                                   "total_s": 0.1 * steps + 0.8 + 0.2 * calls["save"]})
    assert split["total_s"] == history.elapsed
    assert 25 <= history.valid_tokens < splits["valid"].n_tokens


def test_validation_curve_every_n_seconds(small_corpus, training_clock):
    """Steps cost 0.1 s and validations 0.4 s of a fake clock: a curve point on the fixed sample every 0.35 s of the run."""
    calls = training_clock(step=0.1, validation=0.4)
    vocab, splits = small_corpus
    config = RNNConfig(**(TRAIN | dict(epochs=3, curve_every=0.35, curve_tokens=20)))
    history = train_rnn(build_net(vocab, config), splits["train"], splits["valid"], config)
    curve = history.curve
    assert len(curve) == calls["validation"] - 3 >= 4  # the 3 epoch validations aside
    assert all(b["elapsed"] - a["elapsed"] >= 0.35 + 0.4 - 1e-9 for a, b in zip(curve, curve[1:], strict=False))  # gap + its own cost
    tokens = [p["tokens"] for p in curve]
    assert tokens == sorted(set(tokens)) and tokens[-1] <= history.to_dict()["tokens_seen"] == sum(e.train_tokens for e in history.epochs)
    assert curve[-1]["valid_ppl"] < curve[0]["valid_ppl"] < len(vocab)
    with pytest.raises(LmstatsError, match="curve_every must be > 0"):
        RNNConfig(curve_every=0.0)
