"""``qisim app``: the workshop app in the browser."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "app",
        help="the workshop app in the browser (two runs side by side, offline)",
        description="Serve the workshop app: two runs side by side on the same seed, levers to pull "
        "mid-run, live figures, narration and a debrief to export. Works with no network.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_app)


def cmd_app(args: argparse.Namespace) -> int:
    from .server import serve

    return serve(args.host, args.port, quiet=args.quiet)
