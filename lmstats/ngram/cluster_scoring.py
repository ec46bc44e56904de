"""A text scored on the cluster against a sharded model: no process holds the model or the whole text (issue 25, step 4).

The text is read where it lies (:func:`lmstats.text.ranges.read_on_cluster` with the model's
vocabulary) and cut into sentence-mode units per range.  The model stays in its shards
(:mod:`lmstats.ngram.shards`), which the workers open memory-mapped from the shared folder.  The
probabilities are those of :mod:`lmstats.ngram.vectorised` (the rule of :mod:`lmstats.ngram.model`,
whole arrays at a time), with every table lookup a batched join:

1. **Rows, order by order.**  The row of the k-gram ending at each position needs the row of the
   (k-1)-gram before it, so the orders go one after the other.  Each partition sends its distinct keys
   ``row_{k-1} * V + w`` to the shards whose key intervals hold them (the first key of every shard,
   read once); each shard answers with the global row of each key it holds (-1 when absent), by
   binary search in its sorted keys; the partition puts the answers in place.
2. **Values.**  Each partition sends the distinct rows whose probability (order k) or backoff weight
   (order k-1) it needs to the shards holding them, which answer with the values; the orders run at once.
3. **Sums.**  Each partition applies the rule and reduces its ln P to the evaluator's sums
   (:class:`~lmstats.evaluation.EvalResult`); the client adds them.

Order 1 (dense over the vocabulary) is loaded by one task and shared.  The per-token values equal the
local scorer's (the same arithmetic); the sums differ from the evaluator's by the order of additions
(tested to 1e-12 relative).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.evaluation import EvalResult
from lmstats.ngram.cluster_estimate import CLUSTER_SMOOTHERS, exchange
from lmstats.ngram.cluster_fit import sentence_part
from lmstats.ngram.counts import layout, unique_keys
from lmstats.ngram.storage import open_array, read_meta, shard_arrays, shard_file
from lmstats.text.ranges import Reading, as_task, encode_range, read_ranges_on_cluster, text_size
from lmstats.vocab import Vocab


@dataclass(frozen=True)
class ShardedModel:
    """What the client knows of a sharded model: its record, and per order the shards' row offsets and first keys."""

    folder: str
    meta: dict
    vocab: Vocab
    offsets: dict[int, NDArray[np.int64]]
    first_keys: dict[int, NDArray[np.int64]]

    @property
    def order(self) -> int:
        return int(self.meta["params"]["order"])


def open_sharded(folder: str | Path) -> ShardedModel:
    """The sharded model at ``folder`` (its meta.json, and one key read from each keys shard)."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta is None or "shards" not in meta:
        raise LmstatsError(f"{folder}: not a sharded lmstats model (a fit on the cluster writes one); score it with lmstats score")
    if meta["params"]["smoothing"] not in CLUSTER_SMOOTHERS:
        raise LmstatsError(f"{folder}: the cluster scores the smoothers it fits ({', '.join(CLUSTER_SMOOTHERS)}), "
                           f"not {meta['params']['smoothing']}")
    order = int(meta["params"]["order"])
    shards = dict(shard_arrays(folder, meta["shards"]))  # every shard present, complete and as long as recorded
    offsets, first_keys = {}, {}
    for k in range(2, order + 1):
        parts = shards[f"keys{k}"]
        offsets[k] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        first_keys[k] = np.asarray([int(p[0]) if len(p) else -1 for p in parts], dtype=np.int64)
    return ShardedModel(str(folder), meta, Vocab.from_dict(meta["vocab"], source=str(folder)), offsets, first_keys)


# -- the tasks ---------------------------------------------------------------------------------------
def _shard(folder: str, name: str, r: int):
    return open_array(Path(folder), Path(folder) / shard_file(name, r))  # a shard gone mid-run: one error naming it


def _layout(part: tuple, bos_id: int):
    return layout(Lines.from_lengths(*part), bos_id)


def _word_rows(pos) -> NDArray[np.int64]:
    return pos.ids


def _cut(values: NDArray[np.int64], bounds: NDArray[np.int64]) -> dict:
    """The distinct ``values`` (sorted), where each value goes among them, and their pieces cut at ``bounds``
    (``bounds[q]``: the first value of piece q)."""
    uniq, inverse, _ = unique_keys(values, inverse=True)
    cuts = np.concatenate([[0], np.searchsorted(uniq, bounds[1:]), [len(uniq)]])
    return {"inverse": inverse, "pieces": [uniq[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]}


def _key_requests(pos, prev: NDArray[np.int64], k: int, V: int, first_keys: NDArray[np.int64]) -> dict:
    """The keys of the k-grams ending at each position whose (k-1)-gram prefix is in the model, cut by shard."""
    cand = np.flatnonzero(pos.depth >= k - 1)
    cand = cand[prev[cand - 1] >= 0]
    return _cut(prev[cand - 1] * V + pos.ids[cand], first_keys) | {"cand": cand, "n": len(pos.ids)}


def _find_task(folder: str, k: int, q: int, offset: int, *requests: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """The global row of each requested key in shard ``q`` of order ``k`` (-1 when the model lacks it)."""
    keys = _shard(folder, f"keys{k}", q)
    out = []
    for wanted in requests:
        at = np.searchsorted(keys, wanted)
        found = at < len(keys)
        found[found] = keys[at[found]] == wanted[found]
        out.append(np.where(found, offset + at, -1))
    return out


def _rows_task(requests: dict, *answers: NDArray[np.int64]) -> NDArray[np.int64]:
    rows = np.full(requests["n"], -1, dtype=np.int64)
    if len(requests["cand"]):
        rows[requests["cand"]] = np.concatenate(answers)[requests["inverse"]]
    return rows


def _row_requests(pos, rows: NDArray[np.int64], k: int, shift: int, offsets: NDArray[np.int64]) -> dict:
    """The rows found among ``rows[at - shift]`` for the positions ``at`` of depth >= k-1, cut by shard."""
    at = np.flatnonzero(pos.depth >= k - 1)
    wanted = rows[at - shift]
    found = np.flatnonzero(wanted >= 0)
    return _cut(wanted[found], offsets[:-1]) | {"found": found, "n": len(at)}


def _take_task(folder: str, name: str, q: int, offset: int, *requests: NDArray[np.int64]) -> list[NDArray[np.float64]]:
    values = _shard(folder, name, q)
    return [np.asarray(values[rows - offset]) for rows in requests]


def _values_task(requests: dict, missing: float, *answers: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.full(requests["n"], missing, dtype=np.float64)
    if len(requests["found"]):
        out[requests["found"]] = np.concatenate(answers)[requests["inverse"]]
    return out


def _load_whole(folder: str, name: str) -> NDArray[np.float64]:
    return np.asarray(_shard(folder, name, 0))


def _sums_task(pos, prob1: NDArray, backoff1: NDArray | None, mask: NDArray[np.bool_], unk_id: int, gamma_unseen: float,
               rows: list, gammas: list, probs: list) -> tuple:
    """A partition's sums (n_units, n_tokens, n_oov, n_zero, nll_sum, nll_sum_no_oov): the rule of :mod:`lmstats.ngram.vectorised`."""
    ids = pos.ids
    p = prob1[ids]
    for k in range(2, len(rows) + 1):
        at = np.flatnonzero(pos.depth >= k - 1)
        if len(at) == 0:
            continue
        gamma = backoff1[ids[at - 1]] if k == 2 else gammas[k - 2]
        p[at] = np.where(rows[k - 1][at] >= 0, probs[k - 2], gamma * p[at])
    p[~mask[ids]] = 0.0
    tokens = ids[pos.scored]
    with np.errstate(divide="ignore"):
        lp = np.log(p[pos.scored])
    oov = tokens == unk_id
    return (int((~pos.scored).sum()), len(tokens), int(oov.sum()), int(np.isneginf(lp).sum()), float(-lp.sum()), float(-lp[~oov].sum()))


# -- the driver ----------------------------------------------------------------------------------------
def _key_join(client, model: ShardedModel, positions: list, prev: list, k: int) -> list:
    """The rows of the k-grams ending at each position (-1 where the model lacks one), per partition."""
    V, offsets = len(model.vocab), model.offsets[k]
    requests = [client.submit(_key_requests, pos, rows, k, V, model.first_keys[k]) for pos, rows in zip(positions, prev, strict=True)]
    return exchange(client, requests, len(offsets) - 1,
                     lambda q, *pieces: client.submit(_find_task, model.folder, k, q, int(offsets[q]), *pieces),
                     lambda p, req, *answers: client.submit(_rows_task, req, *answers))


def _value_join(client, model: ShardedModel, positions: list, rows: list, name: str, of: int, k: int, shift: int,
                missing: float) -> list:
    """The values of array ``name`` (of order ``of``) at ``rows[at - shift]`` for the positions of depth >= k-1, per partition."""
    offsets = model.offsets[of]
    requests = [client.submit(_row_requests, pos, r, k, shift, offsets) for pos, r in zip(positions, rows, strict=True)]
    return exchange(client, requests, len(offsets) - 1,
                     lambda q, *pieces: client.submit(_take_task, model.folder, name, q, int(offsets[q]), *pieces),
                     lambda p, req, *answers: client.submit(_values_task, req, missing, *answers))


def score_on_cluster(client, model: ShardedModel, urls: list[str], reading: Reading, name: str = "text") -> EvalResult:
    """The evaluator's sums for the sentences of ``urls`` under the sharded ``model``, computed on the workers of ``client``."""
    vocab = model.vocab
    read = read_ranges_on_cluster(client, urls, reading)
    shared = as_task(client, vocab)
    lines = [client.submit(encode_range, part, shared) for part in read]  # with the model's vocabulary
    sizes = client.gather([client.submit(text_size, part) for part in read])
    positions = [client.submit(_layout, client.submit(sentence_part, part, vocab.eos_id), vocab.bos_id) for part in lines]
    rows = [[client.submit(_word_rows, pos) for pos in positions]]
    for k in range(2, model.order + 1):
        rows.append(_key_join(client, model, positions, rows[-1], k))
    gammas = [_value_join(client, model, positions, rows[k - 2], f"backoff{k - 1}", k - 1, k, 1, float(model.meta["gamma_unseen"]))
              for k in range(3, model.order + 1)]
    probs = [_value_join(client, model, positions, rows[k - 1], f"prob{k}", k, k, 0, 0.0) for k in range(2, model.order + 1)]
    prob1 = client.submit(_load_whole, model.folder, "prob1")
    backoff1 = client.submit(_load_whole, model.folder, "backoff1") if model.order > 1 else None
    mask = vocab.predictable_mask
    sums = client.gather([client.submit(_sums_task, pos, prob1, backoff1, mask, vocab.unk_id, float(model.meta["gamma_unseen"]),
                                        [r[p] for r in rows], [None] + [g[p] for g in gammas], [x[p] for x in probs])
                          for p, pos in enumerate(positions)])
    n_units, n_tokens, n_oov, n_zero = (sum(int(s[i]) for s in sums) for i in range(4))
    if n_tokens == 0:
        raise LmstatsError(f"{', '.join(urls)}: the {name} text has no tokens to score")
    return EvalResult(split=name, mode="sentence", n_units=n_units, n_tokens=n_tokens, n_oov=n_oov, n_zero=n_zero,
                      nll_sum=sum(s[4] for s in sums), nll_sum_no_oov=sum(s[5] for s in sums),
                      n_chars=_total(size[0] for size in sizes), n_bytes=_total(size[1] for size in sizes))


def _total(values) -> int | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)
