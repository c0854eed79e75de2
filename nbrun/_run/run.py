"""Run: identity, the lifecycle state machine, ``log``, ``define_metric`` and ``finish``.

``Run.log`` is the hot path: it checks the payload, merges it into the pending row, and hands
written rows to the :class:`~nbrun._history.Writer` (an append to a deque). Everything that
touches the disk happens on the writer thread or in rare calls (finish, define_metric, tags).
"""

from __future__ import annotations

import dis
import operator
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from .. import _console, _registry, _watch
from .._config import Config, freeze
from .._files import FileSaver, files_dir
from .._history import (
    MAX_STEP,
    FloatBlock,
    RowCheck,
    RowFeed,
    Writer,
    advance_state,
    build_columns,
    clean_log,
    column_rows,
    encode_columns,
    step_error,
)
from .._ids import validate_tags, validate_text
from .._lifecycle import TrainingState
from .._lineage import ForkPoint, fork_point, stitched_columns
from .._records import RunRecord
from .._states import FAILED, FINISHED, KILLED, LIVE_STATES, PREEMPTING, RUNNING
from .._store import Store, dumps
from .._summary import Metric, Summary, make_metric
from .._sysmetrics import Sampler
from .._views import run_path
from ..errors import RunStopped, UsageError
from ..media._base import MediaFiles, media_seen
from .artifacts import RunArtifacts
from .exits import _ensure_exit_handling
from .files import RunFiles
from .lifecycle import RunLifecycle
from .settings import ALERT_LEVELS, Settings

_fastlog: Any = None
"""The C fast path (``nbrun/_fastlog.c``) of :meth:`Run.log`'s common case: a dict of floats
whose row fits the writer's open block (anything else goes down the Python path, which it
matches byte for byte). None when the extension was not compiled (no C compiler at install
time) or when ``NBRUN_PURE_PYTHON=1`` is set at import."""
if os.environ.get("NBRUN_PURE_PYTHON", "") in ("", "0"):
    try:
        from .. import _fastlog
    except ImportError:  # no C compiler at install time: the pure-Python path does it all
        pass
    else:
        _fastlog.setup(LIVE_STATES)

if TYPE_CHECKING:
    pass


# -- the live run ---------------------------------------------------------------------------
class Run(RunArtifacts, RunFiles, RunLifecycle):
    """A run in progress: made by :func:`nbrun.init`; log with :meth:`log`, end with
    :meth:`finish` (or a ``with`` block)."""

    def __init__(
        self,
        store: Store,
        rec: RunRecord,
        *,
        settings: Settings,
        allow_val_change: bool,
        summary: Summary,
        step: int,
        state: dict[str, Any],
    ) -> None:
        self._store = store
        self._key = rec.key
        self.id: str = rec.id
        self.project: str = rec.project
        self.entity: str = rec.entity
        self._name: str = rec.name
        self._notes: str | None = rec.notes
        self._tags: tuple[str, ...] = tuple(rec.tags)
        self.group: str | None = rec.run_group
        #: the sweep this run is a trial of, ``"ID"`` (rule 51), or None
        self.sweep_id: str | None = rec.sweep_id
        self.job_type: str | None = rec.job_type
        self.settings = settings
        self.starting_step: int = rec.starting_step
        self.start_time: float = rec.started
        self.created: float = rec.created
        self.resumed: bool = bool(rec.resumed)
        self.forked_from: ForkPoint | None = fork_point(rec)
        self.config_diff: dict[str, Any] = rec.config_diff
        self.metadata: dict[str, Any] = rec.metadata
        self._runtime_before: float = rec.runtime_before
        self._t0 = time.monotonic()
        # wall-clock origin of _runtime: now minus the runtime of earlier incarnations
        self._t0_wall = time.time() - self._runtime_before
        self._state = RUNNING
        self._exit_code: int | None = None
        self._ended: float | None = None  # set by finish(): the stored ``finished``
        self._stop_requested = False
        self._pending: dict[str, Any] = {}
        self._floats = False  # every value merged into the pending row is a float
        self._step = step
        self._config_dirty = False
        self._metrics_dirty = False
        self.config = Config(rec.config, allow_val_change, on_change=self._config_changed)
        self.summary = summary
        self._sync: list[Metric] = []
        self._feeds: list[RowFeed] = []
        self._training: TrainingState | None = None  # attach_training (nbrun.launch)
        self.restored_step: int | None = None
        """The step of the checkpoint :meth:`restore` returned, once it was called."""
        self._alert_times: dict[str, float] = {}
        self._watcher: _watch.Watcher | None = None
        self._lock = threading.RLock()
        self._system_q: deque[tuple[float, int, str]] = deque()  # samples for the writer
        self._console: _console.ConsoleSink | None = None
        self._sampler: Sampler | None = None
        self._files = FileSaver(files_dir(run_path(store, self.project, self.id)))
        # set before the writer starts: its first flush may come before self._writer is set
        self._media_files = MediaFiles(
            run_path(store, self.project, self.id), f"{self.project}/{self.id}"
        )
        self._writer = Writer(
            store,
            self._key,
            self._snapshot,
            self._stop_from_elsewhere,
            state=state,
            interval=settings.flush_interval,
            max_rows=settings.flush_rows,
            take_side=self._take_side,
            files=self._media_files,
        )
        self._refresh_sync()
        _registry.register(store.path, self.project, self.id, self)
        _ensure_exit_handling()
        self._start_side_capture()

    # -- identity ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Display name; assign to rename (names need not be unique)."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        value = validate_text(value, "name") or ""
        if not value:
            raise UsageError("name '': a run name must not be empty")
        self._name = value
        self._store.update_run(self._key, {"name": value})

    @property
    def notes(self) -> str | None:
        """Free-text notes; assign to change."""
        return self._notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._notes = validate_text(value, "notes")
        self._store.update_run(self._key, {"notes": self._notes})

    @property
    def tags(self) -> tuple[str, ...]:
        """Tags as a tuple; assign a new tuple to replace them (``run.tags += ("x",)``)."""
        return self._tags

    @tags.setter
    def tags(self, value: object) -> None:
        self._tags = validate_tags(value)
        self._store.update_run(self._key, {"tags": list(self._tags)})

    @property
    def state(self) -> str:
        """``running``, ``finished``, ``failed``, ``killed`` or ``preempting``."""
        return self._state

    @property
    def step(self) -> int:
        """The step the next written row gets."""
        return self._step

    @property
    def runtime(self) -> float:
        """Seconds the run has been running (over all its resumes)."""
        return self._runtime_before + (time.monotonic() - self._t0 if self._writer.alive else 0.0)

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """The ``define_metric`` definitions, by name."""
        return {m.name: m.to_json() for m in self.summary.metrics}

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Alerts recorded with :meth:`alert`, oldest first."""
        return [a.as_dict() for a in self._store.alerts(self._key)]

    @property
    def ended(self) -> float | None:
        """When the run ended (Unix time, as stored); None while it runs."""
        return self._ended

    @property
    def exit_code(self) -> int | None:
        """The exit code given to :meth:`finish`."""
        return self._exit_code

    # -- W&B's run attributes with no local meaning (rule 33) ----------------------------------
    disabled: bool = False
    """False: a ``mode="disabled"`` run is a stand-in whose ``disabled`` is True."""
    offline: bool = False
    """False: there is no server to be offline from (every run is stored locally)."""

    def get_url(self) -> None:
        """None: nbrun has no server, so a run has no web page (``run.display()`` shows it)."""
        return None

    def get_project_url(self) -> None:
        """None (no server)."""
        return None

    def get_sweep_url(self) -> None:
        """None (no server: read the sweep with ``nbrun.Api().sweep("project/ID")``)."""
        return None

    def _label(self, **labels: Any) -> None:
        """W&B's integration telemetry label: accepted and dropped."""

    def watch(
        self,
        models: Any,
        criterion: Any = None,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
        log_graph: bool = False,
    ) -> None:
        """Log histograms of a torch model's gradients (``gradients/<name>``) and/or parameters
        (``parameters/<name>``) on every ``log_freq``-th backward / forward pass, into the
        pending row, as W&B's ``run.watch`` does (rule 39). ``log`` is ``"gradients"``,
        ``"parameters"``, ``"all"`` or None; ``criterion`` and ``log_graph`` are accepted and
        unused (no graph view)."""
        if self._state not in LIVE_STATES:
            self._refuse_log()
        if self._watcher is None:
            self._watcher = _watch.Watcher(self._log_histogram)
        self._watcher.watch(models, log=log, log_freq=log_freq, idx=idx)

    def unwatch(self, models: Any = None) -> None:
        """Remove the hooks :meth:`watch` put on ``models`` (all when None)."""
        if self._watcher is not None:
            self._watcher.unwatch(models)

    def _log_histogram(self, key: str, hist: tuple[list[float], list[float]]) -> None:
        if self._state in LIVE_STATES:
            self.log({key: _watch.as_histogram(hist)}, commit=False)

    # -- logging -----------------------------------------------------------------------------
    def _log(
        self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """Log a dict of values (rules 20-24).

        Values collect in the pending row at :attr:`step`. With ``step=None`` the row is written
        (``commit`` defaults to True). With a ``step``, ``commit`` defaults to False: a larger
        step writes the pending row first and moves there; a smaller one is dropped with a
        warning. Writing a row advances :attr:`step` by one.
        """
        if self._state not in LIVE_STATES:
            self._refuse_log()
        if self._stop_requested:
            self._stop_now()
        row, floats = clean_log(data)
        if step is not None:
            if type(step) is not int:
                step = _as_step(step)
            if step > MAX_STEP:  # rule 43 (the C path hands such calls here)
                raise step_error(step, True)
            current = self._step
            if step != current:
                if step < current:
                    warnings.warn(
                        f"nbrun: log at step {step} dropped: the run is already at step "
                        f"{current} (steps must not decrease)",
                        UserWarning,
                        stacklevel=2,
                    )
                    return
                if self._pending:
                    self._write_pending()
                self._step = step
            if commit is None:
                commit = False
        elif self._step > MAX_STEP:  # rule 43: a row was written at MAX_STEP
            raise step_error(self._step, False)
        pending = self._pending
        if pending:
            pending.update(row)
            if not floats:
                self._floats = False
        else:
            self._pending = dict(row) if row is data else row
            self._floats = floats
        if commit is None or commit:
            self._write_pending()

    log = _fastlog.LogMethod(_log) if _fastlog is not None else _log
    """:meth:`_log`; its common case (a dict of floats) in C when the extension is there."""

    def _write_pending(self) -> None:
        row = self._pending
        self._pending = {}
        floats = self._floats
        if self._sync:
            self._apply_step_sync(row)
            floats = False
        if floats:  # the hot path's contract (rule 71), as nbrun/_fastlog.c does it
            self.summary.observe_floats(row)
        else:
            self.summary.observe(row)
        now = time.time()
        step = self._step
        self._step = step + 1
        writer = self._writer
        if floats and not self._feeds and writer.append_floats(step, row, now - self._t0_wall, now):
            return
        row["_step"] = step
        row["_runtime"] = now - self._t0_wall
        if "_timestamp" not in row:
            row["_timestamp"] = now
        writer.put(row, floats)
        if self._feeds:
            for feed in self._feeds:
                feed.append(row)

    def _apply_step_sync(self, row: dict[str, Any]) -> None:
        last = self.summary._last  # noqa: SLF001 - hot path: read with the row, no copy
        for metric in self._sync:
            sm = metric.step_metric
            if sm in row or sm not in last:
                continue
            if any(metric.matches(k) for k in row):
                row[sm] = last[sm]

    def _refuse_log(self) -> None:
        raise UsageError(
            f"Run ({self.id}) is {self._state}: it cannot log any more; "
            "start a new run with nbrun.init() or continue it with nbrun.init(id=..., "
            "resume='allow')"
        )

    def _stop_now(self) -> None:
        self.finish(exit_code=1, _state=KILLED)
        raise RunStopped(f"run {self.id} was stopped")

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> Metric:
        """Define how a metric is summarised and charted (rules 27-28).

        ``summary`` is a comma list of ``min, max, mean, first, last, best, none``; ``best``
        uses ``goal``. A trailing ``*`` in ``name`` matches by prefix (``"val/*"``).
        Aggregates cover values logged before the call too.
        """
        metric = make_metric(name, step_metric, step_sync, hidden, summary, goal)
        old = {m.name: m for m in self.summary.metrics}
        if metric.name in old and not overwrite:
            prev = old[metric.name]
            metric = Metric(
                name=metric.name,
                step_metric=metric.step_metric or prev.step_metric,
                step_sync=metric.step_sync if metric.step_sync is not None else prev.step_sync,
                hidden=metric.hidden if metric.hidden is not None else prev.hidden,
                summary=metric.summary if metric.summary is not None else prev.summary,
                goal=metric.goal or prev.goal,
            )
        old[metric.name] = metric
        self.summary.set_metrics(list(old.values()))
        if self.summary.has_aggregates:
            self._writer.flush()
            self.summary.load_state(self._writer.state)
        self._refresh_sync()
        self._metrics_dirty = True
        return metric

    def _refresh_sync(self) -> None:
        self._sync = [m for m in self.summary.metrics if m.step_metric and m.step_sync]

    def _config_changed(self) -> None:
        self._config_dirty = True

    def alert(
        self, title: str, text: str, level: str = "INFO", wait_duration: float = 60.0
    ) -> None:
        """Record an alert shown in the run's widget; the same title is not repeated within
        ``wait_duration`` seconds (rule 32)."""
        if not isinstance(title, str) or not title:
            raise UsageError(f"alert: title {title!r} must be a non-empty str")
        if not isinstance(text, str):
            raise UsageError(f"alert: text {text!r} must be a str")
        lvl = getattr(level, "value", level)
        if lvl not in ALERT_LEVELS:
            raise UsageError(f"alert: level {level!r}; allowed: {', '.join(ALERT_LEVELS)}")
        if hasattr(wait_duration, "total_seconds"):
            wait_duration = wait_duration.total_seconds()
        if not isinstance(wait_duration, (int, float)) or wait_duration < 0:
            raise UsageError(f"alert: wait_duration {wait_duration!r} must be seconds >= 0")
        now = time.monotonic()
        last = self._alert_times.get(title)
        if last is not None and now - last < wait_duration:
            return
        self._alert_times[title] = now
        self._store.add_alert(self._key, title, text, lvl)

    def mark_preempting(self) -> None:
        """Mark the run as about to be preempted (state ``preempting``)."""
        if self._state == RUNNING:
            self._state = PREEMPTING
            self._store.update_run(self._key, {"state": PREEMPTING})

    # -- background writer side ----------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        now = time.time()
        try:
            self._files.sync_live()
        except OSError as exc:  # a file that cannot be copied must not stop the writer
            warnings.warn(
                f"nbrun: could not copy a saved file: {exc}", RuntimeWarning, stacklevel=1
            )
        out: dict[str, Any] = {
            "heartbeat": now,
            "updated": now,
            "summary": self._stored(self.summary.as_dict()),
        }
        if self._config_dirty:
            self._config_dirty = False
            out["config"] = self.config.as_dict()
        if self._metrics_dirty or self.summary.dirty:
            self._metrics_dirty = False
            self.summary.dirty = False
            out["metrics"] = {
                "defs": [m.to_json() for m in self.summary.metrics],
                "user_summary": self._stored(self.summary.user_values),
            }
        return out

    def _stored(self, value: dict[str, Any]) -> dict[str, Any]:
        """``value`` with media objects written and replaced by their references."""
        files = self._media_files
        if files is None or not media_seen():
            return value
        return cast("dict[str, Any]", files.convert(value))

    def _stop_from_elsewhere(self) -> None:
        self.request_stop()

    def _unflushed_rows(self) -> list[dict[str, Any]]:
        return self._writer.pending_rows()

    def flush(self, timeout: float | None = None) -> bool:
        """Make everything logged so far durable (the pending row is not written), system
        samples and console lines included; False if ``timeout`` passed first."""
        ok = self._writer.flush(timeout)
        return ok and self._writer.sync(60.0 if timeout is None else max(timeout, 0.001))

    def follow(self, from_step: int | None = None) -> RowFeed:
        """A feed of rows as they are written: ``feed.drain()`` returns the new ones and
        ``feed.close()`` stops it. With ``from_step`` the feed starts with the rows after
        that step (stored or not yet flushed)."""
        with self._lock:
            initial: list[dict[str, Any]] = []
            if from_step is not None:
                cols = stitched_columns(
                    self._store,
                    self._record(),
                    after_step=from_step,
                    extra_rows=self._writer.pending_rows(),
                ).finish()
                initial = column_rows(cols)
            feed = RowFeed(initial, on_close=self._drop_feed)
            self._feeds = [*self._feeds, feed]
            return feed

    def check_rows(self, check: Callable[[dict[str, Any]], None]) -> RowFeed:
        """Call ``check(row)`` for every row written from now on, in the writing thread, once
        the row is written: an exception it raises comes out of that ``log`` (or ``finish``)
        call. Like :meth:`follow`, it costs only this run (its ``log`` takes the Python path
        while a check or feed is attached); ``close()`` the returned feed to remove it."""
        if not callable(check):
            raise UsageError(f"check_rows: check {check!r} must be callable as check(row)")
        with self._lock:
            feed = RowCheck(check, on_close=self._drop_feed)
            self._feeds = [*self._feeds, feed]
            return feed

    def _drop_feed(self, feed: RowFeed) -> None:
        with self._lock:
            self._feeds = [f for f in self._feeds if f is not feed]

    # -- lifecycle -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to stop: the next :meth:`log` raises :class:`RunStopped` and the run
        ends as ``killed`` (rule 31)."""
        if self._state in LIVE_STATES:
            self._stop_requested = True
            self._store.request_stop(self._key)

    def finish(self, exit_code: int | None = None, *, _state: str | None = None) -> None:
        """Write the pending row, wait until every row is durable, record the exit code and
        the state (``finished`` for 0, ``failed`` otherwise), and clear ``nbrun.run``.
        A second call does nothing."""
        with self._lock:
            if self._state not in LIVE_STATES:
                return
            if exit_code is not None and (type(exit_code) is not int):
                raise UsageError(f"finish: exit_code {exit_code!r} must be an int or None")
            code = 0 if exit_code is None else exit_code
            state = _state or (
                KILLED if self._stop_requested else FINISHED if code == 0 else FAILED
            )
            if self._watcher is not None:
                self._watcher.unwatch()
            if self._pending:
                self._write_pending()
            self._state = state
            self._exit_code = code
            freeze(self.config)
            self.summary.readonly = True
            self._stop_side_capture()
            ok = self._writer.close()
            try:
                self._files.finish()
            except OSError as exc:
                warnings.warn(
                    f"nbrun: run {self.id}: could not copy saved files at finish: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )
            runtime = self._runtime_before + (time.monotonic() - self._t0)
            now = time.time()
            final = {
                **self._snapshot(),
                "config": self.config.as_dict(),
                "metrics": {
                    "defs": [m.to_json() for m in self.summary.metrics],
                    "user_summary": self._stored(self.summary.user_values),
                },
                "state": state,
                "exit_code": code,
                "finished": now,
                "runtime_before": runtime,
            }
            self._runtime_before = runtime
            self._ended = now
            try:
                if not ok:
                    rows = self._writer.pending_rows()
                    if rows:
                        cols = build_columns([self._stored(r) for r in rows])
                        after = advance_state(self._writer.state, cols)
                        self._store.flush(
                            self._key,
                            [encode_columns(cols, dumps(after))],
                            final,
                            self._writer.pending_side(),
                        )
                    else:
                        self._store.flush(self._key, [], final, self._writer.pending_side())
                else:
                    self._store.update_run(self._key, final)
            except Exception as exc:
                lost = len(self._writer.pending_rows())
                msg = f"nbrun: run {self.id} could not be finished in {self._store.path}: {exc}" + (
                    f"; {lost} rows were not written" if lost else ""
                )
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
            for feed in self._feeds:
                feed.close()
            _registry.unregister(self._store.path, self.project, self.id)
            if _registry.current_run() is self:
                _registry.set_current(None)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        self.finish(exit_code=0 if exc_type is None else 1)
        return False


def _stored_in_init(cls: type) -> frozenset[str]:
    """The attributes ``cls.__init__`` assigns on ``self`` (its ``STORE_ATTR`` names)."""
    method = next((vars(c)["__init__"] for c in cls.__mro__ if "__init__" in vars(c)), None)
    init = getattr(method, "__code__", None)
    if init is None:
        return frozenset()
    return frozenset(i.argval for i in dis.get_instructions(init) if i.opname == "STORE_ATTR")


def _stored(cache: dict[type, frozenset[str]], cls: type) -> frozenset[str]:
    if cls not in cache:
        cache[cls] = _stored_in_init(cls)
    return cache[cls]


def fastlog_layout_gaps(layout: Any, owners: Mapping[str, type]) -> list[str]:
    """The ``Owner.attribute`` names of ``layout`` (``_fastlog.LAYOUT``: the ``(owner, kind,
    name)`` triples ``nbrun/_fastlog.c`` reads or writes by name) that the classes in
    ``owners`` do not have as the C code reaches them: ``"dict"``, a key of the instance dict
    (assigned in ``__init__``, not hidden by a property); ``"attr"``, a class attribute (a
    slot) or one ``__init__`` assigns; ``"method"``, a callable on the class (issue 24)."""
    gaps = []
    stored: dict[type, frozenset[str]] = {}
    for owner_name, kind, name in layout:
        owner = owners.get(owner_name)
        if owner is None:
            gaps.append(f"{owner_name}.{name}")
            continue
        static = next((vars(c)[name] for c in owner.__mro__ if name in vars(c)), None)
        if kind == "dict":
            ok = (
                owner.__dictoffset__ != 0
                and name in _stored(stored, owner)
                and not hasattr(type(static), "__set__")
            )
        elif kind == "attr":
            ok = static is not None or name in _stored(stored, owner)
        else:
            ok = callable(static)
        if not ok:
            gaps.append(f"{owner_name}.{name}")
    return gaps


if _fastlog is not None:
    _layout = getattr(_fastlog, "LAYOUT", None)
    if _layout is None:  # an extension built from an older nbrun/_fastlog.c
        _why = "the built extension predates this nbrun (rebuild it: python hatch_build.py)"
    else:
        _gaps = fastlog_layout_gaps(
            _layout,
            {"Run": Run, "Summary": Summary, "Writer": Writer, "FloatBlock": FloatBlock},
        )
        _why = (
            f"{', '.join(_gaps)} not found where nbrun/_fastlog.c reads it (renamed?)"
            if _gaps
            else ""
        )
    if _why:  # the C path would only ever decline, or misread: say so, and skip it
        warnings.warn(
            f"nbrun._fastlog: {_why}; Run.log runs the slower Python path",
            RuntimeWarning,
            stacklevel=2,
        )
        Run.log = Run._log  # noqa: SLF001 - the Python path, as without the extension
    del _why, _layout


def _as_step(step: object) -> int:
    """An explicit ``log`` step: an int or an integer-like object (numpy ints), not bool."""
    if isinstance(step, bool):
        raise TypeError(f"log: step must be an int, got bool {step!r}")
    try:
        return operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"log: step must be an int, got {type(step).__name__} {step!r}") from None
