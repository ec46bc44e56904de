"""lmstats: language-model statistics with one vocabulary and one evaluator.

The public API, re-exported here: corpora (:class:`CorpusSpec`, :func:`load_corpus`), the
shared :class:`Vocab`, encoded text (:class:`Lines`, :class:`EncodedSplit`), the protocol
every model meets (:class:`LanguageModel`), the evaluator, mixtures of models
(:class:`Mixture`, :func:`tune_weights`), the uniform baseline and the synthetic source.
Models live in :mod:`lmstats.ngram`, :mod:`lmstats.rnn` (torch) and Zipf fits in
:mod:`lmstats.zipf`.
"""

from lmstats.corpus import Corpus, CorpusSpec, Splits, VocabSpec, load_corpus, split_lines
from lmstats.encoded import EncodedSplit, Lines
from lmstats.errors import LmstatsError
from lmstats.evaluate import EvalResult, evaluate, evaluate_splits, token_logprobs
from lmstats.mixture import Mixture, tune_weights
from lmstats.protocol import LanguageModel
from lmstats.synth import MarkovSource, SourceConfig, SourceLM
from lmstats.uniform import UniformLM
from lmstats.vocab import BOS, EOS, PAD, UNK, Vocab

__version__ = "0.1.0"

__all__ = [
    "BOS", "EOS", "PAD", "UNK", "Corpus", "CorpusSpec", "EncodedSplit", "EvalResult", "LanguageModel", "Lines", "LmstatsError",
    "MarkovSource", "Mixture", "SourceConfig", "SourceLM", "Splits", "UniformLM", "Vocab", "VocabSpec", "__version__", "evaluate",
    "evaluate_splits", "load_corpus", "split_lines", "token_logprobs", "tune_weights",
]
