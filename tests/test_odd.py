"""docs/ODD.md stays true to the code: generated tables, names, mechanisms and keys."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from sim import mechanisms, odd, schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"
TEXT = DOC.read_text(encoding="utf-8")

# Inline code spans and fenced code blocks: where names and keys are written.
FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
INDEXED = re.compile(r"(?<![\w.])(interventions|events)\.(\d+)\.([A-Za-z_]\w*)")
FILE_SUFFIXES = {"csv", "json", "toml", "md", "py", "png", "svg", "log", "txt"}


def code_spans(text: str) -> list[str]:
    spans = FENCED.findall(text)
    spans += INLINE.findall(FENCED.sub("", text))
    return spans


def dotted_names(text: str) -> set[str]:
    return {m.group(0) for span in code_spans(text) for m in DOTTED.finditer(span)}


def resolve(name: str) -> object:
    """Import the longest importable module prefix of ``name``, then getattr the rest."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def test_generated_tables_are_current():
    assert odd.current_block(TEXT) == odd.render_parameters().strip(), (
        "the parameter tables in docs/ODD.md are out of date with sim/schema.py; "
        "run `python -m sim.odd` to regenerate them"
    )


def test_main_check_and_regenerate(tmp_path, capsys):
    stale = tmp_path / "ODD.md"
    stale.write_text(f"# Doc\n\n{odd.BEGIN}\nold table\n{odd.END}\n\nAfter.\n", encoding="utf-8")
    assert odd.main(["--check", "--path", str(stale)]) == 1
    assert "python -m sim.odd" in capsys.readouterr().err
    assert odd.main(["--path", str(stale)]) == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("# Doc\n\n") and text.endswith("\n\nAfter.\n")
    assert odd.current_block(text) == odd.render_parameters().strip()
    assert odd.main(["--check", "--path", str(stale)]) == 0
    missing = tmp_path / "plain.md"
    missing.write_text("no markers\n", encoding="utf-8")
    assert odd.main(["--check", "--path", str(missing)]) == 2


def test_every_schema_key_is_in_the_tables():
    block = odd.current_block(TEXT)
    for p in [*schema.PARAMS, *schema.INTERVENTION, *schema.EVENT]:
        assert f"| `{p.key}` |" in block, f"{p.key} missing from the generated tables"


def test_qualified_names_resolve():
    names = sorted(n for n in dotted_names(TEXT) if n.split(".")[0] == "sim")
    assert names, "expected fully-qualified `sim.…` names in docs/ODD.md"
    missing = []
    for name in names:
        try:
            resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"docs/ODD.md names objects that do not exist: {', '.join(missing)}"


def public_mechanisms() -> list[str]:
    return sorted(
        name
        for name, fn in inspect.getmembers(mechanisms, inspect.isfunction)
        if fn.__module__ == mechanisms.__name__ and not name.startswith("_") and name != "sigmoid"
    )


def test_every_mechanism_is_documented():
    names = dotted_names(TEXT)
    undocumented = [f for f in public_mechanisms() if f"sim.mechanisms.{f}" not in names]
    assert not undocumented, (
        "mechanisms not described in docs/ODD.md (name them as `sim.mechanisms.<name>`): "
        + ", ".join(undocumented)
    )


def test_every_step_mechanism_is_a_submodel():
    """Each mechanism QIModel.step calls has its own place in the schedule (section 3)."""
    from sim.model import QIModel

    called = set(re.findall(r"mech\.(\w+)\(", inspect.getsource(QIModel.step)))
    assert called, "could not find the mechanisms QIModel.step calls (as `mech.<name>(`)"
    schedule = TEXT.split("## 3.", 1)[1].split("## 4.", 1)[0]
    missing = [f for f in sorted(called) if f"`sim.mechanisms.{f}`" not in schedule]
    assert not missing, f"section 3 of docs/ODD.md does not schedule: {', '.join(missing)}"


def unknown_keys(text: str) -> list[str]:
    """Dotted names in code whose first part is a schema section but which are not keys.

    Names that start elsewhere (``sim.model``, ``p.iv``) and file names (``issues.csv``)
    are not keys and are skipped; ``interventions.N.field`` and ``events.N.field`` are
    checked against the intervention and event tables.
    """
    sections = {s for s in schema.SECTIONS if s}
    heads = {s.split(".")[0] for s in sections}
    unknown = []
    for name in sorted(dotted_names(text)):
        if name.split(".")[0] not in heads or name.rsplit(".", 1)[-1] in FILE_SUFFIXES:
            continue
        if name not in schema.BY_KEY and name not in sections:
            unknown.append(name)
    for span in code_spans(text):
        for head, _, field in INDEXED.findall(span):
            if field not in schema.LIST_KEYS[head]:
                unknown.append(f"{head}.N.{field}")
    return unknown


def test_parameter_keys_exist():
    unknown = unknown_keys(TEXT)
    assert not unknown, f"docs/ODD.md names keys that are not in sim.schema: {', '.join(unknown)}"


def test_key_check_catches_typos_and_skips_non_keys():
    sample = (
        "Set `clinicians.w_valeu` and `interventions.0.burdn`; see `issues.csv`, "
        "`sim.model.COLUMNS`, `p.iv.burden` and `[incentives.board]`.\n"
        "```\nz = managers.bias + incentives.manager.bonus·x\n```\n"
    )
    assert unknown_keys(sample) == [
        "clinicians.w_valeu",
        "incentives.manager.bonus",
        "interventions.N.burdn",
    ]


def test_a_key_every_entry_must_give_is_listed_as_required_not_with_a_default():
    """An [[events]] entry without a kind is refused, so its schema default never applies:
    the keys list and Appendix A say "required" rather than show it."""
    from sim.cli import keys_text

    assert "  events.N.kind  (required)\n" in keys_text()
    assert "| `kind` | - | required |" in odd.render_parameters()
    assert "| `day` | day | `0` |" in odd.render_parameters()  # the others keep their defaults
