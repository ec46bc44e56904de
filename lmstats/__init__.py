"""lmstats: language-model statistics with one vocabulary and one evaluator.

The public API, re-exported here: corpora (:class:`CorpusSpec`, :func:`load_corpus`), the
shared :class:`Vocab`, encoded text (:class:`Lines`, :class:`EncodedSplit`), the protocol
every model meets (:class:`LanguageModel`), any saved model opened by :func:`load` (which
scores a text with its ``score_text``), the evaluator, mixtures of models
(:class:`Mixture`, :func:`tune_weights`), the uniform baseline and the synthetic source.
Models live in :mod:`lmstats.ngram`, :mod:`lmstats.rnn` (torch) and Zipf fits in
:mod:`lmstats.zipf`.

Each name is imported from its module when it is first used (PEP 562), so importing the
package costs nothing: the command line starts with no numpy in sight, and a Ctrl-C in its
first milliseconds is still one line (:mod:`lmstats.cli`).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "lmstats.text.corpus": ("Corpus", "Splits", "load_corpus"),
    "lmstats.text.spec": ("CorpusSpec", "VocabSpec"),
    "lmstats.text.split": ("split_lines",),
    "lmstats.encoded": ("EncodedSplit", "Lines"),
    "lmstats.errors": ("LmstatsError",),
    "lmstats.evaluation": ("EvalResult", "evaluate", "evaluate_splits", "token_logprobs"),
    "lmstats.mixture": ("Mixture", "tune_weights"),
    "lmstats.protocol": ("LanguageModel",),
    "lmstats.saved": ("load",),
    "lmstats.synth": ("MarkovSource", "SourceConfig", "SourceLM"),
    "lmstats.uniform": ("UniformLM",),
    "lmstats.vocab": ("BOS", "EOS", "PAD", "UNK", "Vocab"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE) + ["__version__"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'lmstats' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
