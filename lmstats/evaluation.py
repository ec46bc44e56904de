"""One evaluator for every model: sufficient statistics, then perplexity.

:func:`evaluate` scores the units of a split (see :func:`lmstats.units.scored_units`: one
per non-empty line in ``sentence`` mode, one stream in ``stream`` mode), keeps sums, and
derives everything else from them, so results add up across splits and models:

* ``nll_sum = -Σ ln P``, ``n_tokens`` (every scored token, ``</s>`` included),
* ``n_oov`` (tokens equal to ``<unk>``), ``n_zero`` (tokens the model gave probability 0),
* ``ppl = exp(nll_sum / n_tokens)``, ``ppl_no_oov`` (KenLM's "excluding OOVs": ``<unk>``
  tokens dropped from both sums), ``bits_per_token = nll_sum / n_tokens / ln 2``,
* ``n_chars``, ``n_bytes``: the size of the scored text (see :func:`lmstats.units.scored_text_size`:
  its characters, one line break per ``</s>``), so ``bits_per_char = nll_sum / n_chars / ln 2``
  and ``bits_per_byte`` compare word, subword and char models of one text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import EncodedSplit, Lines
from lmstats.errors import LmstatsError
from lmstats.jsonable import jsonable
from lmstats.protocol import LanguageModel
from lmstats.units import scored_text_size, scored_units
from lmstats.vocab import check_same_vocab


@dataclass(frozen=True)
class EvalResult:
    split: str
    mode: str
    n_units: int  # sequences scored: sentences, or 1 stream
    n_tokens: int
    n_oov: int
    n_zero: int
    nll_sum: float
    nll_sum_no_oov: float
    n_chars: int | None = None  # characters of the scored text (None: unknown)
    n_bytes: int | None = None  # its UTF-8 bytes

    @property
    def ppl(self) -> float:
        return math.exp(self.nll_sum / self.n_tokens) if math.isfinite(self.nll_sum) else math.inf

    @property
    def ppl_no_oov(self) -> float:
        n = self.n_tokens - self.n_oov
        if n == 0:
            return math.nan
        return math.exp(self.nll_sum_no_oov / n) if math.isfinite(self.nll_sum_no_oov) else math.inf

    @property
    def bits_per_token(self) -> float:
        return self.nll_sum / self.n_tokens / math.log(2)

    @property
    def bits_per_char(self) -> float | None:
        return self.nll_sum / self.n_chars / math.log(2) if self.n_chars else None

    @property
    def bits_per_byte(self) -> float | None:
        return self.nll_sum / self.n_bytes / math.log(2) if self.n_bytes else None

    def to_dict(self) -> dict:
        """All fields and derived figures; non-finite numbers become None (JSON has no inf)."""
        out = asdict(self) | {"ppl": self.ppl, "ppl_no_oov": self.ppl_no_oov, "bits_per_token": self.bits_per_token,
                              "bits_per_char": self.bits_per_char, "bits_per_byte": self.bits_per_byte}
        return jsonable(out)


def token_logprobs(model: LanguageModel, split: EncodedSplit, mode: str) -> tuple[Lines, NDArray[np.float64]]:
    """The scored units of ``split`` and the model's ln P for each of their tokens."""
    if not isinstance(model, LanguageModel):
        raise LmstatsError(
            f"{type(model).__name__} does not implement the LanguageModel protocol (vocab, logprobs, logprobs_lines, "
            "is_distribution, score_text); subclass lmstats.LanguageModel, which supplies all but vocab and logprobs"
        )
    check_same_vocab(split.vocab, model.vocab, "the model", f"encode the {split.name} split with the model's vocab",
                     against=f"the {split.name} split")
    units = scored_units(split, mode)
    lp = np.asarray(model.logprobs_lines(units), dtype=np.float64)
    if lp.shape != units.ids.shape:
        raise LmstatsError(f"{type(model).__name__} returned {lp.shape[0]} log-probabilities for {units.ids.shape[0]} tokens; "
                           "logprobs must give one per token")
    if np.isnan(lp).any() or (lp > 1e-9).any():
        raise LmstatsError(f"{type(model).__name__} returned NaN or positive log-probabilities; logprobs must be ln P <= 0")
    return units, lp


def evaluate(model: LanguageModel, split: EncodedSplit, *, mode: str = "sentence") -> EvalResult:
    """Score ``split`` with ``model`` in ``mode`` (sentence|stream) and reduce to sums."""
    units, lp = token_logprobs(model, split, mode)
    return reduce_logprobs(units, lp, split, mode)


def evaluate_units(model: LanguageModel, split: EncodedSplit, *, mode: str = "sentence"):
    """:func:`evaluate`, and the per-unit sums its bootstrap intervals resample (:func:`lmstats.bootstrap.unit_sums`)."""
    return evaluate_logprobs(*token_logprobs(model, split, mode), split, mode)


def evaluate_logprobs(units: Lines, lp: NDArray[np.float64], split: EncodedSplit, mode: str):
    """:func:`evaluate_units` from ln P already computed (:func:`token_logprobs`), for a caller that keeps them."""
    from lmstats.bootstrap import unit_sums

    return reduce_logprobs(units, lp, split, mode), unit_sums(units, lp, mode)


def reduce_logprobs(units: Lines, lp: NDArray[np.float64], split: EncodedSplit, mode: str) -> EvalResult:
    """The sums of :func:`evaluate` from the scored ``units`` of ``split`` and their ln P ``lp``
    (for callers that keep the per-token values, such as the mixture tuner)."""
    if len(lp) == 0:
        raise LmstatsError(f"the {split.name} split has no tokens to score; give a larger corpus or other split fractions")
    oov = units.ids == split.vocab.unk_id
    n_chars, n_bytes = scored_text_size(split, mode)
    return EvalResult(
        split=split.name,
        mode=mode,
        n_units=len(units),
        n_tokens=int(len(lp)),
        n_oov=int(oov.sum()),
        n_zero=int(np.isneginf(lp).sum()),
        nll_sum=float(-lp.sum()),
        nll_sum_no_oov=float(-lp[~oov].sum()),
        n_chars=n_chars,
        n_bytes=n_bytes,
    )


def evaluate_splits(model: LanguageModel, splits, names: Sequence[str], modes: Sequence[str]) -> dict[str, dict[str, dict]]:
    """``{split: {mode: EvalResult.to_dict() + scoring seconds and tokens/s}}`` for every split and mode.

    ``splits`` maps split names to :class:`EncodedSplit` (a :class:`~lmstats.text.corpus.Splits`).
    """
    out: dict[str, dict[str, dict]] = {}
    for name in names:
        out[name] = {}
        for mode in modes:
            started = time.perf_counter()
            result = evaluate(model, splits[name], mode=mode)
            seconds = time.perf_counter() - started
            out[name][mode] = result.to_dict() | {"seconds": seconds, "tokens_per_s": result.n_tokens / max(seconds, 1e-9)}
    return out
