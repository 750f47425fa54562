"""Helpers to drive the app in a real browser: start ``qisim app`` on a free port, launch
Debian's chromium through playwright, block every request outside 127.0.0.1.

Used by the browser tests and by ``python -m sim.app.screenshots``.  playwright is
imported by the caller; nothing here downloads a browser.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from .server import BLOCKED

#: Chromium's flags: headless, and none of its own calls home.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str | None:
    """Path of Debian's chromium, or None."""
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``qisim app`` in a subprocess; ``stderr_text()`` is what it has said so far."""

    def __init__(self, port: int | None = None, log: Path | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        self._err = open(log, "w+b") if log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from sim.cli import main; sys.exit(main())",
                "app",
                "--port",
                str(self.port),
                "--quiet",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qisim app exited with {self.proc.returncode}: {self.stderr_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"qisim app did not answer on {self.url} within {timeout} s")

    def stderr_text(self) -> str:
        if not self.log:
            return ""
        return Path(self.log).read_text(errors="replace")

    def blocked(self) -> list[str]:
        """Outside requests the server's guard refused."""
        return [line for line in self.stderr_text().splitlines() if BLOCKED in line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.log:
            self._err.close()


@contextmanager
def running_server(log: Path | None = None):
    server = Server(log=log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def launch(playwright):
    """Debian's chromium, headless, through playwright."""
    return playwright.chromium.launch(executable_path=chromium(), args=list(CHROMIUM_ARGS))


def offline_context(browser, blocked: list[str], requested: list[str] | None = None, **kwargs):
    """A browser context in which every request to a host other than 127.0.0.1 is aborted
    (and appended to ``blocked``); local ones are appended to ``requested``."""
    context = browser.new_context(**kwargs)

    def route(r):
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname == "127.0.0.1":
            if requested is not None:
                requested.append(url)
            return r.continue_()
        blocked.append(url)
        return r.abort()

    context.route("**/*", route)
    return context
