"""Run: identity, the lifecycle state machine, ``log``, ``define_metric`` and ``finish``.

``Run.log`` is the hot path: it checks the payload, merges it into the pending row, and hands
written rows to the :class:`~nbrun._history.Writer` (an append to a deque). Everything that
touches the disk happens on the writer thread or in rare calls (finish, define_metric, tags).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import operator
import os
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from . import _actions, _artifacts, _console, _registry, _system, _watch, _wbnames
from ._artifacts import Artifact
from ._config import Config, freeze
from ._files import FileSaver, files_dir
from ._history import (
    MAX_STEP,
    RowFeed,
    Writer,
    advance_state,
    build_columns,
    clean_log,
    column_rows,
    encode_columns,
    step_error,
)
from ._ids import validate_tags, validate_text
from ._lifecycle import QUEUED_HOST, TrainingState
from ._lineage import ForkPoint, fork_point, stitched_columns
from ._records import RunRecord
from ._states import FAILED, FINISHED, KILLED, LIVE_STATES, PREEMPTING, RUNNING
from ._store import Store, dumps
from ._summary import Metric, Summary, make_metric
from ._sysmetrics import Sampler
from ._views import RunView, run_path
from .errors import RunStopped, UsageError
from .media._base import MediaFiles, media_seen

_fastlog: Any = None
"""The C fast path (``nbrun/_fastlog.c``) of :meth:`Run.log`'s common case: a dict of floats
whose row fits the writer's open block (anything else goes down the Python path, which it
matches byte for byte). None when the extension was not compiled (no C compiler at install
time) or when ``NBRUN_PURE_PYTHON=1`` is set at import."""
if os.environ.get("NBRUN_PURE_PYTHON", "") in ("", "0"):
    try:
        from . import _fastlog
    except ImportError:  # no C compiler at install time: the pure-Python path does it all
        pass
    else:
        _fastlog.setup(LIVE_STATES)

if TYPE_CHECKING:
    from ._checkpoints import Checkpoint

ALERT_LEVELS = ("INFO", "WARN", "ERROR")
#: W&B's ``console`` values; nbrun wraps ``sys.stdout`` / ``sys.stderr`` for all but "off"
CONSOLE_MODES = ("auto", "wrap", "redirect", "wrap_raw", "wrap_emu", "off")


@dataclass
class Settings:
    """Engine settings, passed as ``init(settings={...})`` or a ``Settings``."""

    flush_interval: float = 1.0
    """Seconds between writer flushes (also the heartbeat period)."""
    flush_rows: int = 1000
    """Rows that make the writer flush at once."""
    stale_after: float = 60.0
    """Seconds without a heartbeat after which a run of another host reads as crashed; recorded
    in the run's metadata, so every reader judges the run by its writer's setting (rule 29).
    Must exceed ``flush_interval`` (the heartbeat period)."""
    stats: bool = True
    """Record system metrics (``run.history(stream="system")``); W&B's ``x_disable_stats``."""
    stats_interval: float = 10.0
    """Seconds between system metric samples (W&B's ``x_stats_sampling_interval``, 10 s);
    a sample is also taken when the run starts and when it finishes."""
    console: str = "auto"
    """Capture what the run prints to stdout / stderr (``run.logs()``, ``output.log``):
    ``"off"`` turns it off; W&B's other values (``"auto"``, ``"wrap"``, ``"redirect"``, ...)
    all wrap ``sys.stdout`` / ``sys.stderr`` (text written to the file descriptors directly,
    e.g. by a subprocess, is not seen)."""
    disable_git: bool = False
    """Leave git facts (root, remote, commit) out of the run's metadata (W&B's setting)."""
    files_dir: str | None = None
    """With a PostgreSQL store (``dir="postgresql://..."``): the shared folder for run files
    (checkpoints, media, artifacts); default ``NBRUN_FILES``."""
    wandb: dict[str, Any] = field(default_factory=dict)
    """W&B settings given to ``init`` (by W&B's names); rule 38 says which nbrun applies."""

    @classmethod
    def coerce(cls, value: object) -> Settings:
        """Build settings from None, a mapping or a Settings. Keys are nbrun's fields or W&B's
        settings names (rule 38); anything else is a UsageError."""
        if value is None:
            return cls()
        if isinstance(value, Settings):
            return value
        if not isinstance(value, Mapping):
            raise UsageError(f"settings {value!r}: pass a dict or nbrun.Settings")
        names = {f.name for f in fields(cls)} - {"wandb"}
        own: dict[str, Any] = {}
        wb: dict[str, Any] = {}
        for k, v in value.items():
            if k in names:
                if v is not None:  # None: unset, as in wandb.Settings
                    own[k] = v
            elif isinstance(k, str) and _wbnames.settings_key(k) is not None:
                wb[_wbnames.settings_key(k)] = v  # type: ignore[index]
            else:
                raise UsageError(
                    f"settings key {k!r} is unknown; allowed: {', '.join(sorted(names))} "
                    "or a W&B setting (wandb.Settings field)"
                )
        if wb.get("x_disable_stats") is not None and "stats" not in own:
            own["stats"] = not bool(wb["x_disable_stats"])
        if wb.get("x_stats_sampling_interval") is not None and "stats_interval" not in own:
            own["stats_interval"] = wb["x_stats_sampling_interval"]
        s = cls(**own, wandb=wb)
        if not (isinstance(s.flush_interval, (int, float)) and s.flush_interval > 0):
            raise UsageError(f"settings flush_interval={s.flush_interval!r}: a positive number")
        if not (type(s.flush_rows) is int and s.flush_rows > 0):
            raise UsageError(f"settings flush_rows={s.flush_rows!r}: a positive int")
        if not (type(s.stale_after) in (int, float) and 0 < s.stale_after < float("inf")):
            raise UsageError(
                f"settings stale_after={s.stale_after!r}: a positive number of seconds"
            )
        if "stale_after" in own and s.stale_after <= s.flush_interval:
            raise UsageError(
                f"settings stale_after={s.stale_after!r}: must exceed flush_interval="
                f"{s.flush_interval!r} (the heartbeat period), or a live run reads as crashed "
                "between two heartbeats"
            )
        if type(s.stats) is not bool:
            raise UsageError(f"settings stats={s.stats!r}: True or False")
        if not (
            isinstance(s.stats_interval, (int, float))
            and not isinstance(s.stats_interval, bool)
            and 0 < s.stats_interval < float("inf")
        ):
            raise UsageError(
                f"settings stats_interval={s.stats_interval!r}: a positive number of seconds"
            )
        if s.console not in CONSOLE_MODES:
            raise UsageError(
                f"settings console={s.console!r}; allowed: "
                + ", ".join(repr(m) for m in CONSOLE_MODES)
            )
        if s.files_dir is not None:
            if not isinstance(s.files_dir, (str, os.PathLike)) or not os.fspath(s.files_dir):
                raise UsageError(
                    f"settings files_dir={s.files_dir!r}: a folder path every machine can read"
                )
            s.files_dir = os.fspath(s.files_dir)
        return s


class _ExitHooks:
    """Records the exit status of a script so runs can be finished with it at exit (rule 30)."""

    def __init__(self) -> None:
        self.code: int = 0
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        self._orig_exit = sys.exit
        self._orig_excepthook = sys.excepthook
        sys.exit = self._exit  # type: ignore[assignment]
        sys.excepthook = self._excepthook
        for name in ("exit", "quit"):  # site's exit() / quit() raise SystemExit themselves
            if hasattr(builtins, name):
                setattr(builtins, name, _Quitter(self, getattr(builtins, name)))

    def record(self, code: object) -> None:
        if code is None:
            self.code = 0
        elif isinstance(code, int):
            self.code = code
        else:
            self.code = 1

    def _exit(self, code: object = 0) -> None:
        self.record(code)
        self._orig_exit(code)  # type: ignore[arg-type]  # sys.exit takes any object

    def _excepthook(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.code = 1
        self._orig_excepthook(exc_type, exc, tb)


class _Quitter:
    """Wraps the ``exit`` / ``quit`` builtins so the exit status they give is recorded."""

    def __init__(self, hooks: _ExitHooks, orig: Any) -> None:
        self._hooks = hooks
        self._orig = orig

    def __repr__(self) -> str:
        return repr(self._orig)

    def __call__(self, code: object = None) -> None:
        self._hooks.record(code)
        self._orig(code)


exit_hooks = _ExitHooks()


def finish_all_at_exit() -> None:
    """Finish every run of this process still running, with the exit status."""
    for run in _registry.live_runs():
        try:
            training = run.training_state
            thread = training.thread if training is not None else None
            if thread is not None and thread.is_alive():
                # background training still going at interpreter exit: stop it, end as killed
                run.stop()
                thread.join(5)
            run.finish(exit_code=exit_hooks.code)
        except Exception as exc:  # pragma: no cover - best effort at exit
            print(f"nbrun: could not finish run {run.id}: {exc}", file=sys.stderr)


# -- the live run ---------------------------------------------------------------------------
class Run(RunView):
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
    sweep_id: str | None = None
    """None: nbrun has no sweeps."""
    offline: bool = False
    """False: there is no server to be offline from (every run is stored locally)."""

    def get_url(self) -> None:
        """None: nbrun has no server, so a run has no web page (``run.display()`` shows it)."""
        return None

    def get_project_url(self) -> None:
        """None (no server)."""
        return None

    def get_sweep_url(self) -> None:
        """None (no server, no sweeps)."""
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
        summary = self.summary
        if (
            not summary._user  # noqa: SLF001 - hot path: the fields _fastlog.c reads too
            and not summary.has_aggregates
            and (floats or None not in row.values())
        ):  # Summary.observe inlined for its common case (Summary._fast)
            summary._last.update(row)  # noqa: SLF001 - hot path: Summary.observe inlined
        else:
            summary.observe(row)
        now = time.time()
        step = self._step
        self._step = step + 1
        writer = self._writer
        block = writer.block
        if floats and block is not None and block.size == len(row) and not self._feeds:
            try:  # the writer's fast lane (Writer.put inlined): one C call packs the row
                values = block.get(row)
            except KeyError:  # other keys: Writer.put starts a new block
                pass
            else:
                data = block.data
                data += block.pack(step, *values, now - self._t0_wall, now)
                writer.enqueued += 1
                if len(data) >= block.full:
                    writer.seal()
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

    # -- system metrics and console (issue 13) -------------------------------------------------
    def _start_side_capture(self) -> None:
        """Start the system metrics sampler and the console capture, as ``settings`` say."""
        if self.resumed:  # lines a dead process left unfinished stay as they are
            self._store.close_open_lines(self._key)
        if self.settings.console != "off":
            self._console = _console.ConsoleSink(self._last_written_step)
            _console.start(self._console)
        if self.settings.stats:
            self._sampler = Sampler(
                self._add_sample, self.settings.stats_interval, name=f"nbrun-stats-{self._key}"
            )
            self._sampler.start()

    def _last_written_step(self) -> int:
        return self._step - 1

    def _add_sample(self, t: float, sample: dict[str, float]) -> None:
        """Called on the sampler thread: queue one sample for the writer."""
        sample["_runtime"] = t - self._t0_wall
        self._system_q.append((t, self._step - 1, dumps(sample)))

    def _take_side(self) -> tuple[list[Any], list[Any], list[Any] | None]:
        """Called on the writer thread: samples and console lines to write with this flush."""
        q = self._system_q
        samples = [q.popleft() for _ in range(len(q))]
        if self._console is None:
            return samples, [], None
        lines, open_lines = self._console.take()
        return samples, lines, open_lines

    def _stop_side_capture(self) -> None:
        """Take the last system sample and end console capture (before the writer closes)."""
        if self._sampler is not None:
            self._sampler.stop()
        if self._console is not None:
            _console.stop(self._console)

    def _sync_side(self) -> None:
        if self._writer.alive:
            self._writer.sync()

    # -- files -------------------------------------------------------------------------------
    def save(
        self,
        glob_str: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        policy: str = "live",
    ) -> list[str]:
        """Save the files ``glob_str`` matches now into the run's files (rule 34).

        Relative globs keep their folders, ``base_path`` is stripped from the stored names,
        an absolute glob without ``base_path`` keeps one folder level. ``policy``: ``live``
        (copied now and again when it changes, until the run finishes), ``now`` (once),
        ``end`` (when the run finishes). Returns the paths of the stored copies.
        """
        if self._state not in LIVE_STATES:
            raise UsageError(f"save: run {self.id} is {self._state}; save files before finish()")
        return self._files.save(glob_str, base_path, policy)

    # -- artifacts (rules 35-36) ------------------------------------------------------------
    def _require_live(self, what: str) -> None:
        if self._state not in LIVE_STATES:
            raise UsageError(
                f"{what}: run {self.id} is {self._state}; use nbrun.Api() to read artifacts, or "
                "continue the run with nbrun.init(id=..., resume='allow')"
            )

    def _usage_step(self) -> int:
        """The step an artifact logged or used now belongs to: the last written row (like a
        checkpoint), so a rewind to an earlier step moves it with the rows after it."""
        return self._step - 1

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        tags: list[str] | None = None,
    ) -> Artifact:
        """Store an artifact as this run's output: a new version ``v<N>`` of its name, or the
        existing version with the same content. ``aliases`` point at it, ``latest`` moves to
        the newest version. A path (file, folder or ``file://`` URI) becomes an artifact named
        ``run-<id>-<basename>`` of type ``type`` (default ``unspecified``)."""
        self._require_live("log_artifact")
        art = _artifacts.coerce(artifact_or_path, name, type, self.id)
        usage = (self._key, "output", self._usage_step())
        return _artifacts.log(self._store, self.project, art, aliases, tags, usage)

    def use_artifact(
        self,
        artifact_or_name: Artifact | str,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        """Mark a version as this run's input and return it: ``"name:v1"``, ``"name:alias"``,
        ``"project/name:alias"`` (no version: ``latest``), or an ``Artifact`` (a draft one is
        stored first). ``aliases`` are added to it."""
        self._require_live("use_artifact")
        if isinstance(artifact_or_name, Artifact):
            art = artifact_or_name
            if type is not None and art.type != type:
                raise ValueError(f"use_artifact: {art.name!r} has type {art.type!r}, not {type!r}")
            art = _artifacts.log(self._store, self.project, art, aliases, None, None)
        else:
            art = _artifacts.fetch(self._store, artifact_or_name, self.project, type)
            if aliases:
                art = _artifacts.log(self._store, self.project, art, aliases, None, None)
        assert art.id is not None  # logged: its id is its key in this store
        self._store.add_usage(int(art.id), self._key, "input", self._usage_step())
        return art

    def _distributed_id(self, distributed_id: str | None, what: str) -> str:
        did = distributed_id if distributed_id is not None else self.group
        if not isinstance(did, str) or not did:
            raise UsageError(
                f"{what}: pass distributed_id= (or start the runs with the same group=) so the "
                "runs building one version find each other"
            )
        return did

    def upsert_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Add files to a version that several runs build together (``distributed_id``,
        default the run's group); it stays pending until one run calls
        :meth:`finish_artifact`."""
        self._require_live("upsert_artifact")
        did = self._distributed_id(distributed_id, "upsert_artifact")
        _artifacts.check_aliases(aliases)
        art = _artifacts.coerce(artifact_or_path, name, type, self.id)
        return _artifacts.upsert(self._store, self.project, art, did, self._key, self._usage_step())

    def finish_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Add these files and commit the version the group built (see
        :meth:`upsert_artifact`): it becomes the next version (or the stored one with the
        same content)."""
        self._require_live("finish_artifact")
        did = self._distributed_id(distributed_id, "finish_artifact")
        art = _artifacts.coerce(artifact_or_path, name, type, self.id)
        return _artifacts.finish_distributed(
            self._store, self.project, art, did, aliases, self._key, self._usage_step()
        )

    def link_artifact(
        self,
        artifact: Artifact,
        target_path: str,
        aliases: list[str] | str | None = None,
    ) -> Artifact:
        """Link a logged version into the collection ``target_path`` (``"project/name"``;
        ``"model-registry/<name>"`` is the local model registry) as its next version."""
        self._require_live("link_artifact")
        if not isinstance(artifact, Artifact):
            raise ValueError(f"link_artifact: {artifact!r} is not an nbrun.Artifact")
        if artifact.is_draft():
            artifact = self.log_artifact(artifact)
        return _artifacts.link(self._store, artifact, target_path, aliases, self.project)

    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: list[str] | str | None = None,
    ) -> Artifact:
        """Log a model file or folder as an artifact of type ``model`` (name default
        ``run-<id>-<basename>``)."""
        return self.log_artifact(path, name=name, type="model", aliases=aliases)

    def use_model(self, name: str) -> str:
        """Use a logged model (``"name:alias"``, ``"model-registry/name:v0"``, ...) and
        download it; returns the download folder."""
        art = self.use_artifact(name)
        if "model" not in art.type:
            raise ValueError(f"use_model: {name!r} is of type {art.type!r}, not a model")
        return art.download()

    def link_model(
        self,
        path: str | os.PathLike[str],
        registered_model_name: str,
        name: str | None = None,
        aliases: list[str] | str | None = None,
    ) -> Artifact:
        """Log a model and link it into the local model registry as the next version of
        ``registered_model_name`` (read it as ``"model-registry/<name>:latest"``)."""
        _artifacts.check_collection_name(registered_model_name, "registered_model_name")
        art = self.log_model(path, name=name)
        return self.link_artifact(
            art, f"{_artifacts.MODEL_REGISTRY}/{registered_model_name}", aliases
        )

    def log_code(
        self,
        root: str | os.PathLike[str] | None = ".",
        name: str | None = None,
        include_fn: Any = _artifacts.default_include,
        exclude_fn: Any = None,
    ) -> Artifact | None:
        """Log source files as a ``code`` artifact: the ``.py`` files under ``root`` by
        default (``include_fn(path, root)`` / ``exclude_fn(path, root)`` choose), never the
        run store's own folder; in a notebook the ``.ipynb`` too when it lies under ``root``.
        Returns None (with a warning) when nothing matched."""
        self._require_live("log_code")
        base = os.fspath(root if root is not None else ".")
        if not os.path.isdir(base):
            raise ValueError(f"log_code: root {base!r} is not a folder")
        notebook = self.metadata.get("notebook")
        files = _artifacts.collect_code(self._store, base, include_fn, exclude_fn, notebook)
        if not files:
            _artifacts.warn_no_code(base)
            return None
        command = self.metadata.get("command") or [None]
        program = notebook or command[0]
        art = Artifact(
            name or _artifacts.code_artifact_name(self.project, program, self.id), "code"
        )
        for full, entry in files:
            art.add_file(full, name=entry)
        return self.log_artifact(art)

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
        return files.convert(value)

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

    @contextlib.contextmanager
    def capture_thread_output(self) -> Iterator[None]:
        """Within the block, what this thread prints goes to this run's ``output.log`` (as
        well as to the screen) when the run captures console output (issue 13); a training
        thread (``nbrun.launch``) runs inside it."""
        sink = self._console
        if sink is not None:
            _console.bind_thread(sink)
        try:
            yield
        finally:
            _console.unbind_thread()

    def write_output(self, stream: str, text: str) -> None:
        """Add ``text`` to the run's ``output.log`` as written to ``stream`` (``"stdout"`` or
        ``"stderr"``) without printing it; nothing when the run does not capture console
        output."""
        if stream not in ("stdout", "stderr"):
            raise UsageError(f"write_output: stream {stream!r}; allowed: 'stdout', 'stderr'")
        if not isinstance(text, str):
            raise UsageError(f"write_output: text must be a str, got {type(text).__name__}")
        if self._console is not None:
            self._console.feed(stream, text)

    def request_stop(self) -> None:
        """Mark the run asked to stop by someone else (another process, the store, a queued
        hand-off) without writing the request: the next :meth:`log` raises
        :class:`RunStopped` and the run ends as ``killed`` (rule 31). :meth:`stop` is the
        user's call, which also records the request in the store."""
        self._stop_requested = True

    def attach_training(self, state: TrainingState) -> None:
        """Attach the background training that drives this run (``nbrun.launch`` and the
        forks and rewinds that continue training do): :meth:`wait`, :attr:`error`,
        :attr:`total`, :attr:`training` and :meth:`restore` read it. Refused (nothing
        changes) for a run that has ended or already has live training attached."""
        if not isinstance(state, TrainingState):
            raise UsageError(f"attach_training({state!r}): pass a TrainingState (nbrun._lifecycle)")
        if self._state not in LIVE_STATES:
            raise UsageError(
                f"attach_training: run {self.id} is {self._state}; training attaches to a "
                "live run only"
            )
        if self.training:
            raise UsageError(
                f"attach_training: run {self.id} already has a training thread running; "
                "wait for it (run.wait()) or stop it first"
            )
        self._training = state

    @property
    def training_state(self) -> TrainingState | None:
        """The background training attached with :meth:`attach_training`, or None."""
        return self._training

    def detach(self) -> None:
        """Stop writing this run in this process without ending it (rule 41): write the
        pending row, end system and console capture, close the writer (every row is
        durable) and the feeds, and forget the run as live here. Its record stays as it was
        (``running``), for another process to take over; this object logs nothing more."""
        with self._lock:
            if self._state not in LIVE_STATES:
                raise UsageError(
                    f"detach: run {self.id} is {self._state}; only a live run can be detached"
                )
            if self._pending:
                self._write_pending()
            self._stop_side_capture()
            self._writer.close()
            for feed in self._feeds:
                feed.close()
            _registry.unregister(self._store.path, self.project, self.id)

    def hand_off(self, metadata: Mapping[str, Any]) -> RunRecord:
        """Hand the run to another process (an executor's worker, rule 41): :meth:`detach`
        it here, then record it queued with ``metadata`` (pid 0, host
        ``"(queued on an executor)"``, a fresh heartbeat) for a worker to take over. Returns
        the stored record as written."""
        if not isinstance(metadata, Mapping):
            raise UsageError(f"hand_off: metadata {metadata!r} must be a dict")
        meta = dict(metadata)
        self.detach()
        now = time.time()
        self._store.update_run(
            self._key,
            {"metadata": meta, "pid": 0, "host": QUEUED_HOST, "heartbeat": now, "updated": now},
        )
        return self._record()

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` (or a widget / another process) asked the run to stop."""
        return self._stop_requested

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

    # -- background training (implemented in _training.py, reached through _actions) ---------
    def checkpoint(self, obj: Any, serializer: Any = None) -> Checkpoint:
        """Save training state as of the last written row: called when ``run.step == S`` it
        belongs to step ``S - 1``. Written atomically into the run's folder; pickled, or
        ``torch.save``-d when it holds torch objects, or with ``serializer`` ("pickle",
        "torch", or an object with ``name, suffix, dump(obj, f), load(f)``)."""
        return _actions.get("save_checkpoint")(self, obj, serializer)

    def restore(self, trust: bool = False) -> Any:
        """The state to start from: the checkpoint this run was forked or rewound from, else
        the latest one at or before its last step; None for a fresh run. A checkpoint that is
        not signed by your key (rule 45: a store from someone else, a file replaced on disk)
        is unpickled only with ``trust=True``; without it, state that reads without pickle
        still restores and anything else raises ``UntrustedCheckpointError``."""
        return _actions.get("restore")(self, trust)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background training (``nbrun.launch``) ends; False on timeout."""
        training = self._training
        if training is None or training.thread is None:
            return True
        training.thread.join(timeout)
        return not training.thread.is_alive()

    @property
    def error(self) -> str | None:
        """The traceback of the background training function, if it raised."""
        return self._training.error if self._training is not None else None

    @property
    def total(self) -> int | None:
        """Total steps announced to ``nbrun.launch`` (for progress bars), if any."""
        return self._training.spec.total if self._training is not None else None

    @property
    def training(self) -> bool:
        """Whether a background training thread of this run is running."""
        t = self._training
        return t is not None and t.thread is not None and t.thread.is_alive()


def _as_step(step: object) -> int:
    """An explicit ``log`` step: an int or an integer-like object (numpy ints), not bool."""
    if isinstance(step, bool):
        raise TypeError(f"log: step must be an int, got bool {step!r}")
    try:
        return operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"log: step must be an int, got {type(step).__name__} {step!r}") from None


_atexit_registered = [False]


def _current_console() -> _console.ConsoleSink | None:
    """The console sink of the current run (where writes of unbound threads go)."""
    return getattr(_registry.current_run(), "_console", None)


_console.set_default(_current_console)


def _ensure_exit_handling() -> None:
    """Once per process: finish runs at interpreter exit; in scripts also record the exit
    status (uncaught exception: 1, ``sys.exit(n)``: n) so the run ends with it (rule 30)."""
    if _atexit_registered[0]:
        return
    _atexit_registered[0] = True
    atexit.register(finish_all_at_exit)
    if not _system.in_notebook():
        exit_hooks.install()
