"""Peak memory of ``qisim sweep`` and ``qisim analyse`` at two sweep sizes.

    python -m sim.experiments.memory [--sizes 1000 4000] [--days 60] [--workers 2]

Each size is a fresh sweep of one design point with N replicates that keeps every daily
series (all columns, every day: the most a sweep can store per run), run in a fresh
process whose peak resident memory (``ru_maxrss``) is read when it ends; then the same
for ``qisim analyse`` of the result.  With ``--workers 1`` the runs, the store and the
progress bar share one process, so its peak covers everything; with more workers it is
the peak of the main process (which writes the store).  If a sweep held its results in
memory, the peak would grow with N by about the size of the series
(``N x days x 22 columns x 8 bytes``); it does not, because each chunk is written as it
finishes and consolidation streams the parts.

Not a test: it takes a few minutes, and memory depends on the platform.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import json, resource, sys
from sim.cli import main
rc = main(sys.argv[2:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "peak_mib": peak / 1024}, f)
"""


def measure(argv: list[str], workdir: Path) -> dict:
    """Run ``qisim ARGV`` in a fresh process; its exit status, peak memory and wall time."""
    report = workdir / f"peak-{time.monotonic_ns()}.json"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _CHILD, str(report), *argv], check=True, stdout=subprocess.DEVNULL)
    out = json.loads(report.read_text())
    out["seconds"] = time.perf_counter() - start
    return out


def experiment_text(replicates: int, days: int) -> str:
    return (
        'title = "memory benchmark"\nscenario = "aligned"\n'
        f"horizon = {days}\nreplicates = {replicates}\nseed = 1\n"
        "[outputs]\ntimeseries = true\nevery = 1\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 4000], metavar="N", help="runs per sweep"
    )
    parser.add_argument("--days", type=int, default=60, help="horizon of each run (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="--workers of the sweeps (default 2)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qisim-memory-") as tmp:
        work = Path(tmp)
        for n in args.sizes:
            exp = work / f"memory{n}.toml"
            exp.write_text(experiment_text(n, args.days))
            out = work / f"out{n}"
            sweep = measure(
                ["sweep", str(exp), "--out", str(out), "--workers", str(args.workers), "--quiet"], work
            )
            analyse = measure(["analyse", str(out), "--quiet"], work)
            stored = sum(p.stat().st_size for p in out.glob("*.parquet")) / 2**20
            series = n * args.days * 22 * 8 / 2**20
            rows.append((n, sweep, analyse, stored, series))
            print(
                f"{n} runs: sweep peak {sweep['peak_mib']:.0f} MiB ({sweep['seconds']:.0f} s), "
                f"analyse peak {analyse['peak_mib']:.0f} MiB",
                file=sys.stderr,
            )
    print(f"\n{args.days}-day runs, every daily series kept, --workers {args.workers}:\n")
    print(
        "| runs | series in memory if held (MiB) | Parquet on disk (MiB) | sweep peak RSS (MiB) "
        "| sweep wall (s) | analyse peak RSS (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n, sweep, analyse, stored, series in rows:
        print(
            f"| {n} | {series:.0f} | {stored:.1f} | {sweep['peak_mib']:.0f} | {sweep['seconds']:.0f} "
            f"| {analyse['peak_mib']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
