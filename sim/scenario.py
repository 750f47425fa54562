"""Scenarios: load presets or files, apply ``--set`` overrides, validate against the schema.

Every problem raises :class:`ScenarioError`, whose message is one line naming the file,
the key and what is allowed; the command line prints it and exits with status 2.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import schema
from .schema import Param


class ScenarioError(ValueError):
    """Bad scenario input: one line naming the file, the key and what is allowed."""

    def __init__(self, source: str, key: str | None, message: str):
        self.source, self.key, self.message = source, key, message
        where = f"{source}: " if source else ""
        what = f"key '{key}': " if key else ""
        super().__init__(f"{where}{what}{message}")


def data_dir(name: str) -> Path:
    """Folder of shipped data (``scenarios`` or ``experiments``).

    An installed wheel carries them as package data in ``sim/_data``; a source checkout
    (or an editable install) uses the top-level folders.
    """
    packaged = Path(__file__).parent / "_data" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def find_toml(name_or_path: str | Path, folder: str, what: str) -> tuple[Path, str]:
    """The file a command-line name means: a path to a ``.toml`` file, or the name of one
    shipped in ``folder`` (``scenarios`` or ``experiments``); with the name to report it by."""
    text = str(name_or_path)
    if not text.strip():  # Path("") is the working folder
        raise ScenarioError("", None, f"no {what} given: a {what}'s name or a path to a .toml file")
    path = Path(text)
    if path.suffix == ".toml" or path.exists() or "/" in text:
        if path.is_dir():
            raise ScenarioError(text, None, "is a folder, not a .toml file")
        if not path.exists():
            raise ScenarioError(text, None, "file not found")
        if not path.is_file():
            raise ScenarioError(text, None, "is not a file (a device or a pipe?): give a .toml file")
        return path, text
    path = data_dir(folder) / f"{text}.toml"
    if not path.is_file():
        names = sorted(p.stem for p in data_dir(folder).glob("*.toml"))
        hint = difflib.get_close_matches(text, names, n=1)
        did = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ScenarioError("", None, f"unknown {what} '{text}'{did}; {what}s are: {', '.join(names)}")
    return path, f"{folder}/{path.name}"


def read_toml(name_or_path: str | Path, folder: str, what: str) -> tuple[Path, str, str, dict[str, Any]]:
    """A shipped-or-path ``.toml`` file (:func:`find_toml`) read: its path, the name to
    report it by, its text and its tables; a one-line error if it cannot be read."""
    path, source = find_toml(name_or_path, folder, what)
    try:
        body = path.read_text(encoding="utf-8")
        return path, source, body, tomllib.loads(body)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, None, f"not valid TOML ({err})") from None
    except RecursionError:
        raise ScenarioError(source, None, "not valid TOML here (nested too deeply)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(source, None, f"cannot be read ({err})") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in data_dir("scenarios").glob("*.toml"))


class Scenario(Mapping[str, Any]):
    """A fully resolved, validated scenario.

    Scalars are read by dotted key (``scenario["managers.bias"]``); ``interventions`` and
    ``events`` are lists of dicts with every key of their schema filled in.  Immutable:
    levers pulled mid-run change the model's state, never the scenario.
    """

    def __init__(self, values: dict[str, Any], source: str = ""):
        self._values = values
        self.source = source

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def name(self) -> str:
        return self._values["name"]

    @property
    def interventions(self) -> list[dict[str, Any]]:
        return self._values["interventions"]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._values["events"]

    def with_overrides(self, overrides: Iterable[str] | Mapping[str, Any], source: str | None = None):
        """A new scenario with ``KEY=VALUE`` strings (or a mapping) applied and validated.

        An error names ``source``: by default ``--set`` for strings, as the command line
        takes them, and ``overrides`` for a mapping.
        """
        values = copy.deepcopy(self._values)
        if isinstance(overrides, Mapping):
            items, source = overrides.items(), source or "overrides"
        else:
            items, source = map(_split_set, overrides), source or "--set"
        for key, value in items:
            _assign(values, key, value, source)
        return Scenario(_validate(values, source), self.source)

    def to_nested(self) -> dict[str, Any]:
        """The scenario as nested tables, as a TOML file or ``summary.json`` holds it."""
        out: dict[str, Any] = {}
        for key, value in self._values.items():
            node = out
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = copy.deepcopy(value)
        return out


def load_scenario(
    name_or_path: str | Path = "baseline", overrides: Iterable[str] | Mapping[str, Any] = ()
) -> Scenario:
    """Load a preset by name, or a ``.toml`` file by path, then apply overrides.

    >>> load_scenario("aligned", ["days=365"])["days"]
    365
    """
    path, source, _, raw = read_toml(name_or_path, "scenarios", "preset")
    raw.setdefault("name", path.stem)
    scenario = from_dict(raw, source)
    return scenario.with_overrides(overrides) if overrides else scenario


def from_dict(raw: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate nested tables (as read from TOML) into a :class:`Scenario`."""
    values: dict[str, Any] = schema.defaults()
    values["interventions"] = []
    values["events"] = []
    for key, value in _flatten(raw, source):
        _assign(values, key, value, source)
    return Scenario(_validate(values, source), source)


# -- parsing -------------------------------------------------------------------------


def _all_keys() -> list[str]:
    return list(schema.BY_KEY) + list(schema.LIST_KEYS)


def _unknown(source: str, key: str, candidates: Iterable[str]) -> ScenarioError:
    candidates = list(candidates)
    hint = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not hint:  # try the last part alone: 'manager.bias' -> 'managers.bias'
        tail = key.rsplit(".", 1)[-1]
        hint = [c for c in candidates if c.rsplit(".", 1)[-1] == tail][:1]
    did = f"did you mean '{hint[0]}'?" if hint else "see `qisim scenarios --keys` for valid keys"
    return ScenarioError(source, key, f"unknown key; {did}")


def _flatten(raw: Mapping[str, Any], source: str, prefix: str = ""):
    sections = {k for k in schema.SECTIONS if k}
    for k, v in raw.items():
        key = f"{prefix}{k}"
        if key in schema.LIST_KEYS:
            yield key, v
        elif isinstance(v, Mapping) and (key in sections or any(s.startswith(key + ".") for s in sections)):
            yield from _flatten(v, source, key + ".")
        elif key in schema.BY_KEY:
            yield key, v
        else:
            raise _unknown(source, key, _all_keys())


def _split_set(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ScenarioError("--set", item, "expected KEY=VALUE")
    key, text = item.split("=", 1)
    key, text = key.strip(), text.strip()
    if not key:
        raise ScenarioError("--set", None, f"'{item}' has no key before '=': expected KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word is a string
    except RecursionError:
        raise ScenarioError("--set", key, "the value is nested too deeply") from None
    return key, value


def _assign(values: dict[str, Any], key: str, value: Any, source: str) -> None:
    head, _, rest = key.partition(".")
    if head in schema.LIST_KEYS:
        item_schema = schema.LIST_KEYS[head]
        if not rest:  # the whole list
            if not isinstance(value, list) or not all(isinstance(x, Mapping) for x in value):
                raise ScenarioError(source, head, f"must be a list of tables ([[{head}]])")
            values[head] = [_item(head, i, x, item_schema, source) for i, x in enumerate(value)]
            return
        index_text, _, field = rest.partition(".")
        items = values[head]
        if not items:
            raise ScenarioError(
                source,
                key,
                f"this scenario has no {head} to change; set the whole list instead: "
                f"{head}=[{{FIELD=VALUE, ...}}] (or [[{head}]] tables in a file)",
            )
        if not index_text.isdigit() or int(index_text) >= len(items):
            raise ScenarioError(
                source, key, f"'{head}' has {len(items)} entries; use {head}.N.FIELD with N < {len(items)}"
            )
        if field not in item_schema:
            raise _unknown(source, key, [f"{head}.{index_text}.{k}" for k in item_schema])
        items[int(index_text)][field] = _check(item_schema[field], value, source, key)
        return
    param = schema.BY_KEY.get(key)
    if param is None:
        raise _unknown(source, key, _all_keys())
    values[key] = _check(param, value, source, key)


def _item(head: str, index: int, raw: Mapping[str, Any], item_schema, source: str) -> dict:
    for k in schema.REQUIRED_ITEM_KEYS.get(head, ()):
        if k not in raw:  # an event with no kind would silently be the default kind
            choices = ", ".join(item_schema[k].choices or ())
            raise ScenarioError(source, f"{head}.{index}.{k}", f"missing: say which of {choices}")
    out = {k: p.default for k, p in item_schema.items()}
    for k, v in raw.items():
        full = f"{head}.{index}.{k}"
        if k not in item_schema:
            raise _unknown(source, full, [f"{head}.{index}.{c}" for c in item_schema])
        out[k] = _check(item_schema[k], v, source, full)
    return out


def toml_text(value: Any) -> str:
    """A value as TOML writes it (``true``, ``'fidelity'``, ``0.35``, ``[1, 'a']``,
    ``{ a = 1 }``): how ``--keys`` shows a default and an error names what a file or
    ``--set`` gave. A string is a literal string in single quotes, as the allowed values are
    listed, unless it holds one (or a line break)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if "'" not in value and "\n" not in value:
            return f"'{value}'"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _check(p: Param, value: Any, source: str, key: str) -> Any:
    """Type and range check of one value."""
    ok_type = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[p.kind]
    if not ok_type:
        raise ScenarioError(source, key, f"must be {p.allowed()} (got {toml_text(value)})")
    if p.kind is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # bytes of another encoding in a --set (Python's surrogates)
            raise ScenarioError(source, key, "must be text in UTF-8 (got other bytes)") from None
    if p.kind is float:
        value = float(value)
        if value != value:  # NaN
            raise ScenarioError(source, key, f"must be {p.allowed()} (got nan)")
    if p.choices and value not in p.choices:
        raise ScenarioError(source, key, f"must be {p.allowed()} (got {toml_text(value)})")
    out_of_range = (p.lo is not None and value < p.lo) or (p.hi is not None and value > p.hi)
    if p.kind in (int, float) and out_of_range:
        raise ScenarioError(source, key, f"must be {p.allowed()} (got {toml_text(value)})")
    return value


def _validate(v: dict[str, Any], source: str) -> dict[str, Any]:
    """Checks that involve several keys."""
    shares = ("organisation.share_consultant", "organisation.share_junior", "organisation.share_nurse")
    total = sum(v[k] for k in shares)
    if abs(total - 1.0) > 1e-6:
        raise ScenarioError(
            source,
            "organisation.share_nurse",
            f"the shares of consultants, juniors and nurses must sum to 1 (they sum to {total:g})",
        )
    if v["organisation.wards_per_manager"] > v["organisation.wards_per_hospital"]:
        raise ScenarioError(
            source,
            "organisation.wards_per_manager",
            f"must be at most organisation.wards_per_hospital ({v['organisation.wards_per_hospital']}); "
            "a manager cannot span more wards than the hospital has",
        )
    if v["facilitation.end_day"] < v["facilitation.start_day"]:
        raise ScenarioError(
            source,
            "facilitation.end_day",
            f"must be >= facilitation.start_day ({v['facilitation.start_day']}); "
            f"the facilitator cannot leave (day {v['facilitation.end_day']}) before arriving",
        )
    if v["issues.share_cross_department"] + v["issues.share_board"] > 1:
        raise ScenarioError(
            source,
            "issues.share_board",
            "issues.share_cross_department + issues.share_board must be at most 1",
        )
    names = [iv["name"] for iv in v["interventions"]]
    for i, iv in enumerate(v["interventions"]):
        if names.count(iv["name"]) > 1:
            raise ScenarioError(
                source, f"interventions.{i}.name", f"'{iv['name']}' is used twice; names must be unique"
            )
    hospitals = v["organisation.hospitals"]
    if v["facilitation.hospitals"] > hospitals:
        raise ScenarioError(
            source, "facilitation.hospitals", f"must be from 0 (all) to organisation.hospitals ({hospitals})"
        )
    for i, iv in enumerate(v["interventions"]):
        if iv["pilot_wards"] > v["organisation.wards_per_hospital"]:
            raise ScenarioError(
                source,
                f"interventions.{i}.pilot_wards",
                f"must be from 0 (all) to organisation.wards_per_hospital "
                f"({v['organisation.wards_per_hospital']})",
            )
        if iv["hospitals_at_launch"] > hospitals:
            raise ScenarioError(
                source,
                f"interventions.{i}.hospitals_at_launch",
                f"must be from 0 (all) to organisation.hospitals ({hospitals})",
            )
        if iv["scale_up_day"] >= 0 and iv["scale_up_day"] <= iv["launch_day"]:
            raise ScenarioError(
                source,
                f"interventions.{i}.scale_up_day",
                f"must be -1 (never) or after launch_day ({iv['launch_day']})",
            )
        if iv["scale_up_mandate"] > 0 and iv["scale_up_day"] < 0:
            raise ScenarioError(
                source,
                f"interventions.{i}.scale_up_mandate",
                f"must be 0 unless interventions.{i}.scale_up_day is set",
            )
    for i, ev in enumerate(v["events"]):
        if ev["hospital"] >= hospitals:
            raise ScenarioError(
                source,
                f"events.{i}.hospital",
                f"must be -1 (all) or from 0 to {hospitals - 1} (got {ev['hospital']})",
            )
        if ev["ward"] >= 0 and ev["kind"] != "launch":
            raise ScenarioError(source, f"events.{i}.ward", f"must be -1 unless events.{i}.kind = 'launch'")
        if ev["ward"] >= v["organisation.wards_per_hospital"]:
            raise ScenarioError(
                source,
                f"events.{i}.ward",
                f"must be -1 (every ward) or from 0 to organisation.wards_per_hospital - 1 "
                f"({v['organisation.wards_per_hospital'] - 1}) (got {ev['ward']})",
            )
    return v


check_value = _check  # public: type and range check of one value against its schema entry
