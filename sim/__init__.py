"""qisim: an agent-based model of how quality-improvement interventions in hospitals are
adopted, sustained or abandoned, after Pannick, Sevdalis & Athanasiou's model of
alignment (BMJ Qual Saf 2016;25:716-725).

The names below are imported on first use (PEP 562), so that ``import sim`` is quick and
the command line can take a Ctrl-C during its own imports as it does later.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_PUBLIC = {
    "BoardMember": "agents",
    "Clinician": "agents",
    "MiddleManager": "agents",
    "QIModel": "model",
    "Scenario": "scenario",
    "ScenarioError": "scenario",
    "load_scenario": "scenario",
    "preset_names": "scenario",
}

__all__ = [
    "BoardMember",
    "Clinician",
    "MiddleManager",
    "QIModel",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "preset_names",
    "__version__",
]

if TYPE_CHECKING:
    from .agents import BoardMember, Clinician, MiddleManager
    from .model import QIModel
    from .scenario import Scenario, ScenarioError, load_scenario, preset_names


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for; or a
    submodule (``sim.model`` after ``import sim``, as when these names were imported at once)."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
