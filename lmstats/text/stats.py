"""Per-split statistics of a corpus under its vocabulary (``lmstats corpus info``, the report's first table)."""

from __future__ import annotations

import numpy as np

from lmstats.text.corpus import Corpus
from lmstats.text.spec import SPLIT_NAMES
from lmstats.vocab import UNK, Vocab


def corpus_stats(corpus: Corpus, vocab: Vocab) -> dict:
    """Per split: lines, tokens, types, OOV count and rate under ``vocab`` (built on train).

    OOV tokens are those read as ``<unk>``: types outside the vocabulary and literal
    ``<unk>`` tokens of corpora that already contain them (WikiText, PTB).
    """
    is_oov = corpus.types.vocab_ids(vocab) == vocab.unk_id
    literal_unk = corpus.types.id(UNK)
    rows = []
    for name in SPLIT_NAMES:
        part = corpus.part(name)
        counts = corpus.types.type_counts(part.ids)
        n_oov = int(counts[is_oov].sum())
        rows.append({
            "split": name,
            "lines": part.n_lines,
            "empty_lines": int(np.count_nonzero(part.lengths == 0)),
            "tokens": part.n_tokens,
            "types": int(np.count_nonzero(counts)),
            "oov": n_oov,
            "oov_rate": n_oov / part.n_tokens if part.n_tokens else 0.0,
            "literal_unk": int(counts[literal_unk]) if literal_unk is not None else 0,
        })
    return {
        "corpus": corpus.name,
        "description": corpus.description,
        "sources": list(corpus.sources),
        "splits_from": "the corpus's own files" if corpus.predefined else corpus.meta.get("split", "seeded"),
        "spec": corpus.spec.to_dict(),
        "vocab_size": len(vocab),
        "vocab_specials": vocab.n_specials,
        "splits": rows,
    }

