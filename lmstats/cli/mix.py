"""``lmstats mix``: linear interpolation of saved models, weights tuned by EM on the validation split."""

from __future__ import annotations

import sys
import time

import click

from lmstats.cli.options import Numbers, data_dir_option, json_option, modes_option, threads_option
from lmstats.cli.output import echo
from lmstats.display import percent
from lmstats.errors import LmstatsError
from lmstats.fileio import check_outputs
from lmstats.mixture import check_weights, score_mixture
from lmstats.text.corpus import load_corpus
from lmstats.threads import set_threads


@click.command("mix")
@click.argument("model_paths", nargs=-1, required=True, metavar="MODEL...")
@click.option("--weights", type=Numbers(float, "one number per MODEL separated by commas, like 0.6,0.4"), default=None,
              help="Fixed weights, one per MODEL, summing to 1 (like 0.6,0.4). Default: tuned by EM on the validation split.")
@modes_option(help="Evaluation mode(s); the weights are tuned in each mode on its own.")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=1e-5, show_default=True,
              help="EM stops when no weight moves by more than this (SRILM compute-best-mix's precision).")
@click.option("--max-iter", type=click.IntRange(min=1), default=1000, show_default=True, help="EM iterations at most.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the mixture (component paths and weights) as JSON; 'lmstats mix' takes it as a MODEL again.")
@data_dir_option
@threads_option
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
@json_option
def mix_command(model_paths, weights, modes, tol, max_iter, out, data_dir, threads, quiet, as_json):
    """Interpolate MODEL... (n-gram folders or .npz, .arpa files, RNN checkpoints .pt, mixtures .json)
    trained on one corpus: P(w|h) = Σ λ_i P_i(w|h), scored on that corpus's valid and test splits.

    Without --weights, the λ maximise the validation likelihood by EM (as SRILM's
    compute-best-mix), one line per iteration on stderr.  Every component's own perplexity is
    printed beside the mixture's, with the mixture's gain over the best component.

    Caches are MODELs too: cache:W (a unigram cache over the last W tokens), cache (its window
    chosen on valid for this mixture) and neural-cache:CKPT (the neural cache over an RNN
    checkpoint's hidden states, its window, θ and λ chosen on valid). Sentence mode empties a
    cache at every line; stream mode keeps it across lines.
    """
    from lmstats.saved import common_training, open_models, save_mixture, settled

    started = time.perf_counter()
    if len(model_paths) < 2:
        raise LmstatsError("lmstats mix needs at least two MODELs to interpolate; give another model trained on the same corpus "
                           "(to score one model alone: lmstats ngram --load or lmstats rnn eval)")
    fixed = None if weights is None else check_weights(weights, len(model_paths))
    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    models = open_models(model_paths)  # (a missing model is said before torch is imported for the threads)
    set_threads(threads, torch="torch" in sys.modules)  # torch is loaded when a model is an RNN checkpoint
    trained = common_training(models)
    if trained is None:
        raise LmstatsError("none of the MODELs records the corpus it was trained on (ARPA files do not); "
                           "add the n-gram folder or RNN checkpoint of that corpus")
    if out:
        check_outputs({"--out": out}, inputs=[*model_paths, *trained.corpus.local_files()])
    loaded = load_corpus(trained.corpus, data_dir=data_dir or trained.data_dir, tokenizer=trained.subword_tokenizer())
    splits = loaded.encode(loaded.build_vocab(trained.vocab_spec))
    scores = [score_mixture([m.model for m in models], splits, m, weights=fixed, tol=tol, max_iter=max_iter,
                            on_split=lambda name, m=m: say(f"scoring the {name} split ({m} mode) with {len(models)} models"),
                            on_iteration=lambda i, w, ppl: say(f"  EM iteration {i}: weights {', '.join(f'{x:.4f}' for x in w)}; "
                                                               f"valid ppl {ppl:.4f}"))
              for m in modes]
    chosen = [[settled(m, s.chosen[i]) if i in s.chosen else m for i, m in enumerate(models)] for s in scores]
    if out:  # the weights (and caches chosen on valid) of the first mode scored (sentence when both); every mode's are in "tuned"
        save_mixture(out, chosen[0], scores[0].weights, tuned=tuned_dict(scores))
    info = {"corpus": loaded.name, "vocab_size": len(splits.vocab), "models": [{"path": x.path, "kind": x.kind, "model": x.description}
                                                                              for x in models],
            "chosen": {s.mode: [m.description for i, m in enumerate(c) if i in s.chosen] for s, c in zip(scores, chosen, strict=True)
                       if s.chosen},
            "tuned": tuned_dict(scores), "results": results_dict(scores, [[m.description for m in c] for c in chosen]), "out": out,
            "seconds": time.perf_counter() - started}
    echo(info, as_json, format_mix)


def tuned_dict(scores) -> dict | None:
    """``{mode: weights, EM iterations, convergence, valid perplexity per iteration}``; None for fixed weights."""
    return {s.mode: {"weights": list(s.weights), "iterations": s.fit.iterations, "converged": s.fit.converged,
                     "valid_ppl_history": list(s.fit.ppl_history)} for s in scores if s.fit is not None} or None


def results_dict(scores, names: list[list[str]]) -> dict:
    """``{split: {mode: the mixture's figures, its weights, every component's perplexity, the gain}}`` (``names``: the
    components' per mode scored)."""
    out: dict = {}
    for s, parts_of in zip(scores, names, strict=True):
        for split, result in s.results.items():
            parts = [r.to_dict() for r in s.components[split]]
            out.setdefault(split, {})[s.mode] = result.to_dict() | {
                "weights": list(s.weights),
                "components": [{"model": n, "ppl": p["ppl"], "bits_per_token": p["bits_per_token"], "bits_per_char": p["bits_per_char"]}
                               for n, p in zip(parts_of, parts, strict=True)],
                "best_component_ppl": min(r.ppl for r in s.components[split]), "gain_pct": s.gain_pct(split)} | s.statistics(split)
    return out


def format_mix(info: dict) -> list[str]:
    from lmstats.bootstrap import plural

    lines = [f"corpus {info['corpus']}, vocabulary {info['vocab_size']:,} types; {len(info['models'])} models"]
    for i, m in enumerate(info["models"], 1):
        lines.append(f"  {i}. {m['model']} ({m['path']})")
    for m, chosen in info.get("chosen", {}).items():
        lines.append(f"chosen on valid ({m} mode): {'; '.join(chosen)}")
    for m, fit in (info["tuned"] or {}).items():
        state = "converged" if fit["converged"] else "stopped at --max-iter"
        lines.append(f"weights tuned on valid ({m} mode): {', '.join(f'{w:.4f}' for w in fit['weights'])} "
                     f"after {fit['iterations']} EM iterations ({state})")
    lines.append(f"{'split':<6} {'mode':<9} {'tokens':>10} {'mixture ppl':>12} {'best model':>11} {'gain':>7}   components")
    for split, by_mode in info["results"].items():
        for m, r in by_mode.items():
            parts = ", ".join(f"{c['ppl']:.3f}" if c["ppl"] is not None else "inf" for c in r["components"])
            lines.append(f"{split:<6} {m:<9} {r['n_tokens']:>10,} {r['ppl']:>12.3f} {r['best_component_ppl']:>11.3f} "
                         f"{percent(r['gain_pct'], 2):>7}   {parts}")
    for split, by_mode in info["results"].items():
        for m, r in by_mode.items():
            if "ppl_interval" in r:
                ci, vs = r["ppl_interval"], r["best_vs_mixture"]
                lines.append(f"{split} {m}: mixture {r['ppl']:.3f}, 95% interval {ci['low']:.3f} to {ci['high']:.3f}; best model "
                             f"minus mixture {vs['difference']:.3f} ({vs['low']:.3f} to {vs['high']:.3f}), p = {vs['p_value']:.3g} "
                             f"(paired bootstrap, {ci['replicates']:,} replicates over {plural(ci['units'], ci['unit'])}, "
                             f"seed {ci['seed']})")
    if info["out"]:
        lines.append(f"mixture written to {info['out']}")
    return lines
