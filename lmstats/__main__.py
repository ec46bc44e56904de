"""``lmstats`` and ``python -m lmstats``: the command line, with Ctrl-C and SIGTERM handled from the start.

The console script calls :func:`main`, which installs the signal handling (:mod:`lmstats.interrupts`)
before it imports the commands (click, numpy and the library take a few tenths of a second), so an
interruption at any moment is one line and an exit code, never a traceback; and it starts sampling the idle cores
(:func:`lmstats.threads.start_sampling`), so the quarter of a second that takes passes during the imports.
"""

import sys


def main(argv=None) -> None:
    from lmstats.interrupts import Terminated, describe, install
    from lmstats.threads import start_sampling

    install()
    start_sampling()  # the idle cores are sampled while the commands are imported
    try:
        from lmstats.cli import main as cli
    except (KeyboardInterrupt, Terminated) as exc:
        message, code = describe(exc)
        print(f"lmstats: error: {message}", file=sys.stderr)
        sys.exit(code)
    cli(argv)


if __name__ == "__main__":
    main()
