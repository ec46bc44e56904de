"""The report's cache stage: the best neural model with the neural cache, and the mixture of everything with both caches.

For every mode, two rows:

* ``cache``: the best neural model (lowest validation perplexity) with Grave et al.'s neural cache over its hidden
  states, the window, θ and λ chosen on valid (:func:`~lmstats.neural_cache.tune_neural_cache`);
* ``cache-mixture``: the best n-gram model, that neural model, the unigram cache (its window chosen on valid for this
  mixture, :class:`~lmstats.cache.ChosenCache`) and the neural cache above, interpolated with weights tuned by EM on valid.

Both caches run inside the one evaluator: sentence mode empties them at every line, stream mode keeps them across
lines (so the stream rows are the ones where a cache can remember a whole article).  Nothing is retrained and nothing
is chosen on test.
"""

from __future__ import annotations

import time

from lmstats.cache import ChosenCache
from lmstats.evaluation import evaluate_logprobs, token_logprobs
from lmstats.neural_cache import tune_neural_cache


def cache_rows(cell: str, lm, test_ppl: dict[str, float], best_ngram: dict, splits, modes, say,
               pair_logprobs: dict | None = None) -> list[dict]:
    """The stage's rows (see the module docstring); ``test_ppl``: the neural model's own test perplexity per mode;
    ``pair_logprobs``: per mode, the best n-gram's and the neural model's ln P of valid and test from the mixture stage
    (:func:`~lmstats.report.run.mixture_row`), so that they are not scored again (nor the neural cache's test ln P, kept
    from its own row)."""
    from lmstats.report.run import _row, mixture_row

    rows = []
    for mode in modes:
        say(f"neural cache over the {cell} ({mode} mode): window, theta and lambda on valid")
        t = time.perf_counter()
        cached, valid_ppl = tune_neural_cache(lm, splits.valid, mode)
        test_units, test_lp = token_logprobs(cached, splits.test, mode)  # kept for the mixture below (component 3)
        result, units = evaluate_logprobs(test_units, test_lp, splits.test, mode)
        base = test_ppl[mode]
        rows.append(_row("cache", f"{cell} + neural cache", mode, result, units, order=None, smoothing=None, valid_ppl=valid_ppl,
                         params={"window": cached.window, "theta": cached.theta, "lam": cached.lam}, base_ppl=base,
                         gain_pct=100.0 * (1.0 - result.ppl / base), fit_seconds=time.perf_counter() - t))
        if best_ngram.get(mode) is None:
            continue
        name, ngram = best_ngram[mode]
        say(f"mixing {name}, the {cell}, the unigram cache and the neural cache ({mode} mode)")
        known = {split: dict(lps) for split, lps in (pair_logprobs or {}).get(mode, {}).items()}
        known.setdefault("test", {})[3] = test_lp
        rows.append(mixture_row("cache-mixture", f"{name} + {cell} + caches", [name, cell, "unigram cache", cached.describe()],
                                [ngram, lm, ChosenCache(splits.vocab), cached], splits, mode, known=known)[0])
    return rows
