#!/usr/bin/env bash
# Set up qisim in ./.venv (once, or again when pyproject.toml changes) and run a job.
#
#   bash bootstrap.sh demo   # clinician_only vs aligned on the same seeds, figures in results/demo
#   bash bootstrap.sh test   # the whole test suite
#   bash bootstrap.sh        # set up only
set -euo pipefail
cd "$(dirname "$0")"

find_python() {
    # Candidates in order of preference; each is tested by running it.
    local candidates=(python3.13 python3.12 python3 python)
    local root
    if command -v pyenv >/dev/null 2>&1 && root=$(pyenv root 2>/dev/null); then
        for v in "$root"/versions/3.1[2-9]*; do
            [ -x "$v/bin/python3" ] && candidates+=("$v/bin/python3")
        done
    fi
    for c in "${candidates[@]}"; do
        if "$c" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
            command -v "$c" 2>/dev/null || echo "$c"
            return 0
        fi
    done
    return 1
}

setup() {
    local stamp=.venv/.qisim-installed
    local want
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    local py
    if ! py=$(find_python); then
        echo "qisim needs Python 3.12 or newer and found none (tried python3.13, python3.12, python3 and pyenv)." >&2
        echo "Install one, e.g. 'sudo apt-get install python3.12 python3.12-venv', 'brew install python@3.12'" >&2
        echo "or 'pyenv install 3.12', then run this command again." >&2
        exit 1
    fi
    echo "Setting up .venv with $("$py" --version 2>&1) ($py)..."
    [ -x .venv/bin/python ] || "$py" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    echo "$want" > "$stamp"
}

setup
case "${1:-}" in
    demo)
        shift
        .venv/bin/qisim compare clinician_only aligned --out results/demo "$@"
        ;;
    test)
        shift
        .venv/bin/python -m pytest "$@"
        ;;
    "")
        echo "Ready: activate with 'source .venv/bin/activate', then try 'qisim --help'."
        ;;
    *)
        echo "usage: bash bootstrap.sh [demo|test] [extra arguments]" >&2
        exit 2
        ;;
esac
