"""The ``qisim`` console script: :func:`sim.cli.main`, with a Ctrl-C during the command
line's own imports (its first second) ending as one later would, without a traceback."""

from __future__ import annotations

import sys

#: What a Ctrl-C prints, before exit status 130.
INTERRUPTED = "qisim: interrupted; nothing written"


def main() -> int:
    """Entry point of the ``qisim`` console script; returns the exit status."""
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return cli_main()
