"""What a run's training attaches to it: the training function's spec and its state.

Kept below the run (``_run`` holds a :class:`TrainingState` once ``nbrun.launch`` attaches
one with ``Run.attach_training``) and the training layer (``_training`` creates them), so
neither imports the other upward.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import numbers
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._checkpoints import Checkpoint
from .errors import UsageError

QUEUED_HOST = "(queued on an executor)"
"""The ``host`` of a run handed to an executor that no worker has taken over yet: readers see
it running while the handing process keeps its heartbeat fresh, crashed once that stops."""


def _number(value: object) -> bool:
    """An int or float (numpy's too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Recover:
    """Recovery by rewind for a launched run (rules 60-61): ``nbrun.launch(train, ...,
    recover=nbrun.Recover(...))``.

    When the logged ``metric`` is NaN or infinite (``nan=True``), or with ``spike=k`` more
    than ``k`` times the median of its last ``window`` values, the run is rewound to its last
    checkpoint before that step (the diverged rows are kept as an archive, as with every
    rewind), each ``update`` factor is multiplied into its config key, an alert names the
    metric, value and step, and ``train`` is called again from the checkpoint. After
    ``retries`` recoveries the next divergence fails the run with that alert. Forks and
    rewinds of the run (and PBT members) carry the same policy.

    Example::

        def train(run):
            state = run.restore() or {"w": init_weights()}
            for step in range(run.step, 200):
                state["w"], loss = sgd_step(state["w"], run.config["lr"])
                run.log({"loss": loss})
                if step % 10 == 0:
                    run.checkpoint(state)

        run = nbrun.launch(
            train,
            config={"lr": 0.5},
            recover=nbrun.Recover(metric="loss", spike=4.0, update={"lr": 0.5}, retries=3),
        )
        run.wait()

    ``update`` keys must be numeric keys of the run's config (checked at launch); factors
    must be positive numbers. The spike check starts once ``min(window, 5)`` finite values
    were logged since the run (or its last recovery) started, and only while their median
    is positive.
    """

    metric: str = "loss"
    """The logged key to watch (a top-level key of ``run.log``'s dict)."""
    nan: bool = True
    """Recover when the metric is NaN or +/-inf."""
    spike: float | None = None
    """Recover when the metric exceeds ``spike`` times its recent median (``spike > 1``)."""
    update: Mapping[str, float] = field(default_factory=dict)
    """Config keys and the factors multiplied into them at each recovery."""
    retries: int = 3
    """Recoveries allowed; the next divergence fails the run."""
    window: int = 20
    """How many recent values the spike check's median covers."""

    def __post_init__(self) -> None:
        m = self.metric
        if not isinstance(m, str) or not m or m.startswith("_"):
            raise UsageError(
                f"Recover(metric={m!r}): the metric must be the name of a logged key, a "
                "non-empty str not starting with '_' (e.g. metric='loss')"
            )
        if not isinstance(self.nan, bool):
            raise UsageError(f"Recover(nan={self.nan!r}): pass True or False")
        k = self.spike
        if k is not None and (not _number(k) or not math.isfinite(k) or k <= 1):
            raise UsageError(
                f"Recover(spike={k!r}): pass None or a number > 1 (the run recovers when the "
                "metric exceeds spike times its recent median, e.g. spike=3.0)"
            )
        if k is not None:
            object.__setattr__(self, "spike", float(k))
        if not self.nan and k is None:
            raise UsageError(
                "Recover(nan=False, spike=None) watches for nothing: keep nan=True or pass spike=k"
            )
        self._check_update()
        r = self.retries
        if type(r) is not int or r < 0:
            raise UsageError(f"Recover(retries={r!r}): pass an int >= 0 (recoveries allowed)")
        w = self.window
        if type(w) is not int or w < 3:
            raise UsageError(f"Recover(window={w!r}): pass an int >= 3 (values in the median)")

    def _check_update(self) -> None:
        upd = self.update
        if not isinstance(upd, Mapping):
            raise UsageError(
                f"Recover(update={upd!r}): pass a dict of config keys to factors, e.g. "
                "update={'lr': 0.5}"
            )
        for key, factor in upd.items():
            if not isinstance(key, str) or not key:
                raise UsageError(
                    f"Recover(update=...): key {key!r} must be a config key (a non-empty str)"
                )
            if not _number(factor) or not math.isfinite(factor) or factor <= 0:
                raise UsageError(
                    f"Recover(update={{{key!r}: {factor!r}}}): the factor must be a positive "
                    "number multiplied into the config value (e.g. 0.5 halves it)"
                )
        # a plain dict of floats: it pickles to workers and is JSON in the run's metadata
        object.__setattr__(self, "update", {k: float(f) for k, f in upd.items()})


@dataclass(frozen=True)
class TrainSpec:
    """A registered training function and what is known about it."""

    fn: Callable[[Any], Any]
    total: int | None = None
    executor: cf.Executor | None = None
    """Where forks and rewinds of the run train: None for a thread of this process."""
    recover: Recover | None = None
    """Recovery by rewind (``launch(recover=)``), carried by the run's forks and rewinds."""


@dataclass
class TrainingState:
    """A launched run's training: its function, thread, the checkpoint it starts from and the
    traceback if the function raised. Attached to the run with ``Run.attach_training`` and
    read back as ``run.training_state``."""

    spec: TrainSpec
    thread: threading.Thread | None = None
    restore_from: Checkpoint | None = None
    error: str | None = None
