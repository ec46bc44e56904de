"""The report's size stage: the top-order MKN model pruned and quantised, its size on disk against its test perplexity.

Each point is a model as a user would ship it: fitted with the config's count thresholds
(``size_prune``, lmplz's ``--prune``) or pruned by relative entropy (``size_entropy``, SRILM's
``-prune``), saved without the builder's counts (``--query-only``), or quantised
(``size_quantize``, ``--quantize BITS``), opened again from disk and scored on the test split:
the bytes are the saved files', the perplexity the saved model's.  Reference points of other tools
(KenLM's binaries in ``benchmarks/bench_compact.py``) come from a JSON file named by
``size_reference``, drawn beside them only when that file was measured on the same corpus, order
and mode: its ``"reference_points"`` are ``{"label", "bytes", "ppl"}`` objects.

Quantised values are not renormalised (as KenLM's are not), so a context's probabilities no
longer sum to exactly 1 and a quantised model's perplexity can fall below the unquantised one's
without it being a better model.  Each point therefore also gives the smallest and largest sum
of P(w | context) over the predictable vocabulary for :data:`SUM_CONTEXTS` test contexts drawn
with the report's seed (:func:`context_sums`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from lmstats.encoded import Lines
from lmstats.errors import LmstatsError
from lmstats.evaluation import evaluate
from lmstats.text.corpus import Splits
from lmstats.text.reader import read_text
from lmstats.units import scored_units

SUM_CONTEXTS = 24  # test contexts whose probability sums each point reports


def context_sums(model, split, mode: str, *, n: int = SUM_CONTEXTS, seed: int = 0) -> tuple[float, float]:
    """The smallest and largest sum of P(w | context) over the predictable vocabulary, for ``n`` contexts of the split's
    scored positions drawn with ``seed``: each the (at most ``order - 1``) tokens before the position in its unit, scored
    from ``<s>`` as the unit is, followed by every word."""
    units = scored_units(split, mode)
    words = np.flatnonzero(split.vocab.predictable_mask)
    rng = np.random.default_rng(seed)
    sums = []
    for t in np.sort(rng.choice(units.n_tokens, size=min(n, units.n_tokens), replace=False)):
        start = int(units.bounds[np.searchsorted(units.bounds, t, side="right") - 1])
        context = np.asarray(units.ids[max(start, t - (model.order - 1)) : t], dtype=np.int64)
        ids = np.empty((len(words), len(context) + 1), dtype=np.int64)
        ids[:, :-1] = context
        ids[:, -1] = words
        lp = model.logprobs_lines(Lines(ids.ravel(), np.arange(len(words) + 1, dtype=np.int64) * (len(context) + 1)))
        sums.append(float(np.exp(lp[len(context) :: len(context) + 1]).sum()))
    return min(sums), max(sums)


def folder_bytes(path: Path) -> int:
    """Bytes of the files of a saved model (a folder, or one file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def parse_thresholds(text: str) -> tuple[int, ...]:
    """``"0,1,1"`` -> (0, 1, 1); a value that is not a whole count is one error."""
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise LmstatsError(f"size_prune: {text!r} is not comma-separated whole counts like \"0,1,1\" (lmplz's --prune 0 1 1)") from None


def check_size_settings(config) -> None:
    """The size stage's settings, checked when the config is made (thresholds against the top order; θ >= 0)."""
    from lmstats.ngram.entropy_prune import check_theta
    from lmstats.ngram.prune import check_thresholds

    for text in config.size_prune:
        try:
            check_thresholds(parse_thresholds(text), max(config.orders), "mkn")
        except LmstatsError as exc:
            raise LmstatsError(f"report config, size_prune {text!r}: {exc}") from None
    for theta in config.size_entropy:
        try:
            check_theta(theta)
        except LmstatsError as exc:
            raise LmstatsError(f"report config, size_entropy {theta!r}: {exc}") from None
    for bits in config.size_quantize:
        check_bits(bits)


def check_bits(bits: int) -> None:
    from lmstats.ngram.quantize import check_bits as check

    try:
        check(bits)
    except LmstatsError as exc:
        raise LmstatsError(f"report config, size_quantize {bits!r}: {exc}") from None


def variants(config) -> list[tuple[str, tuple[int, ...] | None, float]]:
    """(label, count thresholds, θ) of every pruning setting the stage fits: none first."""
    return ([("unpruned", None, 0.0)] + [(f"--prune {t}", parse_thresholds(t), 0.0) for t in config.size_prune]
            + [(f"--prune-entropy {theta:g}", None, float(theta)) for theta in config.size_entropy])


def size_rows(config, splits: Splits, mode: str, say) -> tuple[list[dict], dict]:
    """One row per (pruning, storage) point of the top-order MKN model in ``mode``, and the reference points."""
    from lmstats.ngram import NgramLM
    from lmstats.ngram.entropy_prune import prune_entropy

    order = max(config.orders)
    rows = []
    base = None
    for label, thresholds, theta in variants(config):
        say(f"mkn {order}-gram, {label}: size on disk ({mode} mode)")
        if thresholds is None:
            base = base or NgramLM(splits.vocab, order, "mkn", mode=mode, discount_fallback=True).fit(splits.train)
            model = prune_entropy(base, theta) if theta else base
        else:
            model = NgramLM(splits.vocab, order, "mkn", mode=mode, discount_fallback=True, prune=thresholds).fit(splits.train)
        n_ngrams = sum(len(t) for t in model.counts_.tables)
        for storage, bits in [("query-only", None)] + [(f"{b}-bit trie", b) for b in config.size_quantize]:
            with tempfile.TemporaryDirectory(prefix="lmstats-size-") as tmp:
                path = Path(tmp) / "model"
                saved = _save(model, path, bits)
                result = evaluate(saved, splits.test, mode=mode)
                low, high = context_sums(saved, splits.test, mode, seed=config.seed)
                size = folder_bytes(path)
                del saved  # its memory-mapped files are in the folder being removed
            rows.append({"family": "size", "model": f"mkn-{order} {label}, {storage}", "mode": mode, "order": order,
                         "smoothing": "mkn", "pruning": label, "storage": storage, "bytes": size, "n_ngrams": n_ngrams,
                         "sum_min": low, "sum_max": high}
                        | result.to_dict())
    return rows, {"reference": reference_points(config, order, mode)}


def _save(model, path: Path, bits: int | None):
    """The model saved at ``path`` and opened again from there (the figures are the saved model's)."""
    import lmstats

    if bits is None:
        model.save(path, query_only=True)
    else:
        from lmstats.ngram.compact import CompactNgramLM

        CompactNgramLM.from_model(model, bits).save(path)
    return lmstats.load(path)


def reference_points(config, order: int, mode: str) -> dict:
    """The ``size_reference`` file's points when it describes this corpus, order and mode; else why none are drawn."""
    if not config.size_reference:
        return {"points": [], "note": ""}
    path = Path(config.size_reference)
    try:
        data = json.loads(read_text(path))
        points = [{"label": str(p["label"]), "bytes": int(p["bytes"]), "ppl": float(p["ppl"])} for p in data["reference_points"]]
        described = (data["corpus"], int(data["order"]), data["mode"])
    except (LmstatsError, OSError, ValueError, KeyError, TypeError) as exc:
        raise LmstatsError(f"size_reference {path}: not a reference file benchmarks/bench_compact.py wrote ({exc}); "
                           "run that benchmark or drop size_reference") from None
    wanted = (config.corpus.source, order, mode)
    if described != wanted:
        return {"points": [], "note": f"{path} describes {described}, not this report's {wanted}: not drawn"}
    return {"points": points, "note": f"reference points from {path} ({data.get('command', 'benchmarks/bench_compact.py')})"}


def size_section(state) -> tuple[str, list[str], list[list[str]], str] | None:
    """The report's table of the size stage (None when it did not run)."""
    rows = [r for r in state.rows if r["family"] == "size"]
    if not rows:
        return None
    stage = next((s for s in state.stages if s.name == "sizes" and s.error is None), None)
    reference = stage.data["reference"] if stage else {"points": [], "note": ""}
    table = [[r["pruning"], r["storage"], f"{r['n_ngrams']:,}", f"{r['bytes'] / 2**20:.1f}", f"{r['ppl']:.2f}",
              f"{r['sum_min']:.5f}–{r['sum_max']:.5f}"] for r in rows]
    table += [[p["label"], "(reference)", "–", f"{p['bytes'] / 2**20:.1f}", f"{p['ppl']:.2f}", "–"] for p in reference["points"]]
    note = (f"The {rows[0]['order']}-gram MKN model ({rows[0]['mode']} mode) as saved: query-only (hash tables without counts, "
            "as KenLM's probing binary) or a bit-packed trie with quantised values (--quantize BITS: codebooks per order, KenLM's "
            "build_binary -q/-b binning), opened from disk and scored on test; MiB = 2^20 bytes. ΣP: the smallest and largest "
            f"sum of P(w | context) over the predictable vocabulary in {SUM_CONTEXTS} test contexts drawn with the seed. Quantised "
            "values are not renormalised (nor are KenLM's), so their sums leave 1 and a perplexity below the unquantised "
            "model's is not a better model.")
    if reference["note"]:
        note += f" {reference['note']}."
    return ("Model size against test perplexity", ["pruning", "storage", "n-grams", "MiB on disk", "test ppl", "ΣP"], table, note)


def plot_sizes(state):
    """Size on disk (log x) against test perplexity: one line per storage through the pruning settings, reference points apart."""
    rows = [r for r in state.rows if r["family"] == "size"]
    if not rows:
        return None
    import matplotlib.pyplot as plt

    stage = next((s for s in state.stages if s.name == "sizes" and s.error is None), None)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for storage in dict.fromkeys(r["storage"] for r in rows):
        mine = sorted((r for r in rows if r["storage"] == storage), key=lambda r: r["bytes"])
        ax.plot([r["bytes"] / 2**20 for r in mine], [r["ppl"] for r in mine], marker="o", label=f"lmstats, {storage}")
        for r in mine:
            ax.annotate(r["pruning"].replace("--prune-entropy", "θ").replace("--prune ", ""), (r["bytes"] / 2**20, r["ppl"]),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")
    for p in stage.data["reference"]["points"] if stage else []:
        ax.plot(p["bytes"] / 2**20, p["ppl"], marker="s", ls="none", label=p["label"])
    ax.set_xscale("log")
    ax.set(xlabel="size on disk, MiB (log scale)", ylabel="test perplexity",
           title=f"{rows[0]['order']}-gram MKN: size against perplexity ({rows[0]['mode']} mode)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig
