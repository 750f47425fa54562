"""What a wheel carries: presets, experiments and the app's front-end files, so that a
non-editable install finds them."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    """The file names inside a wheel built from this checkout (built once for the module)."""
    if shutil.which("git") is None:
        pytest.skip("needs git to list the source files")
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return set(zipfile.ZipFile(next(out.glob("qisim-*.whl"))).namelist())


def test_wheel_carries_presets_and_experiments(wheel_names):
    presets = {p.name for p in (ROOT / "scenarios").glob("*.toml")}
    assert presets and {f"sim/_data/scenarios/{n}" for n in presets} <= wheel_names
    assert any(n.startswith("sim/_data/experiments/") for n in wheel_names)


def test_wheel_ships_front_end(wheel_names):
    cdn = ROOT / "sim" / "app" / "cdn"
    shipped = {f"sim/app/cdn/{p.relative_to(cdn).as_posix()}" for p in cdn.rglob("*") if p.is_file()}
    assert shipped and shipped - wheel_names == set()
