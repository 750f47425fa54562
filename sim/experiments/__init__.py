"""Experiments: a design of scenario variants, run with replicates, stored, analysed.

The pipeline has four swappable stages, each in its own module:

- :mod:`~sim.experiments.experiment` reads an experiment file (TOML) and validates it;
  :mod:`~sim.experiments.design` turns it into design points (full factorial grid, Latin
  hypercube, Sobol/Saltelli or Morris samples) and gives every run its seed (common
  random numbers across design points by default);
- :mod:`~sim.experiments.execute` runs one chunk of runs, and
  :mod:`~sim.experiments.executors` sends chunks through any
  ``concurrent.futures.Executor``: in this process, on a local process pool, or on a
  Dask distributed cluster (``Client.get_executor()``);
- :mod:`~sim.experiments.store` writes each finished chunk as a small Parquet part-file
  (atomically), keeps a manifest, finds what is missing on ``--resume`` and writes the
  consolidated dataset (``runs.parquet``, ``timeseries.parquet``);
- :mod:`~sim.experiments.analyse` makes tables and figures: means with 95% confidence
  intervals per design point, main effects and interactions, time-series envelopes,
  Sobol and Morris indices, and a check of the number of replicates.

The command line (``qisim sweep``, ``qisim analyse``) is in :mod:`~sim.experiments.cli`.
Heavy libraries (pyarrow, SALib, dask, matplotlib) are imported only where they are used.
"""

from .experiment import Experiment, Factor, load_experiment, shipped_experiments

__all__ = ["Experiment", "Factor", "load_experiment", "shipped_experiments"]
