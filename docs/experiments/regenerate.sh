#!/usr/bin/env bash
# Run the shipped experiments and copy their figures and key tables here.
#   bash docs/experiments/regenerate.sh [--workers N | --scheduler tcp://HOST:PORT]
# About a minute each on 2 idle cores (runs and analysis; the runs' own time is in status.json). Results go to results/docs/<experiment>/,
# emptied first and then kept (so that `qisim analyse` can be run on them again); the
# results/<experiment>/ folders that docs/researchers.md uses are left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
QISIM=${QISIM:-qisim}
PYTHON=${PYTHON:-python}
declare -A KEEP=(
    [alignment_grid]="main_effects.png interactions_sustainment.png timeseries_adoption.png timeseries_engagement_manager.png replicates.png points.csv main_effects.csv"
    [sensitivity_morris]="morris.png main_effects.png replicates.png morris_indices.csv"
)
for name in alignment_grid sensitivity_morris; do
    out="results/docs/$name"
    rm -rf "$out"
    "$QISIM" sweep "$name" --out "$out" --quiet "$@"
    "$QISIM" analyse "$out" --quiet > /dev/null
    mkdir -p "docs/experiments/$name"
    for f in ${KEEP[$name]}; do
        cp "$out/analysis/$f" "docs/experiments/$name/$f"
    done
    cp "$out/status.json" "docs/experiments/$name/status.json"
    # which experiment, qisim and model code made the figures
    "$PYTHON" -c 'import json, sys; m = json.load(open(sys.argv[1]))
json.dump({"experiment": m["experiment"]["fingerprint"], **m["versions"]}, open(sys.argv[2], "w"), indent=2, sort_keys=True)' \
        "$out/manifest.json" "docs/experiments/$name/versions.json"
done
