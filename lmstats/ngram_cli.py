"""``lmstats ngram``: fit an n-gram model, evaluate it on train/valid/test, write it."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from lmstats.cli import _echo_json, corpus_options, read_corpus
from lmstats.errors import LmstatsError
from lmstats.evaluate import evaluate
from lmstats.lines import EVAL_MODES
from lmstats.ngram.model import MAX_ORDER, NgramLM
from lmstats.ngram.smoothing import EPS_VARIANTS, SMOOTHERS

TUNE = "tune"


def parse_eps(text: str | None) -> tuple[float, ...] | str | None:
    """``--eps 0.1`` -> (0.1,), ``--eps 1,0.1,0.01`` -> per order, bare ``--eps`` -> tune."""
    if text is None or text == TUNE:
        return text
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise LmstatsError(f"--eps takes a number, one number per order (e.g. 1,0.1,0.01), or no value to tune; got {text!r}") from None
    if any(not math.isfinite(v) or v <= 0 for v in values):
        raise LmstatsError(
            f"--eps must be > 0 for every order, got {text}: eps=0 gives unseen n-grams probability 0 and "
            "infinite perplexity; use e.g. --eps 0.1"
        )
    return values


@click.command("ngram")
@corpus_options
@click.option("--n", "order", type=click.IntRange(1, MAX_ORDER), default=3, show_default=True, help="Order of the model.")
@click.option("--smoothing", type=click.Choice(SMOOTHERS), default=None, help="Smoother (default: eps when --eps is given, else mkn).")
@click.option("--eps", "eps_text", is_flag=False, flag_value=TUNE, default=None, help="ε for --smoothing eps: one value, one per order (1,0.1,0.01), or no value to tune each on valid.")
@click.option("--eps-variant", type=click.Choice(EPS_VARIANTS), default="recursive", show_default=True, help="eps interpolates towards the next-lower order (recursive) or the unigram (textbook, d2l's formulas).")
@click.option("--k", "add_k", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True, help="Additive constant of --smoothing lidstone.")
@click.option("--mode", type=click.Choice(EVAL_MODES), default="sentence", show_default=True, help="Train and score sentences (KenLM) or one stream (PyTorch).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Model file to write (binary .npz). Default: lmstats-out/ngram-CORPUS-NSMOOTHING.npz")
@click.option("--arpa", type=click.Path(dir_okay=False), default=None, help="Also write the model as an ARPA file (KenLM, SRILM).")
@click.option("--load", "load_path", type=click.Path(dir_okay=False), default=None, help="Evaluate a saved model instead of fitting one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ngram_command(corpus, level, lower, letters_only, text_format, split_text, seed, data_dir, min_count, max_vocab,
                  order, smoothing, eps_text, eps_variant, add_k, mode, out, arpa, load_path, as_json):
    """Fit an n-gram model on CORPUS's train split; print train/valid/test perplexity.

    Every split is scored by the one evaluator under the train vocabulary.
    """
    from lmstats.ngram.arpa import arpa_refusal, write_arpa
    from lmstats.ngram.tune import tune_eps

    eps = parse_eps(eps_text)
    if smoothing is None:
        smoothing = "eps" if eps is not None else "mkn"
    if eps is not None and smoothing != "eps":
        raise LmstatsError(f"--eps applies to --smoothing eps only, not {smoothing}")
    if arpa and not load_path and arpa_refusal(smoothing, eps_variant):
        raise LmstatsError(f"--arpa: ARPA cannot express a {smoothing} model ({arpa_refusal(smoothing, eps_variant)}); drop --arpa, the .npz model file keeps it exactly")
    loaded = read_corpus(corpus, level, lower, letters_only, text_format, split_text, seed, data_dir)
    vocab = loaded.build_vocab(min_count=min_count, max_size=max_vocab)
    tuning = None
    started = time.perf_counter()
    if load_path:
        model = NgramLM.load(load_path)
        if model.vocab != vocab:
            raise LmstatsError(
                f"{load_path}: the model's vocabulary ({len(model.vocab)} types) differs from this corpus's train "
                f"vocabulary ({len(vocab)} types); perplexities are only comparable under one vocabulary — "
                "evaluate on the corpus and options it was trained with, or refit"
            )
        mode = model.mode
        splits = loaded.encode(vocab)
    else:
        splits = loaded.encode(vocab)
        tune_wanted = smoothing == "eps" and eps in (None, TUNE)
        eps_value = (1.0,) if tune_wanted else (eps if eps is not None else 1.0)
        if isinstance(eps_value, tuple) and len(eps_value) == 1:
            eps_value = eps_value[0]
        model = NgramLM(vocab, order, smoothing, eps=eps_value, eps_variant=eps_variant, k=add_k, mode=mode)
        if isinstance(eps_value, tuple) and len(eps_value) != order:
            raise LmstatsError(f"--eps needs one value or {order} values (one per order), got {len(eps_value)}")
        with tqdm(total=order, desc="counting n-grams", unit="order", file=sys.stderr, disable=None, leave=False) as bar:
            model.fit(splits["train"], on_order=lambda k: bar.update(1))
        if tune_wanted:
            with tqdm(desc="tuning eps on valid", unit="trial", file=sys.stderr, disable=None, leave=False) as bar:
                tuning = tune_eps(model, splits["valid"], on_trial=lambda k, e, ppl: (bar.update(1), bar.set_postfix(order=k, eps=f"{e:.3g}", ppl=f"{ppl:.2f}")))
            model = model.resmooth(eps=tuning.eps)
    fit_seconds = time.perf_counter() - started
    results = {name: evaluate(model, splits[name], mode=mode) for name in ("train", "valid", "test")}
    written = {}
    if not load_path:
        target = Path(out) if out else Path("lmstats-out") / f"ngram-{loaded.name}-{order}{smoothing}.npz"
        model.save(target)
        written["model"] = str(target)
    if arpa:
        write_arpa(model, arpa)
        written["arpa"] = arpa
    info = {
        "corpus": loaded.name, "vocab_size": len(vocab), "mode": mode, "model": model.describe(),
        "eps_tuning": None if tuning is None else {"eps": list(tuning.eps), "valid_ppl": tuning.valid_ppl, "evaluations": tuning.evaluations},
        "fit_seconds": fit_seconds, "results": {k: v.to_dict() for k, v in results.items()}, "written": written,
    }
    if as_json:
        _echo_json(info)
        return
    desc = model.describe()
    click.echo(f"corpus {loaded.name}, vocabulary {len(vocab):,} types, {mode} mode")
    label = "not a distribution" if not desc["is_distribution"] else "distribution"
    click.echo(f"model: {order}-gram {smoothing} ({label}), n-grams per order {desc['ngrams_per_order']}, fit {fit_seconds:.2f} s")
    if tuning is not None:
        click.echo(f"eps tuned on valid: {', '.join(f'{e:.4g}' for e in tuning.eps)} (valid ppl {tuning.valid_ppl:.2f}, {tuning.evaluations} evaluations)")
    for w in desc["warnings"]:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"{'split':<6} {'tokens':>10} {'OOV':>8} {'zero-p':>7} {'ppl':>12} {'ppl no OOV':>12} {'bits/token':>10}")
    for name, r in results.items():
        click.echo(f"{name:<6} {r.n_tokens:>10,} {r.n_oov:>8,} {r.n_zero:>7,} {r.ppl:>12.3f} {r.ppl_no_oov:>12.3f} {r.bits_per_token:>10.4f}")
    for kind, path in written.items():
        click.echo(f"wrote {kind}: {path}")
