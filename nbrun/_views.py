"""Read views of runs: what a live :class:`~nbrun.Run` and a stored run share.

:class:`RunView` holds identity, the history and lineage readers and the public surface the
widgets build on (:attr:`~RunView.root`, :meth:`~RunView.live`, :meth:`~RunView.follow`,
:attr:`~RunView.error`, :attr:`~RunView.training`). :class:`StoredRun` is a read-only view of
a stored run (``nbrun.Api().run(...)``) that reads the store on every access; :class:`Archive`
is a segment cut off by a rewind. Imports go one way: this module knows the store, history and
lineage layers and the process registry, never the run or the API modules (not even for
types). ``fork``, ``rewind``, ``display``, ... are implemented in higher layers and reached
through the action registry (``_actions``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import _actions, _artifacts, _manage, _paths, _system
from ._artifacts import Artifact
from ._config import Config, freeze
from ._console import logs_frame
from ._files import OUTPUT_LOG, File, listing, output_log
from ._history import BUCKET_COLUMNS, TIME_COLUMNS, RowFeed, column_rows, key_filter, to_dataframe
from ._ids import validate_tags, validate_text
from ._lineage import (
    ForkPoint,
    Member,
    chain,
    fork_point,
    last_step,
    segment_columns,
    stitched_buckets,
    stitched_columns,
)
from ._records import ArchiveRecord, RunRecord
from ._registry import Run, live_run
from ._states import CRASHED, FAILED, is_live
from ._store import Store
from ._summary import Summary
from ._sysmetrics import system_frame
from .errors import RunNotFoundError, UsageError
from .media._base import Resolver

if TYPE_CHECKING:
    from concurrent.futures import Executor

    import pandas as pd

    from ._checkpoints import Checkpoint


#: the title of the ERROR alert recorded when a launched training function raises
TRAINING_FAILED = "training failed"
#: ``history(stream=...)``: the logged rows, or the system metric samples (W&B's names)
STREAMS = ("default", "system")


def _check_stream(stream: object) -> None:
    if stream not in STREAMS:
        raise UsageError(
            f"history: stream {stream!r}; allowed: " + ", ".join(repr(s) for s in STREAMS)
        )


def _by_name(f: File) -> str:
    return f.name


def _segment_files(store: Store, key: int, seg: int) -> list[File]:
    """The files of one segment of a run: ``output.log`` once it printed a line."""
    if not store.console_count(key, seg):
        return []
    return [File(OUTPUT_LOG, lambda: output_log(t for *_, t in store.console_lines(key, seg)))]


# -- read side shared by live runs and stored views -----------------------------------------
class RunView:
    """What a live :class:`Run` and a stored run view (``nbrun.Api().run(...)``) share: identity
    and the history and lineage readers."""

    _store: Store
    _key: int
    id: str
    project: str
    entity: str

    def _record(self) -> RunRecord:
        rec = self._store.get_run_by_key(self._key)
        if rec is None:  # deleted (rule 40)
            raise RunNotFoundError(f"run {self.project}/{self.id} is gone from {self._store.path}")
        return rec

    @property
    def store(self) -> Store:
        """The store this run lives in (what ``nbrun.init(dir=...)`` / ``nbrun.Api`` open)."""
        return self._store

    @property
    def store_key(self) -> int:
        """The run's key in :attr:`store` (what the store's run methods take)."""
        return self._key

    def record(self) -> RunRecord:
        """The run's stored record, read now (``RunNotFoundError`` once it was deleted,
        rule 40)."""
        return self._record()

    def _unflushed_rows(self) -> list[dict[str, Any]]:
        return []

    def _sync_side(self) -> None:
        """Make system samples and console lines handed to this process's writer readable
        (a live run overrides it)."""

    @property
    def path(self) -> str:
        """``entity/project/id``."""
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def url(self) -> None:
        """Always None: nbrun has no server."""
        return None

    @property
    def dir(self) -> str:
        """The run's folder for files (checkpoints, artifacts)."""
        return str(run_path(self._store, self.project, self.id))

    @property
    def root(self) -> str:
        """The directory the run's store lives under: the ``dir`` to pass to
        ``nbrun.init`` or ``nbrun.Api`` to reach this run (the store is ``<root>/nbrun/``)."""
        return self._store.dir

    @property
    def state(self) -> str:
        """The run's state (see :class:`nbrun.RunState`)."""
        raise NotImplementedError

    def live(self) -> Run | None:
        """The :class:`~nbrun.Run` this process is logging into for this run, or None (the
        run is finished, or another process writes it)."""
        return live_run(self._store.path, self.project, self.id)

    @property
    def training(self) -> bool:
        """Whether a background training thread (``nbrun.launch``) of this run is running in
        this process."""
        run = self.live()
        return run is not None and run.training

    @property
    def error(self) -> str | None:
        """The traceback of the run's background training function, if it raised: from the
        live run in this process, else the ``training failed`` alert stored with a failed run."""
        run = self.live()
        if run is not None:
            return cast("str | None", run.error)
        rec = self._record()
        if rec.state != FAILED:
            return None
        failed = [
            a
            for a in self._store.alerts(self._key)
            if a.title == TRAINING_FAILED and a.level == "ERROR"
        ]
        return failed[-1].text if failed else None

    def history(
        self,
        keys: list[str] | str | None = None,
        lineage: bool = True,
        samples: int | None = None,
        stream: str = "default",
    ) -> pd.DataFrame:
        """History as a pandas DataFrame sorted by ``_step`` (rule 25).

        ``lineage=True`` includes the rows inherited from the run it was forked from;
        ``lineage=False`` only the run's own rows. ``keys`` keeps those columns (rows having
        any of them); ``samples`` keeps at most that many evenly spaced rows.

        ``stream="system"`` (W&B's form) returns the system metric samples instead, one row
        per sample with W&B's column names (``system.cpu``, ``system.memory``,
        ``system.proc.memory.rssMB``, ...) then ``_runtime`` and ``_timestamp``; a fork has
        only its own (``lineage`` does not apply), a rewind archived those after its step.
        """
        _check_stream(stream)
        if stream == "system":
            self._sync_side()
            return cast(
                "pd.DataFrame", system_frame(self._store.system_samples(self._key), keys, samples)
            )
        cols = stitched_columns(
            self._store,
            self._record(),
            lineage=lineage,
            extra_rows=self._unflushed_rows(),
            keep=key_filter(keys),
        )
        return to_dataframe(cols.arrays(self._media()), keys, samples)

    def history_buckets(
        self,
        x: str | Mapping[str, str] | None = None,
        points: int = 2000,
        lineage: bool = True,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Every metric's history downsampled for a chart: per metric (flattened name, those
        with at least one finite number) a DataFrame of at most about ``points / 2`` buckets
        of consecutive points, each with ``rows`` (points in it) and its lowest and highest
        point (``x_min, y_min, step_min, x_max, y_max, step_max``), so a one-step spike is
        never lost, and the ``_runtime`` / ``_timestamp`` of those two points' rows
        (``runtime_min, timestamp_min, runtime_max, timestamp_max``; NaN where a row has none);
        ``df.attrs["width"]`` is the points per full bucket. When a bucket spans at least a
        whole chunk (long runs), buckets hold whole chunks, read from the summaries stored
        with each chunk (rule 68): a bucket may then hold more points than ``width``.

        ``x`` is the x column: one name for every metric (``"_step"``, ``"_runtime"``,
        ``"_timestamp"``, a metric), a mapping metric -> name (others ``_step``), or None: each
        metric's ``define_metric`` ``step_metric``. Rows with ``min_step <= _step <=
        max_step``; ``lineage`` as in :meth:`history`. Summaries of stored chunks are cached
        in the process, so reading a long run again only decodes what was written since."""
        cap = _check_points(points)
        rec = self._record()
        if min_step is not None and max_step is not None and min_step > max_step:
            return {}
        members = (
            chain(self._store, rec, max_step)
            if lineage
            else [Member(rec, max_step, ((0, None, max_step),))]
        )
        resolve, token = _x_resolver(x, getattr(self, "metrics", {}))
        found = stitched_buckets(
            self._store,
            [(m.rec.key, m.ranges) for m in members],
            resolve,
            token,
            cap,
            None if min_step is None else min_step - 1,
            self._unflushed_rows(),
        )
        return _bucket_frames(found, resolve)

    def _media(self) -> Resolver:
        """Reads media references back as media objects (paths checked to stay in run
        folders of this project)."""
        return Resolver(self._store.root / "runs", self.project)

    def logs(self, last: int | None = None) -> pd.DataFrame:
        """What the run printed to stdout / stderr while it was active, one row per line in
        order: ``time`` (Unix seconds when the line started), ``stream`` (``"stdout"`` or
        ``"stderr"``), ``step`` (the last step written before the line; -1 before the first
        row) and ``text`` (a progress bar redrawn with ``\\r`` keeps its last state). A fork
        starts with no lines; a rewind archives the lines printed after its step (see
        :meth:`Archive.logs`). The same text is the run's ``output.log`` (:meth:`files`).
        ``last`` keeps only the last that many lines (a tail)."""
        if last is not None and (type(last) is not int or last < 0):
            raise UsageError(f"logs: last={last!r}; pass a non-negative int or None")
        self._sync_side()
        return cast("pd.DataFrame", logs_frame(self._store.console_lines(self._key, 0, last)))

    def files(self, names: list[str] | None = None) -> list[File]:
        """The run's files, by name (rule 34): those saved with ``run.save`` and, once the run
        printed something, ``output.log`` (its console output). Each has ``name``, ``size``
        and ``download(root=".", replace=False)``. ``names`` keeps only those names."""
        self._sync_side()
        found = listing(run_path(self._store, self.project, self.id))
        console = _segment_files(self._store, self._key, 0)
        if console:  # the stored lines are the output.log (a copy restored into files/ is older)
            found = sorted([f for f in found if f.name != OUTPUT_LOG] + console, key=_by_name)
        return found if names is None else [f for f in found if f.name in names]

    def logged_artifacts(self, lineage: bool = False) -> list[Artifact]:
        """The artifact versions this run logged, oldest first (rule 36). With ``lineage``,
        first those it inherited: the ones the runs it was forked from logged up to the fork
        step (read where they are, never copied; ``logged_by()`` names the source)."""
        rec = self._record()
        pairs: list[tuple[int, int]] = []
        if lineage:
            for member in chain(self._store, rec)[:-1]:
                pairs += self._store.artifact_usage(member.rec.key, "output", list(member.ranges))
        pairs += self._store.artifact_usage(self._key, "output", [(0, None, None)])
        return _artifacts.records(self._store, pairs)

    def used_artifacts(self) -> list[Artifact]:
        """The artifact versions this run used (``use_artifact``), oldest first."""
        pairs = self._store.artifact_usage(self._key, "input", [(0, None, None)])
        return _artifacts.records(self._store, pairs)

    def archives(self) -> list[Archive]:
        """Segments archived by rewinds (and by re-creating the id), oldest first."""
        return [
            Archive(self._store, self.project, self.id, a) for a in self._store.archives(self._key)
        ]

    def children(self) -> list[StoredRun]:
        """Stored views of the runs forked from this one, oldest first."""
        return [StoredRun(self._store, rec) for rec in self._store.children(self.project, self.id)]

    def follow(self, from_step: int | None = None) -> RowFeed | StoreFeed:
        """A feed of the rows written from now on: ``feed.drain()`` returns the new ones,
        ``feed.close()`` stops it. With ``from_step`` the feed starts with the rows stored
        after that step. A run logged by this process pushes its rows into the feed as they
        are written; otherwise the feed reads them from the store when drained."""
        run = self.live()
        if run is not None:
            return cast("RowFeed | StoreFeed", run.follow(from_step))
        return StoreFeed(self, -1 if from_step is None else from_step)

    def fork(
        self,
        step: int,
        config: Mapping[str, Any] | None = None,
        *,
        executor: Executor | None = None,
        **init_kwargs: Any,
    ) -> Any:
        """Fork at ``step`` with ``config`` overrides: like
        ``nbrun.init(fork_from=f"{id}?_step={step}")``, returning the new run (not made
        current). For a run started with ``nbrun.launch`` the fork snaps to the latest
        checkpoint at or before ``step`` and its training continues in the background: on a
        thread here, or on ``executor`` (a ``concurrent.futures.Executor``, e.g. a Dask
        cluster's), which returns a :class:`~nbrun.RemoteRun`."""
        return _actions.get("fork")(self, step, config, executor=executor, **init_kwargs)

    def rewind(
        self,
        step: int,
        config: Mapping[str, Any] | None = None,
        *,
        executor: Executor | None = None,
        **init_kwargs: Any,
    ) -> Any:
        """Rewind to ``step`` (like ``nbrun.init(resume_from=...)``), finishing the run first
        if it is live here. For a launched run: stop its training, rewind to the latest
        checkpoint at or before ``step`` and train again from it (on ``executor`` if given)."""
        return _actions.get("rewind")(self, step, config, executor=executor, **init_kwargs)

    def fork_many(
        self, step: int, configs: Any, *, executor: Executor | None = None, **init_kwargs: Any
    ) -> list[Any]:
        """One fork per config dict, all from ``step`` (see :meth:`fork`); with ``executor``
        they train there side by side."""
        return cast(
            "list[Any]",
            _actions.get("fork_many")(self, step, configs, executor=executor, **init_kwargs),
        )

    def checkpoints(self, lineage: bool = True) -> list[Checkpoint]:
        """Saved checkpoints in this run's history view (inherited ones too with
        ``lineage``), by step."""
        return cast("list[Checkpoint]", _actions.get("checkpoints")(self, lineage))

    def display(self) -> Any:
        """Show the run's dashboard (overview, live charts, Fork / Rewind / Stop)."""
        return _actions.get("display")(self)

    def chart(self, key: str) -> Any:
        """An ``altair.Chart`` of one metric over steps, with its lineage."""
        return _actions.get("chart")(self, key)

    def tree(self, metric: str | None = None) -> Any:
        """The run's family tree (rule 62): its runs and archived segments as nodes, forks and
        rewinds as edges at their steps, each node coloured by ``metric`` (None: the run's first
        numeric metric) with a legend of the scale. A widget that follows the family as forks
        appear; click a node to select it and open its dashboard."""
        return _actions.get("tree")(self, metric)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> Any:
        """The run's overview and charts as a self-contained HTML page (inline SVG, no scripts,
        no network): the text when ``path`` is None, else written to ``path`` and its
        :class:`~pathlib.Path` returned. Like W&B's ``Run.to_html``, for sharing a run."""
        return _actions.get("to_html")(self, path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} state={self.state!r}>"


class Archive:
    """A segment of history cut off by a rewind: still readable, never deleted."""

    def __init__(self, store: Store, project: str, run_id: str, rec: ArchiveRecord) -> None:
        self._store = store
        self._key = rec.run_key
        self.run_id = run_id
        self.project = project
        self.index: int = rec.seg
        self.from_step: int | None = rec.from_step
        self.to_step: int | None = rec.to_step
        #: the step the run was rewound to: the archived rows are those after it (-1: the
        #: whole history, archived when the id was started again)
        self.cut_step: int = rec.cut_step
        self.rows: int = rec.n
        self.created: float = rec.created
        self.reason: str = rec.reason
        self.actor: str = rec.actor
        self.forked_from: ForkPoint | None = fork_point(rec)

    def logged_artifacts(self) -> list[Artifact]:
        """The artifact versions the run logged in this segment (after the rewind's step)."""
        pairs = self._store.artifact_usage(self._key, "output", [(self.index, None, None)])
        return _artifacts.records(self._store, pairs)

    def used_artifacts(self) -> list[Artifact]:
        """The artifact versions the run used in this segment."""
        pairs = self._store.artifact_usage(self._key, "input", [(self.index, None, None)])
        return _artifacts.records(self._store, pairs)

    def history(self, keys: list[str] | str | None = None, stream: str = "default") -> pd.DataFrame:
        """The archived rows as a DataFrame; ``stream="system"``: the system metric samples
        taken after the rewind's step."""
        _check_stream(stream)
        if stream == "system":
            return cast(
                "pd.DataFrame",
                system_frame(self._store.system_samples(self._key, self.index), keys),
            )
        cols = segment_columns(self._store, self._key, self.index)
        return to_dataframe(cols.arrays(Resolver(self._store.root / "runs", self.project)), keys)

    def history_buckets(
        self, x: str | Mapping[str, str] = "_step", points: int = 2000
    ) -> dict[str, pd.DataFrame]:
        """The archived rows downsampled per metric, as :meth:`RunView.history_buckets`."""
        cap = _check_points(points)
        resolve, token = _x_resolver(x, {})
        found = stitched_buckets(
            self._store, [(self._key, ((self.index, None, None),))], resolve, token, cap
        )
        return _bucket_frames(found, resolve)

    def logs(self) -> pd.DataFrame:
        """The console lines printed after the rewind's step (see :meth:`RunView.logs`)."""
        return cast("pd.DataFrame", logs_frame(self._store.console_lines(self._key, self.index)))

    def files(self) -> list[File]:
        """The segment's files: its ``output.log`` when it has console lines."""
        return _segment_files(self._store, self._key, self.index)

    def __repr__(self) -> str:
        return (
            f"<Archive {self.run_id} #{self.index} steps {self.from_step}..{self.to_step} "
            f"({self.rows} rows, {self.reason})>"
        )


# -- effective state of stored runs --------------------------------------------------------
#: seconds without a heartbeat after which a run of another host reads as crashed, for runs
#: whose writer recorded no ``stale_after`` setting (written before nbrun recorded it)
DEFAULT_STALE_AFTER = 60.0
#: the key of a run's metadata where its writer records its ``Settings.stale_after``
STALE_AFTER_KEY = "stale_after"


def recorded_stale_after(rec: RunRecord) -> float:
    """Seconds without a heartbeat after which readers judge the run of ``rec`` crashed: the
    ``stale_after`` setting its writer recorded in the run's metadata (rule 29)."""
    meta = rec.metadata
    value = meta.get(STALE_AFTER_KEY) if isinstance(meta, Mapping) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 0 < value < float("inf"):
            return float(value)
    return DEFAULT_STALE_AFTER


def effective_state(store: Store, rec: RunRecord, stale_after: float | None = None) -> str:
    """The state a reader reports: a ``running`` run whose process is gone is ``crashed``;
    ``stale_after`` (default: the setting recorded for the run) is how long a heartbeat of
    another host may be silent before that (rule 29)."""
    if stale_after is None:
        stale_after = recorded_stale_after(rec)
    state = rec.state
    if not is_live(state):
        return state
    if live_run(store.path, rec.project, rec.id) is not None:
        return state
    age = store.now() - rec.heartbeat
    if rec.host == _system.host_name():
        if rec.pid == os.getpid() or not process_is_alive(int(rec.pid or 0)):
            return CRASHED
        return CRASHED if age > max(stale_after, 600.0) else state
    return CRASHED if age > stale_after else state


class _Field:
    """A read-only attribute of a stored run view, read from the store on every access."""

    def __init__(self, column: str, doc: str, convert: Any = None) -> None:
        self.column = column
        self.convert = convert
        self.__doc__ = doc

    def __get__(self, obj: StoredRun | None, owner: type) -> Any:
        if obj is None:
            return self
        value = getattr(obj.record(), self.column)
        return value if self.convert is None or value is None else self.convert(value)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __set__(self, obj: StoredRun, value: Any) -> None:
        raise AttributeError(
            f"{self.name} of a stored run view is read-only; change it on the live run "
            f"(run.{self.name} = ...) or continue the run with nbrun.init(resume='allow')"
        )


class _EditableField(_Field):
    """``name``, ``notes`` or ``tags`` of a stored run view: read from the store, and assignable
    like W&B's public-API runs (checked as ``Run`` checks them, stored at once; rule 33). A run
    this process logs into is changed through its live ``Run``, so both agree."""

    def __set__(self, obj: StoredRun, value: Any) -> None:
        run = obj.live()
        if run is not None:
            setattr(run, self.name, value)
            return
        if self.name == "tags":
            stored: Any = list(validate_tags(value))
        else:
            stored = validate_text(value, self.name)
            if self.name == "name" and not stored:
                raise UsageError("name '': a run name must not be empty")
        obj.store.update_run(obj.store_key, {self.column: stored})


class StoredRun(RunView):
    """A read-only view of a stored run (``nbrun.Api().run("project/id")``); reads the store
    on every access, so it follows a run that another process is writing."""

    def __init__(self, store: Store, rec: RunRecord) -> None:
        self._store = store
        self._key = rec.key
        self.id = rec.id
        self.project = rec.project
        self.entity = rec.entity
        self._cached = rec

    def _record(self) -> RunRecord:
        rec = super()._record()
        self._cached = rec
        return rec

    def _field(self, name: str) -> Any:
        return getattr(self._record(), name)

    name = _EditableField("name", "The run's name; assign to rename it (stored at once).")
    notes = _EditableField("notes", "The run's notes; assign to change them.")
    tags = _EditableField("tags", "The run's tags, a tuple; assign to replace them.", tuple)
    group = _Field("run_group", "The run's group.")
    sweep_id = _Field("sweep_id", "The id of the sweep the run is a trial of (rule 54), or None.")
    job_type = _Field("job_type", "The run's job type.")
    config_diff = _Field("config_diff", "Config keys changed against the run it was forked from.")
    metadata = _Field("metadata", "Host, OS, Python, command or notebook, git, nbrun version.")
    starting_step = _Field("starting_step", "The first step of its current incarnation.", int)
    start_time = _Field("started", "When the run (or its last resume) started (Unix time).")
    created = _Field("created", "When the run was created (Unix time).")
    resumed = _Field("resumed", "Whether the run was continued.", bool)
    exit_code = _Field("exit_code", "The exit code it finished with.")
    ended = _Field("finished", "When the run ended (Unix time); None while it runs.")

    @property
    def state(self) -> str:
        """The run's state; a running run whose process died reads as ``crashed``."""
        return effective_state(self._store, self._record())

    @property
    def config(self) -> Config:
        """The run's config (read-only)."""
        cfg = Config(self._field("config"))
        freeze(cfg)
        return cfg

    @property
    def summary(self) -> Summary:
        """The run's summary (read-only)."""
        s = Summary(self._field("summary"))
        s.readonly = True
        return s

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """The ``define_metric`` definitions, by name."""
        return {d["name"]: d for d in self._field("metrics").get("defs", [])}

    @property
    def step(self) -> int:
        """The step the next row would get (last stored step + 1)."""
        return last_step(self._store, self._record()) + 1

    @property
    def runtime(self) -> float:
        """Seconds the run has been running (over all its resumes)."""
        return stored_runtime(self._record())

    @property
    def forked_from(self) -> ForkPoint | None:
        """None, or where it was forked from (``.run_id``, ``.step``)."""
        return fork_point(self._record())

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Alerts, oldest first."""
        return [a.as_dict() for a in self._store.alerts(self._key)]

    def stop(self) -> None:
        """Ask the process running this run to stop it (its next ``log`` raises
        ``RunStopped``; the run ends as ``killed``)."""
        run = self.live()
        if run is not None:
            run.stop()
            return
        state = self.state
        if not is_live(state):
            raise UsageError(f"run {self.id} is {state}; only a running run can be stopped")
        self._store.request_stop(self._key)

    def delete(self, delete_artifacts: bool = False, detach_forks: bool = False) -> list[str]:
        """Delete the run (rule 40): its history, archives, alerts, console, system samples,
        files and artifact records. A running run is refused. Forks that read their history
        from it are refused with :class:`~nbrun.LineageError` naming them, unless
        ``detach_forks``: then each first gets the rows it inherited into its own history
        (lineage marked as detached, ``metadata["detached_from"]``). ``delete_artifacts``
        also deletes the artifact versions it logged that no other run logged or used.
        Returns the ids of the forks detached."""
        rec = self._record()
        state = effective_state(self._store, rec)
        if is_live(state):
            raise UsageError(
                f"run {self.project}/{self.id} is {state}; stop or finish it before deleting it"
            )
        forks, gone = _manage.delete_run(self._store, rec, detach_forks, delete_artifacts)
        if gone:
            _artifacts.drop_unused_blobs(self._store)
        return forks

    def move(self, project: str, with_lineage: bool = False) -> list[str]:
        """Move the run to ``project`` (rule 40), with its files. A run that has forks or was
        forked moves with its whole lineage family when ``with_lineage``, else it is refused
        with :class:`~nbrun.LineageError` naming the others. Returns the ids moved."""
        rec = self._record()
        for other in _manage.family(self._store, rec):
            state = effective_state(self._store, other)
            if is_live(state):
                raise UsageError(
                    f"run {other.project}/{other.id} is {state}; stop or finish it before moving it"
                )
        moved = _manage.move_run(self._store, rec, project, with_lineage)
        if moved:
            self.project = project
        return moved


class StoreFeed:
    """A row feed that reads new rows of a run from the store when drained (the run may be
    written by any process)."""

    def __init__(self, view: RunView, after: int) -> None:
        self._view = view
        self._after = after
        self.closed = False

    def drain(self) -> list[dict[str, Any]]:
        """Rows stored since the last drain."""
        cols = stitched_columns(
            self._view.store, self._view.record(), after_step=self._after
        ).finish()
        rows = column_rows(cols)
        if not rows:
            return []
        self._after = rows[-1]["_step"]
        return rows

    def close(self) -> None:
        """Stop polling."""
        self.closed = True


def _check_points(points: object) -> int:
    if type(points) is not int or points < 4:
        raise UsageError(f"history_buckets: points={points!r}; pass an int of at least 4")
    return points // 2


def _x_resolver(
    x: str | Mapping[str, str] | None, definitions: Mapping[str, Mapping[str, Any]]
) -> tuple[Callable[[str], str], Any]:
    """The x column of each metric, and a hashable name of that choice (for the cache)."""
    if isinstance(x, str):
        return (lambda _key: x), x
    if x is not None:
        if not isinstance(x, Mapping):
            raise UsageError(f"history_buckets: x={x!r}; pass a column name, a dict or None")
        table = dict(x)
        return (lambda key: table.get(key, "_step")), tuple(sorted(table.items()))
    exact: dict[str, str] = {}
    globs: list[tuple[str, str]] = []
    for name, d in definitions.items():
        sm = d.get("step_metric")
        sm = sm if isinstance(sm, str) and sm else "_step"
        if any(ch in name for ch in "*?["):
            globs.append((name, sm))  # the first glob matching a name decides (as W&B's UI)
        else:
            exact[name] = sm

    def resolve(key: str) -> str:
        if key in definitions:
            return exact.get(key, "_step")
        for name, sm in globs:
            if fnmatch.fnmatchcase(key, name):
                return sm
        return "_step"

    return resolve, ("defs", tuple(sorted(exact.items())), tuple(globs))


def _bucket_frames(
    found: dict[str, tuple[int, Any]], resolve: Callable[[str], str]
) -> dict[str, pd.DataFrame]:
    import pandas as pd  # noqa: PLC0415 - heavy library on first use

    out: dict[str, pd.DataFrame] = {}
    for metric in sorted(found):
        width, buckets = found[metric]
        df = pd.DataFrame(buckets, columns=[*BUCKET_COLUMNS, *TIME_COLUMNS])
        for col in ("rows", "step_min", "step_max"):
            df[col] = df[col].astype("int64")
        df.attrs["width"] = width
        df.attrs["x"] = resolve(metric)
        out[metric] = df
    return out


def stored_runtime(rec: RunRecord) -> float:
    """Seconds a stored run has been running, over all its incarnations."""
    if is_live(rec.state):
        return float(rec.runtime_before) + max(0.0, rec.heartbeat - rec.started)
    return float(rec.runtime_before)


def run_path(store: Store, project: str, run_id: str) -> Path:
    """Where a run's files live: ``<dir>/nbrun/runs/<project>/<id>`` (with a PostgreSQL
    store: ``<NBRUN_FILES>/runs/<project>/<id>``). ``project`` and ``run_id`` come from the
    store, so the folder is a checked join (rule 42): ``UnsafePathError`` when either is not
    valid or the folder leads outside the store."""
    return _paths.run_dir(store.root, project, run_id)


def run_folder(store: Store, project: str, run_id: str) -> Path:
    """The per-run folder, created on demand."""
    path = run_path(store, project, run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def process_is_alive(pid: int) -> bool:
    """Whether a process with that pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Artifact.logged_by / used_by (a layer below) return these views through the action registry
_actions.register("stored_run", StoredRun)
