"""``lmstats`` and ``python -m lmstats``: the command line, with Ctrl-C and SIGTERM handled from the start.

The console script calls :func:`main`, which installs the signal handling (:mod:`lmstats.interrupts`)
before it imports the commands (click, numpy and the library take a few tenths of a second; a signal meanwhile
is acted on when they are loaded), so an interruption at any moment is one line and an exit code, never a
traceback; and it starts sampling the idle cores (:func:`lmstats.threads.start_sampling`), so the quarter of a
second that takes passes during the imports.
"""

import sys


def main(argv=None) -> None:
    try:
        from lmstats.interrupts import Deferred, install
        from lmstats.threads import start_sampling

        install()
        start_sampling()  # the idle cores are sampled while the commands are imported
        # a signal while the commands load is acted on once they have: raised where it lands, it could land in one of
        # importlib's weakref callbacks, where Python prints it as an ignored exception and goes on
        with Deferred() as interrupt:
            from lmstats.cli import main as cli
        if interrupt.raised:
            interrupt.stop()
    except BaseException as exc:  # (Terminated is lmstats.interrupts', which may not be imported yet)
        from lmstats.interrupts import Terminated, describe

        if not isinstance(exc, (KeyboardInterrupt, Terminated)):
            raise
        message, code = describe(exc)
        print(f"lmstats: error: {message}", file=sys.stderr)
        sys.exit(code)
    cli(argv)


if __name__ == "__main__":
    main()
