"""What a run's training attaches to it: the training function's spec and its state.

Kept below the run (``_run`` holds a :class:`TrainingState` once ``nbrun.launch`` attaches
one with ``Run.attach_training``) and the training layer (``_training`` creates them), so
neither imports the other upward.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._checkpoints import Checkpoint

QUEUED_HOST = "(queued on an executor)"
"""The ``host`` of a run handed to an executor that no worker has taken over yet: readers see
it running while the handing process keeps its heartbeat fresh, crashed once that stops."""


@dataclass(frozen=True)
class TrainSpec:
    """A registered training function and what is known about it."""

    fn: Callable[[Any], Any]
    total: int | None = None
    executor: cf.Executor | None = None
    """Where forks and rewinds of the run train: None for a thread of this process."""


@dataclass
class TrainingState:
    """A launched run's training: its function, thread, the checkpoint it starts from and the
    traceback if the function raised. Attached to the run with ``Run.attach_training`` and
    read back as ``run.training_state``."""

    spec: TrainSpec
    thread: threading.Thread | None = None
    restore_from: Checkpoint | None = None
    error: str | None = None
