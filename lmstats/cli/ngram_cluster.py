"""``lmstats ngram CORPUS --engine dask``: the fit done by the cluster, from reading the train files to writing the model.

Taken when the corpus has train/valid/test files and the fit is one the cluster does whole
(:func:`cluster_refusal` says why not otherwise, and the command then reads the corpus here and
counts and smooths on the cluster).  The workers read the train files (:mod:`lmstats.ngram.cluster_fit`)
and write ``--out`` as a sharded model (:mod:`lmstats.ngram.shards`); this process reads no training
text and holds no table.  The valid and test files are then read and scored on the workers against
the shards (:mod:`lmstats.ngram.cluster_scoring`): this process never holds the model either.
"""

from __future__ import annotations

import time

import click

from lmstats.cli.output import echo
from lmstats.ngram.cluster_estimate import CLUSTER_SMOOTHERS
from lmstats.ngram.model import describe_fit
from lmstats.text.spec import CorpusSpec
from lmstats.trained_on import TrainedOn


def cluster_refusal(found, corpus: CorpusSpec, recipe, out, *, pruned: bool, outputs: bool) -> str | None:
    """Why the cluster cannot do this fit whole (None when it can)."""
    level = corpus.level or found.level
    reasons = [
        (not found.predefined, "its splits are made here, by a seeded split of its lines (a corpus of train/valid/test files is "
                               "read on the workers)"),
        (any(src.path is None for _, src in found.files), "it is not a set of files"),
        (level not in ("word", "char"), f"the workers read word and char levels, not {level}"),
        (corpus.format != "lines" or recipe.mode != "sentence", "the workers count sentences (--format lines, --mode sentence)"),
        (recipe.smoothing not in CLUSTER_SMOOTHERS,
         f"the cluster smooths with {', '.join(CLUSTER_SMOOTHERS)}, not {recipe.smoothing}"),
        (pruned, "pruning drops n-grams across key ranges, which the cluster does not do yet"),
        (outputs, "--arpa, --compact, --quantize and --query-only are written from a model held here"),
        (str(out).endswith(".npz"), "a sharded model is a folder, not an .npz file"),
    ]
    return next((why for refused, why in reasons if refused), None)


def fit_whole_on_cluster(corpus: CorpusSpec, vocab_spec, data_dir, recipe, out, splits_to_score, scheduler, tmp, as_json: bool, *,
                         pruned: bool, outputs: bool) -> tuple[bool, str | None]:
    """Run the fit on the cluster whole when it can be (True, None); else (False, why it cannot)."""
    from lmstats.text.sources import resolve

    found = resolve(corpus.source, data_dir=data_dir)
    why = cluster_refusal(found, corpus, recipe, out, pruned=pruned, outputs=outputs)
    if why is None:
        fit_on_cluster_command(found, corpus, vocab_spec, data_dir, recipe, out, splits_to_score, scheduler, tmp, as_json)
    return why is None, why


def fit_on_cluster_command(found, corpus: CorpusSpec, vocab_spec, data_dir, recipe, out, splits_to_score, scheduler, tmp,
                           as_json: bool) -> None:
    from lmstats.ngram.cluster_fit import fit_on_cluster
    from lmstats.ngram.cluster_scoring import open_sharded, score_on_cluster
    from lmstats.ngram.dask_cluster import dask_client
    from lmstats.resources import work_dir
    from lmstats.text.ranges import Reading

    level = corpus.level or found.level
    spec = CorpusSpec(source=corpus.source, level=level, lower=corpus.lower, letters_only=corpus.letters_only)
    reading = Reading.of(spec)
    say = lambda line: click.echo(line, err=True)  # noqa: E731
    say(f"fitting on the Dask cluster {scheduler or '(a LocalCluster of this machine)'}: the workers read "
        f"{len(found.of_split('train'))} train file(s) and write the model in shards")
    started = time.perf_counter()
    results: dict = {}
    with work_dir(tmp) as work, dask_client(scheduler, local_directory=work) as client:
        meta = fit_on_cluster(client, [str(src.path) for src in found.of_split("train")], out, order=recipe.order,
                              smoothing=recipe.smoothing, reading=reading, min_count=vocab_spec.min_count, max_size=vocab_spec.max_size,
                              trained_on=TrainedOn.of(spec, vocab_spec, data_dir),
                              on_stage=lambda what: say(f"{what} ({time.perf_counter() - started:.1f} s)"))
        fit_seconds = time.perf_counter() - started
        if splits_to_score:
            model = open_sharded(out)
        for name in splits_to_score:  # scored on the workers against the shards: this process never holds the model
            at = time.perf_counter()
            result = score_on_cluster(client, model, [str(src.path) for src in found.of_split(name)], reading, name)
            seconds = time.perf_counter() - at
            results[name] = {recipe.mode: result.to_dict() | {"seconds": seconds, "tokens_per_s": result.n_tokens / max(seconds, 1e-9)}}
            say(f"scored {name} on the workers ({time.perf_counter() - started:.1f} s)")
    order = meta["params"]["order"]
    info = {"corpus": found.name, "vocab_size": len(meta["vocab"]["tokens"]), "mode": recipe.mode,
            "model": describe_fit(meta["params"], [meta["arrays"][f"keys{k}"][1] for k in range(1, order + 1)],
                                  meta["discounts"], meta["is_distribution"], meta["warnings"]),
            "loaded": None, "eps_tuning": None, "fit_seconds": fit_seconds, "results": results, "written": {"model": str(out)},
            "engine": "dask: read, counted, smoothed and written by the workers"}
    for w in info["model"]["warnings"]:
        click.echo(f"warning: {w}", err=True)
    echo(info, as_json, _format)


def _format(info: dict) -> list[str]:
    from lmstats.cli.ngram import format_ngram

    return format_ngram(info)
