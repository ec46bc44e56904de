"""Descriptive statistics of a corpus under a vocabulary (what ``lmstats corpus info`` prints)."""

from __future__ import annotations

from itertools import chain

import numpy as np

from lmstats.corpus import Corpus
from lmstats.datasets import SPLIT_NAMES
from lmstats.vocab import UNK, Vocab


def corpus_stats(corpus: Corpus, vocab: Vocab) -> dict:
    """Per split: lines, tokens, types, OOV count and rate under ``vocab`` (built on train).

    OOV tokens are those read as ``<unk>``: types outside the vocabulary and literal
    ``<unk>`` tokens of corpora that already contain them (WikiText, PTB).
    """
    rows = []
    for name in SPLIT_NAMES:
        sentences = corpus.split(name)
        tokens = list(chain.from_iterable(sentences))
        ids = vocab.encode(tokens)
        n_oov = int(np.count_nonzero(ids == vocab.unk_id))
        rows.append({
            "split": name,
            "lines": len(sentences),
            "empty_lines": sum(1 for s in sentences if not s),
            "tokens": len(tokens),
            "types": len(set(tokens)),
            "oov": n_oov,
            "oov_rate": n_oov / len(tokens) if tokens else 0.0,
            "literal_unk": tokens.count(UNK),
        })
    return {
        "corpus": corpus.name,
        "description": corpus.description,
        "sources": list(corpus.sources),
        "splits_from": "the corpus's own files" if corpus.predefined else corpus.meta.get("split", "seeded"),
        "options": {"level": corpus.options.level, "lower": corpus.options.lower, "letters_only": corpus.options.letters_only, "format": corpus.options.format},
        "vocab_size": len(vocab),
        "vocab_specials": vocab.n_specials,
        "splits": rows,
    }
