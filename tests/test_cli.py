"""The ``qisim`` command line: what it writes, and how it refuses bad input."""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim import load_scenario, preset_names
from sim.cli import main
from sim.model import COLUMNS
from sim.outputs import KEY_OUTCOMES
from sim.stats import mean_ci, t975

DAYS = "60"
REQUIRED_COLUMNS = (
    "day", "adoption", "fidelity", "reported_compliance", "engagement_clinician",
    "engagement_manager", "engagement_board", "alignment", "issues_open", "issues_resolved",
    "harm_rate", "harm_rate_counterfactual",
)
SHARES = (
    "adoption", "fidelity", "reported_compliance", "engagement_clinician", "engagement_manager",
    "engagement_board", "alignment",
)
REQUIRED_SUMMARY = (
    "seed", "days", "adoption_peak", "adoption_final", "sustainment", "effect", "fidelity_final",
    "reported_compliance_final", "alignment_mean", "issues_raised", "issues_resolved",
    "scenario", "version",
)
RUN_FILES = (
    "timeseries.csv", "wards.csv", "interventions.csv", "issues.csv", "summary.json",
    "events.log", "adoption.png", "engagement.png", "harm.png", "issues.png",
)
COMPARE_FIGURES = ("compare_adoption.png", "compare_engagement.png", "compare_harm.png",
                   "compare_issues.png")


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One short run of 'aligned', shared by the tests that only read its files."""
    out = tmp_path_factory.mktemp("run") / "aligned"
    argv = ["run", "aligned", "--days", DAYS, "--seed", "3", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return out


# -- scenarios -----------------------------------------------------------------------------


def test_scenarios_lists_every_preset_with_its_title(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in preset_names():
        assert name in out
        assert load_scenario(name)["title"] in out


def test_scenarios_keys_lists_scalar_intervention_and_event_keys(capsys):
    assert main(["scenarios", "--keys"]) == 0
    out = capsys.readouterr().out
    assert "organisation.wards_per_manager = 2  [wards]" in out
    assert "an integer from 1 to 20" in out
    assert "interventions.N.pathway" in out and "'fidelity', 'issues'" in out
    assert "events.N.kind" in out


def test_scenarios_name_prints_the_description(capsys):
    assert main(["scenarios", "clinician_only"]) == 0
    out = capsys.readouterr().out
    assert load_scenario("clinician_only")["title"] in out
    assert "notice" in out.lower()


def test_every_command_has_help_and_quiet(capsys):
    commands = ("scenarios", "run", "compare", "sweep", "analyse", "trial", "validate", "app")
    for argv in (["--help"], *([c, "--help"] for c in commands)):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "usage:" in out
        assert "%%" not in out  # a description is printed as written, not %-formatted
        assert argv == ["--help"] or "--quiet" in out, argv
    assert main(["scenarios", "--quiet"]) == 0 and "aligned" in capsys.readouterr().out


# -- run -----------------------------------------------------------------------------------


def test_run_writes_every_file(run_dir):
    for name in RUN_FILES:
        assert (run_dir / name).stat().st_size > 0, name
    for name in RUN_FILES:
        if name.endswith(".png"):
            assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run_dir.parent.glob(".*tmp-*")), "temporary directory left behind"


def test_timeseries_has_one_row_per_day_and_the_required_columns(run_dir):
    header, rows = read_csv(run_dir / "timeseries.csv")
    assert header == list(COLUMNS)
    assert set(REQUIRED_COLUMNS) <= set(header)
    assert [int(r["day"]) for r in rows] == list(range(int(DAYS)))
    for col in SHARES:
        values = np.array([float(r[col]) for r in rows])
        assert ((values >= 0) & (values <= 1)).all(), col
    assert all(float(r["harm_rate"]) >= 0 for r in rows)


def test_summary_has_the_required_keys(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(REQUIRED_SUMMARY) <= set(summary)
    assert summary["seed"] == 3 and summary["days"] == int(DAYS)
    assert summary["scenario"]["name"] == "aligned"
    assert summary["scenario"]["seed"] == 3
    for key in ("adoption_peak", "adoption_final", "sustainment", "fidelity_final",
                "reported_compliance_final", "alignment_mean"):
        assert 0 <= summary[key] <= 1, key


def test_long_format_detail_and_events_log(run_dir):
    header, rows = read_csv(run_dir / "wards.csv")
    assert header[:3] == ["day", "hospital", "ward"]
    assert len(rows) == int(DAYS) * 12
    header, rows = read_csv(run_dir / "interventions.csv")
    assert header[:2] == ["day", "intervention"] and rows[0]["intervention"] == "safety briefing"
    header, _ = read_csv(run_dir / "issues.csv")
    for col in ("raised_day", "ward", "severity", "authority", "agreement", "resolved_day"):
        assert col in header
    lines = (run_dir / "events.log").read_text().splitlines()
    assert lines and all(line.startswith("Day ") for line in lines)


def test_run_prints_a_summary_and_the_figure_paths(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "clinician_only", "--days", DAYS, "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for word in ("adoption", "sustainment", "effect", "reported compliance", "issues"):
        assert word in printed
    for name in ("adoption.png", "engagement.png", "harm.png", "issues.png"):
        assert str(out / name) in printed


def test_same_seed_gives_byte_identical_files(tmp_path):
    for name in ("one", "two"):
        argv = ["run", "aligned", "--days", DAYS, "--seed", "7", "--quiet",
                "--set", "organisation.hospitals=2", "--out", str(tmp_path / name)]
        assert main(argv) == 0
    for name in ("timeseries.csv", "summary.json", "wards.csv", "issues.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_rerun_replaces_its_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "summary.json").write_text("stale")
    assert main(["run", "aligned", "--days", "30", "--quiet", "--out", str(out)]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "summary.json").read_text())["days"] == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_a_failure_while_writing_leaves_nothing_half_written(tmp_path, monkeypatch):
    from sim import QIModel, outputs

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    model = QIModel(load_scenario("aligned", ["days=20"]), rng=1)
    model.run()
    monkeypatch.setattr(outputs.figures, "run_figures", broken)
    with pytest.raises(RuntimeError):
        outputs.write_run(model, tmp_path / "new")
    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "summary.json").write_text("before")
    with pytest.raises(RuntimeError):
        outputs.write_run(model, existing)
    assert (existing / "summary.json").read_text() == "before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_a_run_says_what_it_ends_before(tmp_path, capsys):
    """A preset run shorter than its timeline (a quick look with --days) says which of its
    launches and events never happen, on standard error; a run that reaches them all says
    nothing."""
    out = tmp_path / "r"
    assert main(["run", "initiative_overload", "--days", "150", "--quiet", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("qisim: note: initiative_overload runs 150 days (days 0 to 149)")
    assert "interventions.3.launch_day = 180 (discharge checklist)" in err
    assert "interventions.1." not in err and err.count("\n") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["days"] == 150
    assert main(["run", "regulator_endorsement", "--days", "241", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""  # its endorsement comes on day 240, the last one
    argv = ["compare", "initiative_overload", "initiative_overload", "--days", "150", "--replicates", "2",
            "--set", "seed=3", "--quiet", "--out", str(tmp_path / "c")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("qisim: note: initiative_overload runs 150 days") and err.count("\n") == 1  # once


def test_default_out_dir_is_named_after_scenario_and_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "baseline", "--days", "30", "--seed", "5", "--quiet"]) == 0
    assert (tmp_path / "results" / "baseline-seed5" / "summary.json").is_file()


# -- compare -------------------------------------------------------------------------------


def test_compare_writes_summaries_differences_figures_and_both_runs(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "clinician_only", "aligned", "--replicates", "3", "--seed", "4",
            "--days", DAYS, "--quiet", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    header, rows = read_csv(out / "summaries.csv")
    assert header[:3] == ["side", "scenario", "seed"]
    assert [(r["scenario"], int(r["seed"])) for r in rows] == [
        ("clinician_only", 4), ("clinician_only", 5), ("clinician_only", 6),
        ("aligned", 4), ("aligned", 5), ("aligned", 6),
    ]
    header, diffs = read_csv(out / "differences.csv")
    assert [d["outcome"] for d in diffs] == list(KEY_OUTCOMES)
    for d in diffs:
        lo, diff, hi = float(d["ci_low"]), float(d["difference"]), float(d["ci_high"])
        assert lo <= diff <= hi
        assert diff == pytest.approx(float(d["mean_b"]) - float(d["mean_a"]))
        assert d["outcome"] in printed
    for name in COMPARE_FIGURES:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
        assert str(out / name) in printed
    for side, name in (("A", "clinician_only"), ("B", "aligned")):
        summary = json.loads((out / side / "summary.json").read_text())
        assert summary["scenario"]["name"] == name and summary["seed"] == 4
        assert (out / side / "timeseries.csv").is_file()


def test_t_quantiles_and_intervals():
    assert t975(1) == pytest.approx(12.706, abs=1e-3)
    assert t975(9) == pytest.approx(2.262, abs=1e-3)
    assert t975(60) == pytest.approx(2.000, abs=1e-3)
    assert t975(1000) == pytest.approx(1.962, abs=1e-3)
    mean, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0 and hi - mean == pytest.approx(4.303 / np.sqrt(3), abs=1e-3)


# -- bad input: one line on stderr, exit 2, nothing written --------------------------------


def bad_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


BAD_INPUT = [
    # (id, argv after "run", scenario file text or None, fragments the message must contain)
    ("unknown key in file", ["{file}"], "[managers]\nbais = -1\n",
     ["mine.toml", "managers.bais", "did you mean 'managers.bias'"]),
    ("unknown key via --set", ["aligned", "--set", "managers.bais=1"], None,
     ["--set", "managers.bais", "managers.bias"]),
    ("wrong type", ["aligned", "--set", "organisation.hospitals=two"], None,
     ["--set", "organisation.hospitals", "an integer"]),
    ("wrong type in file", ["{file}"], "[facilitation]\nenabled = 3\n",
     ["mine.toml", "facilitation.enabled", "true or false"]),
    ("out of range", ["aligned", "--set", "clinicians.adjust_rate=2"], None,
     ["clinicians.adjust_rate", "from 0.001 to 0.5"]),
    ("end before start", ["aligned", "--set", "facilitation.start_day=100",
                          "--set", "facilitation.end_day=50"], None,
     ["facilitation.end_day", "facilitation.start_day"]),
    ("manager spans too many wards", ["{file}"], "[organisation]\nwards_per_manager = 20\n",
     ["mine.toml", "organisation.wards_per_manager", "organisation.wards_per_hospital"]),
    ("bad --set syntax", ["aligned", "--set", "managers.bias"], None,
     ["--set", "managers.bias", "KEY=VALUE"]),
    ("bad --days", ["aligned", "--days", "0"], None, ["--days", "days", "from 1 to 7300"]),
    ("non-integer --days", ["aligned", "--days", "ten"], None, ["--days", "ten"]),
    ("negative --seed", ["aligned", "--seed", "-1"], None, ["--seed", "seed"]),
    ("missing file", ["no/such/file.toml"], None, ["no/such/file.toml", "not found"]),
    ("unknown preset", ["alignd"], None, ["unknown preset 'alignd'", "did you mean 'aligned'"]),
    ("unknown option", ["aligned", "--sed", "1"], None, ["--sed"]),
    ("a table for a number, shown as TOML", ["{file}"], "days = { x = 1 }\n",
     ["mine.toml", "key 'days'", "(got { x = 1 })"]),
    ("an event with no kind", ["{file}"], "[[events]]\nday = 5\n",
     ["mine.toml", "events.0.kind", "missing", "merger", "staff_turnover"]),
    ("--set with no key", ["aligned", "--set", "=5"], None, ["--set", "'=5' has no key before '='"]),
    ("a file nested too deeply", ["{file}"], "days = " + "[" * 3000 + "]" * 3000 + "\n",
     ["mine.toml", "nested too deeply"]),
    ("a --set nested too deeply", ["aligned", "--set", "days=" + "[" * 3000 + "]" * 3000], None,
     ["--set", "key 'days'", "nested too deeply"]),
    ("a --set of bytes that are not UTF-8", ["aligned", "--set", "interventions.0.name=\udcffx"], None,
     ["--set", "interventions.0.name", "UTF-8"]),
    ("a device for a file", ["/dev/null"], None, ["/dev/null", "is not a file"]),
    ("an empty scenario name", [""], None, ["no preset given"]),
]


@pytest.mark.parametrize("argv, text, fragments", [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, argv, text, fragments):
    file = bad_file(tmp_path, text) if text is not None else ""
    out = tmp_path / "out"
    argv = ["run", *(a.replace("{file}", file) for a in argv), "--quiet", "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("qisim: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert captured.out == ""
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["mine.toml"] if text else [])


@pytest.mark.parametrize("argv, fragment", [
    (["compare", "aligned", "alignd"], "did you mean 'aligned'"),
    (["compare", "aligned", "baseline", "--replicates", "1"], "--replicates"),
    (["compare", "aligned", "heads_up_site"], "aligned runs 730 days and heads_up_site 610"),
    (["compare", "aligned", "baseline", "--seed", str(2**63 - 5)], "run past the largest seed"),
    (["compare", "aligned", "baseline", "--set", "interventions.0.burden=0.1"],
     "scenario baseline"),
    (["scenarios", "nope"], "unknown preset 'nope'"),
    (["scenarios", "aligned", "--keys"], "--keys"),
    (["frobnicate"], "frobnicate"),
    (["run", "aligned", "--bogus"], "unrecognized arguments: --bogus (see `qisim run --help`)"),
    (["--bogus", "run", "aligned"], "unrecognized arguments: --bogus (see `qisim --help`)"),
])
def test_bad_input_to_other_commands(tmp_path, capsys, argv, fragment):
    out = tmp_path / "out"
    extra = ["--quiet", "--out", str(out)] if argv[0] == "compare" else []
    assert main([*argv, *extra]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("qisim: error: ") and fragment in lines[0]
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("x")
    assert main(["run", "aligned", "--days", "10", "--quiet", "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err
    assert out.read_text() == "x"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "aligned"],
        ["compare", "aligned", "baseline"],
        ["sweep", "alignment_grid"],
        ["trial", "heads_up", "--trials", "2"],
        ["validate", "--facts-only", "--report"],
    ],
)
def test_an_out_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, capsys, argv):
    taken = tmp_path / "taken"
    taken.write_text("x")
    out = str(taken / "sub" / "dir")  # under a file: no folder can be made there
    option = [] if argv[-1] == "--report" else ["--out"]
    assert main([*argv, *option, out, "--quiet"]) == 2
    lines = capsys.readouterr().err.splitlines()
    name = "--report" if argv[-1] == "--report" else "--out"
    assert len(lines) == 1 and f"{name}: '{out}' cannot be written" in lines[0] and "is a file" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_an_out_whose_parent_cannot_be_written_is_written_and_a_new_one_there_refused(
    tmp_path, bound_by_permissions
):
    """`--out .`, or the root of a mounted volume: the folder can be written, its parent
    cannot. Files go in through a temporary folder inside it (run, compare, the validation
    report); a new --out there is refused before anything runs, naming --out."""
    parent = tmp_path / "locked"
    out = parent / "out"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    new = parent / "new"
    commands = [
        f"run aligned --days 10 --quiet --out {out}",
        f"run aligned --days 10 --quiet --out {new}",
        f"compare aligned baseline --days 10 --replicates 2 --quiet --out {out}",
    ]
    code = (
        "import sys; from pathlib import Path; from sim.cli import main; from sim.validation import "
        "write_together; codes = [main(a.split()) for a in sys.argv[2:]]; "
        "write_together(Path(sys.argv[1]), lambda tmp: (tmp / 'VALIDATION.md').write_text('ok')); "
        "print(codes)"
    )
    parent.chmod(0o555)
    try:
        done = subprocess.run(bound_by_permissions([sys.executable, "-c", code, out, *commands]),
                              capture_output=True, text=True, timeout=300)
    finally:
        parent.chmod(0o755)
    assert done.stdout.splitlines()[-1:] == ["[0, 2, 0]"], done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and f"--out: '{new}' cannot be written" in lines[0], lines
    assert "Permission denied" in lines[0] and ".tmp-" not in lines[0]
    assert sorted(p.name for p in parent.iterdir()) == ["out"]
    names = {p.name for p in out.iterdir()}
    assert {"notes.txt", "summary.json", "summaries.csv", "A", "VALIDATION.md"} <= names
    assert not [name for name in names if name.startswith(".")]


# -- the installed console script ----------------------------------------------------------


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).parent / "qisim"
    if not script.exists():
        pytest.skip(f"no qisim console script next to {sys.executable}")
    out = tmp_path / "out"
    ok = subprocess.run([str(script), "run", "aligned", "--days", "30", "--quiet", "--out",
                         str(out)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (out / "summary.json").is_file()
    bad = subprocess.run([str(script), "run", "aligned", "--set", "managers.bais=1", "--out",
                          str(tmp_path / "bad")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "managers.bias" in bad.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("module", ["sim", "sim.cli"])
def test_python_dash_m_runs_the_command(module, tmp_path):
    """``python -m sim`` (and ``python -m sim.cli``) is the command, exit codes included."""
    out = tmp_path / "out"
    ok = subprocess.run([sys.executable, "-m", module, "run", "aligned", "--days", "20", "--quiet",
                         "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (out / "summary.json").is_file()
    bad = subprocess.run([sys.executable, "-m", module, "run", "nosuch"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "unknown preset 'nosuch'" in bad.stderr


def _interrupted_import() -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as err:  # as a compiled module's initialisation reports it
        raise ImportError("initialization failed") from err


def _interrupt_lost_in_an_import() -> None:
    """As pandas' compiled modules may take a Ctrl-C while they initialise (seen in CI): the
    interrupt swallowed, and another error, with none in its chain, in its place."""
    import signal

    with contextlib.suppress(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    raise SystemError("<class '__pyx_defaults'> returned a result with an exception set")


def _broken_import() -> None:
    raise ImportError("no module named 'somewhere'")


@pytest.mark.parametrize("fail", [KeyboardInterrupt, _interrupted_import, _interrupt_lost_in_an_import,
                                  _broken_import])
def test_ctrl_c_while_the_command_line_imports_is_one_line_and_exit_130(monkeypatch, capsys, fail):
    """The console script takes a Ctrl-C in its first second (its imports) as it takes one
    later: one line, exit status 130, no traceback; an import that fails otherwise still
    fails as it is."""
    from sim import console

    class Importer:
        def find_spec(self, name, path=None, target=None):
            if name == "sim.cli":
                if fail is KeyboardInterrupt:
                    raise KeyboardInterrupt
                fail()
            return None

    monkeypatch.delitem(sys.modules, "sim.cli")
    monkeypatch.setattr(sys, "meta_path", [Importer(), *sys.meta_path])
    if fail is _broken_import:
        with pytest.raises(ImportError, match="somewhere"):
            console.main()
        return
    assert console.main() == 130
    assert capsys.readouterr().err == console.INTERRUPTED + "\n"


def test_import_sim_is_light_and_its_names_come_on_first_use():
    code = (
        "import sys, sim; print('mesa' in sys.modules, 'numpy' in sys.modules); "
        "from sim import QIModel, load_scenario; print(QIModel.__module__, 'mesa' in sys.modules); "
        "print(set(sim.__all__) == {*sim._PUBLIC, '__version__'} and set(sim.__all__) <= set(dir(sim)));"
        "print(sim.model.QIModel is QIModel, sim.schema.__name__); sim.nosuch"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.split("\n")[:4] == ["False False", "sim.model True", "True", "True sim.schema"]
    assert "AttributeError: module 'sim' has no attribute 'nosuch'" in run.stderr


def test_a_command_whose_import_a_ctrl_c_cut_short_ends_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr("sim.cli.preset_names", _interrupted_import)
    assert main(["scenarios"]) == 130
    assert capsys.readouterr().err == "qisim: interrupted; nothing written\n"
    monkeypatch.setattr("sim.cli.preset_names", _interrupt_lost_in_an_import)
    assert main(["scenarios"]) == 130
    assert capsys.readouterr().err == "qisim: interrupted; nothing written\n"
    monkeypatch.setattr("sim.cli.preset_names", _broken_import)
    with pytest.raises(ImportError, match="somewhere"):
        main(["scenarios"])


def test_sigterm_while_a_run_writes_removes_what_it_wrote_and_is_one_line_and_exit_143(tmp_path):
    """A SIGTERM (`kill PID`, a batch system stopping a job) takes the way out of a Ctrl-C:
    the temporary folder of the outputs is removed, one line, exit status 143."""
    code = (
        "import os, signal, sys, time; from sim import outputs; from sim.console import main\n"
        "def stopped(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
        "outputs.figures.run_figures = stopped\n"
        "sys.exit(main())"
    )
    out = tmp_path / "out"
    argv = [sys.executable, "-c", code, "run", "aligned", "--days", "10", "--quiet", "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    from sim.console import TERMINATED

    assert done.returncode == 143 and done.stderr == TERMINATED + "\n", done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_sigterm_that_code_swallowed_still_ends_the_command(monkeypatch, capsys):
    """A SIGTERM that cuts short an import a library guards (ImportError: a missing
    optional dependency) is swallowed there; the command still ends before its next stage."""
    import signal

    from sim import cli

    real = cli._build_parser

    def swallowing():
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        with contextlib.suppress(KeyboardInterrupt):  # as `except ImportError` takes an import
            signal.raise_signal(signal.SIGTERM)  # that a SIGTERM cut short
        return real()

    monkeypatch.setattr(cli, "_build_parser", swallowing)
    assert main(["scenarios"]) == 143
    captured = capsys.readouterr()
    assert captured.err == "qisim: terminated; nothing written\n" and captured.out == ""
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("when", ["in an exit handler", "in the teardown"])
def test_a_signal_once_the_command_has_ended_does_not_end_the_process_as_killed(signum, when):
    """After a command has finished and said so, the interpreter exits: its exit handlers
    run, then its teardown (tenths of a second after a command that imported much), with
    the signals' default actions put back. A Ctrl-C or a SIGTERM there printed a traceback,
    or ended the process with no word, as killed; now the process ends with the command's
    status. (An object's __del__ runs in the teardown.)"""
    code = (
        "import atexit, os, signal, sys, time\n"
        "class Late:\n"
        f"    def __init__(self, kill=os.kill, pid=os.getpid(), sig=signal.{signum}, sleep=time.sleep):\n"
        "        self.args = kill, pid, sig, sleep\n"
        "    def __call__(self):\n"
        "        kill, pid, sig, sleep = self.args\n"
        "        kill(pid, sig)\n"
        "        sleep(0.2)\n"
        "    __del__ = __call__\n"
        "from sim import cli\n"
        "command = cli.main\n"
        "def main(*args):\n"
        "    status = command(*args)\n"
        f"    {'atexit.register(Late())' if when == 'in an exit handler' else 'cli.late = Late()'}\n"
        "    return status\n"
        "cli.main = main\n"
        "from sim.console import main\n"
        "sys.exit(main())"
    )
    done = subprocess.run([sys.executable, "-c", code, "scenarios"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "baseline" in done.stdout and done.stderr == ""


def test_progress_bars_redraw_slowly_into_a_log(monkeypatch):
    """Off a terminal (a log file, a pipe) a bar redraws every 10 s, only while a command
    runs; a TQDM_MININTERVAL the user set is kept."""
    from sim.cli import _slow_bars_off_a_terminal

    monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    with _slow_bars_off_a_terminal():
        assert os.environ["TQDM_MININTERVAL"] == "10"
    assert "TQDM_MININTERVAL" not in os.environ
    monkeypatch.setenv("TQDM_MININTERVAL", "1")
    with _slow_bars_off_a_terminal():
        assert os.environ["TQDM_MININTERVAL"] == "1"
    assert os.environ["TQDM_MININTERVAL"] == "1"
