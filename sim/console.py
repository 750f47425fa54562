"""The ``qisim`` console script: :func:`sim.cli.main`, with a Ctrl-C during the command
line's own imports (its first second) ending as one later would, without a traceback.

A SIGTERM (``kill PID``, ``timeout``, a batch system or service manager stopping a job)
takes the way out a Ctrl-C takes: :func:`signals_taken` turns it into :class:`Terminated`,
a :class:`KeyboardInterrupt`, so that temporary folders are removed and a pool's worker
processes are stopped on the way; the command then ends with one line and exit status
143 (130 for a Ctrl-C).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: What a Ctrl-C prints, before exit status 130.
INTERRUPTED = "qisim: interrupted; nothing written"
#: What a SIGTERM prints, before exit status 143.
TERMINATED = "qisim: terminated; nothing written"


class Terminated(KeyboardInterrupt):
    """A SIGTERM, raised where a Ctrl-C's KeyboardInterrupt would be (exit status 143)."""


#: The Ctrl-Cs and SIGTERMs taken within :func:`signals_taken`, so that one some code
#: swallowed or turned into another error is not lost.
_taken: list[int] = []


def _raise_stop(signum, frame) -> None:
    _taken.append(signum)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _taken_stop() -> KeyboardInterrupt | None:
    """The stop that the first signal taken within :func:`signals_taken` raised, or None."""
    if not _taken:
        return None
    return Terminated() if _taken[0] == signal.SIGTERM else KeyboardInterrupt()


def check_stopped() -> None:
    """Raise the Ctrl-C's KeyboardInterrupt or the SIGTERM's :class:`Terminated` if one was
    taken: called where a command goes on to its next stage, for one that code run
    meanwhile swallowed (a library that takes an import cut short by it, an ImportError,
    for a missing optional dependency)."""
    stop = _taken_stop()
    if stop is not None:
        raise stop


def stopped_by(err: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM (:class:`Terminated`) that an error is or came of, or None.

    A KeyboardInterrupt while a compiled module initialises surfaces as another error,
    often with the interrupt no longer in its chain (``ImportError: initialization
    failed``; ``SystemError: ... returned a result with an exception set`` from pandas,
    its cause an ImportError from ``PyCapsule_Import``): within :func:`signals_taken`, a
    signal taken counts as the cause of any error after it.
    """
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return _taken_stop()


def exit_status(stop: BaseException) -> int:
    """The exit status of a command stopped by ``stop``: 143 for a SIGTERM, 130 for a Ctrl-C."""
    return 143 if isinstance(stop, Terminated) else 130


def stopped(stop: BaseException, kept: str = "") -> int:
    """Say on standard error that the command was stopped, and what is ``kept`` (by default
    nothing was written); returns the exit status."""
    what = "terminated" if isinstance(stop, Terminated) else "interrupted"
    print(f"qisim: {what}; {kept or 'nothing written'}", file=sys.stderr)
    return exit_status(stop)


@contextmanager
def signals_taken() -> Iterator[None]:
    """Within the block, a SIGTERM raises :class:`Terminated` and a Ctrl-C raises
    KeyboardInterrupt, each recorded (:func:`check_stopped`, :func:`stopped_by`); the
    handlers before are restored after. Not where they cannot be (a thread other than the
    main one), nor for a signal that is ignored (a command started so keeps ignoring it)
    or that other code handles (a Ctrl-C whose handler is not Python's own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    default = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    before = {}
    for signum, handler in default.items():
        if signal.getsignal(signum) in (handler, _raise_stop):
            before[signum] = signal.signal(signum, _raise_stop)
    _taken.clear()
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        _taken.clear()


def _ended(status: int) -> None:
    """The command has ended with ``status`` and said so: from now on a Ctrl-C or SIGTERM
    ends the process at once with that status (one while the interpreter exits, say in
    an exit handler, would print a traceback or end the process as killed, although the
    command had finished)."""

    def leave(signum, frame) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) not in (signal.SIG_IGN, None):
            signal.signal(signum, leave)


def _stop_signals_ignored() -> None:
    """Ignore Ctrl-C and SIGTERM from now on: called by :mod:`atexit` after every other
    exit handler (it is registered before them), when only the interpreter's own teardown
    is left. That takes a few tenths of a second after a command that imported much, with
    the signals' default actions put back, so that one would end the process with no
    word, as if killed, after the command had finished and said so."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not None:
            signal.signal(signum, signal.SIG_IGN)


_quiet_exit: list[bool] = []


def main() -> int:
    """Entry point of the ``qisim`` console script; returns the exit status."""
    if not _quiet_exit and threading.current_thread() is threading.main_thread():
        atexit.register(_stop_signals_ignored)  # before the command's imports: it runs last
        _quiet_exit.append(True)
    with signals_taken():
        try:
            from .cli import main as cli_main

            check_stopped()  # (one an import swallowed)
        except BaseException as err:  # (an import cut short by a Ctrl-C may fail any way)
            stop = stopped_by(err)
            if stop is None:
                raise
            return stopped(stop)
    status = cli_main()  # (takes the signals itself)
    if threading.current_thread() is threading.main_thread():
        _ended(status)
    return status
