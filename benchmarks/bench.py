"""qisim's speed against idiomatic Mesa, at 1, 10 and 100 hospitals, in one command.

    python benchmarks/bench.py                  # the full benchmark (a few minutes)
    python benchmarks/bench.py --quick          # one repeat of each, a 40-run sweep
    python benchmarks/bench.py --json out.json --plot docs/performance.png

Everything is measured in this one process run, on this machine, with the same
interpreter and libraries:

(a) qisim's cost per clinician-day at 300, 3,000 and 30,000 clinicians (1, 10 and 100
    hospitals of the ``aligned`` preset, 730 days; ``QIModel(...)`` with its defaults, so
    the counterfactual, the DataCollector and the per-ward and per-intervention detail
    are all kept, as in a user's run);
(b) beside it, a plain Mesa model whose agents each add to one float in ``step()``,
    activated with ``agents.shuffle_do("step")``, at the same numbers of agents, and the
    ratio qisim / baseline;
(c) one hospital for 730 days: the model alone (building it and running it) and the whole
    ``qisim run aligned`` command in a subprocess (imports, run, every output file and
    figure);
(d) 100 hospitals for 730 days in a subprocess: wall time (imports, model, and the model
    alone) and peak memory (the child's peak resident set size); and the same with
    ``qisim run``, writing its outputs;
(e) a 200-run sweep of the single-hospital preset with 1 and with 2 worker processes:
    runs per second and the speed-up, with ``qisim sweep`` where it exists (else, or with
    ``--pool``, a process pool over ``QIModel(...).run().summary()``).

The machine may be shared: every measurement is repeated (``--repeats``) and the minimum
is kept; qisim and the baseline are measured alternately, so that both see the same load.
CPU time (``time.process_time``) is reported beside wall time for the in-process timings:
on a machine whose cores other work keeps busy it is the steadier of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mesa
import numpy as np

from sim import QIModel, load_scenario

SIZES = (1, 10, 100)  # hospitals of 12 wards of 25 clinicians: 300, 3,000, 30,000 clinicians
SCALING_SIZES = (1, 3, 10, 30, 100)
DAYS = 730
PRESET = "aligned"
TARGETS = {
    "ratio_30000": 0.1,
    "one_hospital_model_s": 0.25,
    "hundred_hospitals_model_s": 3.0,
    "hundred_hospitals_peak_gib": 1.0,
    "sweep_speedup": 1.7,
}


# -- the baseline: idiomatic Mesa -----------------------------------------------------------


class Adder(mesa.Agent):
    """An agent whose whole step is adding to one float."""

    def step(self) -> None:
        self.model.total += 1.0


class AdderModel(mesa.Model):
    """Idiomatic Mesa 3.5: agents activated in random order each step."""

    def __init__(self, n: int, rng: int = 1):
        super().__init__(rng=rng)
        self.total = 0.0
        Adder.create_agents(self, n)

    def step(self) -> None:
        self.agents.shuffle_do("step")


def baseline_cost(n: int, agent_steps: float = 3e6) -> tuple[float, float]:
    """Seconds per agent-step of the idiomatic Mesa model with ``n`` agents: wall and CPU time."""
    steps = max(10, int(agent_steps / n))
    model = AdderModel(n)
    model.step()  # warm up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.step()
    return (time.perf_counter() - t0) / (steps * n), (time.process_time() - c0) / (steps * n)


# -- qisim ------------------------------------------------------------------------------------


def scenario(hospitals: int, days: int = DAYS):
    return load_scenario(PRESET, [f"organisation.hospitals={hospitals}", f"days={days}"])


def qisim_run(hospitals: int, days: int = DAYS) -> dict:
    """Build and run the model in this process; seconds for each, and the size."""
    sc = scenario(hospitals, days)
    t0, c0 = time.perf_counter(), time.process_time()
    model = QIModel(sc, rng=1)
    t1, c1 = time.perf_counter(), time.process_time()
    model.run()
    t2, c2 = time.perf_counter(), time.process_time()
    return {
        "build_s": t1 - t0,
        "run_s": t2 - t1,
        "model_s": t2 - t0,
        "run_cpu_s": c2 - c1,
        "model_cpu_s": c2 - c0,
        "clinicians": model.state.N,
    }


def per_day_times(hospitals: int, days: int = DAYS) -> list[float]:
    """Cumulative wall time after each day of one run (for the plot of cost against days)."""
    model = QIModel(scenario(hospitals, days), rng=1)
    out = []
    t0 = time.perf_counter()
    for _ in range(days):
        model.step()
        out.append(time.perf_counter() - t0)
    return out


# -- subprocesses -----------------------------------------------------------------------------

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from sim import QIModel, load_scenario
t1, c1 = time.perf_counter(), time.process_time()
sc = load_scenario({preset!r}, ["organisation.hospitals={hospitals}", "days={days}"])
m = QIModel(sc, rng=1)
m.run()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({{"import_s": t1 - t0, "model_s": t2 - t1, "model_cpu_s": c2 - c1,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def child_model(hospitals: int, days: int = DAYS) -> dict:
    """Import sim, build and run the model in a fresh interpreter; its times and peak RSS."""
    code = CHILD.format(preset=PRESET, hospitals=hospitals, days=days)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    out["peak_gib"] = out.pop("peak_kib") / 2**20
    return out


def qisim_command() -> list[str]:
    """The ``qisim`` console script next to this interpreter, or ``python -c`` running its main."""
    script = Path(sys.executable).with_name("qisim")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]


def cli_run(hospitals: int, days: int = DAYS) -> dict:
    """``qisim run`` in a subprocess, writing every output to a temporary directory."""
    out = Path(tempfile.mkdtemp(prefix="qisim-bench-"))
    cmd = [*qisim_command(), "run", PRESET, "--quiet", "--out", str(out / "run")]
    if hospitals != 1:
        cmd += ["--set", f"organisation.hospitals={hospitals}"]
    if days != DAYS:
        cmd += ["--days", str(days)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    try:
        subprocess.run(cmd, capture_output=True, text=True, check=True)
    finally:
        wall = time.perf_counter() - t0
        shutil.rmtree(out, ignore_errors=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # the largest child so far: exact when this child is the largest yet
    return {"wall_s": wall, "peak_gib": after / 2**20 if after > before else float("nan")}


# -- the sweep -------------------------------------------------------------------------------


def one_run(seed: int) -> dict:
    """One replicate of a sweep: the single-hospital preset, its summary only."""
    return QIModel(load_scenario(PRESET), rng=seed, detail=False).run().summary()


def sweep_command_available() -> bool:
    try:
        proc = subprocess.run([*qisim_command(), "sweep", "--help"], capture_output=True, text=True)
    except OSError:
        return False
    return proc.returncode == 0


SWEEP_FILE = """title = "benchmark sweep"
description = "{runs} runs of the {preset} preset: one design point, {runs} replicates."
scenario = "{preset}"
replicates = {runs}
seed = 1

[design]
method = "grid"
"""


def qisim_sweep(runs: int, workers: int) -> tuple[float, float]:
    """``qisim sweep`` of ``runs`` replicates of the preset in a subprocess: the sweep's own
    wall time (from its ``status.json``) and the whole command's."""
    tmp = Path(tempfile.mkdtemp(prefix="qisim-bench-sweep-"))
    try:
        exp = tmp / "bench.toml"
        exp.write_text(SWEEP_FILE.format(runs=runs, preset=PRESET))
        cmd = [*qisim_command(), "sweep", str(exp), "--workers", str(workers), "--quiet"]
        t0 = time.perf_counter()
        subprocess.run([*cmd, "--out", str(tmp / "out")], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        status = json.loads((tmp / "out" / "status.json").read_text())
        return float(status["wall_seconds"]), wall
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pool_sweep(runs: int, workers: int) -> tuple[float, float]:
    """``runs`` replicates over a process pool of ``workers`` (chunked), in this process."""
    chunk = max(1, runs // (4 * workers))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        summaries = list(pool.map(one_run, range(1, runs + 1), chunksize=chunk))
    wall = time.perf_counter() - t0
    assert len(summaries) == runs
    return wall, wall


# -- reporting -------------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sim

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mesa": mesa.__version__,
        "qisim": sim.__version__,
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def fmt_s(x: float) -> str:
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"machine: {m['nproc']} cores, {m['cpu']}; Python {m['python']}, numpy {m['numpy']}, "
        f"mesa {m['mesa']}, qisim {m['qisim']}",
        f"repeats: {r['repeats']} (minimum kept); load average at start {m['load_average']}",
        "",
        "(a, b) cost per clinician-day, 730 days of `aligned`, QIModel defaults (detail=True)",
        "| clinicians | hospitals | qisim run | qisim per clinician-day | Mesa baseline per agent-step "
        "| qisim / baseline | the same in CPU time |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["sizes"]:
        lines.append(
            f"| {row['clinicians']:,} | {row['hospitals']} | {fmt_s(row['run_s'])} "
            f"| {row['per_cd_us']:.3f} us | {row['baseline_us']:.3f} us | {row['ratio']:.3f} "
            f"| {row['ratio_cpu']:.3f} |"
        )
    big = r["sizes"][-1]
    c, d, e = r["one"], r["hundred"], r["sweep"]
    fixed, per = linear_fit(r)
    lines += ["", "cost against size, 730 days (fit: fixed + per clinician)"]
    lines += [f"  {x['clinicians']:>6,} clinicians: {fmt_s(x['run_s'])}" for x in r["scaling"]]
    lines += [f"  fit: {fixed:.3f} s + {per * 1e6 / DAYS:.4f} us per clinician-day"]
    lines += [
        "",
        "(c) one hospital (300 clinicians), 730 days",
        f"  model alone (build + run, in process):   {fmt_s(c['model_s'])} "
        f"(CPU time {fmt_s(c['model_cpu_s'])})",
        f"  `qisim run {PRESET}` (subprocess, all outputs): {fmt_s(c['cli_s'])}",
        "",
        "(d) 100 hospitals (30,000 clinicians), 730 days, fresh interpreter",
        f"  model alone (build + run):               {fmt_s(d['model_s'])} "
        f"(CPU time {fmt_s(d['model_cpu_s'])})",
        f"  whole child (imports + model):           {fmt_s(d['wall_s'])}",
        f"  peak memory (child's peak RSS):          {d['peak_gib']:.3f} GiB",
    ]
    if "cli_s" in d:
        lines += [
            f"  `qisim run` with every output written:   {fmt_s(d['cli_s'])}, "
            f"peak {d['cli_peak_gib']:.3f} GiB",
        ]
    lines += [
        "",
        f"(e) sweep of {e['runs']} runs of the single-hospital preset ({e['how']})",
        f"  1 worker:  {fmt_s(e['wall_1'])}, {e['runs'] / e['wall_1']:.2f} runs/s "
        f"(whole command {fmt_s(e['command_1'])})",
        f"  2 workers: {fmt_s(e['wall_2'])}, {e['runs'] / e['wall_2']:.2f} runs/s "
        f"(whole command {fmt_s(e['command_2'])})",
        f"  speed-up:  {e['speedup']:.2f}x",
        "",
        "targets",
        f"  (a/b) ratio at 30,000 clinicians <= {TARGETS['ratio_30000']}: {big['ratio']:.3f} "
        f"{mark(big['ratio'] <= TARGETS['ratio_30000'])}",
        f"  (c) one hospital, model <= {TARGETS['one_hospital_model_s']} s: {c['model_s']:.3f} s "
        f"{mark(c['model_s'] <= TARGETS['one_hospital_model_s'])}",
        f"  (d) 100 hospitals, model <= {TARGETS['hundred_hospitals_model_s']} s: {d['model_s']:.3f} s "
        f"{mark(d['model_s'] <= TARGETS['hundred_hospitals_model_s'])}",
        f"  (d) 100 hospitals, peak <= {TARGETS['hundred_hospitals_peak_gib']} GiB: "
        f"{d['peak_gib']:.3f} GiB {mark(d['peak_gib'] <= TARGETS['hundred_hospitals_peak_gib'])}",
        f"  (e) speed-up with 2 workers >= {TARGETS['sweep_speedup']}: {e['speedup']:.2f}x "
        f"{mark(e['speedup'] >= TARGETS['sweep_speedup'])}",
    ]
    return "\n".join(lines)


def linear_fit(r: dict) -> tuple[float, float]:
    """Least-squares wall time = fixed + per_clinician * clinicians over the scaling sizes."""
    n = np.array([x["clinicians"] for x in r["scaling"]], dtype=float)
    t = np.array([x["run_s"] for x in r["scaling"]])
    per, fixed = np.polyfit(n, t, 1)
    return float(fixed), float(per)


def plot(r: dict, path: Path) -> None:
    """Wall time against clinicians (730 days), and cumulative wall time against days."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    rows = sorted(r["scaling"], key=lambda x: x["clinicians"])
    n = np.array([x["clinicians"] for x in rows], dtype=float)
    t = np.array([x["run_s"] for x in rows])
    fixed, per = linear_fit(r)
    a1.plot(n, t, "o", label="qisim, 730 days of 'aligned'")
    grid = np.linspace(0, n.max(), 50)
    a1.plot(
        grid,
        fixed + per * grid,
        "--",
        color="grey",
        label=f"{fixed:.2f} s + {per * 1e6 / DAYS:.3f} us per clinician-day",
    )
    a1.set_xlabel("clinicians")
    a1.set_ylabel("wall time of the run (s)")
    a1.set_title("cost against size: linear")
    a1.set_xlim(0)
    a1.set_ylim(0)
    a1.legend(loc="upper left")
    for hospitals, cum in r["per_day"].items():
        days = np.arange(1, len(cum) + 1)
        a2.plot(days, cum, label=f"{int(hospitals) * 300:,} clinicians")
        late = days > 200  # the open-issue table fills over the first months
        slope, icpt = np.polyfit(days[late], np.asarray(cum)[late], 1)
        a2.plot(days, icpt + slope * days, ":", color="grey")
    a2.set_xlabel("days simulated")
    a2.set_ylabel("cumulative wall time (s)")
    a2.set_title("cost against days (dotted: linear fit after day 200)")
    a2.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, help="repeats of each timing; the minimum is kept (default: 3)")
    ap.add_argument("--sweep-runs", type=int, help="runs in the sweep (default: 200)")
    ap.add_argument("--sweep-repeats", type=int, help="repeats of the sweep (default: 1)")
    ap.add_argument("--quick", action="store_true", help="defaults of one repeat and a 40-run sweep")
    ap.add_argument("--no-cli", action="store_true", help="skip `qisim run` at 100 hospitals")
    ap.add_argument(
        "--pool", action="store_true", help="sweep with a process pool even if `qisim sweep` exists"
    )
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--plot", type=Path, help="write the scaling figure (PNG)")
    args = ap.parse_args(argv)
    defaults = (1, 40, 1) if args.quick else (3, 200, 1)
    for name, value in zip(("repeats", "sweep_runs", "sweep_repeats"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    reps = args.repeats
    r: dict = {"machine": machine(), "repeats": reps}
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731

    say("(a, b) qisim and the Mesa baseline at 300, 3,000, 30,000 clinicians")
    runs: dict[int, list[dict]] = {h: [] for h in SCALING_SIZES}
    base: dict[int, list[tuple[float, float]]] = {h: [] for h in SIZES}
    for rep in range(reps):
        for h in SCALING_SIZES:
            if h in SIZES or rep == 0:
                runs[h].append(qisim_run(h))
            if h in SIZES:
                base[h].append(baseline_cost(300 * h))
        say(f"  repeat {rep + 1}/{reps} done")
    best = {h: min(v, key=lambda x: x["run_s"]) for h, v in runs.items()}
    r["sizes"] = []
    for h in SIZES:
        b = best[h]
        per_cd = b["run_s"] / (b["clinicians"] * DAYS)
        per_cd_cpu = min(x["run_cpu_s"] for x in runs[h]) / (b["clinicians"] * DAYS)
        bl = min(x[0] for x in base[h])
        bl_cpu = min(x[1] for x in base[h])
        r["sizes"].append(
            {
                "hospitals": h,
                "clinicians": b["clinicians"],
                "run_s": b["run_s"],
                "per_cd_us": per_cd * 1e6,
                "baseline_us": bl * 1e6,
                "ratio": per_cd / bl,
                "baseline_cpu_us": bl_cpu * 1e6,
                "ratio_cpu": per_cd_cpu / bl_cpu,
            }
        )
    r["scaling"] = [
        {"hospitals": h, "clinicians": best[h]["clinicians"], "run_s": best[h]["run_s"]}
        for h in SCALING_SIZES
    ]

    say("(c) one hospital: the model, and `qisim run` in a subprocess")
    one = min((x["model_s"] for x in runs[1]), default=float("inf"))
    one_cpu = min((x["model_cpu_s"] for x in runs[1]), default=float("inf"))
    r["one"] = {
        "model_s": one,
        "model_cpu_s": one_cpu,
        "cli_s": min(cli_run(1)["wall_s"] for _ in range(reps)),
    }

    say("(d) 100 hospitals in a fresh interpreter")
    children = [child_model(100) for _ in range(reps)]
    r["hundred"] = {
        "model_s": min(c["model_s"] for c in children),
        "model_cpu_s": min(c["model_cpu_s"] for c in children),
        "wall_s": min(c["wall_s"] for c in children),
        "import_s": min(c["import_s"] for c in children),
        "peak_gib": max(c["peak_gib"] for c in children),
    }
    if not args.no_cli:
        say("(d) 100 hospitals with `qisim run`, every output written")
        cli = cli_run(100)
        r["hundred"].update(cli_s=cli["wall_s"], cli_peak_gib=cli["peak_gib"])

    say("cost against days (10 and 100 hospitals)")
    r["per_day"] = {str(h): per_day_times(h) for h in (10, 100)}

    say(f"(e) sweep of {args.sweep_runs} runs with 1 and 2 workers")
    if sweep_command_available() and not args.pool:
        how = "`qisim sweep` (its own wall time, from status.json; 1 worker runs in its own process)"
        sweep = qisim_sweep
    else:
        how = (
            "concurrent.futures.ProcessPoolExecutor over QIModel(...).run().summary(), chunked, detail=False"
        )
        sweep = pool_sweep
    walls: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for _ in range(args.sweep_repeats):
        for w in (1, 2):
            walls[w].append(sweep(args.sweep_runs, w))
    (w1, c1), (w2, c2) = min(walls[1]), min(walls[2])
    r["sweep"] = {
        "runs": args.sweep_runs,
        "how": how,
        "wall_1": w1,
        "wall_2": w2,
        "command_1": c1,
        "command_2": c2,
        "speedup": w1 / w2,
    }
    r["machine"]["load_average_end"] = os.getloadavg()

    print(report(r))
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
    if args.plot:
        plot(r, args.plot)
        say(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
