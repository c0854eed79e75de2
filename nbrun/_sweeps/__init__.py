"""Offline W&B sweeps (issue 23, rules 46-49 and on).

The pure part lives here: :mod:`.config` (the sweep configuration, checked once), :mod:`.space`
(drawing and grid axes), :mod:`.search` (``suggest``: grid, random, bayes), :mod:`.bayes` (the
Gaussian process) and :mod:`.hyperband` (early termination). Then :mod:`.program` (a trial's
program in a subprocess, rules 55-57), and on the store :mod:`.agent` (claiming trials,
running them, hyperband's monitor, crashed trials; rules 50-53) and :mod:`.api`
(``nbrun.sweep``, ``nbrun.agent``). Inside the package each module imports only those before
it: config, space, bayes, search, hyperband, program, agent, api.
"""

from __future__ import annotations

from .config import (
    DISTRIBUTIONS,
    METHODS,
    Hyperband,
    Metric,
    Param,
    SweepConfig,
    parse_sweep_config,
)
from .hyperband import bands, thresholds, to_stop
from .search import TRIAL_STATES, Suggestion, Trial, grid_point, grid_size, suggest

__all__ = [
    "DISTRIBUTIONS",
    "METHODS",
    "TRIAL_STATES",
    "Hyperband",
    "Metric",
    "Param",
    "Suggestion",
    "SweepConfig",
    "Trial",
    "bands",
    "grid_point",
    "grid_size",
    "parse_sweep_config",
    "suggest",
    "thresholds",
    "to_stop",
]
