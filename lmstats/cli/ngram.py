"""``lmstats ngram``: fit an n-gram model (or open a saved one), write it, score train/valid/test."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from lmstats.cli.ngram_cluster import fit_whole_on_cluster
from lmstats.cli.options import (
    Numbers,
    SchedulerAddress,
    corpus_options,
    corpus_to_score,
    default_output,
    given,
    json_option,
    memory_option,
    refuse,
    refuse_unused_seed,
    tmp_option,
)
from lmstats.cli.output import CountingReport, echo, progress_bar, results_table
from lmstats.errors import LmstatsError
from lmstats.evaluation import evaluate_splits
from lmstats.fileio import check_outputs
from lmstats.ngram.arpa import arpa_refusal, write_arpa
from lmstats.ngram.compact import CompactNgramLM
from lmstats.ngram.entropy_prune import check_theta, prune_entropy, prune_refusal
from lmstats.ngram.model import ENGINES, MAX_ORDER, NgramLM
from lmstats.ngram.quantize import check_bits
from lmstats.ngram.recipe import NgramRecipe, fit_recipe
from lmstats.ngram.smoothing import DEFAULT_ADD_K, EPS_VARIANTS, SMOOTHERS
from lmstats.ngram.storage import check_model_folder, check_npz_output
from lmstats.text.corpus import load_corpus
from lmstats.text.spec import SPLIT_NAMES
from lmstats.text.spill import drop_spilled, text_spill
from lmstats.units import EVAL_MODES

TUNE = "tune"
RECIPE_OPTIONS = ("order", "smoothing", "eps", "eps_variant", "k", "prune")


class Eps(Numbers):
    """``--eps 0.1`` -> (0.1,), ``--eps 1,0.1,0.01`` -> one per order; bare ``--eps`` -> tune on valid."""

    name = "EPS"

    def __init__(self):
        super().__init__(float, "a number, one number per order (e.g. 1,0.1,0.01), or no value to tune")

    def convert(self, value, param, ctx):
        return value if value == TUNE else super().convert(value, param, ctx)

    def check(self, values, text, param, ctx):
        if any(not math.isfinite(v) for v in values):
            self.fail(f"--eps must be a finite number > 0 for every order, got {text}; e.g. --eps 0.1", param, ctx)
        if any(v <= 0 for v in values):
            self.fail(f"--eps must be > 0 for every order, got {text}: ε=0 gives unseen n-grams probability 0 and infinite "
                      "perplexity; use e.g. --eps 0.1", param, ctx)
        return values


class Thresholds(Numbers):
    """``--prune 0,1,1`` -> lmplz's count thresholds per order from the unigrams (whole counts >= 0; checked against
    ``--n`` and the smoother by :func:`lmstats.ngram.prune.check_thresholds`)."""

    name = "T1,T2,..."

    def __init__(self):
        super().__init__(int, "whole counts per order from the unigrams, comma-separated, like 0,1,1 (lmplz's --prune 0 1 1)")

    def check(self, values, text, param, ctx):
        if any(v < 0 for v in values):
            self.fail(f"--prune thresholds are counts >= 0, got {text}; e.g. --prune 0,1,1 drops the bigrams and trigrams seen once",
                      param, ctx)
        return values


class SplitNames(click.ParamType):
    """``--eval train,valid,test`` -> the split names, checked (``none``: no scoring)."""

    name = "SPLITS"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        if value.strip() == "none":
            return []
        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names or any(n not in SPLIT_NAMES for n in names):
            self.fail(f"--eval takes split names among {', '.join(SPLIT_NAMES)}, comma-separated, or none; got {value!r}", param, ctx)
        return list(dict.fromkeys(names))




@click.command("ngram")
@corpus_options
@click.option("--n", "order", type=click.IntRange(1, MAX_ORDER), default=3, show_default=True, help="Order of the model.")
@click.option("--smoothing", type=click.Choice(SMOOTHERS), default=None, help="Smoother (default: eps when --eps is given, else mkn).")
@click.option("--eps", type=Eps(), is_flag=False, flag_value=TUNE, default=None,
              help="ε for --smoothing eps: one value, one per order (1,0.1,0.01), or no value to tune each on valid.")
@click.option("--eps-variant", type=click.Choice(EPS_VARIANTS), default=None,
              help="eps interpolates towards the next-lower order (recursive) or the unigram (textbook, d2l's formulas) "
                   "[default: recursive].")
@click.option("--k", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"Additive constant of --smoothing lidstone [default: {DEFAULT_ADD_K}].")
@click.option("--prune", type=Thresholds(), default=None,
              help="Drop the n-grams seen at most T_k times, as lmplz --prune: one count per order from the unigrams (0 there), "
                   "the last for the orders above, e.g. 0,1,1 (abs, kn, mkn).")
@click.option("--mode", type=click.Choice(EVAL_MODES), default="sentence", show_default=True,
              help="Train and score sentences (KenLM) or one stream (PyTorch); with --load, how to score (default: as trained).")
@click.option("--out", type=click.Path(), default=None,
              help="Model to write: a folder of .npy arrays (opens memory-mapped), or one .npz file if the path ends in .npz. "
                   "Default: lmstats-out/ngram-CORPUS-NSMOOTHING (with ε or k when given)")
@click.option("--prune-entropy", type=float, default=None, metavar="THETA", callback=lambda ctx, param, value: theta_value(param, value),
              help="Drop every n-gram whose removal alone raises the model's perplexity by a relative amount below THETA "
                   "(relative-entropy pruning, SRILM's -prune; e.g. 1e-8), then recompute the backoff weights.")
@click.option("--query-only", is_flag=True, help="Leave the builder's arrays (counts) out of --out: a smaller model that scores and "
                                                  "writes ARPA (as KenLM's build_binary).")
@click.option("--quantize", type=int, default=None, metavar="BITS", callback=lambda ctx, param, value: bits_value(param, value),
              help="Write --out as a compact model (a bit-packed trie) whose probabilities and backoffs of orders 2..N are codes "
                   "of at most BITS bits (2..25), binned per order as KenLM's build_binary -q BITS -b BITS; e.g. --quantize 8.")
@click.option("--compact", is_flag=True, help="Write --out as a compact model (a bit-packed trie) with exact values (implied by "
                                               "--quantize).")
@click.option("--arpa", type=click.Path(dir_okay=False), default=None, help="Also write the model as an ARPA file (KenLM, SRILM).")
@click.option("--load", "load_path", type=click.Path(), default=None,
              help="Score a saved model: an n-gram folder or .npz (on the corpus it was trained on, unless CORPUS is given), or an "
                   ".arpa file (on CORPUS).")
@click.option("--eval", "splits_to_score", type=SplitNames(), default="valid,test", show_default=True,
              help="Splits to score, comma-separated among train, valid, test, or none (scoring train costs as much as fitting).")
@memory_option()
@tmp_option
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Count in this process (local: in memory, or out of core beyond --memory) or on a Dask cluster "
                   "(dask: a LocalCluster of one worker per core, or --scheduler's) [default: local].")
@click.option("--scheduler", type=SchedulerAddress(), default=None,
              help="Address of a running Dask scheduler, tcp://HOST:PORT (or HOST:PORT, tls://HOST:PORT), e.g. tcp://10.0.0.5:8786 "
                   "(implies --engine dask).")
@json_option
def ngram_command(corpus, vocab_spec, data_dir, order, smoothing, eps, eps_variant, k, prune, mode, out, prune_entropy, query_only,
                  quantize, compact, arpa, load_path, splits_to_score, memory, tmp, engine, scheduler, as_json):
    """Fit an n-gram model on CORPUS's train split; write it; print train/valid/test perplexity.

    Every split is scored by the one evaluator under the train vocabulary.  The model is
    written before any scoring, so a failure in scoring never loses a fit.  With --quantize or
    --compact, the compact model is written and scored (an --arpa file holds the exact values).
    """
    compact = check_compact(compact or quantize is not None, out)
    engine = engine_of(engine, scheduler)
    model, tokenizer, recipe = None, None, None
    if load_path:
        model, corpus, vocab_spec, data_dir, tokenizer, mode = open_saved(load_path, out, query_only or compact, corpus,
                                                                          vocab_spec, data_dir, mode)
    else:
        recipe = NgramRecipe(order, smoothing or ("eps" if eps else "mkn"), None if eps == TUNE else eps, eps_variant, k, mode, prune)
        check_pruning(prune_entropy, recipe)
        out = out or default_output("ngram", corpus, recipe.label + ("" if not compact else f"-q{quantize}" if quantize else "-compact"))
    if recipe is not None or model is not None:  # (an ARPA file read with --load is ARPA already)
        check_arpa(arpa, *((recipe.smoothing, recipe.variant) if recipe else (model.smoothing, model.eps_variant)))
    files = corpus.local_files()
    check_ngram_outputs(out, arpa, [*files, load_path])
    ran, why_here = fit_whole_on_cluster(corpus, vocab_spec, data_dir, recipe, out, splits_to_score, scheduler, tmp, as_json,
                                         pruned=bool(recipe.prune or prune_entropy), outputs=bool(arpa or compact or query_only)) \
        if engine == "dask" and recipe is not None else (False, None)  # (why_here: why the corpus is read here, said later)
    if ran:
        return
    with text_spill(corpus, memory, tmp, files) as spill:  # a corpus large for --memory is kept on disk while the command runs
        loaded = load_corpus(corpus, data_dir=data_dir, spill=spill, tokenizer=tokenizer)
        refuse_unused_seed(loaded.predefined)
        splits = loaded.encode(model.vocab if model is not None else loaded.build_vocab(vocab_spec))  # a saved model's own vocabulary
        name = loaded.name
        trained_on = loaded.trained_on(vocab_spec, data_dir) if recipe is not None else getattr(model, "trained_on_", None)
        del loaded  # its type ids (4 bytes a token) are not needed once the splits are encoded
        drop_spilled(spill, *(splits[s].lines.ids for s in SPLIT_NAMES))  # nor their files
        model, tuning, fit_seconds = fit_with_progress(recipe, splits, prune_entropy, why_here, memory=memory, tmp=tmp, engine=engine,
                                                       scheduler=scheduler) if recipe is not None else \
            (model or open_arpa(load_path, splits.vocab), None, 0.0)
        model = write_outputs(model, out, arpa, compact, quantize, trained_on=trained_on, query_only=query_only)
        info = {"corpus": name, "vocab_size": len(splits.vocab), "mode": mode, "model": model.describe(), "loaded": load_path,
                "eps_tuning": None if tuning is None else {"eps": list(tuning.eps), "valid_ppl": tuning.valid_ppl,
                                                           "evaluations": tuning.evaluations},
                "fit_seconds": fit_seconds, "results": evaluate_splits(model, splits, splits_to_score, (mode,)),
                "written": {kind: v for kind, v in (("model", str(out) if out else None), ("arpa", arpa)) if v}}
        for w in info["model"]["warnings"]:
            click.echo(f"warning: {w}", err=True)
        echo(info, as_json, format_ngram)


def engine_of(engine: str | None, scheduler: str | None) -> str:
    """The engine asked for: ``--engine``, else dask when ``--scheduler`` names a cluster, else local."""
    if scheduler and engine == "local":
        raise LmstatsError("--scheduler names a Dask cluster, but --engine local counts in this process; drop one of them")
    return engine or ("dask" if scheduler else "local")


def check_ngram_outputs(out, arpa, inputs: list) -> None:
    """``--out`` and ``--arpa`` refused before any work when they would overwrite an input or a file not ours."""
    folders = () if str(out).endswith(".npz") else ("--out",)  # an .npz model is one file, replaced when it is a model
    check_outputs({"--out": out, "--arpa": arpa}, inputs=inputs, folders=folders)
    if out:
        (check_npz_output if str(out).endswith(".npz") else check_model_folder)(Path(out))


def check_arpa(arpa, smoothing: str, eps_variant: str) -> None:
    """Refuse ``--arpa`` for a model whose smoothing ARPA cannot express."""
    why_not = arpa and arpa_refusal(smoothing, eps_variant)
    if why_not:
        raise LmstatsError(f"--arpa: ARPA cannot express this model ({why_not}); drop --arpa, the .npz model file keeps it exactly")


def theta_value(param, value):
    """``--prune-entropy``'s value checked (a finite number >= 0; click's float type lets nan and inf through)."""
    try:
        return None if value is None else check_theta(value)
    except LmstatsError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def check_pruning(theta, recipe: NgramRecipe) -> None:
    """Refuse ``--prune-entropy`` for a smoother that relative-entropy pruning cannot work on."""
    why_not = theta is not None and prune_refusal(recipe.smoothing, recipe.variant)
    if why_not:
        raise LmstatsError(f"--prune-entropy: {why_not}")


def write_outputs(model: NgramLM, out, arpa, compact: bool = False, bits: int | None = None, **save_options):
    """The model folder (``--out``) and the ARPA file (``--arpa``) written at once: the folder's arrays
    are copied out on another thread (I/O, without the GIL) while the ARPA lines are formatted.
    Both are written before any scoring.  ``compact``: the folder is the compact form of ``model``, its
    values quantised to ``bits`` (None: exact), and that is the model returned (to be scored); the ARPA
    file keeps ``model``'s exact values."""
    written = model
    if compact and out:
        written = CompactNgramLM.from_model(model, bits)
        save_options.pop("query_only", None)  # (a compact model holds what scoring needs, nothing more)
    with ThreadPoolExecutor(1) as pool:
        saving = pool.submit(written.save, out, **save_options) if out else None
        if arpa:
            write_arpa(model, arpa)
        if saving is not None:
            saving.result()
    return written


def check_compact(compact: bool, out) -> bool:
    """``compact``, after refusing an ``.npz`` ``--out`` for it (a compact model is a folder)."""
    if compact and str(out).endswith(".npz"):
        raise LmstatsError(f"--out {out}: a compact model (--quantize, --compact) is a folder of .npy files; give a path that does "
                           "not end in .npz")
    return compact


def bits_value(param, value):
    """``--quantize``'s value checked (:func:`lmstats.ngram.quantize.check_bits`)."""
    try:
        return None if value is None else check_bits(value)
    except LmstatsError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def open_saved(load_path, out, query_only, corpus, vocab_spec, data_dir, mode):
    """``--load``: the saved model (None for an ARPA file, read once the corpus's vocabulary is built), the corpus,
    vocabulary options, data folder and subword pieces to score it on, and the evaluation mode."""
    from lmstats.saved import model_kind

    refuse((*RECIPE_OPTIONS, "engine", "scheduler"), "they describe a model to fit, and --load scores the saved model as it is (its own "
           "order and smoothing); drop them, or fit without --load")
    refuse(["prune_entropy"], "it prunes the model being fitted, and --load scores the saved model as it is; fit without --load to "
                              "prune (or prune in Python: lmstats.ngram.entropy_prune.prune_entropy)")
    if out and not query_only:
        raise LmstatsError("--out with --load would write the same model again; add --query-only (or --quantize BITS, --compact) "
                           "to write a smaller form")
    kind = model_kind(load_path)
    if kind == "arpa":
        if corpus.source is None:
            raise LmstatsError(f"--load {load_path}: an ARPA file records no corpus; give CORPUS to score it on "
                               f"(lmstats ngram CORPUS --load {load_path})")
        return None, corpus, vocab_spec, data_dir, None, mode
    if kind != "ngram":
        raise LmstatsError(f"--load {load_path}: a {'checkpoint' if kind == 'rnn' else 'mixture'}, not an n-gram model; score it "
                           f"with 'lmstats {'rnn eval --checkpoint' if kind == 'rnn' else 'mix'} {load_path}'")
    from lmstats.saved import open_ngram

    model = open_ngram(load_path)
    if isinstance(model, CompactNgramLM) and (out or given("arpa")):
        raise LmstatsError(f"--load {load_path} is a compact model, which keeps only what scoring needs (its values "
                           f"{'quantised' if model.bits else 'in a trie'}); write --out or --arpa from the full model it was made from")
    corpus, vocab_spec, data_dir, tokenizer = corpus_to_score(corpus, vocab_spec, data_dir, model.trained_on_, f"the model {load_path}")
    return model, corpus, vocab_spec, data_dir, tokenizer, mode if given("mode") else model.mode  # --mode with --load: how to score


def open_arpa(path, vocab) -> NgramLM:
    from lmstats.saved import open_model

    return open_model(path, vocab=vocab).model


def fit_with_progress(recipe, splits, theta=None, why_here: str | None = None, **fit_options):
    """The fitted model (pruned by relative entropy at ``theta`` > 0, after any eps tuning), the eps tuning (or None)
    and the seconds taken, with a bar per order and the counting report."""
    started = time.perf_counter()
    with progress_bar(total=recipe.order, desc="counting n-grams", unit="order", leave=False) as bar, \
         progress_bar(desc="tuning eps on valid", unit="trial", leave=False, delay=0.5) as trials:
        passes = CountingReport(bar, fit_options["engine"], fit_options["scheduler"], why_here)
        model, tuning = fit_recipe(recipe, splits, on_order=passes.order, on_plan=passes.plan,
                                   on_trial=lambda k, e, ppl: trials.update(1), **fit_options)
    if theta:
        model = prune_entropy(model, theta)
    return model, tuning, time.perf_counter() - started


def format_ngram(info: dict) -> list[str]:
    m = info["model"]
    kind = "distribution" if m["is_distribution"] else "not a distribution"
    source = f"loaded from {info['loaded']}" if info["loaded"] else f"fit {info['fit_seconds']:.2f} s"
    source += f", pruned by relative entropy at θ = {m['prune_entropy']:g}" if m.get("prune_entropy") else ""
    if "log_sum_bound" in m:  # a compact model
        codes = f"{m['quantize']}-bit codes (a context's probabilities sum to 1 within e^±{m['log_sum_bound']:.3g})" \
            if m["quantize"] else "exact values"
        source += f"; compact: a trie of {m['array_bytes'] / 1e6:.1f} MB, {codes}"
    out = [f"corpus {info['corpus']}, vocabulary {info['vocab_size']:,} types, {info['mode']} mode",
           f"model: {m['order']}-gram {m['smoothing']} ({kind}), n-grams per order {m['ngrams_per_order']}, {source}"]
    if info["eps_tuning"]:
        t = info["eps_tuning"]
        out.append(f"eps tuned on valid: {', '.join(f'{e:.4g}' for e in t['eps'])} "
                   f"(valid ppl {t['valid_ppl']:.2f}, {t['evaluations']} evaluations)")
    return out + results_table(info["results"]) + [f"wrote {kind}: {path}" for kind, path in info["written"].items()]
