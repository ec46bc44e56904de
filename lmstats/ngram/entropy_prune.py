"""Relative-entropy pruning of a backoff n-gram model (Stolcke 1998, "Entropy-based pruning of
backoff language models"; SRILM's ``ngram -prune θ``).

The model is taken in its backoff (ARPA) form: the probability ``P(w | h)`` of every stored n-gram
and the backoff weight ``α(h)`` of every stored context, ``p(w | h) = α(h) · p(w | h')`` for a word
``w`` not stored after ``h`` (``h'`` is ``h`` without its first word).  That is how lmstats scores
every smoother whose form ARPA can express (:func:`lmstats.ngram.arpa.arpa_refusal`); the others
are refused with the reason.

**The criterion.**  Removing one stored n-gram ``(h, w)`` of order >= 2 changes the distribution
after ``h`` only: ``w`` backs off to ``α'(h) · P(w | h')``, and so does every word ``v`` already
backed off, with the new weight

    α'(h) = (N(h) + P(w | h)) / (D(h) + P(w | h')),  N(h) = 1 - Σ_S P(v | h),  D(h) = 1 - Σ_S P(v | h')

(``S``: the words stored after ``h``; ``N(h)`` is the mass of the words backed off).  The relative
entropy of the original model to the pruned one is then, in nats,

    ΔH = -p(h) · [ P(w | h) · (ln P(w | h') + ln α'(h) - ln P(w | h)) + N(h) · (ln α'(h) - ln α(h)) ].

``p(h)`` is the marginal probability of the history, from the model itself by the chain rule
(``p(h₁) p(h₂ | h₁) ...``, each factor the model's stored probability of a prefix of ``h``); a
history that starts with ``<s>`` takes ``p(</s>)`` for its first word, whose own unigram
probability is 0 (SRILM does both).  An n-gram is dropped when ``exp(ΔH) - 1 < θ``: the relative
increase of the model's perplexity (on its own distribution) that its removal alone would cause,
which is what θ means to SRILM (for the θ used in practice, 1e-9 to 1e-6, the bound on ΔH is θ
itself to within θ²/2).  θ = 0 prunes nothing.  Unigrams are never pruned.

Every n-gram is judged against the original model and the dropped ones are removed at once
(SRILM judges order by order from the highest, but what it reads for an order is never changed
by pruning the orders above).  An n-gram is kept, whatever its ΔH, when it is the context
(prefix) of a kept n-gram one order up (SRILM's rule: a context whose n-grams remain is not
removed) or its suffix: lmstats backs off from an n-gram to its suffix and its ARPA reader requires
it (SRILM leaves such holes; KenLM fills them in when it loads the file).  Keeping an n-gram
changes no probability.  The backoff weights are then recomputed for the contexts that lost
n-grams, ``α'(h) = (1 - Σ_kept P(v | h)) / (1 - Σ_kept P(v | h'))``, so that every context still sums
to 1 (the other contexts keep their weights: the stored suffixes they back off to are kept).

Everything is whole-table numpy arithmetic: one pass per order, no loop over n-grams.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from lmstats.errors import LmstatsError
from lmstats.ngram.arpa import arpa_refusal
from lmstats.ngram.counts import NgramCounts, OrderTable
from lmstats.ngram.model import NgramLM
from lmstats.ngram.smoothing import Estimate
from lmstats.vocab import Vocab

EXAMPLE_THETA = "1e-8"  # a typical threshold, for messages


def check_theta(theta) -> float:
    """``theta`` as a float, or an :class:`LmstatsError` unless it is a finite number >= 0."""
    try:
        value = float(theta)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise LmstatsError(f"the relative-entropy pruning threshold must be a finite number >= 0, got {theta!r}: it is the "
                           f"largest relative increase in perplexity that removing one n-gram may cause (SRILM's -prune); "
                           f"e.g. {EXAMPLE_THETA}, or 0 to prune nothing")
    return value


def prune_refusal(smoothing: str, eps_variant: str = "recursive") -> str | None:
    """Why a model of this smoothing cannot be pruned by relative entropy (None if it can)."""
    why = arpa_refusal(smoothing, eps_variant)
    if why is None:
        return None
    return (f"relative-entropy pruning removes n-grams from a backoff model (ARPA's form), and the {smoothing} model does not "
            f"have that form ({why}); use --smoothing mkn, kn, abs, wb or the recursive eps")


def prune_entropy(model: NgramLM, theta: float) -> NgramLM:
    """A new fitted model: ``model`` without the n-grams whose removal raises its perplexity by a
    relative amount below ``theta``, backoff weights recomputed (see the module docstring).

    The new model records ``prune_entropy=theta`` (the larger θ when ``model`` was pruned already),
    keeps the counts of the n-grams left (so it saves as a folder or ``.npz`` and writes ARPA) and
    refuses to be smoothed again.  ``model`` is not changed.
    """
    model.check_fitted()
    theta = check_theta(theta)
    why = prune_refusal(model.smoothing, model.eps_variant) if model.smoothing != "arpa" else None
    if why is not None:
        raise LmstatsError(why)
    counts, est = prune_tables(model.counts_, model.estimate_, model.vocab, theta)
    params = {k: v for k, v in model.params().items() if k != "order"}
    params["prune_entropy"] = max(theta, params.get("prune_entropy", 0.0))
    pruned = NgramLM.from_estimate(model.vocab, counts, est, n_train_tokens=model.n_train_tokens_, **params)
    if hasattr(model, "trained_on_"):
        pruned.trained_on_ = model.trained_on_
    return pruned


def prune_tables(counts: NgramCounts, est: Estimate, vocab: Vocab, theta: float) -> tuple[NgramCounts, Estimate]:
    """The count tables and estimate left by pruning at ``theta`` (what :func:`prune_entropy` and
    :meth:`NgramLM.fit` with ``prune_entropy`` use)."""
    _check_backoff_form(counts, est)
    tables = _Tables(counts, est, vocab)
    keep = _kept(tables, entropy_increases_of(tables), theta)
    return _remove(tables, keep)


def entropy_increases(model: NgramLM) -> list[NDArray[np.float64]]:
    """ΔH (nats) of removing each stored n-gram alone, one array per order 2..N (``out[k - 2][row]``)."""
    model.check_fitted()
    _check_backoff_form(model.counts_, model.estimate_)
    return entropy_increases_of(_Tables(model.counts_, model.estimate_, model.vocab))


def _check_backoff_form(counts: NgramCounts, est: Estimate) -> None:
    if est.low != "lower" or est.gamma_unseen != 1.0 or not est.is_distribution:
        raise LmstatsError("relative-entropy pruning needs a backoff model that backs off to the next-lower order with weight 1 "
                           "for unseen contexts (ARPA's form); use --smoothing mkn, kn, abs, wb or the recursive eps")
    if any(t.suffix is None for t in counts.tables[1:]):
        raise LmstatsError("a query-only model keeps no suffix rows, which relative-entropy pruning needs; prune the full model "
                           "(saved without --query-only)")


class _Tables:
    """The arrays pruning reads, per order k (index k - 1), read into memory once: stored probability
    ``P``, backoff weight ``alpha`` (orders < N), and for k >= 2 the context row ``ctx``, word ``word``,
    suffix row ``suffix`` and the lower-order probability ``low`` = P(w | h') of every k-gram."""

    def __init__(self, counts: NgramCounts, est: Estimate, vocab: Vocab):
        self.counts, self.est, self.vocab = counts, est, vocab
        V = counts.vocab_size
        self.order = counts.order
        self.P = [np.asarray(p, dtype=np.float64) for p in est.probs]
        self.alpha = [np.asarray(b, dtype=np.float64) for b in est.backoffs]
        self.ctx, self.word, self.suffix, self.low = [None], [None], [None], [None]
        for k in range(2, self.order + 1):
            keys = np.asarray(counts.table(k).keys)
            word = keys % V
            suffix = word if k == 2 else np.asarray(counts.table(k).suffix)
            self.ctx.append(keys // V)
            self.word.append(word)
            self.suffix.append(suffix)
            self.low.append(self.P[k - 2][suffix])  # the suffix is stored: its probability is P(w | h')

    def context_sums(self, k: int, values: NDArray, select: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
        """Σ of ``values`` over the k-grams (those of ``select``) of each context, by the context's row."""
        ctx = self.ctx[k - 1]
        if select is not None:
            ctx, values = ctx[select], values[select]
        return np.bincount(ctx, weights=values, minlength=len(self.P[k - 2]))

    def log_history(self) -> list[NDArray[np.float64]]:
        """ln p(h) of every stored n-gram of orders 1..N-1 as a history (chain rule; ``<s>`` first takes p(</s>))."""
        with np.errstate(divide="ignore"):
            first = np.log(self.P[0])
        first[self.vocab.bos_id] = first[self.vocab.eos_id]
        out = [first]
        for k in range(2, self.order):
            with np.errstate(divide="ignore"):
                out.append(out[-1][self.ctx[k - 1]] + np.log(self.P[k - 1]))
        return out


def entropy_increases_of(tables: _Tables) -> list[NDArray[np.float64]]:
    """ΔH of removing each k-gram alone (k = 2..N), everything read from the original model."""
    log_history = tables.log_history()
    out = []
    for k in range(2, tables.order + 1):
        ctx, P, low = tables.ctx[k - 1], tables.P[k - 1], tables.low[k - 1]
        backed_off = np.maximum(1.0 - tables.context_sums(k, P), 0.0)[ctx]  # N(h), rounding below 0 taken as 0
        low_rest = np.maximum(1.0 - tables.context_sums(k, low), 0.0)[ctx]  # D(h)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_new_alpha = np.log(backed_off + P) - np.log(low_rest + low)
            shift = np.where(backed_off > 0, backed_off * (log_new_alpha - np.log(tables.alpha[k - 2][ctx])), 0.0)
            inner = P * (np.log(low) + log_new_alpha - np.log(P)) + shift
            delta = -np.exp(log_history[k - 2][ctx]) * inner
        out.append(np.maximum(np.nan_to_num(delta, nan=0.0), 0.0))  # D(p || p') >= 0; -0.0 and rounding below 0 read as 0
    return out


def _kept(tables: _Tables, increases: list[NDArray[np.float64]], theta: float) -> list[NDArray[np.bool_]]:
    """Which n-grams of each order stay: those at or above the threshold, and the contexts and suffixes of the
    n-grams that stay one order up (from the highest order down, so a kept n-gram keeps its whole chain)."""
    keep = [np.ones(len(tables.P[0]), dtype=bool)]
    keep += [~(np.expm1(d) < theta) if theta > 0 else np.ones(len(d), dtype=bool) for d in increases]
    for k in range(tables.order, 2, -1):
        stays = keep[k - 1]
        keep[k - 2][tables.ctx[k - 1][stays]] = True
        keep[k - 2][tables.suffix[k - 1][stays]] = True
    return keep


def _remove(tables: _Tables, keep: list[NDArray[np.bool_]]) -> tuple[NgramCounts, Estimate]:
    """The tables and estimate of the kept n-grams: rows renumbered (keys hold their context's row),
    backoff weights recomputed where a context lost n-grams."""
    counts, est = tables.counts, tables.est
    V = counts.vocab_size
    new_row = [np.arange(V, dtype=np.int64)]
    out_tables = [counts.table(1)]
    probs = [tables.P[0]]
    alphas = [a.copy() for a in tables.alpha]
    for k in range(2, tables.order + 1):
        stays = keep[k - 1]
        rows = np.flatnonzero(stays)
        new_row.append(np.cumsum(stays, dtype=np.int64) - 1)
        table = counts.table(k)
        keys = new_row[k - 2][tables.ctx[k - 1][rows]] * V + tables.word[k - 1][rows]
        suffix = tables.word[k - 1][rows] if k == 2 else new_row[k - 2][tables.suffix[k - 1][rows]]
        builder = [None if a is None else np.asarray(a)[rows] for a in (table.counts, table.first)]
        out_tables.append(OrderTable(k, keys, builder[0], suffix, builder[1]))
        probs.append(tables.P[k - 1][rows])
        lost = tables.context_sums(k, np.ones(len(stays)), ~stays) > 0
        if lost.any():
            mass = 1.0 - tables.context_sums(k, tables.P[k - 1], stays)
            low_mass = 1.0 - tables.context_sums(k, tables.low[k - 1], stays)
            alphas[k - 2][lost] = mass[lost] / low_mass[lost]
    backoffs = [alphas[j][keep[j]] for j in range(tables.order - 1)]
    pruned = NgramCounts(V, counts.bos_id, tuple(out_tables), counts.n_units, counts.lmplz_last)
    return pruned, Estimate(tuple(probs), tuple(backoffs), est.low, est.gamma_unseen, est.is_distribution, est.discounts,
                            est.warnings)
