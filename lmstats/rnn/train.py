"""Training an RNN language model: a :class:`TrainingRun` (step, epoch, validate, save, finish) and :func:`train_rnn`.

The trainer knows nothing about the network beyond its interface (``net(x, state)``,
``net.output.nll``).  One epoch is one pass over the training stream in batches from
:mod:`lmstats.rnn.batching`; with ``sequential`` batching the hidden state is carried from
batch to batch and detached (truncated backpropagation through time), with ``random`` it is
reset.  The loss of a step is the mean token NLL of its batch.  After every epoch the
validation perplexity comes from the shared evaluator (on a fixed sample of the split when
``config.valid_tokens`` is set, :mod:`lmstats.rnn.validation`), the rate follows
``config.lr_schedule`` (:mod:`lmstats.rnn.schedules`), and a checkpoint is written.  The weights
of the best validation are kept (in the checkpoint too) and put back at the end when a later
epoch validated worse.

With ``config.start_share > 0`` the stream batches are interleaved with batches of lines read
from their start from the zero state (:func:`lmstats.rnn.batching.line_start_batch`), the case
sentence mode scores; they count in the epoch's tokens, not in its steps.

Randomness: batching draws from ``np.random.default_rng(config.seed)``; dropout draws from
torch's global RNG, which the run forks and seeds from ``config.seed`` (the caller's RNG state is
left untouched).  Same seed and same thread count give identical numbers on the CPU (under a
time budget the run length, and with a budget schedule the rates, depend on the clock).

Budget: ``config.time_budget`` is wall-clock seconds for training *and* per-epoch validation.
Before each step the run compares the time spent plus the expected cost of the validation that
closes the epoch with the budget, and stops (then validates) when the next step would not leave
time for it.  The expected cost comes from a short timed probe of the validation split at the
start and, after each validation, from the last one measured.

Ctrl-C (or SIGTERM): the current step (or validation) finishes, a checkpoint of the exact
position is written, and the interruption goes on with a note saying where the checkpoint is
(:func:`lmstats.interrupts.keep`); resuming from it continues identically, wherever the
interruption came (mid-epoch, during validation, or between epochs): the batches of an epoch are
always redrawn from the random state saved at the epoch's start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from torch import nn

from lmstats.encoded import EncodedSplit
from lmstats.evaluation import evaluate
from lmstats.interrupts import Deferred, Terminated, keep
from lmstats.rnn.batching import check_stream, line_start_batch, random_batches, sequential_batches, start_steps
from lmstats.rnn.checkpoint import checkpoint_payload, save_checkpoint
from lmstats.rnn.history import BatchProgress, EpochRecord, TrainHistory, epoch_record
from lmstats.rnn.lm import RNNLM
from lmstats.rnn.nets import detach_state
from lmstats.rnn.optim import clip_grad_norm, make_optimizer, use_sparse_embedding
from lmstats.rnn.recipe import RNNConfig
from lmstats.rnn.schedules import Schedule
from lmstats.rnn.validation import seconds_per_token, validation_sample
from lmstats.trained_on import TrainedOn
from lmstats.units import scored_units
from lmstats.vocab import check_same_vocab


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
    curve_at: float = 0.0  # elapsed seconds of the last point of the validation curve
    curve: list = field(default_factory=list)  # {"elapsed", "tokens", "valid_ppl"}: the curve every config.curve_every seconds
    hidden: object = None
    history: list = field(default_factory=list)
    best: dict | None = None  # {"epoch", "valid_ppl", "state": CPU copy of the parameters} of the best validation so far

    KEPT_APART = ("hidden", "history", "best")  # saved in the checkpoint beside "position"

    def next_epoch(self, valid_seconds: float, valid_rate: float, record: dict) -> _Position:
        """The position at the start of the next epoch, after this one's validation."""
        return _Position(epoch=self.epoch + 1, elapsed=self.elapsed, valid_seconds=self.valid_seconds + valid_seconds,
                         valid_rate=valid_rate, checkpoint_seconds=self.checkpoint_seconds,
                         curve_at=self.curve_at, curve=self.curve, history=self.history + [record], best=self.best)


def _to_device(state, device: torch.device):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)


def _cpu_copy(net: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


class TrainingRun:
    """One run of ``net`` on the stream of ``train``, validated on ``valid`` (see the module docstring).

    ``checkpoint``: the path written after every epoch and on Ctrl-C (None: none); ``trained_on``: what
    the checkpoint records about the training text.  :meth:`run` trains and returns the history.
    """

    def __init__(self, net: nn.Module, train: EncodedSplit, valid: EncodedSplit, config: RNNConfig, *,
                 device: str | torch.device = "cpu", checkpoint: str | None = None, trained_on: TrainedOn | None = None,
                 on_batch: Callable[[BatchProgress], None] | None = None, on_epoch: Callable[[EpochRecord], None] | None = None):
        self.vocab = train.vocab
        check_same_vocab(self.vocab, valid.vocab, "the validation split", "encode train and valid with one vocab",
                         against="the training split")
        self.config = config = config.resolve(len(self.vocab))
        self.net, self.device = net, torch.device(device)
        self.checkpoint, self.trained_on, self.on_batch, self.on_epoch = checkpoint, trained_on, on_batch, on_epoch
        self.stream = np.concatenate([[self.vocab.bos_id], scored_units(train, "stream").ids]).astype(np.int64)  # <s>, lines + </s>
        check_stream(self.stream, config.batch_size, config.seq_len)
        self.line_starts = scored_units(train, "sentence") if config.start_share > 0 else None  # non-empty lines, each + </s>
        self.share = config.start_share if self.line_starts is not None and len(self.line_starts) else 0.0
        self.valid = validation_sample(valid, config.valid_tokens, config.seed)
        self.n_valid_tokens = scored_units(self.valid, config.valid_mode).n_tokens
        self.curve_sample = validation_sample(valid, config.curve_tokens, config.seed) if config.curve_every else None
        self.make_batches = sequential_batches if config.batching == "sequential" else random_batches
        self.carry = config.batching == "sequential"
        net.to(self.device)
        use_sparse_embedding(net, config)
        self.optimizer = make_optimizer(net, config)
        self.schedule = Schedule(self.optimizer, config)
        self.rng = np.random.default_rng(config.seed)
        self.scorer = RNNLM(net, self.vocab, device=self.device)
        self.pos = _Position()
        self.resumed_from: dict | None = None
        self.clock = time.perf_counter()

    # -- the steps of a run ----------------------------------------------------------------------
    def restore(self, resume: dict) -> None:
        """Continue from a checkpoint (its parameters already in the network)."""
        training = resume["training"]
        self.optimizer.load_state_dict(training["optimizer"])
        self.schedule.load_state_dict(training["scheduler"])
        self.rng.bit_generator.state = training["rng"]
        torch.set_rng_state(training["torch_rng"])
        self.pos = _Position(**training["position"], hidden=_to_device(training["hidden"], self.device),
                             history=list(training["history"]), best=training.get("best"))
        self.resumed_from = {"epoch": self.pos.epoch, "step": self.pos.step}

    def now(self) -> float:
        """Wall-clock seconds of the run so far (resumed time included)."""
        return time.perf_counter() - self.clock

    def step(self, x: np.ndarray, y: np.ndarray, state, keep_mask: np.ndarray | None = None):
        """One optimizer step on the batch ``x`` -> ``y`` (B, T); ``keep_mask`` masks padded targets.
        Returns (nll sum, tokens, state)."""
        net, device = self.net, self.device
        feats, state = net(torch.from_numpy(np.ascontiguousarray(x)).to(device), state)  # (B, T, D)
        if keep_mask is None:
            feats, targets = feats.reshape(-1, feats.shape[-1]), torch.from_numpy(np.ascontiguousarray(y)).to(device).reshape(-1)
        else:
            feats, targets = feats[torch.from_numpy(keep_mask).to(device)], torch.from_numpy(y[keep_mask]).to(device)
        nll = net.output.nll(feats, targets)  # (N,)
        self.optimizer.zero_grad(set_to_none=True)
        nll.mean().backward()
        if self.config.clip > 0:
            clip_grad_norm(net.parameters(), self.config.clip)
        self.optimizer.step()
        return float(nll.detach().sum()), int(targets.numel()), state

    def validation_fits(self) -> bool:
        """True while the budget leaves room for one more step and the closing validation."""
        budget = self.config.time_budget
        return budget is None or self.now() + (self.pos.valid_rate or 0.0) * self.n_valid_tokens < budget

    def epoch(self, interrupt: Deferred) -> tuple[str | None, int, float]:
        """Train the current epoch (or what is left of it) until its batches, the budget or an interruption end it.
        Returns ("time budget" or None, the epoch's number of batches, the rate at its start)."""
        config, pos = self.config, self.pos
        if pos.rng_epoch_start is None:
            pos.rng_epoch_start = self.rng.bit_generator.state
        else:  # resumed inside this epoch (or at its start after drawing): draw the same batches again
            self.rng.bit_generator.state = pos.rng_epoch_start
        batches = self.make_batches(self.stream, config.batch_size, config.seq_len, self.rng)
        self.schedule.before_step(pos.epoch, pos.step, len(batches), pos.elapsed)
        lr = self.schedule.lr
        self.net.train()
        epoch_clock = time.perf_counter() - pos.epoch_seconds
        while pos.step < len(batches) and not interrupt.raised:
            if pos.step > 0 and not self.validation_fits():
                return "time budget", len(batches), lr
            x, y = batches[pos.step]  # (B, T) each
            self.schedule.before_step(pos.epoch, pos.step, len(batches), self.now())
            nll_sum, n_tokens, state = self.step(x, y, detach_state(pos.hidden) if self.carry else None)
            for k in range(start_steps(pos.step + 1, self.share)):  # line starts from the zero state
                starts = line_start_batch(self.line_starts, self.vocab.bos_id, config.batch_size, config.seq_len,
                                          np.random.default_rng([config.seed, pos.epoch, pos.step, k]))
                more_nll, more_tokens, _ = self.step(*starts[:2], None, starts[2])
                nll_sum, n_tokens = nll_sum + more_nll, n_tokens + more_tokens
            pos.step += 1
            pos.epoch_nll_sum += nll_sum
            pos.epoch_tokens += n_tokens
            pos.hidden = detach_state(state) if self.carry else None
            pos.epoch_seconds = time.perf_counter() - epoch_clock
            pos.elapsed = self.now()
            if self.curve_sample is not None and pos.elapsed - pos.curve_at >= config.curve_every:
                self.curve_point()
            if self.on_batch is not None:
                self.on_batch(BatchProgress(pos.epoch + 1, pos.step, len(batches), n_tokens, nll_sum, pos.elapsed))
        return None, len(batches), lr

    def curve_point(self) -> None:
        """A point of the validation curve: the perplexity of the fixed curve sample now (its seconds count as validation)."""
        pos, started = self.pos, time.perf_counter()
        ppl = evaluate(self.scorer, self.curve_sample, mode=self.config.valid_mode).ppl
        pos.valid_seconds += time.perf_counter() - started
        pos.elapsed = pos.curve_at = self.now()
        tokens = sum(r["train_tokens"] for r in pos.history) + pos.epoch_tokens  # the finished epochs', then this one's so far
        pos.curve.append({"elapsed": pos.elapsed, "tokens": tokens, "valid_ppl": ppl})

    def validate(self) -> tuple[float, float]:
        """The validation perplexity (``config.valid_mode``) and the seconds it took."""
        started = time.perf_counter()
        ppl = evaluate(self.scorer, self.valid, mode=self.config.valid_mode).ppl
        return ppl, time.perf_counter() - started

    def close_epoch(self, n_steps: int, lr: float) -> EpochRecord:
        """Validate, record, adjust the rate, keep the best weights, save; the position moves to the next epoch."""
        pos = self.pos
        valid_ppl, valid_seconds = self.validate()
        pos.elapsed = self.now()
        record = EpochRecord(pos.epoch + 1, pos.step == n_steps, pos.step, pos.epoch_tokens, pos.epoch_nll_sum, pos.epoch_seconds,
                             valid_ppl, lr, pos.elapsed, n_steps)
        self.schedule.after_validation(valid_ppl)
        if pos.best is None or valid_ppl < pos.best["valid_ppl"]:
            pos.best = {"epoch": record.epoch, "valid_ppl": valid_ppl, "state": _cpu_copy(self.net)}
        self.pos = pos.next_epoch(valid_seconds, valid_seconds / max(self.n_valid_tokens, 1), record.to_dict())
        self.save()
        self.pos.elapsed = self.now()  # (the checkpoint write counts in the budget)
        if self.on_epoch is not None:
            self.on_epoch(record)
        return record

    def save(self) -> None:
        """Write the checkpoint of the exact position (nothing without a checkpoint path)."""
        if self.checkpoint is None:
            return
        started = time.perf_counter()
        pos = self.pos
        training = {
            "optimizer": self.optimizer.state_dict(), "scheduler": self.schedule.state_dict(),
            "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "position": {f.name: getattr(pos, f.name) for f in fields(pos) if f.name not in _Position.KEPT_APART},
            "hidden": _to_device(detach_state(pos.hidden), torch.device("cpu")),
            "history": pos.history,
            "best": pos.best,
        }
        save_checkpoint(self.checkpoint, checkpoint_payload(self.net, self.vocab, self.config, self.trained_on, training))
        pos.checkpoint_seconds += time.perf_counter() - started  # (the next save records this one's time)

    def finish(self, stopped: str) -> TrainHistory:
        """Put back the best epoch's weights when a later epoch validated worse (and save them); the history."""
        pos = self.pos
        restored = pos.best is not None and pos.history[-1]["valid_ppl"] > pos.best["valid_ppl"]
        if restored:
            self.net.load_state_dict(pos.best["state"])
            self.save()
            pos.elapsed = self.now()
        return TrainHistory(tuple(epoch_record(d) for d in pos.history), stopped, pos.elapsed, pos.valid_seconds, self.resumed_from,
                            pos.checkpoint_seconds, pos.best["epoch"] if pos.best else None, restored, self.n_valid_tokens,
                            tuple(pos.curve))

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, resume: dict | None = None) -> TrainHistory:
        """Train until ``config.epochs`` or the time budget end the run (``resume``: a checkpoint to continue from)."""
        config = self.config
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), Deferred() as interrupt:
            try:
                torch.manual_seed(config.seed)
                if resume is not None:
                    self.restore(resume)
                self.clock = time.perf_counter() - self.pos.elapsed
                if config.time_budget is not None and self.pos.valid_rate is None:  # what will the closing validation cost?
                    started = time.perf_counter()
                    self.pos.valid_rate = seconds_per_token(self.scorer, self.valid, config.valid_mode)
                    self.pos.valid_seconds += time.perf_counter() - started
                stopped = "epochs"
                while self.pos.epoch < config.epochs:
                    if self.pos.step == 0 and self.pos.epoch > 0 and not self.validation_fits():
                        stopped = "time budget"  # (the first epoch always takes a step: a run trains at least once)
                        break
                    ended, n_steps, lr = self.epoch(interrupt)
                    if interrupt.raised:
                        interrupt.stop()
                    self.close_epoch(n_steps, lr)
                    if ended:
                        stopped = ended
                        break
            except (KeyboardInterrupt, Terminated) as exc:
                self.save()
                if self.checkpoint is not None:
                    raise keep(exc, f"checkpoint saved to {self.checkpoint} — run the same command with --resume to continue") from None
                raise
            return self.finish(stopped)


def train_rnn(net: nn.Module, train: EncodedSplit, valid: EncodedSplit, config: RNNConfig, *, device: str | torch.device = "cpu",
              checkpoint: str | None = None, resume: dict | None = None, trained_on: TrainedOn | None = None,
              on_batch: Callable[[BatchProgress], None] | None = None,
              on_epoch: Callable[[EpochRecord], None] | None = None) -> TrainHistory:
    """Train ``net`` in place on the stream of ``train``; validate on ``valid`` after every epoch (a :class:`TrainingRun`).

    ``resume``: a checkpoint loaded with :func:`lmstats.rnn.checkpoint.load_checkpoint` (its parameters
    already in ``net``) to continue from.  ``config.epochs`` counts all epochs, resumed ones included;
    ``config.time_budget`` all wall-clock seconds of training and validation (the epoch it ends is
    validated, recorded as incomplete, and a run resumed from there starts the next epoch).
    """
    run = TrainingRun(net, train, valid, config, device=device, checkpoint=checkpoint, trained_on=trained_on, on_batch=on_batch,
                      on_epoch=on_epoch)
    return run.run(resume)
