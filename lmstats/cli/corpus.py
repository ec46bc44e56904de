"""``lmstats corpus``: inspect (info), list, fetch and generate (synth) corpora."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from lmstats.cli.options import corpus_options, json_option, refuse_unused_seed
from lmstats.cli.output import echo, progress_bar
from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write, check_outputs
from lmstats.text.catalogue import load_catalogue, locate_corpus
from lmstats.text.corpus import load_corpus
from lmstats.text.spec import DEFAULT_CORPUS
from lmstats.text.stats import corpus_stats


@click.group("corpus")
def corpus_group() -> None:
    """Inspect, fetch and generate corpora."""


@corpus_group.command("info")
@corpus_options
@json_option
def corpus_info(corpus, vocab_spec, data_dir, as_json):
    """Lines, tokens, types and OOV rates of CORPUS (a file, folder, glob or name)."""
    loaded = load_corpus(corpus, data_dir=data_dir)
    refuse_unused_seed(loaded.predefined)
    echo(corpus_stats(loaded, loaded.build_vocab(vocab_spec)), as_json, format_info)


def format_info(info: dict) -> list[str]:
    spec = info["spec"]
    out = [f"corpus {info['corpus']}: {info['description']}",
           f"splits: {info['splits_from']}; level {spec['level']}, format {spec['format']}; "
           f"vocabulary {info['vocab_size']:,} types (train only, {info['vocab_specials']} specials)",
           f"{'split':<6} {'lines':>9} {'tokens':>11} {'types':>8} {'OOV':>8} {'OOV rate':>9}"]
    for row in info["splits"]:
        out.append(f"{row['split']:<6} {row['lines']:>9,} {row['tokens']:>11,} {row['types']:>8,} {row['oov']:>8,} {row['oov_rate']:>9.4%}")
    return out


@corpus_group.command("list")
@json_option
def corpus_list(as_json):
    """The named corpora of the catalogue (corpora/catalogue.toml)."""
    rows = [{"name": DEFAULT_CORPUS, "description": "built in: Python reference topics (pydoc_data), offline", "level": "word",
             "splits": "seeded", "files": []}]
    rows += [{"name": e.name, "description": e.description, "level": e.level, "splits": "predefined" if e.predefined_splits else "seeded",
              "files": [asdict(f) for f in e.files]} for e in load_catalogue().values()]
    echo(rows, as_json, lambda rows: [f"{r['name']:<16} {r['level']:<5} {r['splits']:<10} {r['description']}" for r in rows])


@corpus_group.command("fetch")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Use (and check) a local copy here instead of downloading.")
@json_option
def corpus_fetch(name, data_dir, as_json):
    """Download NAME into the cache (verifying checksums), or check a local copy."""
    catalogue = load_catalogue()
    if name not in catalogue:
        raise LmstatsError(f"{name}: not a catalogue corpus (known: {', '.join(sorted(catalogue))})")
    with progress_bar(unit="B", unit_scale=True, desc=name) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        paths = locate_corpus(catalogue[name], data_dir=data_dir, progress=progress)
    echo({split: str(p) for split, p in sorted(paths.items())}, as_json, lambda d: [f"{s:<6} {p}" for s, p in d.items()])


@corpus_group.command("synth")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--tokens", "n_tokens", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Tokens to write (</s> counted; whole sentences).")
@click.option("--vocab", "vocab_size", type=click.IntRange(min=2), default=5000, show_default=True, help="Word types of the source.")
@click.option("--classes", "n_classes", type=click.IntRange(min=1), default=20, show_default=True,
              help="Word classes (the hidden structure).")
@click.option("--order", type=click.IntRange(1, 6), default=2, show_default=True,
              help="Markov order of the source (an n-gram source with n = order + 1).")
@click.option("--branching", type=click.IntRange(min=1), default=4, show_default=True, help="Classes allowed after each context.")
@click.option("--zipf", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Zipf exponent of word frequencies inside a class.")
@click.option("--mean-words", type=click.FloatRange(min=1), default=20.0, show_default=True, help="Mean words per sentence.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the source and of the sample.")
@json_option
def corpus_synth(out, n_tokens, vocab_size, n_classes, order, branching, zipf, mean_words, seed, as_json):
    """Write OUT: text from a seeded Markov source with a known entropy rate.

    The source's description (configuration, exact entropy rate and true perplexity) is
    written beside OUT as OUT.source.json.
    """
    import numpy as np

    from lmstats.synth import MarkovSource, SourceConfig

    config = SourceConfig(vocab_size, n_classes, order, branching, zipf, mean_words, seed)
    check_outputs({"OUT": out, "OUT.source.json": f"{out}.source.json"})
    with progress_bar(leave=False, delay=0.5) as bar:
        source = MarkovSource(config, on_progress=lambda stage, done, total: show_stage(bar, stage, done, total))
    n_lines = n_written = 0
    with atomic_write(out) as fh, progress_bar(total=n_tokens, unit="tok", unit_scale=True, desc="sampling", leave=False) as bar:
        for batch in source.sample_batches(n_tokens, np.random.default_rng([seed, 1])):  # bounded memory at any length
            fh.write(source.text(batch))
            tokens = sum(len(s) + 1 for s in batch)
            n_lines, n_written = n_lines + len(batch), n_written + tokens
            bar.update(tokens)
    info = source.describe() | {"path": str(out), "lines": n_lines, "tokens": int(n_written)}
    with atomic_write(f"{out}.source.json") as fh:
        json.dump(info, fh, indent=2)
    echo(info, as_json, lambda i: [f"wrote {out}: {i['lines']:,} lines, {i['tokens']:,} tokens (</s> counted)",
                                   f"true entropy rate {i['entropy_rate_bits']:.4f} bits/token, true perplexity {i['true_perplexity']:.3f} "
                                   f"(source: Markov order {order}, i.e. {order + 1}-gram)"])


SOURCE_STAGES = {"building": ("building the source", "state"), "solving": ("solving the expected visits", "digit")}


def show_stage(bar, stage: str, done: float, total: float) -> None:
    """One bar for the source's stages: building (context states drawn) and solving (digits of accuracy of ν)."""
    desc, unit = SOURCE_STAGES[stage]
    if bar.disable:  # stderr is not a terminal
        return
    if bar.desc != desc:
        bar.set_description_str(desc, refresh=False)
        bar.unit = unit
        bar.reset(total=total)
    bar.update(int(done) - bar.n)
