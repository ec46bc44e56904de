"""RNN language models: the from-scratch RNN and torch's RNN/GRU/LSTM, full or adaptive softmax.

``RNNConfig`` -> :func:`build_net` -> :func:`train_rnn` -> :class:`RNNLM` (the protocol
adapter the shared evaluator scores); checkpoints in :mod:`lmstats.rnn.checkpoint`,
sampling in :mod:`lmstats.rnn.generate`.
"""

from lmstats.rnn.batching import random_batches, sequential_batches
from lmstats.rnn.checkpoint import check_compatible, load_checkpoint, load_net
from lmstats.rnn.config import RNNConfig
from lmstats.rnn.generate import generate
from lmstats.rnn.lm import RNNLM
from lmstats.rnn.model import AdaptiveSoftmax, FullSoftmax, RNNNet, ScratchRNN, TiedAdaptiveSoftmax, build_net, resolve_device, scratch_bptt
from lmstats.rnn.train import EpochRecord, TrainHistory, train_rnn

__all__ = [
    "AdaptiveSoftmax", "EpochRecord", "FullSoftmax", "RNNConfig", "RNNLM", "RNNNet", "ScratchRNN", "TiedAdaptiveSoftmax",
    "TrainHistory",
    "build_net", "check_compatible", "generate", "load_checkpoint", "load_net", "random_batches", "resolve_device",
    "scratch_bptt", "sequential_batches", "train_rnn",
]
