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

Two scorers apply the rule, with bit-identical results: whole-array numpy
(:mod:`lmstats.ngram.vectorised`) for a model's first :data:`SHORT_POSITIONS` positions, and the
compiled kernel (:mod:`lmstats.ngram.kernel`) beyond, whose start (0.35-0.6 s in a fresh process:
:mod:`lmstats.jit`) only a long text repays; where the install built the kernel's loop in C
(:mod:`lmstats.native`), it scores everything, with nothing to start; numpy scores a model opened from shards.  A
saved model stores its indexes and text table (:mod:`lmstats.ngram.storage`): a short run builds and compiles nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats import native
from lmstats.encoded import EncodedSplit, Lines, reduce_pieces
from lmstats.errors import LmstatsError
from lmstats.ngram.counts import NgramCounts, OrderTable, build_indexes, count_ngrams
from lmstats.ngram.lmplz import lmplz_last_counts
from lmstats.ngram.plan import CountingPlan, plan_counting
from lmstats.ngram.prune import check_thresholds, prune_tables
from lmstats.ngram.smoothing import DEFAULT_ADD_K, Estimate, SmoothingSpec, estimate
from lmstats.ngram.storage import model_meta, read_model, save_model
from lmstats.ngram.vectorised import vectorised_probs
from lmstats.npyfile import release
from lmstats.protocol import LanguageModel
from lmstats.threads import resolve_threads
from lmstats.trained_on import TrainedOn
from lmstats.units import check_mode, scored_units
from lmstats.vocab import Vocab, check_same_vocab

MAX_ORDER = 10
SCORE_CHUNK = 1 << 14  # positions scored at a time by one thread: with the C loop's prefetching no slower than 64K (WikiText-2
#                       x200), and a quarter of the scratch rows (lmstats.ngram.kernel)
SHORT_POSITIONS = 1 << 20  # positions a model scores with numpy before the compiled kernel (lmstats.ngram.vectorised)
ENGINES = ("local", "dask")  # where n-grams are counted: this process (in memory or out of core), or a Dask cluster
ARPA = "arpa"  # the smoothing label of a model read from an ARPA file: probabilities as stored, not refittable


def describe_fit(params: dict, ngrams_per_order: list[int], discounts: dict, is_distribution: bool, warnings) -> dict:
    """:meth:`NgramLM.describe` from its parts (also a saved model's ``meta.json``, read without its arrays)."""
    out = params | {"ngrams_per_order": ngrams_per_order}
    for name, kept in (("eps", params["smoothing"] == "eps"), ("eps_variant", params["smoothing"] == "eps"),
                       ("k", params["smoothing"] == "lidstone"), ("prune_entropy", params.get("prune_entropy")),
                       ("prune", params.get("prune") is not None)):
        if not kept:
            out.pop(name, None)
    if discounts:
        out["discounts"] = {str(k): v for k, v in discounts.items()}
    return out | {"is_distribution": is_distribution, "warnings": list(warnings)}


def _in_memory(counts: NgramCounts) -> NgramCounts:
    """``counts`` with every table read into memory (from files on disk)."""
    return dataclasses.replace(counts, tables=tuple(OrderTable(t.order, *(np.array(a) for a in (t.keys, t.counts, t.suffix, t.first)))
                                                    for t in counts.tables))


class NgramLM(LanguageModel):
    """An n-gram language model over a fixed vocabulary (scikit-learn shape: fit -> self).

    ``NgramLM(vocab, order=3, smoothing="mkn")``; ``eps`` (one value or one per order) and
    ``eps_variant`` for ``eps``; ``k`` for ``lidstone``; ``mode`` says how training text is cut
    into units (``sentence`` or ``stream``, as in the evaluator); ``prune`` (abs, kn, mkn) drops
    the n-grams seen at most T_k times, lmplz's ``--prune`` (:mod:`lmstats.ngram.prune`; kept as
    one threshold per order, None when nothing is pruned); ``prune_entropy`` θ > 0 makes
    :meth:`fit` drop the n-grams whose removal raises the perplexity by a relative amount below θ
    (:mod:`lmstats.ngram.entropy_prune`).  Every parameter is checked here, so a bad value (or,
    through :meth:`resmooth`, a misspelt name) fails at once.
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
        prune: tuple[int, ...] | None = None,
        prune_entropy: float = 0.0,
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
        self.prune = None if prune is None else check_thresholds(prune, self.order, smoothing)
        if smoothing != ARPA:
            spec = self._spec()
            if smoothing == "eps":
                spec.eps_for(self.order)  # one ε or one per order
        self.prune_entropy = self._check_pruning(prune_entropy)

    def _check_pruning(self, theta) -> float:
        """``prune_entropy`` checked: a finite number >= 0, and above 0 only for a smoother whose form ARPA expresses."""
        from lmstats.ngram.entropy_prune import check_theta, prune_refusal

        theta = check_theta(theta)
        why = prune_refusal(self.smoothing, self.eps_variant) if theta > 0 and self.smoothing != ARPA else None
        if why is not None:
            raise LmstatsError(why)
        return theta

    @property
    def vocab(self) -> Vocab:
        return self._vocab

    def _spec(self) -> SmoothingSpec:
        return SmoothingSpec(self.smoothing, self.eps, self.eps_variant, self.k, self.discount_fallback, self.prune)

    def params(self) -> dict:
        """The constructor's keyword arguments (JSON-ready)."""
        eps = list(self.eps) if isinstance(self.eps, tuple) else self.eps
        return {"order": self.order, "smoothing": self.smoothing, "eps": eps, "eps_variant": self.eps_variant, "k": self.k,
                "mode": self.mode, "discount_fallback": self.discount_fallback,
                "prune": None if self.prune is None else list(self.prune), "prune_entropy": self.prune_entropy}

    # -- fitting --------------------------------------------------------------------------
    def fit(self, train: EncodedSplit, on_order: Callable[[int], None] | None = None, *,
            memory: int | None = None, tmp: str | Path | None = None, engine: str = "local", scheduler=None,
            on_plan: Callable[[CountingPlan], None] | None = None) -> NgramLM:
        """Count the training split (cut into units by ``mode``) and smooth.

        ``on_order(k)`` is called as each order is counted (progress reporting).  ``memory``
        (bytes) bounds the counting: when counting in memory would need more (about
        :data:`~lmstats.ngram.plan.IN_MEMORY_BYTES_PER_POSITION` per position), the n-grams are counted out of core
        in a work folder inside ``tmp`` (:mod:`lmstats.ngram.external`); the tables are the same.
        ``engine="dask"`` counts on a Dask cluster instead (:mod:`lmstats.ngram.distributed`):
        ``scheduler`` is its address (``tcp://host:8786``) or a ``distributed.Client``; None starts
        a LocalCluster on this machine.  Every engine gives the same tables, and for the same
        ``memory`` the same estimate.  ``on_plan`` receives the predicted memory and disk
        (:class:`~lmstats.ngram.plan.CountingPlan`) before counting starts; a ``memory`` that
        cannot work raises :class:`LmstatsError` then.  Under ``prune`` the tables kept are those of the
        n-grams above the thresholds, on every path (:mod:`lmstats.ngram.prune`).
        """
        if self.smoothing == ARPA:
            raise LmstatsError("a model read from an ARPA file has no counts to refit; fit a new NgramLM with a smoother")
        if engine not in ENGINES:
            raise LmstatsError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        check_same_vocab(self.vocab, train.vocab, "the training split", "encode it with the model's vocab", against="the model")
        units = scored_units(train, self.mode)
        if units.n_tokens == 0:
            raise LmstatsError("the training split has no tokens; give a larger corpus")
        plan = plan_counting(units.n_tokens + len(units), self.order, memory, tmp)
        self._lmplz_last = lmplz_last_counts(units, self.order, len(self.vocab), self.vocab.bos_id, self.vocab.eos_id) \
            if self.smoothing == "mkn" else {}
        if engine == "dask":  # the plan is reported once the cluster is reached
            self._fit_dask(units, on_order, memory, tmp, scheduler, plan, on_plan)
            self.n_train_tokens_ = units.n_tokens
            return self._pruned_by_entropy()
        if on_plan is not None:
            on_plan(plan)
        if plan.in_memory:
            self.counts_ = self._with_lmplz_last(count_ngrams(units, self.order, len(self.vocab), self.vocab.bos_id, on_order))
            self.estimate_ = estimate(self.counts_, self._spec(), self.vocab.predictable_mask)
            self._prune_tables()
        else:
            self._fit_on_disk(units, on_order, memory, tmp)
        self.n_train_tokens_ = units.n_tokens
        return self._pruned_by_entropy()

    def _with_lmplz_last(self, counts: NgramCounts) -> NgramCounts:
        """``counts`` with the one k-gram per order that lmplz's counts-of-counts take raw (:mod:`lmstats.ngram.lmplz`), for MKN."""
        return dataclasses.replace(counts, lmplz_last=self._lmplz_last)

    def _pruned_by_entropy(self) -> NgramLM:
        """This model, its n-grams pruned by relative entropy when ``prune_entropy`` > 0 (in memory, whatever the engine)."""
        if self.prune_entropy > 0:
            from lmstats.ngram.entropy_prune import prune_tables

            self.counts_, self.estimate_ = prune_tables(self.counts_, self.estimate_, self.vocab, self.prune_entropy)
        return self

    @contextlib.contextmanager
    def _storage(self, tmp) -> Iterator[Path]:
        """A folder of this model's own for its tables on disk (inside ``tmp``), removed with the model, or at
        once when the fit that fills it fails (its disk is then freed now, not when the model is collected)."""
        from lmstats.resources import make_folder

        storage = make_folder("lmstats-model-", tmp)
        weakref.finalize(self, shutil.rmtree, storage, True)
        try:
            yield storage
        except BaseException:
            shutil.rmtree(storage, ignore_errors=True)
            raise

    def _fit_on_disk(self, units: Lines, on_order, memory: int, tmp) -> None:
        """Count out of core; the tables and (for abs/kn/mkn) the estimate are ``.npy`` files in a
        folder of this model's own (inside ``tmp``, removed with the model), memory-mapped."""
        from lmstats.ngram.external import count_ngrams_external
        from lmstats.resources import work_dir

        with self._storage(tmp) as storage:
            with work_dir(tmp) as work:
                self.counts_ = self._with_lmplz_last(count_ngrams_external(
                    units, self.order, len(self.vocab), self.vocab.bos_id, memory=memory, workdir=work, tables_dir=storage,
                    on_order=on_order))
            self._estimate_on_disk(storage, memory)

    def _estimate_on_disk(self, storage: Path, memory: int) -> None:
        from lmstats.ngram.chunked import ON_DISK, estimate_on_disk

        spec = self._spec()
        if spec.name in ON_DISK:
            self.estimate_ = estimate_on_disk(self.counts_, spec, self.vocab.predictable_mask, storage, memory)
        else:  # the other smoothers work on whole arrays: the tables are read into memory
            self.estimate_ = estimate(self.counts_, spec, self.vocab.predictable_mask)
        self._prune_tables(storage, memory)

    def _prune_tables(self, storage: Path | None = None, memory: int | None = None) -> None:
        """Keep the n-grams above the ``prune`` thresholds (in memory, or over the tables in ``storage``)."""
        if self.prune is None:
            return
        from lmstats.ngram.chunked import prune_on_disk

        if storage is None:
            self.counts_, self.estimate_ = prune_tables(self.counts_, self.estimate_, self.prune)
        else:
            self.counts_, self.estimate_ = prune_on_disk(self.counts_, self.estimate_, self.prune, storage, memory)

    def _fit_dask(self, units: Lines, on_order, memory: int | None, tmp, scheduler, plan: CountingPlan, on_plan) -> None:
        """Count on a Dask cluster.  For the smoothers the cluster estimates (:mod:`lmstats.ngram.cluster_estimate`: abs, kn, mkn,
        wb, unpruned) the workers smooth their key ranges and write them as a sharded model (:mod:`lmstats.ngram.shards`), which
        this model opens; otherwise the tables are gathered here and estimated as the local engine would with the same
        ``memory`` (in memory when the tables fit, else on disk).  Every path gives the local engine's estimate."""
        from lmstats.ngram import shards
        from lmstats.ngram.cluster_estimate import CLUSTER_SMOOTHERS, estimate_on_cluster
        from lmstats.ngram.dask_cluster import dask_client
        from lmstats.ngram.distributed import count_on_cluster, gather_tables, scatter_units
        from lmstats.resources import parse_memory, work_dir

        budget = parse_memory(None) if memory is None else memory
        on_cluster = self.smoothing in CLUSTER_SMOOTHERS and self.prune is None
        self.n_train_tokens_ = units.n_tokens
        V, bos = len(self.vocab), self.vocab.bos_id
        with self._storage(tmp) as storage:
            with work_dir(tmp) as work, dask_client(scheduler, local_directory=work) as client:
                if on_plan is not None:
                    on_plan(plan)
                tables = count_on_cluster(scatter_units(client, units), len(units), self.order, V, bos, client=client, memory=budget,
                                          on_order=on_order)
                if on_cluster:
                    est = estimate_on_cluster(client, tables, self._spec(), self.vocab.predictable_mask, self._lmplz_last)
                    shards.write_sharded(client, est, storage / "model", model_meta(self, est.facts(), len(units), self._lmplz_last))
                else:
                    counts = gather_tables(client, tables, storage)
                del tables
            if on_cluster:  # the shards joined into one file per array here, memory-mapped (read into memory if the plan says so)
                shards.join_shards(storage / "model", storage / "joined")
                shutil.rmtree(storage / "model")
                opened = read_model(storage / "joined")
                self.counts_, self.estimate_ = opened.counts, opened.estimate
                if plan.in_memory:
                    self.counts_ = _in_memory(self.counts_)
                    est = self.estimate_
                    self.estimate_ = dataclasses.replace(est, probs=tuple(np.array(p) for p in est.probs),
                                                         backoffs=tuple(np.array(b) for b in est.backoffs))
                    shutil.rmtree(storage, ignore_errors=True)
            elif plan.in_memory:
                self.counts_ = self._with_lmplz_last(_in_memory(counts))
                self.estimate_ = estimate(self.counts_, self._spec(), self.vocab.predictable_mask)
                self._prune_tables()
                shutil.rmtree(storage, ignore_errors=True)
            else:
                self.counts_ = self._with_lmplz_last(counts)
                self._estimate_on_disk(storage, budget)

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
        if self.counts_.tables[0].counts is None:
            raise LmstatsError("a query-only model keeps no counts to smooth again; load the full model (saved without --query-only)")
        if self.prune is not None or self.prune_entropy > 0:
            how = "by relative entropy" if self.prune_entropy > 0 else "by count thresholds"
            raise LmstatsError(f"a model pruned {how} keeps the counts of its kept n-grams only, which do not give the smoother's "
                               "estimate, so it cannot be smoothed again or cut to a lower order; fit again from the corpus with "
                               "the order, smoothing and pruning wanted")
        if not 1 <= order <= self.order:
            raise LmstatsError(f"order must be in 1..{self.order} (the fitted order), got {order}")
        kwargs = {k: v for k, v in self.params().items() if k != "order"} | params
        counts = self.counts_
        sliced = NgramCounts(counts.vocab_size, counts.bos_id, counts.tables[:order], counts.n_units,
                             {k: v for k, v in counts.lmplz_last.items() if k < order})
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
        self.indexes()
        return self

    def indexes(self) -> list:
        """The lookup of each order's n-grams (None for order 1, whose row is the word id; then a
        :class:`~lmstats.ngram.counts.KeyIndex` or :class:`~lmstats.ngram.counts.SortedIndex` per order):
        stored with a saved model, else built once (:func:`~lmstats.ngram.counts.build_indexes`)."""
        if getattr(self, "_indexes_of", None) is not self.counts_:
            self._indexes, self._indexes_of = build_indexes(self.counts_), self.counts_
        return self._indexes

    def text_encoder(self):
        """The :class:`~lmstats.text.scan.TextEncoder` of this model's vocabulary (stored with a saved model, else built once):
        ``model.text_encoder()(text)`` gives the :class:`Lines` of a text read as KenLM's ``query`` reads it."""
        from lmstats.text.scan import TextEncoder

        if getattr(self, "_encoder", None) is None or self._encoder.vocab is not self.vocab:
            self._encoder = TextEncoder(self.vocab)
        return self._encoder

    def is_sharded(self) -> bool:  # opened from shards (lmstats.ngram.sharded_array): the kernel takes whole tables
        return any(not isinstance(a, np.ndarray) for a in (*(t.keys for t in self.counts_.tables), *self.estimate_.probs))

    def _scorer(self):
        """The compiled :class:`~lmstats.ngram.kernel.Scorer` of this model, made once per set of indexes."""
        from lmstats.ngram.kernel import Scorer  # numba is imported when the kernel first runs

        indexes = self.indexes()
        if getattr(self, "_scorer_of", None) is not indexes:
            self._kernel = Scorer(self.counts_.tables, indexes, self.estimate_, len(self.vocab), self.vocab.bos_id,
                                  self.vocab.predictable_mask)
            self._scorer_of = indexes
        return self._kernel

    def logprobs_lines(self, units: Lines, *, threads: int | None = None) -> NDArray[np.float64]:
        """ln P of every token of every unit, each unit scored from ``<s>``; shape (n_tokens,).

        The first :data:`SHORT_POSITIONS` positions (tokens and one ``<s>`` per unit) a model scores go through
        whole-array numpy (:mod:`lmstats.ngram.vectorised`), with no compiler in the process; after them the
        compiled kernel (:mod:`lmstats.ngram.kernel`) scores in pieces of :data:`SCORE_CHUNK` positions on
        ``threads`` threads (default: :func:`lmstats.threads.resolve_threads` of the pieces, ``LMSTATS_THREADS``
        to change it).  The numbers depend on none of these.  Memory does not grow with the text beyond the output.
        """
        self.check_fitted()
        extremes = reduce_pieces(units.ids, lambda part: (part.min(), part.max()) if len(part) else (0, 0))
        if len(units.ids) and (min(lo for lo, _ in extremes) < 0 or max(hi for _, hi in extremes) >= len(self.vocab)):
            raise LmstatsError("token ids outside the model's vocabulary; encode the text with the model's vocab")
        positions = units.n_tokens + len(units)
        self._numpy_positions = getattr(self, "_numpy_positions", 0) + positions
        if self._numpy_positions <= SHORT_POSITIONS and not native.available() or self.is_sharded():  # the C loop starts at once
            p = vectorised_probs(self.counts_, self.indexes(), self.estimate_, units, self.vocab.bos_id, self.vocab.predictable_mask,
                                 SCORE_CHUNK)
        else:
            self._numpy_positions = SHORT_POSITIONS + 1  # the kernel from now on: numba's start is paid
            threads = resolve_threads(threads, parts=-(-positions // SCORE_CHUNK))
            chunk = min(SCORE_CHUNK, -(-positions // threads))  # a text of a few chunks shared evenly between the threads
            p = self._scorer().probs(units, chunk, threads)
        release(*(t.keys for t in self.counts_.tables), *self.estimate_.probs, *self.estimate_.backoffs)  # bounded resident memory
        release(*(ix.slots for ix in self.indexes() if hasattr(ix, "slots")), units.ids)
        with np.errstate(divide="ignore"):
            return np.log(p, out=p)

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]); shape (T,)."""
        return self.logprobs_lines(Lines.single(ids))

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path, *, trained_on: TrainedOn | None = None, query_only: bool = False) -> None:
        """Write the model (:mod:`lmstats.ngram.storage`): a folder of plain ``.npy`` arrays and ``meta.json``
        (opened memory-mapped, see :meth:`load`), or one ``.npz`` file when ``path`` ends with ``.npz``.

        ``trained_on``: the corpus, vocabulary options, data folder and subword pieces of the training text,
        stored so that a saved model is scored on its own corpus without being told again.
        ``query_only``: leave out the builder's arrays (counts, suffix rows, first words), as KenLM's
        ``build_binary`` keeps only what ``query`` needs; such a model scores and writes ARPA but cannot be
        smoothed again.  Arrays already on disk are hard-linked, not copied.
        """
        self.check_fitted()
        save_model(self, path, trained_on=trained_on, query_only=query_only)

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        """A model written by :meth:`save`; ``trained_on_`` says what it was trained on (or None).

        A model folder is opened memory-mapped (nothing is read until it is scored) with its stored indexes and text
        table, so nothing is built; a missing, truncated or damaged array is an error naming it.
        """
        opened = read_model(path)
        params = {k: v for k, v in opened.meta["params"].items() if k != "order"}
        model = cls.from_estimate(opened.vocab, opened.counts, opened.estimate, n_train_tokens=opened.meta["n_train_tokens"], **params)
        model.trained_on_ = opened.trained_on
        if opened.indexes is not None:
            model._indexes, model._indexes_of = opened.indexes, model.counts_
        model._encoder = opened.encoder
        return model

    def describe(self) -> dict:
        """Parameters and fitted facts (JSON-ready); ``discounts`` only for the discounting smoothers."""
        self.check_fitted()
        est = self.estimate_
        return describe_fit(self.params(), [len(t) for t in self.counts_.tables], est.discounts, est.is_distribution, est.warnings)
