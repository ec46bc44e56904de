"""Options every command shares, and the one way results are printed.

* :func:`corpus_options` adds ``CORPUS`` and the text, split and vocabulary options, and hands
  the command one frozen :class:`~lmstats.text.spec.CorpusSpec` (``corpus``), one
  :class:`~lmstats.text.spec.VocabSpec` (``vocab_spec``) and ``data_dir``.
* :func:`json_option` adds ``--json``; :func:`echo` prints either the JSON document or the
  text lines of a formatter; :func:`results_table` is the table of evaluation results.
* :func:`given` tells which options the user typed (a default is not a request), so that a
  command can refuse options that would be ignored instead of ignoring them silently.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from pathlib import Path

import click
import numpy as np
from click.core import ParameterSource

from lmstats.errors import LmstatsError
from lmstats.resources import format_size, free_disk
from lmstats.text.spec import FORMATS, LEVELS, CorpusSpec, VocabSpec

CORPUS_OPTIONS = ("level", "lower", "letters_only", "text_format", "split_text", "seed", "bpe_vocab")
VOCAB_OPTIONS = ("min_count", "max_vocab")


def parse_fractions(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise LmstatsError(f"--split takes three comma-separated fractions like 0.8,0.1,0.1, got {text!r}") from None
    if len(parts) != 3:
        raise LmstatsError(f"--split takes three fractions (train,valid,test), got {text!r}")
    return parts  # type: ignore[return-value]


def corpus_options(f=None, *, vocab: bool = True):
    """CORPUS and the options that describe it; the command receives ``corpus``, ``vocab_spec``, ``data_dir``.

    ``vocab=False`` leaves out --min-count/--max-vocab (for commands without a vocabulary).
    """
    if f is None:
        return functools.partial(corpus_options, vocab=vocab)
    options = [
        click.argument("source", metavar="[CORPUS]", required=False),
        click.option("--level", type=click.Choice(LEVELS), default=None,
                     help="Tokens are words (whitespace split), characters, or subword pieces (bpe, unigram) learned from the "
                          "training split. Default: the corpus's own (word for files)."),
        click.option("--bpe-vocab", "bpe_vocab", type=click.IntRange(min=2), default=None,
                     help="Subword pieces at --level bpe or unigram [default: 8000]."),
        click.option("--lower", is_flag=True, help="Lower-case the text."),
        click.option("--letters-only", is_flag=True,
                     help="d2l normalisation with Unicode letters: every run of non-letters becomes one space."),
        click.option("--format", "text_format", type=click.Choice(FORMATS), default="lines", show_default=True,
                     help="One sentence per line, or one continuous stream split by position "
                          "(at char level a line break is the character \\n)."),
        click.option("--split", "split_text", default=None,
                     help="train,valid,test fractions for corpora without predefined splits [default: 0.8,0.1,0.1]."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the train/valid/test split (and of the models' random choices)."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Folder with local copies of named corpora (NAME/FILE); default $LMSTATS_DATA."),
    ]
    if vocab:
        options += [
            click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True,
                         help="Types seen fewer times in train become <unk>."),
            click.option("--max-vocab", type=click.IntRange(min=1), default=None,
                         help="Keep at most this many (most frequent) types besides the specials."),
        ]

    @functools.wraps(f)
    def wrapper(*args, source, level, bpe_vocab, lower, letters_only, text_format, split_text, seed, data_dir, min_count=1, max_vocab=None,
                **kwargs):
        corpus = CorpusSpec(source=source, level=level, lower=lower, letters_only=letters_only, format=text_format,
                            split=parse_fractions(split_text), seed=seed, bpe_vocab=bpe_vocab)
        return f(*args, corpus=corpus, vocab_spec=VocabSpec(min_count, max_vocab), data_dir=data_dir, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")(f)


def given(*names: str) -> list[str]:
    """The options among ``names`` (parameter names) that the user set on the command line."""
    ctx = click.get_current_context()
    return [name for name in names if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]


_FLAGS = {"text_format": "format", "split_text": "split", "order": "n", "eps_text": "eps", "add_k": "k", "num_layers": "layers"}


def flag(name: str) -> str:
    """The command-line spelling of a parameter name (``order`` -> ``--n``)."""
    return "--" + _FLAGS.get(name, name).replace("_", "-")


def corpus_to_score(corpus: CorpusSpec, vocab_spec: VocabSpec, data_dir, trained_on, what: str):
    """The corpus to score a saved model on, as ``(corpus, vocab_spec, data_dir, tokenizer)``: CORPUS if given,
    else the one the model was trained on (``trained_on``, a :class:`~lmstats.trained_on.TrainedOn` or None); the
    subword pieces are always the model's.

    Options that describe CORPUS (--level, --split, ...) without CORPUS would be ignored, so
    they are an error that says which corpus the model was trained on.
    """
    if trained_on is None:
        return corpus, vocab_spec, data_dir, None
    if corpus.source is not None:
        return corpus, vocab_spec, data_dir, trained_on.subword_tokenizer()
    typed = given(*CORPUS_OPTIONS, *VOCAB_OPTIONS)
    if typed:
        raise LmstatsError(
            f"{', '.join(flag(n) for n in typed)} describe{'s' if len(typed) == 1 else ''} CORPUS, but none was given: {what} is scored on "
            f"the corpus it was trained on ({trained_on.corpus.describe()}); give CORPUS to score another corpus, or drop the option"
        )
    return trained_on.corpus, trained_on.vocab_spec, data_dir or trained_on.data_dir, trained_on.subword_tokenizer()


def default_output(kind: str, corpus: CorpusSpec, suffix: str) -> Path:
    """``lmstats-out/KIND-CORPUS-SUFFIX``: where a command writes when no path is given."""
    name = corpus.name.replace("/", "_").replace("*", "_")
    return Path("lmstats-out") / f"{kind}-{name}-{suffix}"


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not math.isfinite(obj) else float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def echo(data, as_json: bool, text=None) -> None:
    """Print ``data`` as one JSON document, or the lines ``text(data)`` gives."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))
    elif text is not None:
        for line in text(data):
            click.echo(line)


def results_table(results: dict) -> list[str]:
    """Lines of the evaluation table of ``{split: {mode: result dict}}`` (see ``evaluate_splits``)."""
    out = [f"{'split':<6} {'mode':<9} {'tokens':>10} {'OOV':>8} {'zero-p':>7} {'ppl':>11} "
           f"{'ppl no OOV':>11} {'bits/token':>10} {'bits/char':>9} {'score tok/s':>12}"]
    number = lambda v, spec: "inf" if v is None else format(v, spec)  # noqa: E731
    for name, by_mode in results.items():
        for mode, r in by_mode.items():
            per_char = "-" if r.get("n_chars") is None else number(r["bits_per_char"], ".4f")  # text size unknown: -
            out.append(f"{name:<6} {mode:<9} {r['n_tokens']:>10,} {r['n_oov']:>8,} {r['n_zero']:>7,} {number(r['ppl'], '>11.3f')} "
                       f"{number(r['ppl_no_oov'], '>11.3f')} {number(r['bits_per_token'], '>10.4f')} {per_char:>9} "
                       f"{r['tokens_per_s']:>12,.0f}")
    return out


def progress_bar(**kwargs):
    """A tqdm bar on stderr (hidden when stderr is not a terminal); tqdm is imported when used."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, disable=None, **kwargs)


class CountingReport:
    """The plan and one line per counted order (time, positions/s, files written) on stderr, for fits
    that go out of core, to a Dask cluster or that add more than :data:`LOUD_BYTES` of memory to what the
    process holds; a bar for the others (whose plan would be noise, whatever the process held before)."""

    LOUD_BYTES = 1 << 30

    def __init__(self, bar, engine: str = "local", scheduler: str | None = None, tmp: str | None = None):
        self.bar, self.engine, self.scheduler, self.tmp = bar, engine, scheduler, tmp
        self.loud, self.positions, self.free = False, 0, 0
        self.last = time.perf_counter()

    def plan(self, plan) -> None:
        self.loud = self.engine == "dask" or not plan.in_memory or plan.peak - plan.held > self.LOUD_BYTES
        self.positions, self.free, self.last = plan.positions, free_disk(self.tmp), time.perf_counter()
        if self.engine == "dask":
            self.say(f"counting {plan.positions:,} positions up to order {plan.order} on the Dask cluster "
                     f"{self.scheduler or '(a LocalCluster of this machine)'}")
        elif self.loud:
            self.say(plan.describe())

    def order(self, k: int) -> None:
        now = time.perf_counter()
        if self.loud:
            files = self.free - free_disk(self.tmp)
            self.say(f"order {k} counted in {now - self.last:.1f} s ({self.positions / max(now - self.last, 1e-9) / 1e6:.1f}M positions/s)"
                     + (f"; files so far {format_size(files)}" if files > 0 else ""))
        self.last = now
        self.bar.update(1)

    def say(self, line: str) -> None:
        self.bar.write(line, file=sys.stderr)
