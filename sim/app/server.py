"""Serve the workshop app offline: Solara's starlette app under uvicorn, on 127.0.0.1.

Solara reaches outside in three places, and each is switched off here:

* ``solara run`` asks PyPI for a newer version: this server never calls ``solara run``
  (it runs Solara's starlette app under uvicorn directly), so no version check happens;
* telemetry to Mixpanel, on by default: ``SOLARA_TELEMETRY_MIXPANEL_ENABLE=False``;
* the front-end files (Vue app, fonts, require.js) that Solara fetches from a CDN and
  caches: ``SOLARA_ASSETS_PROXY_CACHE_DIR`` points to the files shipped in ``cdn/``,
  which Solara serves directly; the browser-side "success" check is off in production
  mode (``SOLARA_MODE=production``).

As a guard, the server process refuses any connection or name look-up for a host other
than this machine, and says so on standard error (``qisim app: blocked ...``), so that a
missing front-end file or a new call home in a later Solara shows at once instead of
silently reaching out.
"""

from __future__ import annotations

import contextlib
import faulthandler
import ipaddress
import os
import signal
import socket
import sys
import warnings
from pathlib import Path

from .assets import CDN_DIR, missing

#: What a browser or a test sees on standard error when the guard blocks a request.
BLOCKED = "qisim app: blocked an outside request"

#: Environment that keeps Solara local (set before solara is imported).
SOLARA_ENV = {
    "SOLARA_APP": "sim.app.page:Page",
    "SOLARA_MODE": "production",
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    "SOLARA_ASSETS_PROXY": "True",
    "SOLARA_ASSETS_PROXY_CACHE_DIR": str(CDN_DIR),
    "SOLARA_ASSETS_FONTAWESOME_ENABLED": "False",
    "SOLARA_THEME_TITLE": "qisim workshop",
    "SOLARA_THEME_SHOW_BANNER": "False",
}

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


def is_local(host) -> bool:
    """True for this machine: loopback addresses, 'localhost', unix sockets and the
    unspecified address (a server binding 0.0.0.0)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def guard_sockets(report=None) -> None:
    """Refuse connections and name look-ups for hosts other than this machine.

    ``report(message)`` is called for each refusal (default: print to standard error).
    """
    report = report or (lambda msg: print(msg, file=sys.stderr, flush=True))
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(address, what):
        host = address[0] if isinstance(address, tuple) else None
        if not is_local(host):
            report(f"{BLOCKED}: {what} {address!r}")
            raise ConnectionRefusedError(f"qisim app works offline: {what} {address!r} refused")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address, "connection to")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address, "connection to")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not is_local(host):
            report(f"{BLOCKED}: name look-up of {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"qisim app works offline: look-up of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo


def configure_solara() -> None:
    """Set Solara's environment (before it is imported) and check the settings took."""
    os.environ.update(SOLARA_ENV)
    import solara.server.settings as ss
    import solara.settings

    ss.telemetry.mixpanel_enable = False
    ss.main.mode = "production"
    solara.settings.assets.proxy = True
    ss.assets.proxy_cache_dir = Path(CDN_DIR)
    ss.assets.fontawesome_enabled = False


def serve(host: str = "127.0.0.1", port: int = 8765, quiet: bool = False) -> int:
    """Run the app until interrupted; 2 with one line on standard error when it cannot listen."""
    problem = _cannot_listen(host, port)
    if problem:
        print(f"qisim: error: cannot serve on {host}:{port}: {problem}", file=sys.stderr)
        return 2
    gaps = missing(CDN_DIR)
    if gaps:
        print(
            f"qisim: error: the app's front-end files are incomplete in {CDN_DIR} ({len(gaps)} missing, "
            f"e.g. {gaps[0]}); rebuild them with 'python -m sim.app.assets'",
            file=sys.stderr,
        )
        return 2
    everywhere = host in ("", "0.0.0.0", "::")
    others = network_addresses() if everywhere else []
    guard_sockets()
    configure_solara()
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>` prints every thread's stack (a hung page)
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    import uvicorn
    from solara.server.starlette import app

    # Solara warns on every page load that a cookie cannot be samesite=none over http on a
    # host other than 'localhost' (it falls back to lax, which is what we want).
    warnings.filterwarnings("ignore", message="Cookies with samesite=none")

    from . import session

    session.APP_ORIGIN = origin(host, port)
    if not quiet:
        print(f"qisim workshop app: open {session.APP_ORIGIN}/ in a browser (Ctrl+C stops it)", flush=True)
        if others:
            shared = " or ".join(f"{origin(a, port)}/" for a in others)
            print(f"attendees on the same network open {shared}", flush=True)
        elif everywhere:
            print(f"attendees open http://<this machine's network address>:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def origin(host: str, port: int) -> str:
    """The address a browser on this machine opens for a server on host:port: a server
    listening on every address (0.0.0.0, ::) is reached at 127.0.0.1 (or [::1])."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def network_addresses() -> list[str]:
    """This machine's IPv4 addresses on its networks (not loopback), for attendees' browsers
    when the app listens on every address; [] when it has none.  Asks only this machine:
    its host name's addresses, and the address a UDP socket would send from (``connect`` on
    UDP sends nothing).  Call before :func:`guard_sockets`."""
    found = []
    with contextlib.suppress(OSError):
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: chooses the route, sends nothing
        found.append(s.getsockname()[0])
    return [a for a in dict.fromkeys(found) if not ipaddress.ip_address(a).is_loopback]


def _cannot_listen(host: str, port: int) -> str:
    """Why the server could not listen on host:port ('' when it can)."""
    if not 1 <= port <= 65535:
        return "the port must be between 1 and 65535"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as err:
        return f"unknown address ({err.strerror or err})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as err:
            return err.strerror or str(err)
    return ""
