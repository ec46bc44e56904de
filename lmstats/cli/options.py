"""Options the commands share, each defined once, parsed by click types (not in command bodies).

* :func:`corpus_options` adds ``CORPUS`` and one option per field of
  :class:`~lmstats.text.spec.CorpusSpec` and :class:`~lmstats.text.spec.VocabSpec` (the table
  :data:`CORPUS_FLAGS` is checked to cover every field), and hands the command the two specs
  (``corpus``, ``vocab_spec``) and ``data_dir``; :func:`typed_corpus_fields` tells which fields
  the user typed (for the report, whose config file gives the rest).
* :func:`dataclass_options` does the same for any config dataclass (``lmstats rnn train``'s
  options are :class:`~lmstats.rnn.recipe.RNNConfig`'s fields, with its defaults).
* The options of running (``--memory``, ``--tmp``, ``--threads``, ``--device``, ``--mode``,
  ``--data-dir``, ``--json``) are the decorators below; their values arrive parsed: bytes,
  a writable folder, evaluation modes as a tuple.
* :func:`given` tells which options the user typed (a default is not a request), so that a
  command can refuse options that would be ignored instead of ignoring them silently.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import MISSING, fields
from pathlib import Path

import click
from click.core import ParameterSource

from lmstats.errors import LmstatsError
from lmstats.resources import DEFAULT_MEMORY, parse_memory
from lmstats.rnn.recipe import DEVICES
from lmstats.text.spec import FORMATS, LEVELS, CorpusSpec, VocabSpec, check_fractions
from lmstats.units import EVAL_MODES


# -- click types: values arrive parsed ----------------------------------------------------------
class Memory(click.ParamType):
    """``--memory``: ``4G``, ``500M``, ``40%`` of RAM or bytes -> bytes."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        try:
            return value if isinstance(value, int) else parse_memory(value)
        except LmstatsError as exc:
            self.fail(str(exc), param, ctx)  # parse_memory's messages name --memory and the value


class Numbers(click.ParamType):
    """Comma-separated numbers of ``kind`` -> a tuple; ``usage`` says what the option takes (for its error), and
    :meth:`check` (for subclasses) what the numbers must be."""

    name = "N,N,..."

    def __init__(self, kind=float, usage: str = "numbers separated by commas"):
        self.kind, self.usage = kind, usage

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        try:
            numbers = tuple(self.kind(x) for x in text.split(","))
        except ValueError:
            self.fail(f"{param.opts[0] if param else 'it'} takes {self.usage}; got {text!r}", param, ctx)
        return self.check(numbers, text, param, ctx)

    def check(self, numbers: tuple, text: str, param, ctx) -> tuple:
        return numbers


class Fractions(Numbers):
    """``--split 0.8,0.1,0.1`` -> three finite fractions >= 0 summing to 1."""

    name = "A,B,C"

    def __init__(self):
        super().__init__(float, "three comma-separated fractions (train,valid,test) like 0.8,0.1,0.1")

    def check(self, numbers, text, param, ctx):
        if len(numbers) != 3:
            self.fail(f"--split takes three fractions (train,valid,test) like 0.8,0.1,0.1, not {len(numbers)}: {text!r}", param, ctx)
        try:
            check_fractions(numbers)
        except LmstatsError as exc:
            self.fail(f"--split: {exc}", param, ctx)
        return numbers


class WorkFolder(click.ParamType):
    """``--tmp``: a folder that exists and where files can be written (checked before any work)."""

    name = "DIR"

    def convert(self, value, param, ctx):
        path = Path(value)
        if not path.exists():
            self.fail(f"{path}: no such folder; create it or give another folder for the work files", param, ctx)
        if not path.is_dir():
            self.fail(f"{path}: is a file, not a folder; give a folder for the work files", param, ctx)
        try:  # the only reliable test (permissions, read-only mounts, root) is to write there
            fd, probe = tempfile.mkstemp(prefix=".lmstats-probe.", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            self.fail(f"{path}: cannot write there ({exc.strerror or exc}); give a writable folder", param, ctx)
        return str(path)


# -- the options of running ---------------------------------------------------------------------
def memory_option(what: str = "counting spills to --tmp"):
    return click.option("--memory", type=Memory(), default=DEFAULT_MEMORY, show_default=True,
                        help=f"Memory for counting, as lmplz -S: 4G, 500M or a share of RAM such as 40%; beyond it, {what}.")


tmp_option = click.option("--tmp", type=WorkFolder(), default=None,
                          help="Folder for work files (as lmplz -T); it must exist [default: the system's temporary folder].")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=None,
                              help="CPU threads (default: the cores idle when the command starts, at least 1; LMSTATS_THREADS).")
device_option = click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                             help="cuda when available (auto), or force one.")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="Folder with local copies of named corpora (NAME/FILE) [default: the folder a saved model's "
                                    "corpus was found in, else $LMSTATS_DATA].")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")


def _modes(ctx, param, value) -> tuple[str, ...] | None:
    """``--mode sentence|stream|both`` -> a tuple of evaluation modes (None: not given)."""
    return None if value is None else EVAL_MODES if value == "both" else (value,)


def modes_option(default: str | None = "both", help: str = "Evaluation mode(s).", **extra):
    return click.option("--mode", "modes", type=click.Choice((*EVAL_MODES, "both")), default=default, callback=_modes,
                        show_default=default is not None, help=help, **extra)


# -- the corpus and its vocabulary: one option per field ------------------------------------------
CORPUS_FLAGS = {
    "level": click.option("--level", type=click.Choice(LEVELS), default=None,
                          help="Tokens are words (whitespace split), characters, or subword pieces (bpe, unigram) learned from "
                               "the training split. Default: the corpus's own (word for files)."),
    "bpe_vocab": click.option("--bpe-vocab", type=click.IntRange(min=2), default=None,
                              help="Subword pieces at --level bpe or unigram [default: 8000]."),
    "lower": click.option("--lower", is_flag=True, help="Lower-case the text."),
    "letters_only": click.option("--letters-only", is_flag=True,
                                 help="d2l normalisation with Unicode letters: every run of non-letters becomes one space."),
    "format": click.option("--format", type=click.Choice(FORMATS), default="lines", show_default=True,
                           help="One sentence per line, or one continuous stream split by position "
                                "(at char level a line break is the character \\n)."),
    "split": click.option("--split", type=Fractions(), default=None,
                          help="train,valid,test fractions for corpora without predefined splits [default: 0.8,0.1,0.1]."),
    "seed": click.option("--seed", type=int, default=0, show_default=True,
                         help="Seed of the train/valid/test split (and of the models' random choices)."),
    "min_count": click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True,
                              help="Types seen fewer times in train become <unk>."),
    "max_size": click.option("--max-vocab", "max_size", type=click.IntRange(min=1), default=None,
                             help="Keep at most this many (most frequent) types besides the specials."),
}
CORPUS_FIELDS = tuple(f.name for f in fields(CorpusSpec) if f.name != "source")
VOCAB_FIELDS = tuple(f.name for f in fields(VocabSpec))
assert set(CORPUS_FLAGS) == set(CORPUS_FIELDS) | set(VOCAB_FIELDS), "every CorpusSpec/VocabSpec field has its option"


def corpus_options(f=None, *, vocab: bool = True):
    """CORPUS and its options; the command receives ``corpus``, ``vocab_spec`` and ``data_dir``.

    ``vocab=False`` leaves out the vocabulary options (for commands without a vocabulary).
    """
    if f is None:
        return functools.partial(corpus_options, vocab=vocab)
    names = CORPUS_FIELDS + (VOCAB_FIELDS if vocab else ())

    @functools.wraps(f)
    def wrapper(*args, source, data_dir, **kwargs):
        corpus = CorpusSpec(source=source, **{name: kwargs.pop(name) for name in CORPUS_FIELDS})
        vocab_spec = VocabSpec(**{name: kwargs.pop(name) for name in VOCAB_FIELDS if name in kwargs})
        return f(*args, corpus=corpus, vocab_spec=vocab_spec, data_dir=data_dir, **kwargs)

    for option in reversed([click.argument("source", metavar="[CORPUS]", required=False), *(CORPUS_FLAGS[n] for n in names),
                            data_dir_option]):
        wrapper = option(wrapper)
    return wrapper


def typed_corpus_fields(corpus: CorpusSpec) -> dict:
    """The fields of ``corpus`` the user gave on the command line (CORPUS itself included), by field name."""
    typed = {name: getattr(corpus, name) for name in given(*CORPUS_FIELDS)}
    return ({"source": corpus.source} if corpus.source is not None else {}) | typed


def dataclass_options(cls, flags: dict[str, dict], *, into: str = "config"):
    """One option per entry of ``flags`` (field name -> click.option keywords, ``"flag"`` among them) with the
    field's default of ``cls``; the command receives ``cls(**values)`` as ``into`` (the fields left out take
    their defaults, and ``seed`` comes from the corpus options when the command has them)."""
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    unknown = set(flags) - set(defaults)
    assert not unknown, f"options for fields {cls.__name__} does not have: {sorted(unknown)}"

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            values = {name: kwargs.pop(name) for name in flags}
            if "seed" in defaults and "corpus" in kwargs:
                values["seed"] = kwargs["corpus"].seed
            return f(*args, **{into: cls(**values)}, **kwargs)

        for name, spec in reversed(flags.items()):
            spec = dict(spec)
            option = spec.pop("flag")
            default = defaults[name]
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default is not None  # as the option takes it
            wrapper = click.option(*option if isinstance(option, tuple) else (option,), name, default=default,
                                   show_default=shown, **spec)(wrapper)
        return wrapper

    return decorate


# -- what the user typed --------------------------------------------------------------------------
def given(*names: str) -> list[str]:
    """The options among ``names`` (parameter names) that the user set on the command line."""
    ctx = click.get_current_context()
    return [name for name in names if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]


def flag(name: str) -> str:
    """The command-line spelling of a parameter of the current command (``order`` -> ``--n``)."""
    params = click.get_current_context().command.params
    return next((p.opts[0] for p in params if p.name == name and p.opts), "--" + name.replace("_", "-"))


def refuse(names, why: str) -> None:
    """Refuse the options among ``names`` that the user typed: one error ``FLAGS would be ignored: WHY``."""
    typed = given(*names)
    if typed:
        raise LmstatsError(f"{', '.join(flag(n) for n in typed)} would be ignored: {why}")


def refuse_unused_seed(predefined: bool, *, used_otherwise: bool = False) -> None:
    """``--seed`` seeds the split; on a corpus with predefined splits (and no other use here) it would be ignored."""
    if predefined and not used_otherwise:
        refuse(["seed"], "the corpus has predefined train/valid/test files, so there is no split to seed, and this command "
                         "draws nothing at random; drop --seed")


def corpus_to_score(corpus: CorpusSpec, vocab_spec: VocabSpec, data_dir, trained_on, what: str):
    """The corpus to score a saved model on, as ``(corpus, vocab_spec, data_dir, tokenizer)``: CORPUS if given,
    else the one the model was trained on (``trained_on``, a :class:`~lmstats.trained_on.TrainedOn` or None); the
    subword pieces are always the model's, and so is the vocabulary the text is encoded with (so the
    vocabulary options would be ignored: they are refused).

    Options that describe CORPUS (--level, --split, ...) without CORPUS would be ignored, so
    they are an error that says which corpus the model was trained on.
    """
    refuse(VOCAB_FIELDS, f"{what} is scored under its own vocabulary (a word it does not know is <unk>); drop the option")
    if trained_on is None:
        return corpus, vocab_spec, data_dir, None
    if corpus.source is not None:
        return corpus, vocab_spec, data_dir, trained_on.subword_tokenizer()
    refuse(CORPUS_FIELDS, f"CORPUS options apply only to a CORPUS given, and none was: {what} is scored on the corpus it was "
                          f"trained on ({trained_on.corpus.describe()}); give CORPUS to score another corpus, or drop the option")
    return trained_on.corpus, trained_on.vocab_spec, data_dir or trained_on.data_dir, trained_on.subword_tokenizer()


def default_output(kind: str, corpus: CorpusSpec, suffix: str) -> Path:
    """``lmstats-out/KIND-CORPUS-SUFFIX``: where a command writes when no path is given."""
    name = corpus.name.replace("/", "_").replace("*", "_")
    return Path("lmstats-out") / f"{kind}-{name}-{suffix}"


class SchedulerAddress(click.ParamType):
    """``--scheduler``: an address of the forms distributed reads (checked before the corpus is read; nothing is connected)."""

    name = "ADDRESS"

    def convert(self, value, param, ctx):
        from lmstats.ngram.dask_cluster import scheduler_address

        try:
            scheduler_address(value)
        except LmstatsError as exc:
            self.fail(str(exc), param, ctx)
        return str(value).strip()
