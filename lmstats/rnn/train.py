"""``train_rnn``: truncated BPTT with clipping, SGD/Adam, plateau decay, budgets and checkpoints.

The trainer knows nothing about the network beyond its interface (``net(x, state)``,
``net.output.nll``).  One epoch is one pass over the training stream in batches from
:mod:`lmstats.rnn.batching`; with ``sequential`` batching the hidden state is carried from
batch to batch and detached (truncated backpropagation through time), with ``random`` it is
reset.  The loss of a step is the mean token NLL of its batch; the reported training
perplexity is ``exp(Σ nll / Σ tokens)`` over the epoch (sums, not a mean of batch means).
After every epoch the validation perplexity comes from the shared evaluator, the learning
rate is multiplied by ``lr_decay`` when it did not improve (``lr_schedule="plateau"``), and a
checkpoint is written.  ``lr_schedule="linear"`` or ``"cosine"`` instead sets the rate before
every step, falling to 0 at the end of the budget (:func:`budget_lr`).

With ``config.start_share > 0`` the stream batches are interleaved with batches of lines read
from their start from the zero state (:func:`lmstats.rnn.batching.line_start_batch`), the case
sentence mode scores; they count in the epoch's tokens, not in its steps.  With
``config.valid_tokens`` the per-epoch validation uses a fixed seeded sample of whole lines
(:func:`validation_sample`).  The weights of the best validation are kept (in the checkpoint
too) and put back at the end when a later epoch validated worse.  Under SGD the embedding's
gradients are sparse (:func:`use_sparse_embedding`, clipped by :func:`clip_grad_norm`).

Randomness: batching draws from ``np.random.default_rng(config.seed)``; dropout draws from
torch's global RNG, which ``train_rnn`` forks and seeds from ``config.seed`` (the caller's RNG
state is left untouched).  Same seed and same thread count give identical numbers on the CPU (under a time budget the run
length, and with a budget schedule the rates, depend on the clock).

Budget: ``config.time_budget`` is wall-clock seconds for training *and* per-epoch validation.
Before each step the trainer compares the time spent plus the expected cost of the
validation that closes the epoch with the budget, and stops (then validates) when the next
step would not leave time for it.  The expected cost comes from a short timed probe of the
validation split at the start (a prefix of its lines, scaled by tokens) and, after each
validation, from the last one measured.  Final scoring of valid/test is the caller's, timed
apart.

Ctrl-C (or SIGTERM): the current step (or validation) finishes, a checkpoint of the exact
position is written, and ``KeyboardInterrupt`` (or :class:`~lmstats.interrupts.Terminated`) is
raised; resuming from it continues identically, wherever
the interruption came (mid-epoch, during validation, or between epochs): the batches of an
epoch are always redrawn from the random state saved at the epoch's start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import nn

from lmstats.encoded import EncodedSplit, Lines
from lmstats.evaluation import evaluate
from lmstats.interrupts import Deferred, Terminated
from lmstats.rnn.batching import check_stream, line_start_batch, random_batches, sequential_batches, start_steps
from lmstats.rnn.checkpoint import checkpoint_payload, save_checkpoint
from lmstats.rnn.config import RNNConfig
from lmstats.rnn.lm import RNNLM
from lmstats.rnn.nets import detach_state
from lmstats.trained_on import TrainedOn
from lmstats.units import scored_units
from lmstats.vocab import check_same_vocab


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    complete: bool  # False when the time budget ended the epoch early
    steps: int
    train_tokens: int
    train_nll_sum: float
    train_seconds: float  # training steps only (validation excluded)
    valid_ppl: float  # shared evaluator, config.valid_mode
    lr: float  # learning rate at the start of the epoch (constant through it under the plateau schedule)
    elapsed: float  # wall-clock seconds since the run began (resumed runs included), after validation

    @property
    def train_ppl(self) -> float:
        return math.exp(self.train_nll_sum / self.train_tokens) if self.train_tokens else math.nan

    @property
    def tokens_per_s(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else math.nan

    def to_dict(self) -> dict:
        return asdict(self) | {"train_ppl": self.train_ppl, "tokens_per_s": self.tokens_per_s}


@dataclass(frozen=True)
class TrainHistory:
    epochs: tuple[EpochRecord, ...]
    stopped: str  # "epochs" | "time budget"
    elapsed: float  # wall-clock seconds of training and validation (resumed runs included)
    valid_seconds: float = 0.0  # of which per-epoch validation (and the budget probe)
    resumed_from: dict | None = None  # {"epoch": finished epochs, "step": batches into the next} when resumed
    checkpoint_seconds: float = 0.0  # of which checkpoint writes
    best_epoch: int | None = None  # the epoch whose validation was best: its weights are the network's at the end
    restored: bool = False  # True when those weights replaced the last epoch's (a later validation was worse)
    valid_tokens: int = 0  # tokens of the per-epoch validation (a fixed sample when config.valid_tokens is set)

    @property
    def best_valid_ppl(self) -> float:
        return min((e.valid_ppl for e in self.epochs), default=math.nan)

    @property
    def tokens_per_s(self) -> float:
        """Mean training speed of the run: all training tokens over all training seconds."""
        seconds = sum(e.train_seconds for e in self.epochs)
        return sum(e.train_tokens for e in self.epochs) / seconds if seconds > 0 else math.nan

    def time_split(self) -> dict:
        """Where the wall clock went: training steps, validation (and the budget probe), checkpoint writes, the rest."""
        train = sum(e.train_seconds for e in self.epochs)
        other = self.elapsed - train - self.valid_seconds - self.checkpoint_seconds
        return {"train_s": train, "valid_s": self.valid_seconds, "checkpoint_s": self.checkpoint_seconds, "other_s": other,
                "total_s": self.elapsed}

    def to_dict(self) -> dict:
        return {"epochs": [e.to_dict() for e in self.epochs], "stopped": self.stopped, "elapsed": self.elapsed,
                "valid_seconds": self.valid_seconds, "checkpoint_seconds": self.checkpoint_seconds, "resumed_from": self.resumed_from,
                "best_valid_ppl": self.best_valid_ppl, "best_epoch": self.best_epoch, "restored": self.restored,
                "valid_tokens": self.valid_tokens, "tokens_per_s": self.tokens_per_s, "time_split": self.time_split()}


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    step: int  # batches done in this epoch
    n_steps: int
    n_tokens: int  # target tokens of this batch
    nll_sum: float  # their summed NLL
    elapsed: float


@dataclass
class _Position:
    """Where a run stands; saved in checkpoints, so a resumed run continues exactly here."""

    epoch: int = 0  # epochs finished
    step: int = 0  # batches done in the current epoch
    elapsed: float = 0.0
    epoch_seconds: float = 0.0
    epoch_nll_sum: float = 0.0
    epoch_tokens: int = 0
    rng_epoch_start: dict | None = None  # numpy bit-generator state the epoch's batches were drawn from
    valid_seconds: float = 0.0  # validation (and probe) seconds so far
    valid_rate: float | None = None  # seconds per validation token, last measured (None: not yet)
    checkpoint_seconds: float = 0.0  # checkpoint writes so far
    hidden: object = None
    history: list = field(default_factory=list)
    best: dict | None = None  # {"epoch", "valid_ppl", "state": CPU copy of the parameters} of the best validation so far

    KEPT_APART = ("hidden", "history", "best")  # saved in the checkpoint beside "position"

    def next_epoch(self, valid_seconds: float, valid_rate: float, record: dict) -> _Position:
        """The position at the start of the next epoch, after this one's validation."""
        return _Position(epoch=self.epoch + 1, elapsed=self.elapsed, valid_seconds=self.valid_seconds + valid_seconds,
                         valid_rate=valid_rate, checkpoint_seconds=self.checkpoint_seconds, history=self.history + [record],
                         best=self.best)


def make_optimizer(net: nn.Module, config: RNNConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=config.lr)
    try:  # the fused kernel is ~5x faster than the default on the CPU (one pass over a large embedding)
        return torch.optim.Adam(net.parameters(), lr=config.lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - builds or devices without it
        return torch.optim.Adam(net.parameters(), lr=config.lr)


BUDGET_SCHEDULES = ("linear", "cosine")  # the rate is a function of the share of the budget used


def budget_lr(config: RNNConfig, epoch: int, step: int, n_steps: int, elapsed: float) -> float:
    """The rate of a budget schedule at this point of the run: ``lr · (1 - progress)`` (linear) or
    ``lr · (1 + cos(π · progress)) / 2`` (cosine), progress being the used share of the budget.

    The budget is ``config.epochs`` (progress counted in steps) and, when set, ``config.time_budget``
    (progress counted in wall-clock seconds); whichever is further used up sets the rate, so the
    rate reaches 0 when the run ends (Li et al. 2020, "Budgeted training"; the cosine shape is
    Loshchilov & Hutter's SGDR without restarts).  Under an epoch budget the rates are a function
    of the step and a seeded run repeats exactly; under a time budget they follow the clock, so
    two runs agree only as far as their timings do.
    """
    progress = (epoch + step / max(n_steps, 1)) / config.epochs
    if config.time_budget is not None:
        progress = max(progress, elapsed / config.time_budget)
    progress = min(1.0, progress)
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr * (1.0 - progress)


def use_sparse_embedding(net: nn.Module, config: RNNConfig) -> bool:
    """Embedding gradients as sparse tensors (only the rows of the batch's ids) under SGD, when the embedding is not tied.

    A dense gradient of the whole |V| × E matrix is written, clipped and applied at every step
    although a batch touches a few hundred rows; on WikiText-2 (2×200, 2 threads) the sparse one
    made a step 13% faster (22% on one thread; reports/rnn_targets.md).  Adam keeps dense
    gradients (its moments need every row), and so does a tied embedding (the output layer
    reads every row).  The trained numbers are the same up to float summation order.
    """
    embedding = getattr(net, "embedding", None)
    sparse = isinstance(embedding, nn.Embedding) and config.optimizer == "sgd" and not config.tie
    if isinstance(embedding, nn.Embedding):
        embedding.sparse = sparse
    return sparse


@torch.no_grad()
def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """``nn.utils.clip_grad_norm_`` (the same norm and factor) that also takes sparse gradients.

    A sparse gradient is coalesced first (an id twice in a batch gives two entries, whose sum
    is the gradient's row), so its values are the non-zero rows of the dense gradient.
    """
    grads = []
    for p in parameters:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            grads.append(p.grad._values())
        else:
            grads.append(p.grad)
    if not grads:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _to_device(state, device: torch.device):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)


def _cpu_copy(net: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def validation_sample(valid: EncodedSplit, tokens: int | None, seed: int) -> EncodedSplit:
    """``valid`` itself, or a fixed sample of its lines holding about ``tokens`` tokens (at least one line).

    The lines are taken in a seeded random order until the sample holds ``tokens`` tokens, and kept
    in their order in the split; the same seed gives the same sample.  Empty lines count as lines
    (stream mode scores their ``</s>``).
    """
    lines = valid.lines
    if tokens is None or tokens >= lines.n_tokens:
        return valid
    order = np.random.default_rng([seed, 7]).permutation(len(lines))
    n = int(np.searchsorted(np.cumsum(lines.lengths[order]), tokens, side="left")) + 1
    keep = np.zeros(len(lines), dtype=bool)
    keep[order[:n]] = True
    return EncodedSplit(valid.name, lines.select(keep), valid.vocab)


def _probe_seconds_per_token(scorer: RNNLM, valid: EncodedSplit, mode: str, tokens: int = 2000) -> float:
    """Seconds per token of validating ``valid``, timed on a prefix of about ``tokens`` tokens of its lines."""
    lines = valid.lines
    end = min(tokens, lines.n_tokens)
    n = max(int(np.searchsorted(lines.bounds, end, side="left")), 1)  # lines that start before `end`
    lengths = lines.lengths[:n].copy()
    lengths[-1] -= lines.bounds[n] - end if lines.bounds[n] > end else 0  # the last one cut at `end`
    prefix = EncodedSplit(valid.name, Lines.from_lengths(lines.ids[:end], lengths), valid.vocab)
    started = time.perf_counter()
    result = evaluate(scorer, prefix, mode=mode)
    return (time.perf_counter() - started) / max(result.n_tokens, 1)


def train_rnn(
    net: nn.Module,
    train: EncodedSplit,
    valid: EncodedSplit,
    config: RNNConfig,
    *,
    device: str | torch.device = "cpu",
    checkpoint: str | None = None,
    resume: dict | None = None,
    trained_on: TrainedOn | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainHistory:
    """Train ``net`` in place on the stream of ``train``; validate on ``valid`` after every epoch.

    ``checkpoint``: path written after every epoch and on Ctrl-C.  ``resume``: a checkpoint
    loaded with :func:`lmstats.rnn.checkpoint.load_checkpoint` (its parameters already in
    ``net``) to continue from.  ``config.epochs`` counts all epochs, resumed ones included;
    ``config.time_budget`` all wall-clock seconds of training and validation (see the module
    docstring; the epoch it ends is validated, recorded as incomplete, and a run resumed from
    there starts the next epoch).
    """
    device = torch.device(device)
    vocab = train.vocab
    check_same_vocab(vocab, valid.vocab, "the validation split", "encode train and valid with one vocab", against="the training split")
    stream = np.concatenate([[vocab.bos_id], scored_units(train, "stream").ids]).astype(np.int64)  # <s>, lines each + </s>
    check_stream(stream, config.batch_size, config.seq_len)
    line_starts = scored_units(train, "sentence") if config.start_share > 0 else None  # non-empty lines, each + </s>
    share = config.start_share if line_starts is not None and len(line_starts) else 0.0
    valid = validation_sample(valid, config.valid_tokens, config.seed)
    n_valid_tokens = scored_units(valid, config.valid_mode).n_tokens
    make_batches = sequential_batches if config.batching == "sequential" else random_batches
    carry = config.batching == "sequential"
    net.to(device)
    use_sparse_embedding(net, config)
    optimizer = make_optimizer(net, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.lr_decay, patience=0, threshold=0.0)
    rng = np.random.default_rng(config.seed)
    scorer = RNNLM(net, vocab, device=device)
    cuda = [device] if device.type == "cuda" else []
    pos = _Position()
    resumed_from = None

    def save() -> None:
        if checkpoint is None:
            return
        started = time.perf_counter()
        training = {
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "position": {f.name: getattr(pos, f.name) for f in fields(pos) if f.name not in _Position.KEPT_APART},
            "hidden": _to_device(detach_state(pos.hidden), torch.device("cpu")),
            "history": pos.history,
            "best": pos.best,
        }
        save_checkpoint(checkpoint, checkpoint_payload(net, vocab, config, trained_on, training))
        pos.checkpoint_seconds += time.perf_counter() - started  # (the next save records this one's time)

    def step(x: np.ndarray, y: np.ndarray, state, keep: np.ndarray | None = None):
        """One optimizer step on the batch ``x`` -> ``y`` (B, T); ``keep`` masks padded targets.  Returns (nll sum, tokens, state)."""
        feats, state = net(torch.from_numpy(np.ascontiguousarray(x)).to(device), state)  # (B, T, D)
        if keep is None:
            feats, targets = feats.reshape(-1, feats.shape[-1]), torch.from_numpy(np.ascontiguousarray(y)).to(device).reshape(-1)
        else:
            keep_t = torch.from_numpy(keep).to(device)
            feats, targets = feats[keep_t], torch.from_numpy(y[keep]).to(device)
        nll = net.output.nll(feats, targets)  # (N,)
        optimizer.zero_grad(set_to_none=True)
        nll.mean().backward()
        if config.clip > 0:
            clip_grad_norm(net.parameters(), config.clip)
        optimizer.step()
        return float(nll.detach().sum()), int(targets.numel()), state

    def validation_fits(now: float) -> bool:
        """True while the budget leaves room for one more step and the closing validation."""
        if config.time_budget is None:
            return True
        return now + (pos.valid_rate or 0.0) * n_valid_tokens < config.time_budget

    with torch.random.fork_rng(devices=cuda), Deferred() as interrupt:
        torch.manual_seed(config.seed)
        if resume is not None:
            training = resume["training"]
            optimizer.load_state_dict(training["optimizer"])
            scheduler.load_state_dict(training["scheduler"])
            rng.bit_generator.state = training["rng"]
            torch.set_rng_state(training["torch_rng"])
            pos = _Position(**training["position"], hidden=_to_device(training["hidden"], device), history=list(training["history"]),
                            best=training.get("best"))
            resumed_from = {"epoch": pos.epoch, "step": pos.step}
        clock = time.perf_counter() - pos.elapsed
        if config.time_budget is not None and pos.valid_rate is None:  # what will the validation at the epoch's end cost?
            probe_started = time.perf_counter()
            pos.valid_rate = _probe_seconds_per_token(scorer, valid, config.valid_mode)
            pos.valid_seconds += time.perf_counter() - probe_started
        stopped = "epochs"
        try:
            while pos.epoch < config.epochs:
                if pos.step == 0 and pos.epoch > 0 and not validation_fits(time.perf_counter() - clock):
                    stopped = "time budget"  # (the first epoch always takes a step: a run trains at least once)
                    break
                if pos.rng_epoch_start is None:
                    pos.rng_epoch_start = rng.bit_generator.state
                else:  # resumed inside this epoch (or at its start after drawing): draw the same batches again
                    rng.bit_generator.state = pos.rng_epoch_start
                batches = make_batches(stream, config.batch_size, config.seq_len, rng)
                if config.lr_schedule in BUDGET_SCHEDULES:
                    set_lr(optimizer, budget_lr(config, pos.epoch, pos.step, len(batches), pos.elapsed))
                lr = optimizer.param_groups[0]["lr"]
                net.train()
                epoch_clock = time.perf_counter() - pos.epoch_seconds
                while pos.step < len(batches) and not interrupt.raised:
                    if pos.step > 0 and not validation_fits(time.perf_counter() - clock):
                        stopped = "time budget"
                        break
                    X, Y = batches[pos.step]  # (B, T) each
                    if config.lr_schedule in BUDGET_SCHEDULES:
                        set_lr(optimizer, budget_lr(config, pos.epoch, pos.step, len(batches), time.perf_counter() - clock))
                    nll_sum, n_tokens, state = step(X, Y, detach_state(pos.hidden) if carry else None)
                    for k in range(start_steps(pos.step + 1, share)):  # line starts from the zero state
                        starts = line_start_batch(line_starts, vocab.bos_id, config.batch_size, config.seq_len,
                                                  np.random.default_rng([config.seed, pos.epoch, pos.step, k]))
                        more_nll, more_tokens, _ = step(*starts[:2], None, starts[2])
                        nll_sum, n_tokens = nll_sum + more_nll, n_tokens + more_tokens
                    pos.step += 1
                    pos.epoch_nll_sum += nll_sum
                    pos.epoch_tokens += n_tokens
                    pos.hidden = detach_state(state) if carry else None
                    pos.epoch_seconds = time.perf_counter() - epoch_clock
                    pos.elapsed = time.perf_counter() - clock
                    if on_batch is not None:
                        on_batch(BatchProgress(pos.epoch + 1, pos.step, len(batches), n_tokens, nll_sum, pos.elapsed))
                if interrupt.raised:
                    interrupt.stop()
                valid_started = time.perf_counter()
                valid_ppl = evaluate(scorer, valid, mode=config.valid_mode).ppl
                valid_seconds = time.perf_counter() - valid_started
                pos.elapsed = time.perf_counter() - clock
                record = EpochRecord(pos.epoch + 1, pos.step == len(batches), pos.step, pos.epoch_tokens, pos.epoch_nll_sum,
                                     pos.epoch_seconds, valid_ppl, lr, pos.elapsed)
                if config.lr_schedule == "plateau":
                    scheduler.step(valid_ppl)
                if pos.best is None or valid_ppl < pos.best["valid_ppl"]:
                    pos.best = {"epoch": record.epoch, "valid_ppl": valid_ppl, "state": _cpu_copy(net)}
                pos = pos.next_epoch(valid_seconds, valid_seconds / max(n_valid_tokens, 1), record.to_dict())
                save()
                pos.elapsed = time.perf_counter() - clock  # (the checkpoint write counts in the budget)
                if on_epoch is not None:
                    on_epoch(record)
                if stopped == "time budget":
                    break
        except (KeyboardInterrupt, Terminated):
            save()
            raise
        restored = pos.best is not None and pos.history[-1]["valid_ppl"] > pos.best["valid_ppl"]
        if restored:  # a later epoch validated worse: end with the best epoch's weights (and save them)
            net.load_state_dict(pos.best["state"])
            save()
            pos.elapsed = time.perf_counter() - clock
    return TrainHistory(tuple(_record(d) for d in pos.history), stopped, pos.elapsed, pos.valid_seconds, resumed_from,
                        pos.checkpoint_seconds, pos.best["epoch"] if pos.best else None, restored, n_valid_tokens)


def _record(data: dict) -> EpochRecord:
    return EpochRecord(**{k: v for k, v in data.items() if k not in ("train_ppl", "tokens_per_s")})
