"""RNN language models: the from-scratch RNN and torch's RNN/GRU/LSTM, full or adaptive softmax.

``RNNConfig`` -> :func:`build_net` -> :func:`train_rnn` -> :class:`RNNLM` (the protocol
adapter the shared evaluator scores); output layers in :mod:`lmstats.rnn.softmax`, networks in
:mod:`lmstats.rnn.nets`, checkpoints in :mod:`lmstats.rnn.checkpoint`, sampling in
:mod:`lmstats.rnn.sampling`.  The names below are imported on first use, so that
the CLI can read :mod:`lmstats.rnn.recipe` without importing torch (2-3 s of start-up).
"""

import importlib

_EXPORTS = {
    "random_batches": "batching", "sequential_batches": "batching",
    "check_compatible": "checkpoint", "load_checkpoint": "checkpoint", "load_net": "checkpoint",
    "RNNConfig": "recipe", "generate": "sampling", "RNNLM": "lm",
    "RNNNet": "nets", "ScratchRNN": "nets", "build_net": "nets", "resolve_device": "nets",
    "AdaptiveSoftmax": "softmax", "FullSoftmax": "softmax", "TiedAdaptiveSoftmax": "softmax",
    "EpochRecord": "history", "TrainHistory": "history", "TrainingRun": "train", "train_rnn": "train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """The public names, imported on first use (PEP 562): ``lmstats.rnn.recipe`` stays free of torch."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lmstats.rnn' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lmstats.rnn.{_EXPORTS[name]}"), name)
