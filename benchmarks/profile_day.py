"""Where a day's time goes: CPU time of each mechanism and of the observation, per day.

    python benchmarks/profile_day.py                 # one hospital of 'aligned', 730 days
    python benchmarks/profile_day.py --hospitals 100

Each mechanism that ``QIModel.step`` calls (and ``_observe``, the narration and the
DataCollector) is timed with ``time.process_time`` around its calls; the rest of the step
(Mesa's event loop, the narration of launches and spread) is reported as "other".  The
timing wrappers add about 1 us per call, which matters at one hospital only.  For line
by line detail, run a mechanism under line_profiler or pyinstrument.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import defaultdict

import sim.mechanisms as mech
from sim import QIModel, load_scenario
from sim.model import DailyCollector


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="aligned")
    ap.add_argument("--hospitals", type=int, default=1)
    ap.add_argument("--days", type=int, default=730)
    args = ap.parse_args(argv)

    spent: dict[str, float] = defaultdict(float)

    def timed(name, f):
        @functools.wraps(f)
        def wrapper(*a, **k):
            t0 = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[name] += time.process_time() - t0

        return wrapper

    originals = {}
    helpers = ("sigmoid", "start_wards", "replace_posts")  # called from within mechanisms
    for name in dir(mech):
        f = getattr(mech, name)
        if getattr(f, "__module__", "") == mech.__name__ and not name.startswith("_") and name not in helpers:
            originals[name] = f
            setattr(mech, name, timed(name, f))
    observe, collect = QIModel._observe, DailyCollector.collect
    QIModel._observe = timed("_observe (incl. narration)", observe)
    DailyCollector.collect = timed("DataCollector.collect", collect)
    try:
        scenario = load_scenario(
            args.preset, [f"organisation.hospitals={args.hospitals}", f"days={args.days}"]
        )
        model = QIModel(scenario, rng=1)
        t0 = time.process_time()
        model.run()
        total = time.process_time() - t0
    finally:
        for name, f in originals.items():
            setattr(mech, name, f)
        QIModel._observe, DailyCollector.collect = observe, collect
    spent["other"] = total - sum(spent.values())
    print(
        f"{args.preset}, {args.hospitals} hospital(s), {model.state.N:,} clinicians, {args.days} days: "
        f"{total:.3f} s CPU, {total / args.days * 1e3:.3f} ms a day"
    )
    for name, t in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:30s} {t / args.days * 1e3:7.3f} ms/day  {t / total:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
