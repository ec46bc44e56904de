"""The ``lmstats`` command line: thin click commands over library calls.

Every command takes ``--json`` (one JSON document on stdout).  User mistakes (a missing file,
an empty corpus, a bad option value) print one line ``lmstats: error: ...`` on stderr and exit
with code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import asdict
from pathlib import Path

import click
import numpy as np

from lmstats import __version__
from lmstats.corpus import DEFAULT_CORPUS, FORMATS, LEVELS, load_corpus
from lmstats.datasets import load_catalogue, locate_corpus
from lmstats.errors import LmstatsError
from lmstats.fileio import atomic_write


class LmstatsGroup(click.Group):
    """A click group whose errors are one line on stderr with exit code 2, never a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            return super().main(args, prog_name or "lmstats", complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            message = exc.format_message()
            if re.match(r"No such option '-[\d.]", message):
                message += ": a negative number was read as an option; values such as --eps and --k must be > 0"
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail(f"{message}{hint}", 2)
        except click.ClickException as exc:
            _fail(exc.format_message(), 2)
        except LmstatsError as exc:
            _fail(str(exc), 2)
        except (KeyboardInterrupt, click.exceptions.Abort):
            _fail("interrupted; finished outputs were kept, nothing half-written was left", 130)
        except BrokenPipeError:
            sys.exit(1)


def _fail(message: str, code: int) -> None:
    click.echo(f"lmstats: error: {message}", err=True)
    sys.exit(code)


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not math.isfinite(obj) else float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise LmstatsError(f"--split takes three comma-separated fractions like 0.8,0.1,0.1, got {text!r}") from None
    if len(parts) != 3:
        raise LmstatsError(f"--split takes three fractions (train,valid,test), got {text!r}")
    return parts  # type: ignore[return-value]


def corpus_options(f):
    """The options every corpus-reading command shares."""
    options = [
        click.argument("corpus", required=False),
        click.option("--level", type=click.Choice(LEVELS), default=None, help="Tokens are words (whitespace split) or characters. Default: the corpus's own (word for files)."),
        click.option("--lower", is_flag=True, help="Lower-case the text."),
        click.option("--letters-only", is_flag=True, help="d2l normalisation: every run of non-letters becomes one space."),
        click.option("--format", "text_format", type=click.Choice(FORMATS), default="lines", show_default=True, help="One sentence per line, or one continuous stream."),
        click.option("--split", "split_text", default="0.8,0.1,0.1", show_default=True, help="train,valid,test fractions for corpora without predefined splits."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/valid/test split."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Folder with local copies of named corpora (NAME/FILE); default $LMSTATS_DATA."),
        click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True, help="Types seen fewer times in train become <unk>."),
        click.option("--max-vocab", type=click.IntRange(min=1), default=None, help="Keep at most this many (most frequent) types besides the specials."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def read_corpus(corpus, level, lower, letters_only, text_format, split_text, seed, data_dir):
    """Load a corpus from the shared CLI options (the library call behind every command)."""
    return load_corpus(corpus, level=level, lower=lower, letters_only=letters_only, text_format=text_format,
                       data_dir=data_dir, seed=seed, fractions=parse_fractions(split_text))


@click.group(cls=LmstatsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmstats")
def main() -> None:
    """Language-model statistics: corpora, n-gram smoothers, Zipf fits, RNN baselines,
    all scored by one perplexity evaluator on one vocabulary.

    With no CORPUS argument, commands use the built-in corpus 'python-docs' (the Python
    reference text shipped with every Python), so everything works offline.
    """


@main.group()
def corpus() -> None:
    """Inspect, fetch and generate corpora."""


@corpus.command("info")
@corpus_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def corpus_info(corpus, level, lower, letters_only, text_format, split_text, seed, data_dir, min_count, max_vocab, as_json):
    """Lines, tokens, types and OOV rates of CORPUS (a file, folder, glob or name)."""
    from lmstats.stats import corpus_stats

    loaded = read_corpus(corpus, level, lower, letters_only, text_format, split_text, seed, data_dir)
    vocab = loaded.build_vocab(min_count=min_count, max_size=max_vocab)
    info = corpus_stats(loaded, vocab)
    if as_json:
        _echo_json(info)
        return
    click.echo(f"corpus {info['corpus']}: {info['description']}")
    click.echo(f"splits: {info['splits_from']}; level {info['options']['level']}; vocabulary {info['vocab_size']} types (train only, {info['vocab_specials']} specials)")
    click.echo(f"{'split':<6} {'lines':>9} {'tokens':>11} {'types':>8} {'OOV':>8} {'OOV rate':>9}")
    for row in info["splits"]:
        click.echo(f"{row['split']:<6} {row['lines']:>9,} {row['tokens']:>11,} {row['types']:>8,} {row['oov']:>8,} {row['oov_rate']:>9.4%}")


@corpus.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def corpus_list(as_json):
    """The named corpora of the catalogue (corpora/catalogue.toml)."""
    catalogue = load_catalogue()
    rows = [{"name": DEFAULT_CORPUS, "description": "built in: Python reference topics (pydoc_data), offline", "level": "word", "splits": "seeded", "files": []}]
    for entry in catalogue.values():
        rows.append({
            "name": entry.name, "description": entry.description, "level": entry.level,
            "splits": "predefined" if entry.predefined_splits else "seeded",
            "files": [asdict(f) for f in entry.files],
        })
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<16} {row['level']:<5} {row['splits']:<10} {row['description']}")


@corpus.command("fetch")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Use (and check) a local copy here instead of downloading.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def corpus_fetch(name, data_dir, as_json):
    """Download NAME into the cache (verifying checksums), or check a local copy."""
    from tqdm import tqdm

    catalogue = load_catalogue()
    if name not in catalogue:
        raise LmstatsError(f"{name}: not a catalogue corpus (known: {', '.join(sorted(catalogue))})")
    bar = tqdm(unit="B", unit_scale=True, desc=name, disable=None, file=sys.stderr)

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        paths = locate_corpus(catalogue[name], data_dir=data_dir, progress=progress)
    finally:
        bar.close()
    if as_json:
        _echo_json({split: str(p) for split, p in paths.items()})
    else:
        for split, p in sorted(paths.items()):
            click.echo(f"{split:<6} {p}")


@corpus.command("synth")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--tokens", "n_tokens", type=click.IntRange(min=1), default=1_000_000, show_default=True, help="Tokens to write (</s> counted; whole sentences).")
@click.option("--vocab", "vocab_size", type=click.IntRange(min=2), default=5000, show_default=True, help="Word types of the source.")
@click.option("--classes", "n_classes", type=click.IntRange(min=1), default=20, show_default=True, help="Word classes (the hidden structure).")
@click.option("--order", type=click.IntRange(1, 6), default=2, show_default=True, help="Markov order of the source (an n-gram source with n = order + 1).")
@click.option("--branching", type=click.IntRange(min=1), default=4, show_default=True, help="Classes allowed after each context.")
@click.option("--zipf", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Zipf exponent of word frequencies inside a class.")
@click.option("--mean-words", type=click.FloatRange(min=1), default=20.0, show_default=True, help="Mean words per sentence.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the source and of the sample.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def corpus_synth(out, n_tokens, vocab_size, n_classes, order, branching, zipf, mean_words, seed, as_json):
    """Write OUT: text from a seeded Markov source with a known entropy rate.

    The source's description (configuration, exact entropy rate and true perplexity) is
    written beside OUT as OUT.source.json.
    """
    from lmstats.synth import MarkovSource, SourceConfig

    source = MarkovSource(SourceConfig(vocab_size, n_classes, order, branching, zipf, mean_words, seed))
    sentences = source.sample(n_tokens, np.random.default_rng([seed, 1]))
    with atomic_write(out) as fh:
        fh.write(source.text(sentences))
    info = source.describe() | {"path": str(out), "lines": len(sentences), "tokens": int(sum(len(s) + 1 for s in sentences))}
    with atomic_write(f"{out}.source.json") as fh:
        json.dump(info, fh, indent=2)
    if as_json:
        _echo_json(info)
    else:
        click.echo(f"wrote {out}: {info['lines']:,} lines, {info['tokens']:,} tokens (</s> counted)")
        click.echo(f"true entropy rate {info['entropy_rate_bits']:.4f} bits/token, true perplexity {info['true_perplexity']:.3f} (an {order + 1}-gram source)")



# Commands of the other capabilities live beside their library code and are attached here.
from lmstats.zipf_cli import zipf_command  # noqa: E402
main.add_command(zipf_command)
from lmstats.ngram_cli import ngram_command  # noqa: E402
main.add_command(ngram_command)
from lmstats.rnn_cli import rnn_command  # noqa: E402
main.add_command(rnn_command)
from lmstats.report_cli import report_command  # noqa: E402
main.add_command(report_command)
