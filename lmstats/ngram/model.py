"""``NgramLM``: fit counts once, smooth with any smoother, score whole splits vectorised.

Scoring rule (the same for every smoother, see :mod:`lmstats.ngram.smoothing`): for each
position and each order k = 2..N whose full context exists in the sentence,

    p_k = P_k(h w)                    if the k-gram (h, w) is stored,
        = γ(h) · low                  if only its context h is stored,
        = gamma_unseen · low          otherwise,

starting from the unigram ``p_1 = P_1(w)``; a context shorter than k-1 (the start of a
sentence, KenLM's convention) keeps ``p_{k-1}``.  Words outside the predictable set
(``<s>``, ``<pad>``) get probability 0 whatever the smoother's arithmetic says.  A hash
index per order finds the rows of all positions at once.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.corpus import CorpusSpec, VocabSpec
from lmstats.encoded import EncodedSplit, Lines
from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write
from lmstats.ngram.counts import NgramCounts, OrderTable, build_indexes, count_ngrams, layout, lookup_rows
from lmstats.ngram.smoothing import DEFAULT_ADD_K, Estimate, SmoothingSpec, estimate
from lmstats.protocol import LanguageModel
from lmstats.units import check_mode, scored_units
from lmstats.vocab import Vocab, check_same_vocab

MAX_ORDER = 10
ARPA = "arpa"  # the smoothing label of a model read from an ARPA file: probabilities as stored, not refittable
_FORMAT = "lmstats-ngram"


class NgramLM(LanguageModel):
    """An n-gram language model over a fixed vocabulary (scikit-learn shape: fit -> self).

    ``NgramLM(vocab, order=3, smoothing="mkn")``; ``eps`` (one value or one per order) and
    ``eps_variant`` for ``eps``; ``k`` for ``lidstone``; ``mode`` says how training text is cut
    into units (``sentence`` or ``stream``, as in the evaluator).  Every parameter is checked
    here, so a bad value (or, through :meth:`resmooth`, a misspelt name) fails at once.
    """

    def __init__(
        self,
        vocab: Vocab,
        order: int = 3,
        smoothing: str = "mkn",
        *,
        eps: float | tuple[float, ...] = 1.0,
        eps_variant: str = "recursive",
        k: float = DEFAULT_ADD_K,
        mode: str = "sentence",
        discount_fallback: bool = True,
    ):
        if not isinstance(order, (int, np.integer)) or not 1 <= order <= MAX_ORDER:
            raise LmstatsError(f"n-gram order must be an integer in 1..{MAX_ORDER}, got {order!r}; e.g. --n 3")
        self._vocab = vocab
        self.order = int(order)
        self.smoothing = smoothing
        self.eps = tuple(float(e) for e in eps) if isinstance(eps, (tuple, list)) else eps
        self.eps_variant = eps_variant
        self.k = k
        self.mode = check_mode(mode)
        self.discount_fallback = discount_fallback
        if smoothing != ARPA:
            spec = self._spec()
            if smoothing == "eps":
                spec.eps_for(self.order)  # one ε or one per order

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def _spec(self) -> SmoothingSpec:
        return SmoothingSpec(self.smoothing, self.eps, self.eps_variant, self.k, self.discount_fallback)

    def params(self) -> dict:
        """The constructor's keyword arguments (JSON-ready)."""
        eps = list(self.eps) if isinstance(self.eps, tuple) else self.eps
        return {
            "order": self.order, "smoothing": self.smoothing, "eps": eps, "eps_variant": self.eps_variant,
            "k": self.k, "mode": self.mode, "discount_fallback": self.discount_fallback,
        }

    # -- fitting --------------------------------------------------------------------------
    def fit(self, train: EncodedSplit, on_order: Callable[[int], None] | None = None) -> NgramLM:
        """Count the training split (cut into units by ``mode``) and smooth.

        ``on_order(k)`` is called as each order is counted (progress reporting).
        """
        if self.smoothing == ARPA:
            raise LmstatsError("a model read from an ARPA file has no counts to refit; fit a new NgramLM with a smoother")
        check_same_vocab(self.vocab, train.vocab, "the training split", "encode it with the model's vocab", against="the model")
        units = scored_units(train, self.mode)
        if units.n_tokens == 0:
            raise LmstatsError("the training split has no tokens; give a larger corpus")
        self.counts_ = count_ngrams(units, self.order, len(self.vocab), self.vocab.bos_id, on_order)
        self.estimate_ = estimate(self.counts_, self._spec(), self.vocab.predictable_mask)
        self.n_train_tokens_ = units.n_tokens
        return self

    @classmethod
    def from_estimate(cls, vocab: Vocab, counts: NgramCounts, est: Estimate, *, n_train_tokens: int = 0, **params) -> NgramLM:
        """A fitted model from its count tables and probabilities (a saved model, an ARPA file)."""
        model = cls(vocab, counts.order, **params)
        model.counts_ = counts
        model.estimate_ = est
        model.n_train_tokens_ = n_train_tokens
        return model

    def resmooth(self, **params) -> NgramLM:
        """A copy with other smoothing parameters, reusing the fitted counts (no recount)."""
        return self.with_order(self.order, **params)

    def with_order(self, order: int, **params) -> NgramLM:
        """A model of a lower ``order`` (and other smoothing ``params``) from these counts.

        The count tables of orders 1..order are exactly what fitting that order would count,
        so a comparison over orders counts the text once.  ``params`` are constructor
        arguments; an unknown name is a ``TypeError``, a bad value an :class:`LmstatsError`.
        """
        self.check_fitted()
        if self.smoothing == ARPA:
            raise LmstatsError("a model read from an ARPA file has no counts to smooth again")
        if not 1 <= order <= self.order:
            raise LmstatsError(f"order must be in 1..{self.order} (the fitted order), got {order}")
        kwargs = {k: v for k, v in self.params().items() if k != "order"} | params
        counts = self.counts_
        sliced = NgramCounts(counts.vocab_size, counts.bos_id, counts.tables[:order], counts.n_units)
        model = NgramLM(self.vocab, order, **kwargs)
        return NgramLM.from_estimate(self.vocab, sliced, estimate(sliced, model._spec(), self.vocab.predictable_mask),
                                     n_train_tokens=self.n_train_tokens_, **kwargs)

    def check_fitted(self) -> None:
        if not hasattr(self, "estimate_"):
            raise LmstatsError("this n-gram model is not fitted; call fit(train) or load a saved model")

    @property
    def is_distribution(self) -> bool:
        self.check_fitted()
        return self.estimate_.is_distribution

    # -- scoring --------------------------------------------------------------------------
    def build_index(self) -> NgramLM:
        """Build the hash lookup tables scoring uses now (otherwise done at the first scoring call)."""
        self.check_fitted()
        self._indexes()
        return self

    def _indexes(self):
        """Hash indexes of the count tables, built once per fitted or loaded model."""
        if getattr(self, "_index_cache", (None, None))[0] is not self.counts_:
            self._index_cache = (self.counts_, build_indexes(self.counts_))
        return self._index_cache[1]

    def logprobs_lines(self, units: Lines) -> NDArray[np.float64]:
        """ln P of every token of every unit, each unit scored from ``<s>``; shape (n_tokens,)."""
        self.check_fitted()
        est = self.estimate_
        if len(units.ids) and (units.ids.min() < 0 or units.ids.max() >= len(self.vocab)):
            raise LmstatsError("token ids outside the model's vocabulary; encode the text with the model's vocab")
        pos = layout(units, self.vocab.bos_id)
        rows = lookup_rows(self.counts_, pos, self._indexes())
        ids = pos.ids
        mask = self.vocab.predictable_mask
        p = est.probs[0][ids]
        p1 = p.copy() if est.low == "unigram" else None
        uniform = 1.0 / mask.sum()
        # Only the positions whose full context of order k exists change at order k.  For the
        # interpolated smoothers (gamma_unseen = 1, recursive), a context that is not stored
        # leaves p as it is, so only positions with a stored context are touched.
        plain = est.gamma_unseen == 1.0 and est.low == "lower"
        for k in range(2, self.order + 1):
            ctx_rows = rows[k - 2]
            if plain:
                at = np.flatnonzero(ctx_rows[:-1] >= 0) + 1
            else:
                at = np.flatnonzero(pos.depth >= k - 1)
            if len(at) == 0:
                continue
            h = ctx_rows[at - 1]
            g = rows[k - 1][at]
            gamma = np.where(h >= 0, est.backoffs[k - 2][np.maximum(h, 0)], est.gamma_unseen)
            low = p[at] if est.low == "lower" else (p1[at] if est.low == "unigram" else uniform)
            p[at] = np.where(g >= 0, est.probs[k - 1][np.maximum(g, 0)], gamma * low)
        p[~mask[ids]] = 0.0  # <s>/<pad> are never predicted (add-k's uniform part would give them mass)
        with np.errstate(divide="ignore"):
            return np.log(p[pos.scored])

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]); shape (T,)."""
        return self.logprobs_lines(Lines.single(ids))

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path, *, corpus: CorpusSpec | None = None, vocab_spec: VocabSpec | None = None) -> None:
        """Compact binary save: numpy arrays in an uncompressed .npz, loaded without parsing.

        ``corpus``/``vocab_spec``: how the training text and vocabulary were made; stored so
        that ``lmstats ngram --load`` can score the same corpus without being told again.
        """
        self.check_fitted()
        est = self.estimate_
        meta = {
            "format": _FORMAT, "version": 1, "params": self.params(), "vocab": self.vocab.to_dict(),
            "low": est.low, "gamma_unseen": est.gamma_unseen, "is_distribution": est.is_distribution,
            "discounts": {str(k): v for k, v in est.discounts.items()}, "warnings": list(est.warnings),
            "n_units": self.counts_.n_units, "n_train_tokens": self.n_train_tokens_,
            "corpus": corpus.to_dict() if corpus else None, "vocab_spec": vocab_spec.to_dict() if vocab_spec else None,
        }
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
        for t in self.counts_.tables:
            k = t.order
            arrays.update({f"keys{k}": t.keys, f"counts{k}": t.counts, f"suffix{k}": t.suffix, f"first{k}": t.first,
                           f"prob{k}": est.probs[k - 1]})
            if k < self.order:
                arrays[f"backoff{k}"] = est.backoffs[k - 1]
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        """A model written by :meth:`save`; ``corpus_spec_``/``vocab_spec_`` say what it was trained on (or None)."""
        path = Path(path)
        if not path.is_file():
            raise LmstatsError(f"{path}: no such model file")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                if meta.get("format") != _FORMAT:
                    raise KeyError("format")
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError):
            raise LmstatsError(f"{path}: not an lmstats n-gram model, or truncated; refit and save it again") from None
        vocab = Vocab.from_dict(meta["vocab"], source=str(path))
        params = meta["params"]
        order = params.pop("order")
        missing = [name for k in range(1, order + 1) for name in (f"keys{k}", f"counts{k}", f"suffix{k}", f"first{k}", f"prob{k}")
                   + ((f"backoff{k}",) if k < order else ()) if name not in arrays]
        if missing:
            raise LmstatsError(f"{path}: the model file lacks the arrays {', '.join(missing)}; "
                               "it is truncated or not ours — refit and save it again")
        tables = tuple(OrderTable(k, arrays[f"keys{k}"], arrays[f"counts{k}"], arrays[f"suffix{k}"], arrays[f"first{k}"])
                       for k in range(1, order + 1))
        est = Estimate(tuple(arrays[f"prob{k}"] for k in range(1, order + 1)), tuple(arrays[f"backoff{k}"] for k in range(1, order)),
                       meta["low"], meta["gamma_unseen"], meta["is_distribution"], {int(k): v for k, v in meta["discounts"].items()},
                       tuple(meta["warnings"]))
        model = cls.from_estimate(vocab, NgramCounts(len(vocab), vocab.bos_id, tables, meta["n_units"]), est,
                                  n_train_tokens=meta["n_train_tokens"], **params)
        model.corpus_spec_ = CorpusSpec.from_dict(meta["corpus"]) if meta.get("corpus") else None
        model.vocab_spec_ = VocabSpec.from_dict(meta["vocab_spec"]) if meta.get("vocab_spec") else None
        return model

    def describe(self) -> dict:
        """Parameters and fitted facts (JSON-ready); ``discounts`` only for the discounting smoothers."""
        self.check_fitted()
        out = self.params() | {"ngrams_per_order": [len(t) for t in self.counts_.tables]}
        if self.smoothing != "eps":
            out.pop("eps")
            out.pop("eps_variant")
        if self.smoothing != "lidstone":
            out.pop("k")
        if self.estimate_.discounts:
            out["discounts"] = {str(k): v for k, v in self.estimate_.discounts.items()}
        return out | {"is_distribution": self.estimate_.is_distribution, "warnings": list(self.estimate_.warnings)}
