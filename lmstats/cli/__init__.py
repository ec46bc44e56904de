"""The ``lmstats`` command line: thin click commands over library calls.

One module per command (:mod:`~lmstats.cli.corpus`, :mod:`~lmstats.cli.ngram`,
:mod:`~lmstats.cli.score`, :mod:`~lmstats.cli.zipf`, :mod:`~lmstats.cli.rnn`, :mod:`~lmstats.cli.mix`,
:mod:`~lmstats.cli.report`), shared
options in :mod:`~lmstats.cli.options`.  Every command takes ``--json`` (one JSON document on
stdout).  User mistakes (a missing file, an empty corpus, a bad option value, an output that
cannot be written) print one line ``lmstats: error: ...`` on stderr and exit with code 2;
Ctrl-C exits with 130 and SIGTERM with 143, both after removing temporary files; a reader of stdout
that goes away (``lmstats score ... | head``) ends the command quietly with exit code 1.  Heavy
libraries (torch, scipy, matplotlib, pandas) are imported inside the commands that use them,
so ``--help`` and the n-gram commands start without them.
"""

from __future__ import annotations

import os
import re
import sys

import click

from lmstats import __version__
from lmstats.cli.corpus import corpus_group
from lmstats.cli.mix import mix_command
from lmstats.cli.ngram import ngram_command
from lmstats.cli.report import report_command
from lmstats.cli.rnn import rnn_group
from lmstats.cli.score import score_command
from lmstats.cli.zipf import zipf_command
from lmstats.errors import LmstatsError
from lmstats.interrupts import Terminated, describe, install
from lmstats.resources import disk_full
from lmstats.threads import forget_threads

# click reads "--eps=-1" as the flag --eps followed by an option "-1" when the value is
# optional; a leading space keeps it a value (float() ignores it), so the check of the value
# itself reports it.
_OPTIONAL_VALUE = re.compile(r"^(--eps=)(-)")


class LmstatsGroup(click.Group):
    """A click group whose errors are one line on stderr with exit code 2, never a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        install()
        try:
            return self._run(args, prog_name, complete_var, **extra)
        finally:
            forget_threads()  # a --threads of this invocation is not the next one's (tests invoke many in one process)

    def _run(self, args, prog_name, complete_var, **extra):
        args = [_OPTIONAL_VALUE.sub(r"\1 \2", a) for a in (sys.argv[1:] if args is None else args)]
        extra.setdefault("obj", {"argv": list(args)})  # the command line as given, for reports to record
        try:
            value = super().main(args, prog_name or "lmstats", complete_var, standalone_mode=False, **extra)
            sys.stdout.flush()  # a reader gone (| head) is told here, not by the interpreter's last flush
            return value
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            message = exc.format_message()
            flag = exc.param.opts[0] if isinstance(exc, click.BadParameter) and exc.param is not None and exc.param.opts else None
            if flag:  # a bad value: "--flag: why" (a message that names its option already stays as it is)
                message = exc.message if exc.message.startswith(flag) else f"{flag}: {exc.message}"
            if re.match(r"No such option '-[\d.]", message):
                message += ": a negative number was read as an option; values such as --eps and --k must be > 0"
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail(f"{message}{hint}", 2)
        except click.ClickException as exc:
            _fail(exc.format_message(), 2)
        except LmstatsError as exc:
            _fail(str(exc), 2)
        except click.exceptions.Abort as exc:  # click turns a KeyboardInterrupt into Abort (from it)
            _fail(*describe(exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt) else KeyboardInterrupt()))
        except (KeyboardInterrupt, Terminated) as exc:
            _fail(*describe(exc))
        except BrokenPipeError:  # the reader of stdout has gone (| head): quietly, as the Python docs advise
            _stdout_to_devnull()
            sys.exit(1)
        except OSError as exc:
            if not disk_full(exc):
                raise
            where = f" writing {exc.filename}" if exc.filename else ""
            _fail(f"the disk is full{where} ({exc.strerror}); free space there, or give --tmp DIR (work files) or an output path on a "
                  "larger disk", 2)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that what is still buffered for the reader that has gone is dropped at exit
    instead of raising BrokenPipeError again ("Exception ignored ...")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's captured output): nothing is flushed to a pipe
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _fail(message: str, code: int) -> None:
    click.echo(f"lmstats: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=LmstatsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmstats")
def main() -> None:
    """Language-model statistics: corpora, n-gram smoothers, Zipf fits, RNN baselines,
    all scored by one perplexity evaluator on one vocabulary.

    With no CORPUS argument, commands use the built-in corpus 'python-docs' (the Python
    reference text shipped with every Python), so everything works offline.
    """


for command in (corpus_group, ngram_command, score_command, zipf_command, rnn_group, mix_command, report_command):
    main.add_command(command)
