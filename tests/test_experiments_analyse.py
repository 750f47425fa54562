"""``qisim analyse``: tables and figures of a stored sweep, and sensitivity indices."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim.cli import main
from sim.experiments.analyse import half_widths, replicates_for
from sim.stats import mean_ci, t975

REVIEW = "incentives.manager.performance_review"
LEAVES = "facilitation.end_day"  # after the horizon: cannot act
INERT = {"min": 200, "max": 300}

GRID = f"""
title = "analysis grid"
scenario = "aligned"
horizon = 100
replicates = 4
seed = 3

[factors]
"{REVIEW}" = [0.0, 1.0]
"{LEAVES}" = [200, 300]

[outputs]
scalars = ["sustainment", "adoption_final", "alignment_mean"]
timeseries = ["adoption", "engagement_manager"]
every = 5
"""


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def run(tmp: Path, name: str, text: str) -> Path:
    exp = tmp / f"{name}.toml"
    exp.write_text(text)
    out = tmp / name
    assert main(["sweep", str(exp), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    out = run(tmp_path_factory.mktemp("analysis"), "grid", GRID)
    assert main(["analyse", str(out), "--quiet"]) == 0
    return out


def test_analysis_writes_tables_figures_and_a_readme(grid):
    files = {p.name for p in (grid / "analysis").iterdir()}
    expected = {
        "README.md",
        "points.csv",
        "main_effects.csv",
        "main_effects.png",
        "interactions.csv",
        "timeseries.csv",
        "timeseries_adoption.png",
        "timeseries_engagement_manager.png",
        "replicates.csv",
        "replicates_summary.csv",
        "replicates.png",
    }
    assert expected <= files
    assert {f"interactions_{o}.png" for o in ("sustainment", "adoption_final", "alignment_mean")} <= files
    readme = (grid / "analysis" / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in files - {"README.md"})
    # 100 days stored every 5th: timeseries.csv keeps every stored day, and says nothing of thinning
    curve = [r for r in rows(grid / "analysis" / "timeseries.csv") if r["column"] == "adoption"]
    assert len({r["day"] for r in curve}) == 20 and "keeps one day in" not in readme


def test_points_table_holds_each_points_mean_and_t_interval(grid):
    runs = pq.read_table(grid / "runs.parquet").to_pandas()
    table = rows(grid / "analysis" / "points.csv")
    assert len(table) == 4
    for point in (0, 3):
        x = runs[runs["point"] == point].sort_values("replicate")["alignment_mean"].to_numpy()
        mean, lo, hi = mean_ci(x)
        row = table[point]
        assert float(row["alignment_mean_mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(row["alignment_mean_ci_low"]) == pytest.approx(lo, rel=1e-12)
        assert float(row["alignment_mean_ci_high"]) == pytest.approx(hi, rel=1e-12)
        assert row["runs_ok"] == "4" and row["runs_failed"] == "0"


def test_main_effects_pair_replicates_so_an_inert_factor_shows_exactly_nothing(grid):
    effects = rows(grid / "analysis" / "main_effects.csv")
    inert = [r for r in effects if r["factor"] == LEAVES]
    assert len(inert) == 2 * 3  # two levels, three outcomes
    assert all(float(r["difference_from_first"]) == 0.0 for r in inert)
    review = next(
        r for r in effects if r["factor"] == REVIEW and r["level"] == "1" and r["outcome"] == "alignment_mean"
    )
    # QI in managers' reviews raises their engagement, hence alignment; the paired interval says so
    assert 0 < float(review["difference_ci_low"]) < float(review["difference_from_first"])
    assert float(review["ci_high"]) - float(review["ci_low"]) > float(review["difference_ci_high"]) - float(
        review["difference_ci_low"]
    )


def test_replicate_check_tracks_the_interval_as_replicates_are_added(grid):
    runs = pq.read_table(grid / "runs.parquet").to_pandas()
    curve = rows(grid / "analysis" / "replicates.csv")
    summary = {r["outcome"]: r for r in rows(grid / "analysis" / "replicates_summary.csv")}
    assert set(summary) == {"sustainment", "adoption_final", "alignment_mean"}
    for name, row in summary.items():
        y = runs.pivot(index="point", columns="replicate", values=name).to_numpy()
        assert y.shape == (4, 4) and np.isfinite(y).all()
        # per point, the SD and the 95% t half-width of its first n replicates; medians over points
        sd = np.array([[np.std(x[:n], ddof=1) for n in (2, 3, 4)] for x in y])
        hw = sd * np.array([t975(n - 1) / np.sqrt(n) for n in (2, 3, 4)])
        lines = [r for r in curve if r["outcome"] == name]
        assert [int(r["replicates"]) for r in lines] == [2, 3, 4]
        for r, h, s in zip(lines, hw.T, sd.T, strict=True):
            assert float(r["half_width_median"]) == pytest.approx(np.median(h), rel=1e-9)
            assert float(r["half_width_q25"]) == pytest.approx(np.quantile(h, 0.25), rel=1e-9)
            assert float(r["half_width_q75"]) == pytest.approx(np.quantile(h, 0.75), rel=1e-9)
            assert float(r["sd_median"]) == pytest.approx(np.median(s), rel=1e-9)
        sd_med = np.median(sd, axis=0)
        # settled: the median SD moved less than 10% over the last quarter of the 4 replicates (3rd to 4th)
        change = abs(sd_med[2] - sd_med[1]) / sd_med[1]
        spread = np.std(y.mean(axis=1), ddof=1)  # of the points' means
        # the fewest replicates whose t half-width with the final median SD is 10% of that spread
        needed = next(n for n in range(2, 100_000) if t975(n - 1) * sd_med[2] / np.sqrt(n) <= 0.1 * spread)
        assert int(row["replicates"]) == 4
        assert float(row["half_width_median"]) == pytest.approx(np.median(hw[:, 2]), rel=1e-9)
        assert float(row["spread_of_point_means"]) == pytest.approx(spread, rel=1e-9)
        assert float(row["sd_change_last_quarter"]) == pytest.approx(change, rel=1e-9)
        assert row["settled"] == ("yes" if change < 0.1 else "no")
        assert int(row["replicates_for_target"]) == needed
    # the outcomes differ enough for these checks to bite: settled and not, more than 2 needed
    assert {r["settled"] for r in summary.values()} == {"yes", "no"}
    assert min(int(r["replicates_for_target"]) for r in summary.values()) > 2


def test_half_widths_follow_the_t_interval():
    y = np.array([[1.0, 2.0, 4.0, 7.0]])
    hw, sd = half_widths(y)
    for n in (2, 3, 4):
        assert sd[0, n - 2] == pytest.approx(np.std(y[0, :n], ddof=1))
        assert hw[0, n - 2] == pytest.approx(t975(n - 1) * np.std(y[0, :n], ddof=1) / np.sqrt(n))


def test_a_new_analysis_replaces_the_old_one_and_a_partial_sweep_can_be_analysed(grid, tmp_path, capsys):
    copy = tmp_path / "partial"
    shutil.copytree(grid, copy)
    (copy / "analysis" / "stale.png").write_bytes(b"old")
    for part in sorted((copy / "parts").glob("*-000003.parquet")):  # one chunk lost
        part.unlink()
    (copy / "runs.parquet").unlink()
    assert main(["analyse", str(copy), "--quiet"]) == 0
    assert "1 not run yet" in capsys.readouterr().out
    assert not (copy / "analysis" / "stale.png").exists()
    assert (copy / "analysis" / "main_effects.png").exists()


def test_a_factor_with_results_at_one_level_only_is_not_called_a_main_effect(grid, tmp_path, capsys):
    copy = tmp_path / "half"
    shutil.copytree(grid, copy)
    # runs are numbered point-major, one run per part here: points 2 and 3 (REVIEW = 1) lost
    for part in (copy / "parts").glob("*.parquet"):
        if int(part.stem.split("-")[1]) >= 8:
            part.unlink()
    (copy / "runs.parquet").unlink()
    (copy / "timeseries.parquet").unlink(missing_ok=True)
    assert main(["analyse", str(copy), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "8 not run yet" in out
    assert "largest main effect" not in out  # only REVIEW's level 0 has results, and LEAVES is inert
    heads = [line for line in out.splitlines() if "no main effect (mean" in line]
    assert len(heads) == 3 and all("at every level of every factor" in line for line in heads)


def test_replicates_for_a_precision_use_the_t_interval_the_tables_report():
    for sd, target in [(1.0, 1.5), (1.0, 0.5), (0.3, 0.01), (2.0, 10.0)]:
        n = replicates_for(sd, target)
        assert t975(n - 1) * sd / np.sqrt(n) <= target
        assert n == 2 or t975(n - 2) * sd / np.sqrt(n - 1) > target  # the fewest
    # where the normal quantile promises 2 replicates, t(1) = 12.7 needs several more
    assert np.ceil((1.96 / 1.5) ** 2) == 2 and replicates_for(1.0, 1.5) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [(["."], "not a sweep directory"), (["missing-dir"], "is not a directory")],
)
def test_analyse_refuses_what_is_not_a_sweep(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["analyse", *args]) == 2
    assert message in capsys.readouterr().err


def test_analyse_names_the_outcomes_it_can_draw(grid, capsys):
    assert main(["analyse", str(grid), "--outcomes", "sustainment,harms", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "key 'harms'" in err and "sustainment" in err


def factors_text(method: str, samples: int, replicates: int) -> str:
    return f"""
title = "{method}"
scenario = "aligned"
horizon = 60
replicates = {replicates}
[design]
method = "{method}"
samples = {samples}
seed = 5
[factors]
"{REVIEW}" = {{ min = 0.0, max = 1.0 }}
"{LEAVES}" = {{ min = 200, max = 300 }}
[outputs]
scalars = ["adoption_final", "alignment_mean"]
"""


def units_per_level(out: Path, size: int) -> dict[str, list[int]]:
    """Per factor, at each of its values in order (or each of 5 quantile bins when it has more
    than 8), how many of the design's units (``size`` consecutive points: a Morris trajectory,
    a Sobol base sample) have a point."""
    design = pq.read_table(out / "design.parquet").to_pandas()
    unit = design["point"].to_numpy() // size
    counts = {}
    for key in (REVIEW, LEAVES):
        x = design[key].to_numpy(dtype=float)
        levels = np.unique(x)
        if len(levels) <= 8:
            level = np.searchsorted(levels, x)
        else:
            levels = np.unique(np.quantile(x, np.linspace(0, 1, 6)))[1:]  # bins' upper edges
            level = np.minimum(np.searchsorted(levels, x, side="right"), len(levels) - 1)  # last closed
        counts[key] = [len(set(unit[level == j])) for j in range(len(levels))]
    return counts


def test_morris_indices_rank_an_active_factor_above_one_that_cannot_act(tmp_path):
    out = run(tmp_path, "morris", factors_text("morris", 4, 2))
    assert main(["analyse", str(out), "--quiet"]) == 0
    table = {(r["outcome"], r["factor"]): r for r in rows(out / "analysis" / "morris_indices.csv")}
    assert float(table["alignment_mean", LEAVES]["mu_star"]) == 0.0
    active = table["alignment_mean", REVIEW]
    assert float(active["mu_star"]) > 0 and np.isfinite(float(active["mu_star_conf"]))
    assert (out / "analysis" / "morris.png").exists()
    # main effects count each trajectory once per level: its 3 points share coordinates
    n = units_per_level(out, 3)
    # each of the 4 trajectories moves each factor once: it is at 2 of the factor's 4 levels
    assert [len(c) for c in n.values()] == [4, 4] and [sum(c) for c in n.values()] == [8, 8]
    effects = rows(out / "analysis" / "main_effects.csv")
    for outcome in ("adoption_final", "alignment_mean"):
        for key in (REVIEW, LEAVES):
            assert [int(r["n"]) for r in effects if r["outcome"] == outcome and r["factor"] == key] == n[key]


def test_sobol_indices_give_no_share_of_variance_to_a_factor_that_cannot_act(tmp_path, capsys):
    out = run(tmp_path, "sobol", factors_text("sobol", 8, 1))
    capsys.readouterr()
    assert main(["analyse", str(out), "--quiet"]) == 0
    # 8 base samples cannot pin the indices down, and the analysis says so
    assert "alignment_mean are too uncertain to rank the factors" in capsys.readouterr().out
    table = {(r["outcome"], r["factor"]): r for r in rows(out / "analysis" / "sobol_indices.csv")}
    inert = table["alignment_mean", LEAVES]
    assert float(inert["S1"]) == 0.0 and float(inert["ST"]) == 0.0
    active = table["alignment_mean", REVIEW]
    assert float(active["ST"]) > 0.5 and float(active["ST_conf"]) > 0
    assert (out / "analysis" / "sobol.png").exists()
    assert not (out / "analysis" / "replicates.csv").exists()  # one replicate: nothing to check
    # main effects count each base sample (its A, AB and B rows) once per bin
    n = units_per_level(out, 4)
    # A and AB_2 share REVIEW's value, as do AB_1 and B: each of the 8 base samples counts in two
    # of a factor's 5 bins, or in one where its two values share a bin
    assert [len(c) for c in n.values()] == [5, 5] and all(8 <= sum(c) <= 16 for c in n.values())
    effects = rows(out / "analysis" / "main_effects.csv")
    for outcome in ("adoption_final", "alignment_mean"):
        for key in (REVIEW, LEAVES):
            assert [int(r["n"]) for r in effects if r["outcome"] == outcome and r["factor"] == key] == n[key]
