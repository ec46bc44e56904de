"""``CompactNgramLM``: an n-gram model stored as a bit-packed trie with quantised values, opened memory-mapped.

The layout is KenLM's trie (``lm/trie.cc``) over lmstats' own tables.  The table of order k is
sorted by the packed key ``row(context) * V + word``, so the k-grams that extend one (k-1)-gram
are contiguous; the trie keeps, per order, one bit-packed record per row
(:mod:`lmstats.ngram.bitpack`):

* the word's code (``ceil(log2 V)`` bits, a bijection of the word id that spreads a context's
  children evenly, :func:`~lmstats.ngram.compact_kernel.word_code`; none for unigrams, whose row
  is the word id);
* the probability's code and the backoff weight's code (:mod:`lmstats.ngram.quantize`:
  KenLM's ``build_binary -q BITS -b BITS`` binning, one codebook per order; unigram values and
  an unquantised model's values are float64 arrays indexed by row instead);
* below the highest order, where the row's children start in the next order, as a sampled
  pointer: the field is the distance from a base kept whole every 2^shift rows
  (:func:`~lmstats.ngram.bitpack.sample_pointers`; KenLM's "bhiksha" keeps fewer bits and pays
  a binary search per lookup), with one record more than rows so that a row's end is the next
  row's start.

A k-gram is found from its context's row: the context's children range, then an interpolation
search of the word's code among them, as KenLM's trie does (:mod:`lmstats.ngram.compact_kernel`: in C where
the install built :mod:`lmstats.native`'s loops, else numba).
``bits=None`` keeps the values exact (float64 per row: the trie layout alone).  Written by
``lmstats ngram ... --quantize BITS`` (or ``--compact``), opened by :func:`lmstats.load`,
``lmstats score`` and ``lmstats ngram --load``.  The scoring rule is exactly
:class:`~lmstats.ngram.model.NgramLM`'s (an unquantised compact model scores bit for bit as the
full model); a quantised one is off by its codes' errors, which ``describe()`` reports, with the
bound they put on how far a context's probabilities can sum from 1 (no renormalisation, as KenLM).

On disk it is a folder of ``.npy`` arrays and a ``meta.json`` whose ``"format"`` is
``lmstats-ngram-compact``: opening maps the arrays and builds nothing, after checking each
array's dtype and length against the layout meta.json records (a damaged model is one error
naming the array, never a read out of bounds).  WikiText-2 5-gram MKN at 8 bits: see the README.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats import native
from lmstats.encoded import Lines, reduce_pieces
from lmstats.errors import LmstatsError
from lmstats.ngram.bitpack import pack_records, required_bits, sample_pointers
from lmstats.ngram.quantize import quantize_backoffs, quantize_probs, sum_bound
from lmstats.protocol import LanguageModel
from lmstats.threads import resolve_threads
from lmstats.trained_on import TrainedOn
from lmstats.vocab import Vocab

FORMAT = "lmstats-ngram-compact"
VERSION = 1
FIELDS = ("word_bits", "prob_bits", "backoff_bits", "next_bits")  # a record's fields, in this order
SHORT_POSITIONS = 1 << 19  # positions scored with numpy before numba's kernel (none with the C loops): its trie search (about
# 1 M positions/s on the WikiText-2 5-gram, 2-core machine) costs about numba's start (0.35-0.6 s) by then


def trie_rows(tables, vocab_size: int, word_bits: int) -> list[tuple[NDArray, NDArray, NDArray] | None]:
    """For each order k >= 2 (None for order 1, whose rows are the word ids): the permutation that puts
    its rows in trie order (by the trie row of their context, then by word code), the word codes and the
    context rows in that order."""
    from lmstats.ngram.compact_kernel import word_codes  # numba: building, not opening, compiles

    codes = np.empty(vocab_size, dtype=np.int64)
    word_codes(np.arange(vocab_size, dtype=np.int64), word_bits, codes)
    out, trie_row = [None], None  # trie_row[r]: the trie row of row r of the order below (None: the same row)
    for table in tables[1:]:
        keys = np.asarray(table.keys)
        context = keys // vocab_size if trie_row is None else trie_row[keys // vocab_size]
        if len(keys) and int(context.max()) >= 1 << (63 - word_bits):
            raise LmstatsError(f"the model has too many n-grams for a compact form ({len(keys):,} of order {table.order})")
        code = codes[keys % vocab_size]
        perm = np.argsort((context << word_bits) | code, kind="stable")
        trie_row = np.empty(len(keys), dtype=np.int64)
        trie_row[perm] = np.arange(len(keys), dtype=np.int64)
        out.append((perm, code[perm], context[perm]))
    return out


def compact_arrays(model, bits: int | None) -> tuple[list[dict], dict[str, NDArray], dict[str, list[float]]]:
    """The layout, arrays and largest log errors (per order, probabilities and backoffs) of the
    compact form of a fitted :class:`~lmstats.ngram.model.NgramLM`; ``bits`` None: not quantised."""
    model.check_fitted()
    vocab_size, order = len(model.vocab), model.order
    tables, est = model.counts_.tables, model.estimate_
    rows = [len(t) for t in tables]
    word_bits = required_bits(vocab_size - 1)
    trie = trie_rows(tables, vocab_size, word_bits)
    layout, arrays, errors = [], {}, {"prob": [], "backoff": []}
    for k in range(1, order + 1):
        last, coded = k == order, bits is not None and k > 1
        perm, words = (None, None) if k == 1 else trie[k - 1][:2]
        in_trie_order = (lambda values: np.asarray(values)) if k == 1 else (lambda values: np.asarray(values)[perm])  # noqa: B023
        rel, rel_bits, shift, is_context = None, 0, 0, None
        if not last:
            starts = np.searchsorted(trie[k][2], np.arange(rows[k - 1] + 1, dtype=np.int64))
            shift, arrays[f"pointers{k}"], rel, rel_bits = sample_pointers(starts)
            is_context = starts[1:] > starts[:-1]
        prob_codes, prob_bits = None, 0
        if coded:
            book = quantize_probs(in_trie_order(est.probs[k - 1]), bits)
            arrays[f"prob{k}"], prob_codes, prob_bits = book.values, book.codes, book.bits
            errors["prob"].append(book.max_log_error)
        else:
            arrays[f"prob{k}"] = in_trie_order(est.probs[k - 1])
        back_codes, backoff_bits = None, 0
        if not last and coded:
            book = quantize_backoffs(in_trie_order(est.backoffs[k - 1]), is_context, bits)
            arrays[f"backoff{k}"], back_codes, backoff_bits = book.values, book.codes, book.bits
            errors["backoff"].append(book.max_log_error)
        elif not last:
            arrays[f"backoff{k}"] = in_trie_order(est.backoffs[k - 1])
        fields = [(words, word_bits if k > 1 else 0), (prob_codes, prob_bits), (back_codes, backoff_bits), (rel, rel_bits)]  # FIELDS
        arrays[f"records{k}"] = pack_records(rows[k - 1] + (0 if last else 1), fields)
        layout.append({"rows": rows[k - 1], "word_bits": fields[0][1], "prob_bits": prob_bits, "backoff_bits": backoff_bits,
                       "next_bits": rel_bits, "pointer_shift": shift, "coded": coded})
    return layout, arrays, errors


class CompactNgramLM(LanguageModel):
    """A compact n-gram model (see the module docstring): ``CompactNgramLM.from_model(ngram_lm, bits=8)``,
    ``.save(path)``, ``CompactNgramLM.load(path)``; it scores as any :class:`LanguageModel`."""

    def __init__(self, vocab: Vocab, meta: dict, arrays: dict[str, NDArray], *, trained_on: TrainedOn | None = None):
        self._vocab = vocab
        self.meta = meta
        self.arrays = arrays
        self.trained_on_ = trained_on

    @classmethod
    def from_model(cls, model, bits: int | None = 8) -> CompactNgramLM:
        """The compact form of a fitted :class:`~lmstats.ngram.model.NgramLM`, its values quantised to
        ``bits`` (None: kept exactly); what it was trained on is the model's ``trained_on_`` if any."""
        from lmstats.ngram.model import NgramLM

        if not isinstance(model, NgramLM):
            raise LmstatsError(f"a compact model is made from a full n-gram model (NgramLM), not a {type(model).__name__}; quantise "
                               "the model it was made from")
        layout, arrays, errors = compact_arrays(model, bits)
        est = model.estimate_
        meta = {"format": FORMAT, "version": VERSION, "params": model.params(), "vocab": model.vocab.to_dict(), "quantize": bits,
                "low": est.low, "gamma_unseen": est.gamma_unseen, "is_distribution": est.is_distribution,
                "discounts": {str(k): v for k, v in est.discounts.items()}, "warnings": list(est.warnings),
                "n_train_tokens": model.n_train_tokens_, "layout": layout, "max_log_error": errors}
        return cls(model.vocab, meta, arrays, trained_on=getattr(model, "trained_on_", None))

    # -- what it is ------------------------------------------------------------------------
    @property
    def vocab(self) -> Vocab:
        return self._vocab

    @property
    def order(self) -> int:
        return len(self.meta["layout"])

    @property
    def smoothing(self) -> str:
        return self.meta["params"]["smoothing"]

    @property
    def mode(self) -> str:
        return self.meta["params"]["mode"]

    @property
    def eps_variant(self) -> str:
        return self.meta["params"]["eps_variant"]

    @property
    def is_distribution(self) -> bool:
        return bool(self.meta["is_distribution"])

    @property
    def bits(self) -> int | None:
        return self.meta["quantize"]

    def params(self) -> dict:
        return dict(self.meta["params"])

    def nbytes(self) -> int:
        """Bytes of its arrays (the folder on disk adds meta.json and the .npy headers)."""
        return int(sum(a.nbytes for a in self.arrays.values()))

    def describe(self) -> dict:
        """Parameters and facts (JSON-ready), with the quantisation's largest log errors and the bound they put
        on the log of a context's probability sum (:func:`lmstats.ngram.quantize.sum_bound`)."""
        errors = self.meta["max_log_error"]
        out = self.params() | {"ngrams_per_order": [lay["rows"] for lay in self.meta["layout"]], "quantize": self.bits,
                               "array_bytes": self.nbytes(), "max_log_error": errors,
                               "log_sum_bound": sum_bound(errors["prob"], errors["backoff"])}
        for name, kept in (("eps", "eps"), ("eps_variant", "eps"), ("k", "lidstone")):
            if self.smoothing != kept:
                out.pop(name, None)
        for name in ("prune", "prune_entropy"):
            if not out.get(name):
                out.pop(name, None)
        if self.meta["discounts"]:
            out["discounts"] = self.meta["discounts"]
        return out | {"is_distribution": self.is_distribution, "warnings": list(self.meta["warnings"])}

    # -- scoring ---------------------------------------------------------------------------
    def _scorer(self):
        if getattr(self, "_scorer_cache", None) is None:
            from lmstats.ngram.compact_kernel import LAYOUT_COLUMNS, CompactScorer  # numba when scoring starts

            order, placeholder = self.order, {"pointers": np.zeros(1, dtype=np.int64), "backoff": np.zeros(1)}  # the highest order's
            table = np.zeros((order, LAYOUT_COLUMNS), dtype=np.int64)
            for k, lay in enumerate(self.meta["layout"]):
                widths = [lay[f] for f in FIELDS]
                offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
                table[k] = [sum(widths), offsets[0], widths[0], offsets[1], widths[1], offsets[2], widths[2], offsets[3], widths[3],
                            lay["rows"], int(lay["coded"]), lay["pointer_shift"]]
            a = self.arrays
            self._scorer_cache = CompactScorer(
                [a[f"records{k}"] for k in range(1, order + 1)], table,
                [a.get(f"pointers{k}", placeholder["pointers"]) for k in range(1, order + 1)], [a[f"prob{k}"] for k in range(1, order + 1)],
                [a.get(f"backoff{k}", placeholder["backoff"]) for k in range(1, order + 1)], low=self.meta["low"],
                gamma_unseen=self.meta["gamma_unseen"], vocab_size=len(self.vocab), bos_id=self.vocab.bos_id,
                mask=self.vocab.predictable_mask)
        return self._scorer_cache

    def _tables(self) -> list:
        """Each order's arrays for the numpy scorer (:class:`~lmstats.ngram.compact_vectorised.TrieTables`; views, nothing copied)."""
        from lmstats.ngram.compact_vectorised import TrieTables

        a, none = self.arrays, np.zeros(1)
        return [TrieTables(lay, a[f"records{k}"], a.get(f"pointers{k}", none), a[f"prob{k}"], a.get(f"backoff{k}", none))
                for k, lay in enumerate(self.meta["layout"], 1)]

    def logprobs_lines(self, units: Lines, *, threads: int | None = None) -> NDArray[np.float64]:
        """ln P of every token of every unit, each unit scored from ``<s>``; shape (n_tokens,).  As
        :meth:`NgramLM.logprobs_lines <lmstats.ngram.model.NgramLM.logprobs_lines>`: compiled
        (:mod:`lmstats.ngram.compact_kernel`) in pieces on threads, in C from the first position where
        :mod:`lmstats.native` is built; with numba only, the first :data:`SHORT_POSITIONS` positions in numpy
        (:mod:`lmstats.ngram.compact_vectorised`) instead of starting it.  The same numbers either way."""
        from lmstats.ngram import model as full
        from lmstats.ngram.compact_vectorised import compact_probs

        extremes = reduce_pieces(units.ids, lambda part: (part.min(), part.max()) if len(part) else (0, 0))
        if len(units.ids) and (min(lo for lo, _ in extremes) < 0 or max(hi for _, hi in extremes) >= len(self.vocab)):
            raise LmstatsError("token ids outside the model's vocabulary; encode the text with the model's vocab")
        positions = units.n_tokens + len(units)
        self._numpy_positions = getattr(self, "_numpy_positions", 0) + positions
        if self._numpy_positions <= SHORT_POSITIONS and not native.available():  # the C loop starts at once
            p = compact_probs(self._tables(), self.meta["low"], self.meta["gamma_unseen"], units, self.vocab.bos_id,
                              self.vocab.predictable_mask, full.SCORE_CHUNK)
        else:
            self._numpy_positions = SHORT_POSITIONS + 1  # the kernel from now on: numba's start is paid
            pieces = -(-positions // full.SCORE_CHUNK)
            p = self._scorer().probs(units, full.SCORE_CHUNK, resolve_threads(threads, parts=pieces))
        with np.errstate(divide="ignore"):
            return np.log(p, out=p)

    def logprobs(self, ids: NDArray[np.int64]) -> NDArray[np.float64]:
        """ln P(ids[t] | <s>, ids[:t]); shape (T,)."""
        return self.logprobs_lines(Lines.single(ids))

    def matched_lengths(self, units: Lines) -> NDArray[np.int64]:
        """For every token of ``units`` (each from ``<s>``), the length of the longest n-gram ending there that the model
        stores, ``<s>`` counted (``query``'s ``ngram_length``, as :func:`lmstats.scoring.matched_lengths`)."""
        from lmstats.ngram.compact_vectorised import matched_lengths

        return matched_lengths(self._tables(), units, self.vocab.bos_id)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path, *, trained_on: TrainedOn | None = None) -> None:
        """Write the folder (:mod:`lmstats.ngram.compact_storage`); ``trained_on`` (default: this model's record)."""
        from lmstats.ngram.compact_storage import save_compact

        save_compact(Path(path), self.meta, self.arrays, trained_on or self.trained_on_)

    @classmethod
    def load(cls, path: str | Path) -> CompactNgramLM:
        """A model written by :meth:`save`, memory-mapped, every array checked against meta.json."""
        from lmstats.ngram.compact_storage import read_compact

        meta, vocab, arrays = read_compact(Path(path))
        return cls(vocab, meta, arrays, trained_on=TrainedOn.from_dict(meta))
