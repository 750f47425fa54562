"""The app's live figures: kept and blitted against drawn anew, in one command.

    python benchmarks/live_figures.py            # 40 ticks of 3 days, default presets
    python benchmarks/live_figures.py --ticks 100 --days 5 --dpi 100

A playing page steps the pair a few days and redraws its four figures, again and again.
Measured here in this one process, on the same pair:

(a) baseline: each figure built and saved as PNG anew (``Pair.figure_png``, as the page
    drew them before they were kept, and as an export still does);
(b) the page's way: ``Pair.live_figures``, each figure kept and only its moving artists
    drawn over the saved background (``sim.app.drawing.LiveFigure``), built again only
    when a mark is added or the harm axis grows.

The two are measured alternately on the same days (the pair steps before each pair of
timings), and the ratio of their medians is printed, with each one's median seconds per
tick of four figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sim.app.page import LIVE_DPI
from sim.app.session import FIGURES, Pair


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=40, help="redraws measured (default 40)")
    ap.add_argument("--days", type=int, default=3, help="days stepped before each redraw (default 3)")
    ap.add_argument("--dpi", type=int, default=LIVE_DPI, help=f"resolution (default the page's, {LIVE_DPI})")
    args = ap.parse_args()

    pair = Pair()
    pair.live_figures(args.dpi)  # built once, as when a page opens
    fresh, kept = [], []
    for _ in range(args.ticks):
        pair.step(args.days)
        start = time.perf_counter()
        for name in FIGURES:
            pair.figure_png(name, dpi=args.dpi)
        fresh.append(time.perf_counter() - start)
        start = time.perf_counter()
        pair.live_figures(args.dpi)
        kept.append(time.perf_counter() - start)
    a, b = statistics.median(fresh), statistics.median(kept)
    print(f"{args.ticks} redraws of {len(FIGURES)} figures at {args.dpi} dpi, days {args.days}..{pair.day}")
    print(f"drawn anew (baseline)   {a:.3f} s a redraw")
    print(f"kept and blitted        {b:.3f} s a redraw")
    print(f"ratio kept / anew       {b / a:.2f} ({a / b:.1f} times as fast)")


if __name__ == "__main__":
    main()
