"""The process registry: the runs this process is writing, the current run, and the sweep
trial a thread's next ``init`` becomes (rule 51).

Kept apart from ``_run.py`` so that read views (``_views.py``) can find the live run behind a
stored record without importing the run module (imports go one way: views -> run, no
TYPE_CHECKING import of it either).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: a live ``nbrun.Run`` (or the disabled stand-in as the current run): typed ``Any`` because
#: this layer never imports the run module above it; ``_api`` and ``_run`` know the type
Run = Any

_live: dict[tuple[Path | str, str, str], Run] = {}
_lock = threading.RLock()
_current: list[Run | None] = [None]


def register(store_path: Path | str, project: str, run_id: str, run: Run) -> None:
    """Record ``run`` as written by this process."""
    with _lock:
        _live[(store_path, project, run_id)] = run


def unregister(store_path: Path | str, project: str, run_id: str) -> None:
    """Forget a run that this process stopped writing."""
    with _lock:
        _live.pop((store_path, project, run_id), None)


def live_run(store_path: Path | str, project: str, run_id: str) -> Run | None:
    """The running Run object of this process for that run, if any."""
    return _live.get((store_path, project, run_id))


def live_runs() -> list[Run]:
    """Every run this process is writing."""
    with _lock:
        return list(_live.values())


def current_run() -> Run | None:
    """The current run (``nbrun.run``)."""
    return _current[0]


def set_current(run: Run | None) -> None:
    """Make ``run`` the current run."""
    _current[0] = run


# -- the pending sweep trial (rule 51) ---------------------------------------------------------
@dataclass(frozen=True)
class PendingTrial:
    """A sweep trial an agent claimed and whose function now runs on this thread: every
    ``init`` of the thread meanwhile is its run (id ``run_id`` in ``project`` of the store
    ``dir``, config holding ``params``, ``sweep_id`` set). In a subprocess the agent passes
    the same through ``NBRUN_SWEEP_ID`` (``"project/ID"``), ``NBRUN_RUN_ID`` and
    ``NBRUN_DIR`` instead."""

    dir: str
    project: str
    sweep_id: str
    run_id: str
    params: dict[str, Any]


_pending = threading.local()


def set_pending_trial(trial: PendingTrial | None) -> None:
    """Make ``trial`` the one this thread's ``init`` calls become (None: no trial)."""
    _pending.trial = trial


def pending_trial() -> PendingTrial | None:
    """This thread's pending trial, or None."""
    trial: PendingTrial | None = getattr(_pending, "trial", None)
    return trial
