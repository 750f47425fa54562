#!/usr/bin/env bash
# Run the shipped virtual trials and copy their report (table, figures, headline) here.
#   bash docs/trials/regenerate.sh [--workers N | --scheduler tcp://HOST:PORT]
# heads_up: 2 x 200 simulated trials, about 1.5 min on 2 idle cores; power_alignment:
# 12 x 50, about 2 min (runs and report; the runs' own time is in status.json). Results go to results/docs/trials/<trial>/, emptied
# first and then kept; the results/trials/<trial>/ folders that docs/researchers.md uses are left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
QISIM=${QISIM:-qisim}
PYTHON=${PYTHON:-python}
declare -A TRIALS=([heads_up]=200 [power_alignment]=50)
for name in heads_up power_alignment; do
    out="results/docs/trials/$name"
    rm -rf "$out"
    "$QISIM" trial "$name" --trials "${TRIALS[$name]}" --out "$out" --quiet "$@" > /dev/null
    mkdir -p "docs/trials/$name"
    for f in trials.csv exposure.csv power.png estimates.png exposure.png README.md; do
        cp "$out/report/$f" "docs/trials/$name/$f"
    done
    cp "$out/status.json" "docs/trials/$name/status.json"
    # which trial file, qisim and model code made the figures
    "$PYTHON" -c 'import json, sys; m = json.load(open(sys.argv[1]))
json.dump({"trial": m["experiment"]["fingerprint"], **m["versions"]}, open(sys.argv[2], "w"), indent=2, sort_keys=True)' \
        "$out/manifest.json" "docs/trials/$name/versions.json"
done
