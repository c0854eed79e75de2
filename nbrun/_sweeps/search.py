"""The next trial of a sweep: grid, random and bayes search (rules 47 and 48).

:func:`suggest` is a pure function of the sweep's config, the trials it has so far and the
sweep's seed: the store calls it inside the write transaction that claims the trial, so
agents in any number of processes or machines share one sequence (no grid point twice, the
same random draws for the same sweep).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Sequence
from typing import Any

from . import bayes
from .config import TRIAL_STATES, Suggestion, SweepConfig, Trial
from .space import draw, grid_axis, nest

__all__ = ["TRIAL_STATES", "Suggestion", "Trial", "grid_point", "grid_size", "suggest"]


def grid_size(cfg: SweepConfig) -> int | None:
    """How many points a ``grid`` sweep has (the product of its axes' lengths, rule 47);
    None for ``random`` and ``bayes``, which have no end."""
    if cfg.method != "grid":
        return None
    return math.prod(len(grid_axis(p)) for p in cfg.parameters)


def grid_point(cfg: SweepConfig, index: int) -> dict[str, Any]:
    """The params of grid point ``index`` (0 <= index < :func:`grid_size`). Points are
    counted as W&B's grid enumerates them: ``itertools.product`` over the parameters in
    W&B's order (names sorted at every level, nested groups depth first), the last
    parameter changing fastest, each axis in its own order (rule 47)."""
    axes = [grid_axis(p) for p in cfg.parameters]
    size = math.prod(len(a) for a in axes)
    if not 0 <= index < size:
        raise IndexError(f"grid point {index} is outside the grid of {size} points")
    values: list[Any] = []
    for axis in reversed(axes):
        index, r = divmod(index, len(axis))
        values.append(axis[r])
    values.reverse()
    return nest((p.path, v) for p, v in zip(cfg.parameters, values, strict=True))


def _rng(seed: int, index: int) -> random.Random:
    """The generator of trial ``index`` of a sweep seeded ``seed`` (stable across Python
    versions and processes: a string seed is hashed with SHA-512)."""
    return random.Random(f"nbrun-sweep:{seed}:{index}")


def random_params(cfg: SweepConfig, rng: random.Random) -> dict[str, Any]:
    """One draw of every parameter, in W&B's order (rule 47)."""
    return nest((p.path, draw(p, rng)) for p in cfg.parameters)


def _next_grid(cfg: SweepConfig, trials: Sequence[Trial]) -> Suggestion | None:
    size = grid_size(cfg) or 0
    taken = {t.index for t in trials if t.state != "crashed"}
    index = 0
    while index in taken:
        index += 1
    if index >= size:
        return None
    return Suggestion(index, _own(grid_point(cfg, index)))


def _target_reached(cfg: SweepConfig, trials: Sequence[Trial]) -> bool:
    metric = cfg.metric
    if metric is None or metric.target is None:
        return False
    return any(
        t.state == "finished" and t.value is not None and metric.reached(t.value) for t in trials
    )


def suggest(cfg: SweepConfig, trials: Sequence[Trial], seed: int) -> Suggestion | None:
    """The sweep's next trial, or None when it has no more (rules 47 and 48).

    ``grid``: the lowest point no trial holds (a ``crashed`` trial's point may be retried;
    every other state holds it), None once every point is held. ``random``: index
    ``len(trials)``, every parameter drawn from a generator seeded by ``(seed, index)``, so a
    sweep's sequence is the same in every process. ``bayes``: a Gaussian process fitted to
    the finished trials (scikit-learn, ``nbrun[sweeps]``), the candidate of highest expected
    improvement; random until two trials have finished with a value. Any method: None once a
    finished trial reached ``metric.target``. ``run_cap`` is the store's to count."""
    if _target_reached(cfg, trials):
        return None
    if cfg.method == "grid":
        return _next_grid(cfg, trials)
    index = len(trials)
    rng = _rng(seed, index)
    if cfg.method == "bayes":
        model = bayes.Model(cfg, trials, rng)
        if model.ready:
            return Suggestion(index, _own(model.best()))
    return Suggestion(index, _own(random_params(cfg, rng)))


def _own(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with list and dict values copied: a suggestion shares nothing with the
    config's values (a run that changes its config cannot change the sweep's)."""
    return {
        k: _own(v) if isinstance(v, dict) else copy.deepcopy(v) if isinstance(v, list) else v
        for k, v in params.items()
    }
