"""The one record of what a model was trained on, saved by every model kind.

An n-gram model folder or ``.npz`` keeps it in its ``meta.json`` (``"trained_on"``), an RNN
checkpoint in its ``meta``; :mod:`lmstats.saved` reads it back for every kind, so ``lmstats ngram
--load``, ``lmstats rnn eval`` and ``lmstats mix`` score a saved model on its own corpus without
being told the corpus, its options, where its files are, or its subword pieces again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmstats.text.catalogue import data_dir_from_env
from lmstats.text.spec import CorpusSpec, VocabSpec


@dataclass(frozen=True)
class TrainedOn:
    """The corpus (as resolved when it was read), the vocabulary options, the folder its files were
    found in (None: the cache or a download), and the subword pieces of a bpe/unigram corpus."""

    corpus: CorpusSpec
    vocab_spec: VocabSpec = field(default_factory=VocabSpec)
    data_dir: str | None = None
    tokenizer: dict | None = None

    @classmethod
    def of(cls, corpus: CorpusSpec, vocab_spec: VocabSpec, data_dir=None, tokenizer: dict | None = None) -> TrainedOn:
        """The record of a corpus read now: ``data_dir`` (or ``LMSTATS_DATA``) kept as an absolute path."""
        folder = data_dir_from_env(data_dir)
        return cls(corpus, vocab_spec, str(folder.resolve()) if folder else None, tokenizer)

    def to_dict(self) -> dict:
        return {"corpus": self.corpus.to_dict(), "vocab_spec": self.vocab_spec.to_dict(), "data_dir": self.data_dir,
                "tokenizer": self.tokenizer}

    @classmethod
    def from_dict(cls, data: dict | None) -> TrainedOn | None:
        """The record a file stored (None when it stored none, as an ARPA file or an older model)."""
        if not data or not data.get("corpus"):
            return None
        return cls(CorpusSpec.from_dict(data["corpus"]), VocabSpec.from_dict(data.get("vocab_spec") or {}), data.get("data_dir"),
                   data.get("tokenizer"))

    def subword_tokenizer(self):
        """The stored subword pieces as a :class:`~lmstats.text.subword.SubwordTokenizer` (None at word and char level)."""
        from lmstats.text.subword import SubwordTokenizer

        return SubwordTokenizer.stored(self.tokenizer)
