"""What the widgets need from the runs they show, as structural types: a live ``nbrun.Run``,
a stored view (``nbrun.Api().run(...)``, ``nbrun.StoredRun``) and an archived segment
(``nbrun.Archive``) fit them without naming them, and the widgets use nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

import pandas as pd

from nbrun import ForkPoint, RunState, RunView

#: the states in which a run is still running
LIVE_STATES = frozenset(s.value for s in RunState if s.is_live)


def is_live(state: str) -> bool:
    """Whether a run in ``state`` (``run.state``) is still running."""
    return state in LIVE_STATES


class KeyValues(Protocol):
    """A run's config or summary: read like a dict (``dict(view.config)``)."""

    def keys(self) -> Iterable[str]:
        """The keys."""
        ...

    def __getitem__(self, key: str) -> Any:
        """The value of ``key``."""
        ...


class RowFeed(Protocol):
    """Rows of a run as they are written (``view.follow()``)."""

    def drain(self) -> list[dict[str, Any]]:
        """The rows written since the last call."""
        ...

    def close(self) -> None:
        """Stop following."""
        ...


class HistorySource(Protocol):
    """Rows to draw: a run's history (with its lineage) or an archived segment's."""

    def history(self, keys: list[str] | str | None = None) -> pd.DataFrame:
        """The rows as a DataFrame sorted by ``_step`` (those with ``keys`` when given)."""
        ...

    def history_buckets(self, x: Any = ..., points: int = ...) -> dict[str, pd.DataFrame]:
        """Each metric downsampled to min/max bucket summaries (``nbrun.RunView``)."""
        ...


class ArchiveLike(HistorySource, Protocol):
    """A segment of history cut off by a rewind (``nbrun.Archive``)."""

    index: int
    from_step: int | None
    to_step: int | None
    rows: int
    created: float
    reason: str


class RunLike(HistorySource, Protocol):
    """A run as the widgets see it: a live ``nbrun.Run`` or a stored view of one."""

    id: str
    project: str

    @property
    def path(self) -> str:
        """``entity/project/id``."""
        ...

    @property
    def root(self) -> str:
        """The ``dir`` to pass to ``nbrun.Api`` / ``nbrun.init`` for the run's store."""
        ...

    @property
    def name(self) -> Any:
        """The run's name."""
        ...

    @property
    def state(self) -> str:
        """``running``, ``finished``, ``failed``, ``crashed``, ``killed``, ..."""
        ...

    @property
    def forked_from(self) -> ForkPoint | None:
        """Where the run was forked from, if it was."""
        ...

    @property
    def metrics(self) -> Mapping[str, Mapping[str, Any]]:
        """The ``define_metric`` definitions, by name."""
        ...

    @property
    def config(self) -> KeyValues:
        """The run's config."""
        ...

    @property
    def summary(self) -> KeyValues:
        """The run's summary."""
        ...

    @property
    def config_diff(self) -> Mapping[str, Any] | None:
        """Config keys changed against the run it was forked from."""
        ...

    @property
    def step(self) -> int:
        """The step the next row would get."""
        ...

    @property
    def starting_step(self) -> int:
        """The first step of its current incarnation."""
        ...

    @property
    def runtime(self) -> float:
        """Seconds it has been running."""
        ...

    @property
    def tags(self) -> Any:
        """Its tags."""
        ...

    @property
    def notes(self) -> str | None:
        """Its notes."""
        ...

    @property
    def group(self) -> str | None:
        """Its group."""
        ...

    @property
    def job_type(self) -> str | None:
        """Its job type."""
        ...

    @property
    def metadata(self) -> Mapping[str, Any] | None:
        """Host, command, git, and notes such as a checkpoint restore's warning."""
        ...

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Its alerts, oldest first."""
        ...

    @property
    def error(self) -> str | None:
        """The traceback of its background training, if that raised."""
        ...

    def live(self) -> RunLike | None:
        """The in-process live ``nbrun.Run`` of this run, or None."""
        ...

    def follow(self, from_step: int | None = None) -> RowFeed:
        """A feed of the rows written after ``from_step``."""
        ...

    def children(self) -> Sequence[RunLike]:
        """Views of the runs forked from this one, oldest first."""
        ...

    def files(self) -> Sequence[Any]:
        """Files saved with the run (``name``, ``size``)."""
        ...

    def logged_artifacts(self, lineage: bool = False) -> Sequence[Any]:
        """Artifact versions it logged (``name``, ``type``, ``aliases``, ``size``,
        ``logged_by()``); with ``lineage`` those it inherited first."""
        ...

    def used_artifacts(self) -> Sequence[Any]:
        """Artifact versions it used."""
        ...

    def archives(self) -> Sequence[ArchiveLike]:
        """Its archived segments, oldest first."""
        ...

    def checkpoints(self, lineage: bool = True) -> Sequence[Any]:
        """Its saved checkpoints, by step."""
        ...

    def fork(self, step: int, config: Mapping[str, Any] | None = None) -> RunLike:
        """Fork at ``step`` with config overrides; returns the new run."""
        ...

    def rewind(self, step: int, config: Mapping[str, Any] | None = None) -> RunLike:
        """Rewind to ``step`` with config overrides; returns the resumed run."""
        ...

    def stop(self) -> None:
        """Ask the running run to stop."""
        ...


def as_run_like(run: RunView | RunLike) -> RunLike:
    """``run`` as a :class:`RunLike`. The public entry points take an ``nbrun.RunView``
    (``run.display()`` passes ``self``): the base class declares only what its two kinds
    share, and every ``RunView`` is a ``Run`` or a ``StoredRun``, which both are RunLike."""
    return cast(RunLike, run)
