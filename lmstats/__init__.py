"""lmstats: language-model statistics with one vocabulary and one evaluator."""

from lmstats.baselines import UniformLM
from lmstats.corpus import Corpus, TextOptions, load_corpus, split_lines, tokenize
from lmstats.errors import LmstatsError
from lmstats.evaluate import EvalResult, evaluate, token_logprobs
from lmstats.lines import EncodedSplit, Lines
from lmstats.protocol import LanguageModel
from lmstats.synth import MarkovSource, SourceConfig, SourceLM
from lmstats.vocab import BOS, EOS, PAD, UNK, Vocab

__version__ = "0.1.0"

__all__ = [
    "BOS", "EOS", "PAD", "UNK", "Corpus", "EncodedSplit", "EvalResult", "LanguageModel", "Lines",
    "LmstatsError", "MarkovSource", "SourceConfig", "SourceLM", "TextOptions", "UniformLM", "Vocab",
    "__version__", "evaluate", "load_corpus", "split_lines", "token_logprobs", "tokenize",
]
