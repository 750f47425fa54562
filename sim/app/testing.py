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
    """A browser context in which every request to a host other than 127.0.0.1 (or its name,
    localhost) is aborted (and appended to ``blocked``); local ones are appended to
    ``requested``."""
    context = browser.new_context(**kwargs)

    def route(r):
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in ("127.0.0.1", "localhost"):
            if requested is not None:
                requested.append(url)
            return r.continue_()
        blocked.append(url)
        return r.abort()

    context.route("**/*", route)
    return context


class PageInPython:
    """The app's page rendered in Python, without a browser or a server, for tests of what
    the page does with clicks and typing (``solara.render``; widgets found by type and text).

    ``pair`` is the page's :class:`~sim.app.session.Pair`, to read or to move behind the
    page's back (as the play loop does between two redraws).
    """

    def __init__(self, pair=None):
        import solara

        from .page import Page
        from .session import Pair

        self.pair = pair or Pair()
        self.box, self.rc = solara.render(Page(self.pair), handle_error=False)

    def close(self) -> None:
        self.rc.close()

    def widgets(self, kind, where=None) -> list:
        """Widgets of type ``kind`` (an ipyvuetify class), in page order; ``where``: a
        widget to search under (default: the page)."""
        out: list = []

        def walk(w):
            if isinstance(w, kind):
                out.append(w)
            for child in getattr(w, "children", None) or []:
                if hasattr(child, "children") or hasattr(child, "v_model"):
                    walk(child)

        walk(where or self.box)
        return out

    def with_class(self, name: str) -> list:
        """Widgets whose CSS classes include ``name``."""
        import ipywidgets

        return [
            w for w in self.widgets(ipywidgets.DOMWidget) if name in (getattr(w, "class_", "") or "").split()
        ]

    def text(self, widget=None) -> str:
        """Every string the widget (default: the page) shows, joined by newlines."""
        import ipywidgets

        parts = []
        for w in self.widgets(ipywidgets.Widget, widget):
            for attr in ("children", "value", "label", "v_model"):
                value = getattr(w, attr, None)
                if isinstance(value, str) and value != "!!disabled!!":  # ipyvue's "not set"
                    parts.append(value)
                elif isinstance(value, list | tuple):
                    parts += [v for v in value if isinstance(v, str)]
        return "\n".join(parts)

    def button(self, label: str):
        import ipyvuetify as v

        found = [b for b in self.widgets(v.Btn) if label in self.text(b)]
        if not found:
            raise LookupError(f"no button '{label}' on the page")
        return found[0]

    def click(self, label: str, where=None) -> None:
        import ipyvuetify as v

        if where is not None:
            found = [b for b in self.widgets(v.Btn, where) if label in self.text(b)]
            found[0].fire_event("click", {})
        else:
            self.button(label).fire_event("click", {})

    def field(self, label: str, index: int = 0):
        """The index-th text field or text area whose label starts with ``label``."""
        import ipyvuetify as v

        found = [w for w in self.widgets(v.VuetifyWidget) if str(getattr(w, "label", "")).startswith(label)]
        found = [w for w in found if isinstance(w, v.TextField | v.Textarea | v.Select)]
        return found[index]

    def enter(self, label: str, text: str, index: int = 0) -> None:
        """Type ``text`` into a field and leave it (what makes the page read it)."""
        widget = self.field(label, index)
        widget.v_model = text
        widget.fire_event("focusout", {})

    def choose(self, label: str, value) -> None:
        """Choose ``value`` in the select whose label starts with ``label``."""
        self.field(label).v_model = value

    def errors(self) -> list[str]:
        """The texts of the error messages shown."""
        import ipyvuetify as v

        return [self.text(a) for a in self.widgets(v.Alert)]

    def status(self) -> str:
        return self.text(self.with_class("qisim-status")[0])
