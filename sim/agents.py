"""The agents' inspectable faces.

The state lives in the model's arrays (:class:`sim.state.State`) and the day's rules run
over them all at once; each agent object is a view of its own row, so
``model.agents_by_type[Clinician]`` can be browsed, filtered and reported on as in any
Mesa model.  A ``Clinician`` is a clinical post on a ward: when staff turn over or
rotate, the post's holder changes and its state restarts.
"""

from __future__ import annotations

import mesa

from .state import GROUPS


class Clinician(mesa.Agent):
    """A clinical post (consultant, junior doctor or nurse) on a ward."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def _s(self):
        return self.model.state

    @property
    def ward(self) -> int:
        return int(self._s.c_ward[self.index])

    @property
    def hospital(self) -> int:
        return int(self._s.c_hosp[self.index])

    @property
    def group(self) -> str:
        return GROUPS[self._s.c_group[self.index]]

    @property
    def champion(self) -> bool:
        return bool(self._s.c_champion[self.index])

    @property
    def engagement(self) -> float:
        """Engagement with the primary intervention, in [0, 1]."""
        return float(self._s.c_eng[self.index, 0]) if self._s.K else 0.0

    @property
    def skill(self) -> float:
        return float(self._s.c_skill[self.index, 0]) if self._s.K else 0.0

    @property
    def fad_belief(self) -> float:
        return float(self._s.c_fad[self.index])

    @property
    def uses_today(self) -> bool:
        return bool(self._s.c_use[self.index, 0]) if self._s.K else False

    @property
    def faithful_today(self) -> bool:
        return bool(self._s.c_faithful[self.index, 0]) if self._s.K else False


class MiddleManager(mesa.Agent):
    """A ward or directorate manager spanning one or more wards."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def _s(self):
        return self.model.state

    @property
    def hospital(self) -> int:
        return int(self._s.mgr_hosp[self.index])

    @property
    def wards(self) -> list[int]:
        return [int(w) for w in (self._s.ward_mgr == self.index).nonzero()[0]]

    @property
    def priority(self) -> float:
        """QI priority for the primary intervention, in [0, 1]."""
        return float(self._s.m_priority[self.index, 0]) if self._s.K else 0.0

    @property
    def attention_share(self) -> float:
        """Share of attention given to the primary intervention today."""
        return float(self._s.m_share[self.index, 0]) if self._s.K else 0.0

    @property
    def usefulness(self) -> float:
        """Perceived usefulness of the primary intervention to own business plans."""
        return float(self._s.m_useful[self.index, 0]) if self._s.K else 0.0


class BoardMember(mesa.Agent):
    """The board of one hospital, represented by its quality lead."""

    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def hospital(self) -> int:
        return self.index

    @property
    def focus(self) -> float:
        """Board focus on the primary intervention, in [0, 1]."""
        s = self.model.state
        return float(s.b_focus[self.index, 0]) if s.K else 0.0
