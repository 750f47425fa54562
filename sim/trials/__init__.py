"""Virtual trials: parallel, stepped-wedge and before-after cluster trials run in the model,
analysed as trialists do, with the counterfactual truth beside every estimate.

- :mod:`~sim.trials.definition` reads a trial file (TOML) and validates it;
- :mod:`~sim.trials.run` simulates one trial (randomised order, launches, the model's run,
  cluster-period measures);
- :mod:`~sim.trials.analyse` estimates the effect (period-adjusted GEE and the naive
  before-after) and the truth;
- :mod:`~sim.trials.report` summarises many simulated trials: bias, coverage, power,
  disagreement of the naive estimate, contamination; tables and figures;
- :mod:`~sim.trials.cli` is ``qisim trial``, through the sweep runner of
  :mod:`sim.experiments` (resumable, parallel, Dask).
"""

from .definition import Trial, load_trial, parse_trial

__all__ = ["Trial", "load_trial", "parse_trial"]
