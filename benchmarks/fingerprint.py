"""Fingerprints of many runs, to check that a speed-up leaves every result as it was.

    python benchmarks/fingerprint.py before.json          # on the code before the change
    python benchmarks/fingerprint.py after.json           # on the code after it
    python benchmarks/fingerprint.py --compare before.json after.json

Each case (every preset on two seeds; 3 to 100 hospitals; 0 to 12 peer ties; managers who
do not resolve issues; levers pulled mid-run) is run in full, and a hash is kept of each
output (daily series, per-ward and per-intervention detail, issue log, narration,
summary, the DataCollector's frame) and of every array of the final state, the issue
store and each random stream's position. ``--compare`` names every hash that differs.
The golden tests check two summaries; this checks everything, on many more runs (about
20 s on one core).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from sim import QIModel, load_scenario
from sim.scenario import preset_names

EXTRA = [
    ("aligned", 3, ["organisation.hospitals=10"], None),
    ("aligned", 1, ["organisation.hospitals=100"], None),
    ("initiative_overload", 2, ["organisation.hospitals=4", "organisation.peer_ties=12"], None),
    (
        "co_leadership",
        2,
        ["organisation.hospitals=3", "organisation.peer_ties=9", "actions.manager.resolve_issues=false"],
        None,
    ),
    ("aligned", 4, ["organisation.peer_ties=0"], None),
    ("aligned", 6, ["organisation.peer_ties=12", "organisation.hospitals=2"], None),
    ("aligned", 6, ["organisation.peer_ties=1"], None),
    ("aligned", 6, ["organisation.peer_ties=7", "actions.clinician.influence_peers=false"], None),
    ("clinician_only", 8, ["organisation.peer_ties=8", "organisation.champion_share=0.3"], "levers"),
    ("top_down_mandate", 9, ["organisation.hospitals=3"], "levers"),
    ("heads_up_site", 9, ["organisation.hospitals=2", "facilitation.hospitals=1"], "levers"),
    (
        "trial_then_scale_up",
        4,
        ["organisation.wards_per_hospital=5", "organisation.wards_per_manager=2"],
        None,
    ),
    (
        "aligned",
        5,
        ["organisation.clinicians_per_ward=7", "organisation.wards_per_manager=5"],
        "levers",
    ),
    ("baseline", 3, ["organisation.hospitals=2"], "levers"),
]


def cases() -> list[tuple[str, int, list[str], str | None]]:
    return [(name, seed, [], None) for name in preset_names() for seed in (1, 7)] + EXTRA


def digest(x) -> str:
    h = hashlib.sha256()
    if isinstance(x, dict):
        for k in sorted(x):
            h.update(str(k).encode())
            h.update(digest(x[k]).encode())
    elif isinstance(x, list | tuple):
        for v in x:
            h.update(digest(v).encode())
    elif isinstance(x, np.ndarray):
        if x.dtype == object:
            h.update(repr(x.tolist()).encode())
        else:
            h.update(f"{x.dtype}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
    else:
        h.update(repr(x).encode())
    return h.hexdigest()[:16]


def fingerprint(model: QIModel) -> dict[str, str]:
    s = model.state
    out = {
        "timeseries": digest(model.timeseries()),
        "wards": digest(model.ward_detail()),
        "interventions": digest(model.intervention_detail()),
        "issue_log": digest(model.issue_log()),
        "events": digest(model.events_log()),
        "summary": digest({k: v for k, v in model.summary().items() if k != "version"}),
        "datacollector": digest(model.datacollector.get_model_vars_dataframe().to_numpy()),
        "issue_totals": digest([s.issues.raised_total, s.issues.resolved_total, s.issues.lapsed_total]),
        "streams": digest([repr(g.bit_generator.state) for g in s.rng.values()]),
    }
    for name, value in vars(s).items():
        if isinstance(value, np.ndarray):
            out[f"state.{name}"] = digest(value)
    for name, value in s.today.items():
        out[f"today.{name}"] = digest(np.asarray(value))
    return out


def run_case(name: str, seed: int, overrides: list[str], extra: str | None) -> QIModel:
    model = QIModel(load_scenario(name, overrides), rng=seed)
    if extra == "levers":
        model.run(100)
        model.pull_lever("merger", 0.8, 60)
        model.pull_lever("staff_turnover", 0.3)
        model.run(50)
        model.pull_lever("inspection", 1.0, 30, hospital=0)
        model.pull_lever("protected_time", 0.7)
        model.pull_lever("facilitator_leaves")
        model.run(200)
    else:
        model.run()
    return model


def compare(a: dict, b: dict) -> int:
    differ = 0
    for case, prints in a.items():
        if case not in b:
            print(f"only in the first: {case}")
            differ += 1
            continue
        for key, value in prints.items():
            if b[case].get(key) != value:
                print(f"differs: {case}: {key}")
                differ += 1
    print(f"{len(a)} cases compared, {differ} differences")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, help="write the fingerprints here (JSON)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two fingerprint files")
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        return compare(a, b)
    if not args.out:
        ap.error("give a file to write, or --compare A B")
    result = {}
    for name, seed, overrides, extra in cases():
        key = f"{name} seed {seed} {' '.join(overrides)} {extra or ''}".strip()
        result[key] = fingerprint(run_case(name, seed, overrides, extra))
        print(key, file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
