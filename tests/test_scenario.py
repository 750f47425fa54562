"""Scenario files and overrides: the schema is the single source of truth."""

import pytest

from sim import ScenarioError, load_scenario, preset_names
from sim.scenario import from_dict
from sim.schema import BY_KEY, EVENT, INTERVENTION, PARAMS

PRESETS = {
    "baseline",
    "aligned",
    "clinician_only",
    "top_down_mandate",
    "co_leadership",
    "initiative_overload",
    "merger_shock",
    "regulator_endorsement",
    "trial_then_scale_up",
    "heads_up_site",
}


def test_every_required_preset_is_shipped():
    assert set(preset_names()) >= PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_loads_with_a_description_a_trainer_can_read_aloud(name):
    sc = load_scenario(name)
    assert sc.name == name
    assert sc["title"].strip()
    assert len(sc["description"].split()) >= 40, "describe what it shows and what to notice"
    assert "notice" in sc["description"].lower()


def test_every_param_has_unit_default_range_and_meaning():
    for p in [*PARAMS, *INTERVENTION, *EVENT]:
        assert p.doc.strip(), p.key
        assert p.unit, p.key
        if p.kind in (int, float):
            assert p.lo is not None and p.hi is not None, p.key
            assert p.lo <= p.default <= p.hi, p.key


def test_defaults_fill_what_a_file_does_not_say():
    sc = from_dict({"days": 10})
    assert sc["days"] == 10
    assert sc["managers.bias"] == BY_KEY["managers.bias"].default
    assert sc.interventions == [] and sc.events == []


def test_set_overrides_scalars_and_list_items_by_dotted_path():
    sc = load_scenario("aligned", ["days=100", "interventions.0.burden=0.05", "facilitation.enabled=false"])
    assert sc["days"] == 100
    assert sc.interventions[0]["burden"] == 0.05
    assert sc["facilitation.enabled"] is False


def test_ints_are_accepted_where_numbers_are_expected():
    assert load_scenario("aligned", ["outcome.secular_trend=0"])["outcome.secular_trend"] == 0.0


@pytest.mark.parametrize(
    "overrides, key, fragment",
    [
        (["manager.bias=1"], "manager.bias", "did you mean 'managers.bias'"),
        (["days=ten"], "days", "an integer"),
        (["days=1.5"], "days", "an integer"),
        (["outcome.secular_trend=2"], "outcome.secular_trend", "from 0 to 0.5"),
        (["facilitation.enabled=1"], "facilitation.enabled", "true or false"),
        # what was given, as TOML writes it
        (["interventions.0.adaptation=true"], "interventions.0.adaptation", "(got true)"),
        (["interventions.0.pathway=magic"], "interventions.0.pathway", "(got 'magic')"),
        (["interventions.0.pathway=magic"], "interventions.0.pathway", "'fidelity', 'issues'"),
        (["interventions.3.burden=0.1"], "interventions.3.burden", "has 1 entries"),
        (["events.0.day=450"], "events.0.day", "no events to change; set the whole list instead: events=["),
        (["interventions.0.burdn=0.1"], "interventions.0.burdn", "did you mean 'interventions.0.burden'"),
        (["facilitation.end_day=10", "facilitation.start_day=20"], "facilitation.end_day", "before arriving"),
        (["organisation.wards_per_manager=13"], "organisation.wards_per_manager", "at most"),
        (["organisation.share_nurse=0.9"], "organisation.share_nurse", "sum to 1"),
        (["events=[{day=1, kind='merger', hospital=3}]"], "events.0.hospital", "from 0 to 0"),
        (["novalue"], "novalue", "KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_key_and_what_is_allowed(overrides, key, fragment):
    with pytest.raises(ScenarioError) as err:
        load_scenario("aligned", overrides)
    message = str(err.value)
    assert "\n" not in message
    assert f"'{key}'" in message
    assert fragment in message


def test_overrides_from_python_are_not_called_command_line_options():
    """A mapping comes from Python, not from ``--set``: its error names it as overrides."""
    with pytest.raises(ScenarioError) as err:
        load_scenario("aligned", {"days": -1})
    assert str(err.value).startswith("overrides: key 'days': must be an integer")
    with pytest.raises(ScenarioError) as err:
        load_scenario("aligned", ["days=-1"])
    assert str(err.value).startswith("--set: key 'days': must be an integer")


def test_a_bad_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[managers]\nbais = 1.0\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(path) in str(err.value) and "managers.bias" in str(err.value)


def test_invalid_toml_is_reported_as_such(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("days = \n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path)


def test_missing_file_and_unknown_preset():
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario("no/such/file.toml")
    with pytest.raises(ScenarioError, match="did you mean 'aligned'"):
        load_scenario("alinged")


def test_a_folder_given_as_the_scenario_is_named_as_a_folder(tmp_path):
    with pytest.raises(ScenarioError, match="is a folder, not a .toml file"):
        load_scenario(tmp_path)


def test_scenario_round_trips_through_nested_tables():
    sc = load_scenario("heads_up_site")
    again = from_dict(sc.to_nested())
    assert dict(again) == dict(sc)
