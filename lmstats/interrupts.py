"""Ctrl-C and SIGTERM: the one place that says what an interruption does.

* SIGINT raises ``KeyboardInterrupt`` (Python's own rule) and SIGTERM raises
  :class:`Terminated` once :func:`install` has run (the command line does it before anything
  else).  Both are ``BaseException``: cleanup code (``finally``, temporary files, work folders)
  runs, and ``except Exception`` does not swallow them.
* :class:`Deferred` is for loops that must stop at a clean point (RNN training): inside it
  both signals only set a flag that the loop reads between steps; a second signal stops at once.
* :func:`keep` attaches to an interruption what was kept (a checkpoint, say), and
  :func:`describe` gives the one line and the exit code the command line prints (130 for
  Ctrl-C, 143 for SIGTERM).

Python runs a signal handler between bytecodes of the main thread, so a long call into C code
delays it until the call returns; lmstats therefore does its long work in bounded pieces
(counting blocks, scoring pieces, solver iterations), each of which returns within seconds.
"""

from __future__ import annotations

import signal
import threading


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (see :func:`install`)."""


def _terminate(signum, frame) -> None:
    raise Terminated


def install() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread (a no-op in other threads).  SIGINT is left
    as Python set it: ``KeyboardInterrupt``, or ignored where the parent started this process so."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def keep(exc: BaseException, note: str) -> BaseException:
    """Record on the interruption ``exc`` what was kept (said instead of the default); returns ``exc``."""
    exc.lmstats_kept = note  # type: ignore[attr-defined]
    return exc


def describe(exc: BaseException) -> tuple[str, int]:
    """The message and exit code of an interruption (``KeyboardInterrupt`` or :class:`Terminated`)."""
    kept = getattr(exc, "lmstats_kept", None)
    if isinstance(exc, Terminated):
        return f"terminated (SIGTERM); {kept or 'finished outputs were kept, temporary files were removed'}", 143
    return f"interrupted; {kept or 'finished outputs were kept, nothing half-written was left'}", 130


class Deferred:
    """Within the block, SIGINT and SIGTERM set :attr:`signum` instead of raising; :meth:`stop` then raises
    what the signal means.  A second signal raises at once.  Outside the main thread it does nothing, and a signal the
    process ignores (SIGINT in a job its shell started in the background) stays ignored."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    @property
    def raised(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> Deferred:
        if threading.current_thread() is threading.main_thread():  # a signal the process ignores stays ignored
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
        return self

    def _handle(self, signum, frame) -> None:
        again = self.raised
        self.signum = signum
        if again:
            self.stop()

    def stop(self) -> None:
        raise Terminated if self.signum == signal.SIGTERM else KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
