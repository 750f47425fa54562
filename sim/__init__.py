"""qisim: an agent-based model of how quality-improvement interventions in hospitals are
adopted, sustained or abandoned, after Pannick, Sevdalis & Athanasiou's model of
alignment (BMJ Qual Saf 2016;25:716-725)."""

__version__ = "0.1.0"

from .agents import BoardMember, Clinician, MiddleManager  # noqa: E402
from .model import QIModel  # noqa: E402
from .scenario import Scenario, ScenarioError, load_scenario, preset_names  # noqa: E402

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
