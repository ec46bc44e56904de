"""``lmstats score MODEL [TEXT]...``: a text scored with any saved model, as KenLM's ``query`` and SRILM's ``ngram -ppl``.

The library call is :class:`lmstats.scoring.TextScorer`; this module parses, streams the rows it
gives to stdout as they come, and prints the summary.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from lmstats.cli.options import SchedulerAddress, device_option, given, json_option, refuse, threads_option
from lmstats.cli.output import echo
from lmstats.errors import LmstatsError
from lmstats.heap import Trimmer, one_arena
from lmstats.text.reader import TextSource
from lmstats.units import EVAL_MODES

TEXT_OPTIONS = ("level", "lower", "letters_only", "bpe_vocab", "format", "min_count", "max_size")
_NGRAM_KINDS = ("ngram", "arpa")
ROW_BLOCK = 1 << 16


def text_options(f):
    """The corpus's text options, hidden: typed, each is refused (the text is read as the model was trained)."""
    for flag, name in (("--level", None), ("--format", None), ("--bpe-vocab", None), ("--min-count", None),
                       ("--max-vocab", "max_size")):
        f = click.option(flag, *([name] if name else []), hidden=True, default=None)(f)
    for flag in ("--lower", "--letters-only"):
        f = click.option(flag, is_flag=True, hidden=True)(f)
    return f


@click.command("score")
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.argument("texts", metavar="[TEXT]...", nargs=-1, type=click.Path(allow_dash=True))
@click.option("--mode", type=click.Choice(EVAL_MODES), default="sentence", show_default=True,
              help="Score each line from <s> (KenLM's query), or the whole text as one stream (</s> at every line end).")
@click.option("--per-line", is_flag=True, help="One TSV row per line: line, log10 probability, tokens, OOVs, perplexity "
                                               "(the summary goes to stderr).")
@click.option("--per-token", is_flag=True, help="query's rows: token=id n-gram-length log10p for every token, a total per "
                                                "line (n-gram models; the summary goes to stderr).")
@click.option("--scheduler", type=SchedulerAddress(), default=None,
              help="Score on the Dask cluster at ADDRESS (tcp://HOST:PORT): MODEL a sharded model (lmstats ngram --engine dask "
                   "writes one) and TEXT files, on paths every worker reaches; the workers read the text and look its n-grams up "
                   "in the shards, and the summary is printed.")
@click.option("--bootstrap", "replicates", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Replicates of the 95% interval of the perplexity, a bootstrap over the scored lines (stream mode: blocks of "
                   "up to 256 tokens); 0: none.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap's draws.")
@threads_option
@device_option
@json_option
@text_options
def score_command(model_path, texts, mode, per_line, per_token, scheduler, replicates, seed, threads, device, as_json,
                  **_text_options):
    """Score TEXT (files, compressed too; '-' or none: standard input) with MODEL: an n-gram model folder or .npz,
    an ARPA file, an RNN checkpoint .pt or a mixture .json.

    The text is read as the model was trained (its level, lower-casing, letters only, subword pieces, as the
    model records them; an ARPA file: words as they are), so score takes no text options.  It is read and
    scored in pieces: memory stays the model plus a few pieces, whatever the text's size.  The default output is
    a summary (perplexity with and without OOVs, bits per token, char and byte); rows are written as scored.
    """
    from lmstats.saved import model_kind, open_model
    from lmstats.scoring import LINE_HEADER, TextScorer
    from lmstats.text.reading import TextReading
    from lmstats.threads import set_threads

    one_arena()  # (lmstats.heap: the peak memory of a long text)
    refuse(TEXT_OPTIONS, "score reads TEXT as MODEL was trained, under its vocabulary (its level, lower-casing, letters only "
                         "and subword pieces, as the model records them), so it takes no text or vocabulary options; drop it")
    if scheduler:
        return score_on_workers(model_path, texts, mode, per_line or per_token, scheduler, as_json)
    kind = model_kind(model_path)
    check_asked(per_line, per_token, as_json, kind, model_path)
    sources = text_sources(texts)
    saved = open_model(model_path, device=_device(device) if kind == "rnn" or given("device") else "cpu")
    if threads is not None or "torch" in sys.modules:  # (torch is loaded for an RNN; else the kernels choose per text)
        set_threads(threads, torch="torch" in sys.modules)
    reading = TextReading.of(saved.trained_on)
    scorer = TextScorer(saved.model, mode=mode, reading=reading, per_token=per_token)
    rows = "line_rows" if per_line else "token_rows" if per_token else None
    if per_line:
        click.echo(LINE_HEADER, nl=False)
    trimmer = Trimmer()
    for piece in scorer.pieces(sources):
        trimmer.check()
        if rows:
            write_rows(getattr(piece, rows)())
    result = scorer.result(", ".join(s.label for s in sources))
    info = {"model": saved.path, "kind": saved.kind, "description": saved.description, "texts": [s.label for s in sources],
            "reading": reading.describe(), **result.to_dict(), **interval_of(scorer, replicates, seed)}
    if rows:
        for line in summary_lines(info, result):
            click.echo(line, err=True)
    else:
        echo(info, as_json, lambda i: summary_lines(i, result))


def interval_of(scorer, replicates: int, seed: int) -> dict:
    """``{"ppl_interval": ...}``: the bootstrap interval of the perplexity (:mod:`lmstats.bootstrap`), or nothing when
    none is asked, the perplexity is infinite, or fewer than 2 units were scored."""
    from lmstats import bootstrap

    return {} if replicates == 0 else bootstrap.interval_of(scorer.unit_sums(), replicates=replicates, seed=seed)


def write_rows(text: str) -> None:
    """Rows to stdout in blocks of :data:`ROW_BLOCK` characters: a reader that has gone (``| head``) is then told by the
    next block (one large write to a closed pipe can end short without an error, and the run would go on)."""
    for start in range(0, len(text), ROW_BLOCK):
        click.echo(text[start : start + ROW_BLOCK], nl=False)


def check_asked(per_line: bool, per_token: bool, as_json: bool, kind: str, model_path: str) -> None:
    """One output at a time, per-token rows only of an n-gram model, no --device for one (refused before the model is read)."""
    if per_line and per_token:
        raise LmstatsError("--per-line and --per-token both asked; give one (per-token rows end each line with its total)")
    if as_json and (per_line or per_token):
        raise LmstatsError("--json prints one summary document, and --per-line/--per-token stream rows of text; give one of them")
    if per_token and kind not in _NGRAM_KINDS:
        what = "an RNN checkpoint" if kind == "rnn" else "a mixture"
        raise LmstatsError(f"--per-token gives the n-gram length matched (as KenLM's query), and {model_path} is {what}, not an "
                           "n-gram model; use --per-line for its rows")
    if kind in _NGRAM_KINDS:
        refuse(["device"], f"{model_path} is an n-gram model, which is scored on the CPU; drop --device")


def text_sources(texts: tuple[str, ...]) -> list[TextSource]:
    """The texts to read: files, '-' for standard input, none for standard input unless it is a terminal."""
    if not texts:
        if sys.stdin.isatty():
            raise LmstatsError("no TEXT given, and standard input is a terminal; give TEXT files, pipe a text in, or give '-' "
                               "to type one (end it with Ctrl-D)")
        texts = ("-",)
    if texts.count("-") > 1:
        raise LmstatsError("'-' (standard input) is given twice; it can be read once")
    for text in texts:
        if text != "-" and not Path(text).exists():
            raise LmstatsError(f"{text}: no such text file; check the path ('-' reads standard input)")
        if Path(text).is_dir():
            raise LmstatsError(f"{text}: is a folder; give the text files in it")
    return [TextSource("stdin", stream=_stdin()) if t == "-" else TextSource(t, Path(t)) for t in texts]


def _stdin():
    """Standard input's bytes through a reader of its own on its file descriptor: the text is read on a thread of its
    own (:func:`lmstats.scoring.read_ahead`), and were that thread waiting inside ``sys.stdin``'s reader at exit
    (Ctrl-C while a pipe stays open), the interpreter would abort on that reader's lock.  A replaced ``sys.stdin``
    without a descriptor (click's test runner) is read as it is."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.stdin.buffer
    return io.BufferedReader(io.FileIO(fd, "rb", closefd=False))


def score_on_workers(model_path: str, texts: tuple[str, ...], mode: str, rows: bool, scheduler: str, as_json: bool) -> None:
    """``--scheduler``: the summary of TEXT under a sharded MODEL, computed on the cluster (:mod:`lmstats.ngram.cluster_scoring`)."""
    from lmstats.ngram.cluster_scoring import open_sharded, score_on_cluster
    from lmstats.ngram.dask_cluster import dask_client
    from lmstats.text.ranges import Reading
    from lmstats.trained_on import TrainedOn

    if rows or mode != "sentence" or not texts or "-" in texts:
        raise LmstatsError("--scheduler scores files in sentence mode and prints the summary: give TEXT as files (not standard "
                           "input) and drop --per-line, --per-token and --mode stream, or drop --scheduler to score here")
    model = open_sharded(model_path)
    trained = TrainedOn.from_dict(model.meta)
    reading = Reading.of(trained.corpus if trained else None)
    with dask_client(scheduler) as client:
        result = score_on_cluster(client, model, list(texts), reading, "text")
    params = model.meta["params"]
    info = {"model": model_path, "kind": "ngram", "description": f"{params['order']}-gram {params['smoothing']}, sharded",
            "texts": list(texts), "reading": f"{reading.level} level, on the workers", **result.to_dict()}
    echo(info, as_json, lambda i: summary_lines(i, result))


def summary_lines(info: dict, result) -> list[str]:
    """The summary: the model and text, ``query``'s four lines (and the perplexity's interval), then bits per token,
    character and byte."""
    from lmstats.bootstrap import plural

    units = ("line" if result.mode == "sentence" else "stream") + ("s" if result.n_units != 1 else "")
    lines = [f"Model:\t{info['model']} ({info['description']})",
             f"Text:\t{', '.join(info['texts'])}: {result.n_units:,} {units} scored in {result.mode} mode, read at {info['reading']}",
             f"Perplexity including OOVs:\t{result.ppl:.4f}",
             f"Perplexity excluding OOVs:\t{result.ppl_no_oov:.4f}",
             f"OOVs:\t{result.n_oov}",
             f"Tokens:\t{result.n_tokens}",
             *([f"Perplexity 95% interval:\t{ci['low']:.4f} to {ci['high']:.4f} (bootstrap, {ci['replicates']:,} replicates over "
                f"{plural(ci['units'], ci['unit'])}, seed {ci['seed']})"] if (ci := info.get("ppl_interval")) else [])]
    if result.n_zero:
        lines.append(f"Tokens of probability 0:\t{result.n_zero}")
    return lines + [f"Bits per {what}:\t{getattr(result, f'bits_per_{what}'):.4f}" for what in ("token", "char", "byte")]


def _device(name: str):
    from lmstats.rnn.nets import resolve_device

    return resolve_device(name)
