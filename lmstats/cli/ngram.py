"""``lmstats ngram``: fit an n-gram model (or load one), write it, score train/valid/test."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import click

from lmstats.cli.options import (
    CountingReport,
    corpus_options,
    corpus_to_score,
    default_output,
    echo,
    flag,
    given,
    json_option,
    progress_bar,
    results_table,
)
from lmstats.errors import LmstatsError
from lmstats.evaluation import evaluate_splits
from lmstats.fileio import check_outputs
from lmstats.ngram.arpa import arpa_refusal, write_arpa
from lmstats.ngram.model import ENGINES, MAX_ORDER, NgramLM
from lmstats.ngram.recipe import NgramRecipe, fit_recipe
from lmstats.ngram.smoothing import DEFAULT_ADD_K, EPS_VARIANTS, SMOOTHERS
from lmstats.resources import parse_memory
from lmstats.text.corpus import load_corpus
from lmstats.text.spec import SPLIT_NAMES
from lmstats.text.spill import drop_spilled, text_spill
from lmstats.trained_on import TrainedOn
from lmstats.units import EVAL_MODES

TUNE = "tune"
RECIPE_OPTIONS = ("order", "smoothing", "eps_text", "eps_variant", "add_k")


def parse_splits(text: str) -> list[str]:
    """``--eval train,valid,test`` -> the split names, checked (``none``: no scoring)."""
    if text.strip() == "none":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in SPLIT_NAMES]
    if bad or not names:
        raise LmstatsError(f"--eval takes split names among {', '.join(SPLIT_NAMES)}, comma-separated, or none; got {text!r}")
    return list(dict.fromkeys(names))


def parse_eps(text: str | None) -> tuple[float, ...] | None:
    """``--eps 0.1`` -> (0.1,), ``--eps 1,0.1,0.01`` -> one per order; bare ``--eps`` (tune) and no --eps -> None."""
    if text is None or text == TUNE:
        return None
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise LmstatsError("--eps takes a number, one number per order (e.g. 1,0.1,0.01), or no value to tune; "
                           f"got {text.strip()!r}") from None
    if any(not math.isfinite(v) or v <= 0 for v in values):
        raise LmstatsError(f"--eps must be > 0 for every order, got {text.strip()}: "
                           "eps=0 gives unseen n-grams probability 0 and infinite perplexity; use e.g. --eps 0.1")
    return values


@click.command("ngram")
@corpus_options
@click.option("--n", "order", type=click.IntRange(1, MAX_ORDER), default=3, show_default=True, help="Order of the model.")
@click.option("--smoothing", type=click.Choice(SMOOTHERS), default=None, help="Smoother (default: eps when --eps is given, else mkn).")
@click.option("--eps", "eps_text", is_flag=False, flag_value=TUNE, default=None,
              help="ε for --smoothing eps: one value, one per order (1,0.1,0.01), or no value to tune each on valid.")
@click.option("--eps-variant", type=click.Choice(EPS_VARIANTS), default="recursive", show_default=True,
              help="eps interpolates towards the next-lower order (recursive) or the unigram (textbook, d2l's formulas).")
@click.option("--k", "add_k", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_ADD_K, show_default=True,
              help="Additive constant of --smoothing lidstone.")
@click.option("--mode", type=click.Choice(EVAL_MODES), default="sentence", show_default=True,
              help="Train and score sentences (KenLM) or one stream (PyTorch); with --load, how to score (default: as trained).")
@click.option("--out", type=click.Path(), default=None,
              help="Model to write: a folder of .npy arrays (opens memory-mapped), or one .npz file if the path ends in .npz. "
                   "Default: lmstats-out/ngram-CORPUS-NSMOOTHING")
@click.option("--query-only", is_flag=True, help="Leave the builder's arrays (counts) out of --out: a smaller model that scores and "
                                                  "writes ARPA (as KenLM's build_binary).")
@click.option("--arpa", type=click.Path(dir_okay=False), default=None, help="Also write the model as an ARPA file (KenLM, SRILM).")
@click.option("--load", "load_path", type=click.Path(), default=None,
              help="Score a saved model (on the corpus it was trained on, unless CORPUS is given).")
@click.option("--eval", "eval_text", default="valid,test", show_default=True,
              help="Splits to score, comma-separated among train, valid, test, or none (scoring train costs as much as fitting).")
@click.option("--memory", "memory_text", default=None,
              help="Memory for counting, as lmplz -S: 4G, 500M or a share of RAM such as 40% [default: 40%]; "
                   "beyond it, counting spills to --tmp.")
@click.option("--tmp", type=click.Path(file_okay=False), default=None,
              help="Folder for the work files of out-of-core counting (as lmplz -T) [default: the system's].")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Count in this process (local: in memory, or out of core beyond --memory) or on a Dask cluster "
                   "(dask: a LocalCluster of one worker per core, or --scheduler's) [default: local].")
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler, tcp://HOST:PORT (or HOST:PORT, tls://HOST:PORT), "
                                                  "e.g. tcp://10.0.0.5:8786 (implies --engine dask).")
@json_option
def ngram_command(corpus, vocab_spec, data_dir, order, smoothing, eps_text, eps_variant, add_k, mode, out, query_only, arpa, load_path,
                  eval_text, memory_text, tmp, engine, scheduler, as_json):
    """Fit an n-gram model on CORPUS's train split; write it; print train/valid/test perplexity.

    Every split is scored by the one evaluator under the train vocabulary.  The model is
    written before any scoring, so a failure in scoring never loses a fit.
    """
    if scheduler and engine == "local":
        raise LmstatsError("--scheduler names a Dask cluster, but --engine local counts in this process; drop one of them")
    engine = engine or ("dask" if scheduler else "local")
    if scheduler:  # a malformed address is refused before the corpus is read
        from lmstats.ngram.distributed import scheduler_address

        scheduler_address(scheduler)
    tokenizer = None
    if load_path:
        model, corpus, vocab_spec, data_dir, tokenizer, mode = open_saved(load_path, out, query_only, corpus, vocab_spec, data_dir, mode)
        recipe = None
    else:
        recipe = NgramRecipe(order, smoothing or ("eps" if eps_text else "mkn"), parse_eps(eps_text), eps_variant, add_k, mode)
        out = out or default_output("ngram", corpus, f"{order}{recipe.smoothing}")
    subject = model if recipe is None else recipe  # both say their smoothing and eps variant
    why_not_arpa = arpa and arpa_refusal(subject.smoothing, subject.eps_variant)
    if why_not_arpa:
        raise LmstatsError(f"--arpa: ARPA cannot express this model ({why_not_arpa}); drop --arpa, the .npz model file keeps it exactly")
    check_outputs({"--out": out, "--arpa": arpa}, inputs=[*corpus.local_files(), load_path], folders=("--out",))
    names, memory = parse_splits(eval_text), parse_memory(memory_text)
    with text_spill(corpus, memory, tmp) as spill:  # a corpus large for --memory is kept on disk while the command runs
        loaded = load_corpus(corpus, data_dir=data_dir, spill=spill, tokenizer=tokenizer)
        splits = loaded.encode(loaded.build_vocab(vocab_spec))
        corpus_name, trained_on = loaded.name, TrainedOn.of(loaded.spec, vocab_spec, data_dir, loaded.meta.get("tokenizer"))
        del loaded  # its type ids (4 bytes a token) are not needed once the splits are encoded
        drop_spilled(spill, *(splits[name].lines.ids for name in SPLIT_NAMES))  # nor their files
        tuning, fit_seconds = None, 0.0
        if recipe is not None:
            model, tuning, fit_seconds = fit_with_progress(recipe, splits, memory=memory, tmp=tmp, engine=engine, scheduler=scheduler)
        write_outputs(model, out, arpa, trained_on=trained_on, query_only=query_only)
        info = {"corpus": corpus_name, "vocab_size": len(splits.vocab), "mode": mode, "model": model.describe(), "loaded": load_path,
                "eps_tuning": None if tuning is None else {"eps": list(tuning.eps), "valid_ppl": tuning.valid_ppl,
                                                           "evaluations": tuning.evaluations},
                "fit_seconds": fit_seconds, "results": evaluate_splits(model, splits, names, (mode,)),
                "written": {k: v for k, v in (("model", str(out) if out else None), ("arpa", arpa)) if v}}
        for w in info["model"]["warnings"]:
            click.echo(f"warning: {w}", err=True)
        echo(info, as_json, format_ngram)


def write_outputs(model: NgramLM, out, arpa, **save_options) -> None:
    """The model folder (``--out``) and the ARPA file (``--arpa``) written at once: the folder's arrays
    are copied out on another thread (I/O, without the GIL) while the ARPA lines are formatted
    (WikiText-2 5-gram: 0.6 s saved of 3.9 s).  Both are written before any scoring."""
    with ThreadPoolExecutor(1) as pool:
        saving = pool.submit(model.save, out, **save_options) if out else None
        if arpa:
            write_arpa(model, arpa)
        if saving is not None:
            saving.result()


def open_saved(load_path, out, query_only, corpus, vocab_spec, data_dir, mode):
    """``--load``: the saved model, the corpus, vocabulary options, data folder and subword pieces it was trained on
    (unless CORPUS is given) and the evaluation mode."""
    conflicting = given(*RECIPE_OPTIONS, "engine", "scheduler")
    if conflicting:
        raise LmstatsError(f"{', '.join(flag(n) for n in conflicting)} describe a model to fit; "
                           "--load scores the saved model as it is (its own order and smoothing) — drop them, or fit without --load")
    if out and not query_only:
        raise LmstatsError("--out with --load would write the same model again; add --query-only to write its compact form")
    model = NgramLM.load(load_path)
    corpus, vocab_spec, data_dir, tokenizer = corpus_to_score(corpus, vocab_spec, data_dir, model.trained_on_, f"the model {load_path}")
    return model, corpus, vocab_spec, data_dir, tokenizer, mode if given("mode") else model.mode  # --mode with --load: how to score


def fit_with_progress(recipe, splits, **fit_options):
    """The fitted model, the eps tuning (or None) and the seconds taken, with a bar per order and the counting report."""
    started = time.perf_counter()
    with progress_bar(total=recipe.order, desc="counting n-grams", unit="order", leave=False) as bar, \
         progress_bar(desc="tuning eps on valid", unit="trial", leave=False, delay=0.5) as trials:
        passes = CountingReport(bar, fit_options["engine"], fit_options["scheduler"], fit_options["tmp"])
        model, tuning = fit_recipe(recipe, splits, on_order=passes.order, on_plan=passes.plan,
                                   on_trial=lambda k, e, ppl: trials.update(1), **fit_options)
    return model, tuning, time.perf_counter() - started


def format_ngram(info: dict) -> list[str]:
    m = info["model"]
    kind = "distribution" if m["is_distribution"] else "not a distribution"
    source = f"loaded from {info['loaded']}" if info["loaded"] else f"fit {info['fit_seconds']:.2f} s"
    out = [f"corpus {info['corpus']}, vocabulary {info['vocab_size']:,} types, {info['mode']} mode",
           f"model: {m['order']}-gram {m['smoothing']} ({kind}), n-grams per order {m['ngrams_per_order']}, {source}"]
    if info["eps_tuning"]:
        t = info["eps_tuning"]
        out.append(f"eps tuned on valid: {', '.join(f'{e:.4g}' for e in t['eps'])} "
                   f"(valid ppl {t['valid_ppl']:.2f}, {t['evaluations']} evaluations)")
    return out + results_table(info["results"]) + [f"wrote {kind}: {path}" for kind, path in info["written"].items()]
