"""The executors that run a sweep's tasks (:mod:`sim.experiments.execute`).

Any :class:`concurrent.futures.Executor` can run the tasks (:func:`open_executor`):

- :class:`SequentialExecutor`: in this process, one task at a time (``--workers 1``);
- :class:`LocalPool`, a local :class:`~concurrent.futures.ProcessPoolExecutor`
  (``--workers N``, the default), whose workers are forked from a server process that
  has already imported qisim, so a worker's start-up costs milliseconds, once; its
  server and workers leave a Ctrl-C to the command, which stops them;
- a Dask distributed cluster (``--scheduler tcp://HOST:PORT``), through
  ``distributed.Client.get_executor()``, Dask's own ``concurrent.futures`` interface.

How tasks are sent does not decide what a run gives, so this module is not part of the
model code (:func:`sim.experiments.execute.model_code`): editing it leaves a stored
sweep resumable.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .execute import model_code


class SequentialExecutor(cf.Executor):
    """Runs each task in this process when it is submitted: no start-up, no pickling."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # the caller sees it through the future
            future.set_exception(err)
        return future


@dataclass
class ExecutorInfo:
    """An open executor, how many tasks it runs at once, and how to describe it."""

    executor: cf.Executor
    slots: int
    label: str


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _warm_up() -> None:
    """Initialiser of a pool worker: ignore Ctrl-C (the command takes it, and stops the
    workers itself: :class:`LocalPool`), and import the model once per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import sim.model  # noqa: F401


def _ready() -> None:
    """A task that does nothing: its result says a worker is up."""


def _context():
    """Fork from a server that has imported qisim (Linux, macOS); spawn elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["sim._forkserver", "sim.experiments.executors"])
        return ctx
    return multiprocessing.get_context("spawn")


#: The signals that stop a command: Ctrl-C, and SIGTERM, which the command line takes as
#: one (:func:`sim.console.signals_taken`).
STOPS = (signal.SIGINT, signal.SIGTERM)


def _takes(signum: int) -> bool:
    """Whether this thread can hold the signal: the main thread, with a handler set from
    Python (not SIG_IGN: a command started with Ctrl-C ignored keeps ignoring it)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    handler = signal.getsignal(signum)
    return handler is not None and handler not in (signal.SIG_IGN, signal.SIG_DFL)


def _start_server() -> None:
    """Start the process-wide fork server with Ctrl-C ignored (it keeps ignoring it).

    The server shares the terminal's process group, so a Ctrl-C while it starts and
    imports qisim (the first second or two of a sweep, more on a busy machine) would kill
    it, with a traceback, and the command with it. An ignored signal is kept through the
    server's exec; it is blocked here meanwhile, so that this process does not lose one,
    and the server unblocks it (:mod:`sim._forkserver`). Processes the server forks for
    other code in this interpreter start with Ctrl-C ignored too. A SIGTERM is blocked
    here too, so that the start is not cut short, but the server does not ignore it.
    """
    from multiprocessing import forkserver

    held = [s for s in STOPS if _takes(s)]
    if not held:
        forkserver.ensure_running()
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if signal.SIGINT in held else None
        try:
            forkserver.ensure_running()
        finally:
            if handler is not None:
                signal.signal(signal.SIGINT, handler)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal held meanwhile arrives now


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C or a SIGTERM until the block ends, then take it (even if the block
    raised).

    Starting a worker must not be cut short: one started but not yet counted by the
    pool would be waited for for ever when the pool closes. Only where the signal can be
    taken (:func:`_takes`); elsewhere the block runs as it is.
    """
    held = [s for s in STOPS if _takes(s)]
    caught: list[int] = []
    handlers = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])  # taken now, as the handler before would take it


class LocalPool(cf.Executor):
    """A local process pool (``--workers N``) that a Ctrl-C leaves in order.

    Its workers ignore Ctrl-C: a terminal sends it to the whole process group, and a
    worker taking it while starting, idle or between tasks printed a traceback or was
    lost to the pool. The command takes it instead, and a pool closed with tasks still
    unfinished (an interrupted sweep) stops its workers at once rather than letting
    them finish. Each task is submitted with a Ctrl-C held (:func:`_ctrl_c_held`), as a
    submit may start a worker.
    """

    def __init__(self, workers: int):
        context = _context()
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_warm_up)
        self._unfinished: set[cf.Future] = set()
        self._lock = threading.Lock()
        if context.get_start_method() == "forkserver":
            _start_server()  # (holds a Ctrl-C itself, blocked while the server starts)
        try:
            self.submit(_ready).result()  # the server has imported qisim; a worker is up
        except BaseException:  # a Ctrl-C meanwhile: the workers go with it
            self.shutdown()
            raise

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        with _ctrl_c_held():
            future = self._pool.submit(fn, *args, **kwargs)
            with self._lock:
                self._unfinished.add(future)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: cf.Future) -> None:
        with self._lock:
            self._unfinished.discard(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Close the pool: at once, workers stopped, when tasks are still unfinished."""
        with self._lock:
            unfinished = any(not f.done() for f in self._unfinished)
        if not unfinished:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
            return
        if hasattr(self._pool, "terminate_workers"):  # Python 3.14
            self._pool.terminate_workers()
            return
        workers = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join()
        # The pool's manager thread now finds its workers gone and closes the pool with a
        # lock held; wait for it while the pool is still referenced here. Collected
        # meanwhile (a garbage collection in the thread the manager waits for), the pool
        # takes that lock in a weakref callback: before Python 3.12.8 both threads wait for
        # ever, and the command hangs at exit (CPython gh-125451).
        manager = getattr(self._pool, "_executor_manager_thread", None)
        if manager is not None:
            manager.join()


@contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[ExecutorInfo]:
    """The executor for ``--workers`` / ``--scheduler``; closed (tasks cancelled) on exit."""
    if scheduler:
        with _dask_executor(scheduler) as info:
            yield info
        return
    n = default_workers() if workers is None else workers
    if n <= 1:
        yield ExecutorInfo(SequentialExecutor(), 1, "in this process")
        return
    pool = LocalPool(n)
    try:
        yield ExecutorInfo(pool, n, f"on a local pool of {n} worker processes")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def worker_version() -> str:
    """The qisim version and model code a (Dask) worker runs."""
    from sim import __version__

    return f"{__version__} (model code {model_code()})"


@contextmanager
def _dask_executor(address: str, wait_seconds: float = 60.0) -> Iterator[ExecutorInfo]:
    """A Dask cluster's ``concurrent.futures`` executor, once the workers are known to
    run this version of qisim."""
    from distributed import Client  # Dask distributed: runs tasks on a cluster of workers

    from sim.cli import UsageError

    if not re.fullmatch(r"((tcp|tls|ws|wss|ucx)://)?(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):\d{1,5}", address):
        raise UsageError(f"--scheduler: expected an address such as tcp://HOST:PORT (got {address!r})")
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except Exception as err:  # OSError, TimeoutError, ValueError for a bad address
        raise UsageError(
            f"--scheduler: cannot connect to {address!r} ({' '.join(str(err).split())})"
        ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=wait_seconds)
        except Exception:
            raise UsageError(
                f"--scheduler: no worker joined {address} within {wait_seconds:.0f} s; "
                f"start workers with `dask worker {address}`"
            ) from None
        try:
            versions = client.run(worker_version)
        except Exception as err:
            raise UsageError(
                f"--scheduler: a worker of {address} cannot import qisim ({type(err).__name__}: {err}); "
                "install qisim on every worker"
            ) from None
        here = worker_version()
        wrong = {w: v for w, v in versions.items() if v != here}
        if wrong:
            w, v = next(iter(wrong.items()))
            raise UsageError(
                f"--scheduler: worker {w} runs qisim {v}, this is qisim {here}; "
                "install the same qisim everywhere"
            )
        slots = max(1, sum(client.nthreads().values()))
        executor = client.get_executor(pure=False)
        workers = f"{len(versions)} worker{'s' if len(versions) != 1 else ''}"
        try:
            yield ExecutorInfo(
                executor,
                slots,
                f"on the Dask cluster at {address} ({workers})",
            )
        finally:
            executor.shutdown(wait=False)
    finally:
        client.close()
