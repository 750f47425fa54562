"""`qisim validate --map`: where each fact holds on a grid of two parameters."""

import re

import numpy as np
import pytest

from sim import ScenarioError
from sim import validation as v
from sim import validation_map as vm
from sim.cli import main

LEVELS = np.array([0.8, 1.0, 1.2])


def _map(held: dict[str, list[list[int]]]) -> vm.FactMap:
    """A FactMap over 3 x 3 points from hand-made grids of where each fact holds."""
    hyp = v.Hypothesis("h", "", (), "greater", min_effect=0.1)
    grids = {f: np.array(g, dtype=bool) for f, g in held.items()}
    means = {(f, "h"): np.where(g, 0.2, 0.0) for f, g in grids.items()}
    return vm.FactMap(
        ("clinicians.bias", "managers.bias"), LEVELS, 2, grids, means, {(f, "h"): hyp for f in grids}
    )


def test_facts_hold_together_only_where_every_fact_that_holds_somewhere_holds():
    fmap = _map(
        {
            "SF1": [[0, 1, 1], [0, 1, 1], [1, 1, 1]],
            "SF2": [[0, 0, 0], [0, 0, 0], [0, 0, 0]],  # holds nowhere: left out of "together"
            "SF7": [[1, 1, 0], [1, 1, 0], [1, 0, 0]],
        }
    )
    assert fmap.anywhere() == ["SF1", "SF7"]
    assert fmap.together().astype(int).tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 0]]
    text = vm.summary(fmap)
    assert text.startswith("The facts but SF2 (which holds at no point) hold together at 3 of the 9 points")
    assert "(×0.8, ×1), (×1, ×1), (×1.2, ×0.8)" in text


def test_the_summary_says_when_the_facts_never_hold_together_or_always_do():
    apart = _map({"SF4": [[1, 1, 1], [1, 1, 1], [0, 0, 0]], "SF5": [[0, 0, 0], [0, 0, 0], [1, 1, 1]]})
    assert vm.summary(apart) == (
        "The facts each hold somewhere on the grid, but never all together: at none of the 9 points."
    )
    everywhere = _map({"SF3": [[1] * 3] * 3, "SF6": [[1] * 3] * 3})
    assert vm.summary(everywhere).endswith("hold together at every one of the 9 points.")
    assert vm.summary(_map({"SF2": [[0] * 3] * 3})) == "No fact holds at any of the 9 points."


def test_the_report_puts_each_fact_s_grid_in_the_parameters_order(tmp_path):
    facts = v.load_facts(["SF1", "SF7"])
    fmap = _map({"SF1": [[0, 1, 1], [0, 1, 1], [1, 1, 1]], "SF7": [[1, 1, 0], [1, 1, 0], [1, 0, 0]]})
    path = vm.write(fmap, facts, tmp_path / "out", "qisim validate --map clinicians.bias,managers.bias")
    text = path.read_text()
    assert "Regenerate with `qisim validate --map clinicians.bias,managers.bias`." in text
    assert "**SF1**" in text and "(holds at 7 of 9 points)" in text
    # rows: the first parameter's multipliers; columns: the second's
    assert "| `clinicians.bias` \\ `managers.bias` | ×0.8 | ×1 | ×1.2 |" in text
    assert "| ×0.8 | · | ✓ | ✓ |" in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(vm.FILES)
    assert (tmp_path / "out" / "fact_map.png").stat().st_size > 0
    rows = (tmp_path / "out" / "fact_map.csv").read_text().splitlines()
    assert rows[0] == "clinicians.bias,managers.bias,fact,hypothesis,mean,passes,fact_holds"
    assert len(rows) == 1 + 2 * 9
    assert "0.8,1,SF1,h,0.2,1,1" in rows
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_a_map_that_fails_to_write_leaves_nothing(tmp_path, monkeypatch):
    facts = v.load_facts(["SF1"])
    fmap = _map({"SF1": [[0, 1, 1], [0, 1, 1], [1, 1, 1]]})

    def broken(*_):
        raise RuntimeError("no figure")

    monkeypatch.setattr(vm, "figure", broken)
    with pytest.raises(RuntimeError):
        vm.write(fmap, facts, tmp_path / "out", "qisim validate --map a,b")
    assert list(tmp_path.iterdir()) == []


def test_the_map_s_parameters_are_checked_against_the_facts():
    sf3, sf10 = v.load_facts(["SF3", "SF10"])
    params, levels = vm.parse(" clinicians.bias , managers.bias", 5, 0.2, [sf3, sf10])
    assert params == ("clinicians.bias", "managers.bias")
    assert levels.tolist() == pytest.approx([0.8, 0.9, 1.0, 1.1, 1.2])
    with pytest.raises(ScenarioError, match="is set by SF10's arm 'managers_none'"):
        vm.parse("incentives.manager.recognition,managers.bias", 5, 0.2, [sf3, sf10])
    range_error = r"occupancy. is 0.9 in SF3.s arm .mandate_low.: multiplied by 0.8-1.2 it leaves its range"
    with pytest.raises(ScenarioError, match=range_error):
        vm.parse("organisation.occupancy,clinicians.bias", 3, 0.2, [sf3])
    with pytest.raises(ScenarioError, match="--map-spread: must be above 0 and below 1"):
        vm.parse("clinicians.bias,managers.bias", 3, 1.0, [sf3])
    with pytest.raises(ScenarioError, match="'organisation.wards_per_manager' is not a numeric scenario key"):
        vm.parse("organisation.wards_per_manager,clinicians.bias", 3, 0.2, [sf3])


def test_the_map_s_middle_point_is_the_facts_own_result():
    """Multiplying by 1 changes nothing: at the middle point each hypothesis' mean is the
    one the suite computes on the same seeds."""
    facts = v.load_facts(["SF3"])
    _, levels = vm.parse("clinicians.bias,managers.bias", 3, 0.2, facts)
    fmap = vm.run(facts, ("clinicians.bias", "managers.bias"), levels, 2)
    jobs, keys = v.fact_jobs(facts, 2)
    results = v.score(facts, 2, keys, jobs, v.run_jobs(jobs))
    for r in results:
        assert fmap.means[("SF3", r.hypothesis.name)][1, 1] == r.mean
    # clinicians.bias moves the gap between reported compliance and fidelity
    gap = fmap.means[("SF3", "gap_grows_with_mandate")]
    assert gap[0, 1] != gap[2, 1]


def test_validate_map_writes_the_map_and_says_where_facts_hold(capsys, tmp_path):
    argv = [
        "validate",
        "--only",
        "SF3",
        "--map",
        "clinicians.bias,managers.bias",
        "--map-steps",
        "3",
        "--map-spread",
        "0.5",
        "--replicates",
        "2",
        "--workers",
        "1",
        "--quiet",
        "--report",
        str(tmp_path / "m"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"^SF3 holds at \d of 9 points:$", out, re.M)
    assert "Rows: clinicians.bias x; columns: managers.bias x." in out
    text = (tmp_path / "m" / "FACT_MAP.md").read_text()
    assert "--map-steps 3 --map-spread 0.5 --replicates 2 --only SF3" in text
    assert "multiplied by 0.5, 1, 1.5 of its value" in text
    assert "          ×0.5     ×1   ×1.5" in out
    assert not (tmp_path / "m" / "VALIDATION.md").exists()  # the map only, not the suite


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--map", "clinicians.bias"], "--map: give two different"),
        (["--map", "clinicians.bias,managers.bias", "--map-steps", "4"], "--map-steps: must be an odd"),
        (["--map", "clinicians.bias,managers.bias", "--map-spread", "1.5"], "--map-spread: must be above 0"),
        (["--only", "SF10", "--map", "incentives.manager.recognition,managers.bias"], "set by SF10"),
        (["--map", "clinicians.bias,managers.bias", "--screen"], "--map is a run of its own"),
        (["--map", "clinicians.bias,managers.bias", "--rescore"], "--map is a run of its own"),
        (["--map-steps", "3"], "--map-steps shapes the grid of --map"),
        (["--map-spread", "0.3"], "--map-spread shapes the grid of --map"),
    ],
)
def test_validate_map_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, argv, needle):
    assert main(["validate", *argv, "--report", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "r").exists()
