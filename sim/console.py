"""The ``qisim`` console script: :func:`sim.cli.main`, with a Ctrl-C during the command
line's own imports (its first second) ending as one later would, without a traceback."""

from __future__ import annotations

import sys

#: What a Ctrl-C prints, before exit status 130.
INTERRUPTED = "qisim: interrupted; nothing written"


def by_ctrl_c(err: BaseException) -> bool:
    """Whether an error is a Ctrl-C, or came of one: a KeyboardInterrupt while a compiled
    module initialises surfaces as ``ImportError: initialization failed``."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def main() -> int:
    """Entry point of the ``qisim`` console script; returns the exit status."""
    try:
        from .cli import main as cli_main
    except (KeyboardInterrupt, ImportError) as err:
        if not by_ctrl_c(err):
            raise
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return cli_main()
