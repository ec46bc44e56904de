"""RNN checkpoints: one ``torch.save`` file with everything a run needs to continue identically.

Contents (plain tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it): the vocabulary and its fingerprint, the :class:`RNNConfig`, under ``meta`` what the
network was trained on (:class:`~lmstats.trained_on.TrainedOn`), the parameters, and under ``training`` the optimizer,
scheduler, RNG states, carried hidden state, position in the epoch and the history.  Files are
written atomically: an interrupted save leaves the previous checkpoint in place.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write
from lmstats.rnn.nets import build_net
from lmstats.rnn.recipe import RNNConfig
from lmstats.trained_on import TrainedOn
from lmstats.vocab import Vocab, check_same_vocab

FORMAT = "lmstats-rnn"
VERSION = 2  # 2: meta holds the corpus and vocabulary specs; resume restores the epoch's batch draw


def trained_on(ckpt: dict) -> TrainedOn | None:
    """What the checkpoint's network was trained on (its ``meta``), or None for a checkpoint that records nothing."""
    return TrainedOn.from_dict(ckpt.get("meta"))


def checkpoint_payload(net: nn.Module, vocab: Vocab, config: RNNConfig, trained: TrainedOn | None, training: dict | None) -> dict:
    return {
        "format": FORMAT, "version": VERSION,
        "vocab": vocab.to_dict(), "vocab_fingerprint": vocab.fingerprint,
        "config": config.to_dict(), "meta": trained.to_dict() if trained else {},
        "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "training": training,
    }


def save_checkpoint(path: str | Path, payload: dict) -> None:
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents (tensors on the CPU); a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise LmstatsError(f"{path}: no such checkpoint file; train one with 'lmstats rnn train --checkpoint {path}'")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or truncated files
        raise LmstatsError(f"{path}: not an lmstats RNN checkpoint ({type(exc).__name__}); "
                           "it is truncated or another kind of file") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LmstatsError(f"{path}: not an lmstats RNN checkpoint (no '{FORMAT}' header)")
    if data.get("version") != VERSION:
        raise LmstatsError(f"{path}: checkpoint version {data.get('version')!r}, this lmstats reads version {VERSION}; retrain")
    return data


def checkpoint_vocab(ckpt: dict) -> Vocab:
    return Vocab.from_dict(ckpt["vocab"], source="checkpoint")


def checkpoint_config(ckpt: dict) -> RNNConfig:
    return RNNConfig.from_dict(ckpt["config"])


def check_compatible(ckpt: dict, vocab: Vocab, config: RNNConfig | None = None, *, source: str = "checkpoint") -> None:
    """Refuse a checkpoint trained under another vocabulary (or, given ``config``, another architecture)."""
    check_same_vocab(vocab, checkpoint_vocab(ckpt), f"{source}: the checkpoint",
                     "use the corpus and options it was trained with, or train anew (another --checkpoint, no --resume)",
                     against="this corpus's training split")
    if config is not None:
        saved = checkpoint_config(ckpt).architecture()
        asked = config.resolve(len(vocab)).architecture()
        differ = [f"{k} {saved[k]!r} vs {v!r}" for k, v in asked.items() if saved[k] != v]
        if differ:
            raise LmstatsError(
                f"{source}: the checkpoint has another architecture ({'; '.join(differ)}, checkpoint vs options); "
                "resume with the options it was trained with, or train anew (another --checkpoint, no --resume)"
            )


def load_net(ckpt: dict, device: str | torch.device = "cpu") -> tuple[nn.Module, Vocab, RNNConfig]:
    """The trained network (on ``device``), its vocabulary and its configuration."""
    vocab, config = checkpoint_vocab(ckpt), checkpoint_config(ckpt)
    net = build_net(vocab, config)
    try:
        net.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise LmstatsError(f"checkpoint: the parameters do not fit the architecture it names ({first}); the file is corrupt") from None
    return net.to(device), vocab, config
