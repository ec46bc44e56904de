"""The n-gram engine: vectorised counting, the smoothing family, ARPA and binary files."""

from lmstats.ngram.counts import NgramCounts, count_ngrams
from lmstats.ngram.model import NgramLM
from lmstats.ngram.smoothing import SMOOTHERS, SmoothingSpec

__all__ = ["SMOOTHERS", "NgramCounts", "NgramLM", "SmoothingSpec", "count_ngrams"]
