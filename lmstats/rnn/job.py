"""A training job from a corpus description to a trained, scored checkpoint: what ``lmstats rnn train`` does.

:func:`train_on_corpus` reads the corpus (with the subword pieces of the run it resumes), builds
the vocabulary of its training split, decides the recipe's "auto" choices for it, builds the
network or loads the checkpoint it resumes (refusing one of another vocabulary or
architecture), trains (:func:`~lmstats.rnn.train.train_rnn`, a checkpoint every epoch and on
Ctrl-C), scores the valid and test splits with the shared evaluator, and says where the time
went.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lmstats.evaluation import evaluate_splits
from lmstats.rnn.checkpoint import check_compatible, load_checkpoint, load_net, trained_on
from lmstats.rnn.lm import RNNLM
from lmstats.rnn.nets import build_net, count_parameters, resolve_device
from lmstats.rnn.recipe import RNNConfig, for_cell
from lmstats.rnn.train import train_rnn
from lmstats.text.corpus import load_corpus
from lmstats.text.spec import CorpusSpec, VocabSpec


def train_on_corpus(config: RNNConfig, corpus: CorpusSpec, vocab_spec: VocabSpec, *, checkpoint: str | Path, resume: bool = False,
                    typed: Sequence[str] = (),
                    data_dir=None, device: str = "auto", modes: Sequence[str] = ("sentence", "stream"),
                    on_resumed: Callable[[dict], None] | None = None, **callbacks) -> dict:
    """Train ``config`` on ``corpus`` (see the module docstring); returns the figures of the run as a dict.

    ``config`` takes the recipes of its cell and of the corpus's level for every field not in ``typed`` (the options the
    user gave; :func:`~lmstats.rnn.recipe.for_cell`).
    ``resume``: continue the run saved in ``checkpoint`` (``on_resumed`` receives its position first);
    ``callbacks``: ``on_batch`` and ``on_epoch`` of :func:`~lmstats.rnn.train.train_rnn`.
    """
    started = time.perf_counter()
    ckpt = load_checkpoint(checkpoint) if resume else None
    device = resolve_device(device)
    stored = trained_on(ckpt) if ckpt is not None else None
    loaded = load_corpus(corpus, data_dir=data_dir, tokenizer=stored.subword_tokenizer() if stored else None)
    vocab = loaded.build_vocab(vocab_spec)
    splits = loaded.encode(vocab)
    config = for_cell(config, config.cell, typed, loaded.level).resolve(len(vocab))
    if ckpt is not None:
        check_compatible(ckpt, vocab, config, source=str(checkpoint))
        if on_resumed is not None:
            on_resumed(ckpt["training"]["position"])
    net = load_net(ckpt, device)[0] if ckpt is not None else build_net(vocab, config)
    prepared = time.perf_counter()
    history = train_rnn(net, splits.train, splits.valid, config, device=device, checkpoint=str(checkpoint), resume=ckpt,
                        trained_on=loaded.trained_on(vocab_spec, data_dir), **callbacks)
    trained = time.perf_counter()
    results = evaluate_splits(RNNLM(net, vocab, device=device), splits, ("valid", "test"), modes)
    times = {"prepare_s": prepared - started, **history.time_split(), "final_scoring_s": time.perf_counter() - trained}
    return {"corpus": loaded.name, "vocab_size": len(vocab), "config": config.to_dict(), "parameters": count_parameters(net),
            "device": str(device), "history": history.to_dict(), "train_tokens_per_s": history.tokens_per_s, "time_split": times,
            "results": results, "checkpoint": str(checkpoint)}
