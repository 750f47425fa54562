"""Golden summaries: unintended change to the model's results shows up here.

When a change to a mechanism is intended, regenerate them and say why in the commit:

    QISIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

import json
import os
from pathlib import Path

import pytest

from sim import QIModel, load_scenario

GOLDEN = Path(__file__).parent / "golden"
CASES = [("aligned", 1), ("clinician_only", 1)]


def summary_text(name: str, seed: int) -> str:
    summary = QIModel(load_scenario(name), rng=seed, detail=False).run().summary()
    summary.pop("version")  # the version may change without the results changing
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_summary_matches_golden(name, seed):
    path = GOLDEN / f"{name}-seed{seed}.json"
    text = summary_text(name, seed)
    if os.environ.get("QISIM_UPDATE_GOLDEN"):
        path.write_text(text)
        pytest.skip(f"{path.name} rewritten (QISIM_UPDATE_GOLDEN is set: nothing was compared)")
    assert path.exists(), f"no golden file {path.name}: run with QISIM_UPDATE_GOLDEN=1"
    assert text == path.read_text(), (
        f"{name} seed {seed} no longer gives its golden summary; if the change is intended, "
        "regenerate with QISIM_UPDATE_GOLDEN=1 and say why in the commit"
    )
