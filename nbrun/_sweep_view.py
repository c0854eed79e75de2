"""The read view of a stored sweep (rule 54): :class:`Sweep`, what ``nbrun.Api().sweep(
"project/ID")`` (and the drop-in's ``wandb.Api().sweep``) returns: its id, name, config, state,
runs and best run, read from the store on every access."""

from __future__ import annotations

import math
from typing import Any

from . import _actions
from ._records import SweepRecord
from ._store import Store
from .errors import RunNotFoundError, UsageError


class Sweep:
    """A stored sweep: ``.id``, ``.name``, ``.project``, ``.config`` (the sweep
    configuration as given), ``.state`` (W&B's ``PENDING``, ``RUNNING``, ``FINISHED``),
    ``.runs`` (its trials' runs) and ``.best_run()``."""

    def __init__(self, store: Store, rec: SweepRecord) -> None:
        self._store = store
        self._key = rec.key
        self._rec = rec
        #: the sweep's id (what ``nbrun.sweep`` returned)
        self.id: str = rec.id
        #: the project the sweep and its runs are in
        self.project: str = rec.project

    def __repr__(self) -> str:
        return f"<Sweep {self.project}/{self.id} ({self.state})>"

    def _record(self) -> SweepRecord:
        rec = self._store.get_sweep(self.project, self.id)
        if rec is None:
            raise RunNotFoundError(f"sweep {self.project}/{self.id} is not in the store any more")
        self._rec = rec
        return rec

    @property
    def name(self) -> str:
        """The config's ``name``, else the id (as W&B shows a sweep)."""
        return self._rec.name or self.id

    @property
    def config(self) -> dict[str, Any]:
        """The sweep configuration as given to ``nbrun.sweep`` (checked, JSON)."""
        return dict(self._rec.config)

    @property
    def method(self) -> str:
        """``grid``, ``random`` or ``bayes``."""
        return self._rec.method

    @property
    def state(self) -> str:
        """``PENDING`` (no agent yet), ``RUNNING`` or ``FINISHED`` (no suggestion left, or
        ``run_cap`` reached), read now."""
        return self._record().state

    @property
    def path(self) -> list[str]:
        """``[project, id]``."""
        return [self.project, self.id]

    @property
    def runs(self) -> list[Any]:
        """The sweep's runs (``StoredRun`` views), oldest first."""
        stored_run = _actions.get("stored_run")  # a StoredRun view (_views registers it)
        return [
            stored_run(self._store, rec)
            for rec in self._store.list_runs(self.project)
            if rec.sweep_id == self.id
        ]

    def best_run(self, order: str | None = None) -> Any:
        """The best of :attr:`runs` by ``summary[metric]``: with ``order`` None, the sweep's
        ``metric.name`` by its ``goal`` (W&B); else ``"key"`` / ``"+key"`` (smallest first)
        or ``"-key"`` (largest first), ``key`` a summary key (W&B's ``summary_metrics.``
        prefix accepted). Runs without a finite number there are skipped; None when none has
        one."""
        name, descending = _order(order, self._rec.config)
        best: tuple[float, Any] | None = None
        for run in self.runs:
            value = run.record().summary.get(name)
            if isinstance(value, dict):
                value = value.get("max" if descending else "min", value.get("last"))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue
            score = -float(value) if descending else float(value)
            if best is None or score < best[0]:
                best = (score, run)
        return None if best is None else best[1]


def sweep_project(store: Store | None, sweep_id: str, where: object) -> str:
    """The project of the store's one sweep ``sweep_id`` (a bare id, rule 57): an id in two
    projects is a :class:`UsageError` naming them, none a :class:`RunNotFoundError`."""
    found = sorted(
        {r.project for r in (store.list_sweeps() if store is not None else []) if r.id == sweep_id}
    )
    if len(found) > 1:
        raise UsageError(
            f"Api.sweep({sweep_id!r}): sweeps with this id are in projects {found}; pass "
            "'project/sweep_id'"
        )
    if not found:
        raise RunNotFoundError(f"no sweep {sweep_id!r} in any project under {where}")
    return found[0]


def _order(order: str | None, config: dict[str, Any]) -> tuple[str, bool]:
    """(summary key, descending) of a ``best_run`` order."""
    if order is None:
        metric = config.get("metric")
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            raise UsageError(
                "best_run(): the sweep has no metric; pass order='-key' (largest first) or "
                "'+key' (smallest first) naming a summary key"
            )
        return metric["name"], metric.get("goal", "minimize") == "maximize"
    if not isinstance(order, str) or not order.lstrip("+-"):
        raise UsageError(f"best_run(order={order!r}): pass '-key', '+key' or 'key'")
    descending = order.startswith("-")
    key = order.lstrip("+-")
    key = key.removeprefix("summary_metrics.")
    return key, descending
