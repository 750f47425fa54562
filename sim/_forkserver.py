"""Imported first by the fork server of a local pool (:func:`sim.experiments.executors._context`).

The server is started with Ctrl-C ignored, and blocked meanwhile in the process that
starts it (:func:`sim.experiments.executors._start_server`); it inherits both. This
unblocks it, and SIGTERM, which is blocked too while the server starts but not ignored:
Ctrl-C stays ignored, and the processes it forks do not inherit a blocked signal.
"""

import signal

if hasattr(signal, "pthread_sigmask"):
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
