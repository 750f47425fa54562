"""The presets ship inside the package, so a non-editable install finds them."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the source files")
def test_wheel_carries_presets_and_experiments(tmp_path):
    try:
        import hatchling  # noqa: F401
    except ImportError:
        pytest.skip("hatchling is not installed in this environment")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("qisim-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    presets = {p.name for p in (ROOT / "scenarios").glob("*.toml")}
    assert presets and {f"sim/_data/scenarios/{n}" for n in presets} <= names
    assert any(n.startswith("sim/_data/experiments/") for n in names)
