"""The sweep agent (rules 50-53): claim the sweep's next suggestion in the store, run the
function (its ``init`` becomes the trial's run), finish what it left open, and record the
trial's state and metric value; hyperband's monitor stops weak runs; trials whose agent died
are marked crashed so their points can be claimed again.

Agents share a sweep only through the store: each claim is one write transaction
(:meth:`~nbrun._store.Store.claim_trial`), so threads, processes and machines on one
PostgreSQL store never run a grid point twice and ``run_cap`` holds across all of them."""

from __future__ import annotations

import math
import os
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _ids, _system
from .._records import SweepRecord, TrialPoint, TrialRecord
from .._registry import PendingTrial, live_run, set_pending_trial
from .._states import CRASHED, FAILED, FINISHED, KILLED, is_live
from .._store import Store
from .._views import StoredRun, effective_state, process_is_alive
from ..errors import RunStopped, UsageError
from .config import SweepConfig, parse_sweep_config
from .hyperband import to_stop
from .program import run_program
from .search import Trial, grid_size, suggest

#: W&B's agent stops when more than this many trials failed and none succeeded yet ("Detected
#: 5 failed runs in a row at start, killing sweep"); ``WANDB_AGENT_MAX_INITIAL_FAILURES`` (or
#: ``NBRUN_AGENT_MAX_INITIAL_FAILURES``) changes it, as in W&B
MAX_INITIAL_FAILURES = 5
#: a trial with no run yet, claimed by an agent on another host, counts as crashed after this
#: many seconds (its agent's process cannot be checked from here)
ORPHAN_AFTER = 600.0
#: how often hyperband's monitor reads the sweep's histories (seconds)
MONITOR_INTERVAL = 0.5

_warned_metric: set[tuple[str, int]] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class SweepHandle:
    """A sweep found by its id: the store, where it is (``dir``), its record and config."""

    store: Store
    dir: str
    rec: SweepRecord
    cfg: SweepConfig


def split_sweep_path(sweep_id: object, project: str | None) -> tuple[str | None, str]:
    """``(project, id)`` of ``"ID"``, ``"project/ID"`` or ``"entity/project/ID"`` (W&B's
    forms); a bare id takes ``project`` (None: whichever project of the store has it)."""
    if not isinstance(sweep_id, str) or not sweep_id or sweep_id.count("/") > 2:
        raise UsageError(
            f"sweep_id {sweep_id!r}: pass the id nbrun.sweep returned, as 'ID', "
            "'project/ID' or 'entity/project/ID'"
        )
    parts = sweep_id.split("/")
    if not all(parts):
        raise UsageError(f"sweep_id {sweep_id!r}: an empty part; pass 'ID' or 'project/ID'")
    name = parts[-2] if len(parts) > 1 else project
    return (
        None if name is None else _ids.validate_project(name),
        _ids.validate_id(parts[-1], "sweep id"),
    )


def _only_project(store: Store, sweep_id: str) -> str | None:
    """The project of the store's one sweep ``sweep_id`` (None: no such sweep)."""
    found = sorted({r.project for r in store.list_sweeps() if r.id == sweep_id})
    if len(found) > 1:
        raise UsageError(
            f"sweep_id {sweep_id!r}: sweeps with this id are in projects {found}; pass "
            "'project/ID' (or project=)"
        )
    return found[0] if found else None


def find_sweep(base: str, project: str | None, sweep_id: str) -> SweepHandle:
    """The sweep ``project/sweep_id`` of the store at ``base`` (``project`` None: the one
    project that has it), or :class:`UsageError`."""
    store = Store.open_existing(base)
    if store is not None and project is None:
        project = _only_project(store, sweep_id)
    rec = store.get_sweep(project, sweep_id) if store is not None and project else None
    if store is None or rec is None:
        where = store.path if store is not None else base
        raise UsageError(
            f"no sweep {sweep_id!r} in {'any project' if project is None else repr(project)} "
            f"under {where}; create it with "
            "nbrun.sweep(config, project=...) (pass dir= where it was created)"
        )
    return SweepHandle(store, base, rec, parse_sweep_config(rec.config))


def chooser(sweep: SweepHandle) -> Callable[[Sequence[TrialPoint]], Any]:
    """The ``choose`` of a claim: the search's next suggestion given every trial so far."""

    def choose(points: Sequence[TrialPoint]) -> tuple[int, dict[str, Any]] | None:
        trials = [Trial(t.idx, t.params, t.value, t.state) for t in points]
        nxt = suggest(sweep.cfg, trials, sweep.rec.seed)
        return None if nxt is None else (nxt.index, nxt.params)

    return choose


# -- crashed trials (rule 53) ------------------------------------------------------------------
def _orphaned(store: Store, trial: TrialRecord) -> bool:
    """Whether a running trial with no run has lost its agent."""
    if trial.host == _system.host_name():
        return trial.pid != os.getpid() and not process_is_alive(int(trial.pid or 0))
    return store.now() - trial.created > ORPHAN_AFTER


def settle_trials(sweep: SweepHandle) -> None:
    """Bring the sweep's ``running`` trials up to date with their runs: a run that ended
    gives the trial its state and value; a crashed run (stale heartbeat, dead process), or a
    trial whose agent died before the run started, marks the trial ``crashed`` (its point
    may be claimed again). Trials this process runs are left to it."""
    store, project = sweep.store, sweep.rec.project
    for trial in store.list_trials(sweep.rec.key, state="running"):
        if live_run(store.path, project, trial.run_id) is not None:
            continue
        if trial.pid == os.getpid() and trial.host == _system.host_name():
            continue  # this process's own trial, still in its function
        rec = store.get_run(project, trial.run_id)
        if rec is None:
            if _orphaned(store, trial):
                store.update_trial(trial.key, {"state": CRASHED}, only_if="running")
            continue
        state = effective_state(store, rec)
        if not is_live(state):
            fields: dict[str, Any] = {"state": state}
            if state != CRASHED:
                fields["value"] = trial_value(sweep, rec.summary, warn=False)
            store.update_trial(trial.key, fields, only_if="running")


# -- the trial's value (rule 52) ---------------------------------------------------------------
def trial_value(sweep: SweepHandle, summary: Mapping[str, Any], *, warn: bool) -> float | None:
    """The run's value for the sweep's metric: ``summary[metric.name]`` (W&B), a finite
    number or None. A metric the run never logged warns once per sweep (``warn``)."""
    metric = sweep.cfg.metric
    if metric is None:
        return None
    value = summary.get(metric.name)
    if isinstance(value, Mapping):  # define_metric(summary="min") and friends
        value = value.get("min" if metric.goal == "minimize" else "max", value.get("last"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if warn and value is None:
        key = (str(sweep.store.path), sweep.rec.key)
        with _warned_lock:
            first = key not in _warned_metric
            _warned_metric.add(key)
        if first:
            warnings.warn(
                f"sweep {sweep.rec.id!r}: the run never logged the sweep's metric "
                f"{metric.name!r}, so it has no value for the search; log it (run.log("
                f"{{{metric.name!r}: ...}})) or fix metric.name. The run still counts (rule 52)",
                UserWarning,
                stacklevel=4,
            )
    return None


# -- hyperband (rule 52) -----------------------------------------------------------------------
def _metric_history(store: Store, rec: Any, name: str) -> list[float]:
    frame = StoredRun(store, rec).history(keys=[name])
    if name not in frame:
        return []
    return [float(v) for v in frame[name].tolist() if isinstance(v, (int, float))]


def hyperband_stops(
    sweep: SweepHandle, run_id: str, ended: dict[str, list[float]] | None = None
) -> bool:
    """Whether hyperband stops ``run_id`` now, judged on the metric histories of the sweep's
    runs (the stopped and ended ones set the bands' thresholds). ``ended`` caches the
    histories of runs that ended (they do not change) between calls."""
    cfg, store = sweep.cfg, sweep.store
    if cfg.early_terminate is None or cfg.metric is None:
        return False
    cache = {} if ended is None else ended
    histories: dict[str, list[float]] = {}
    for trial in store.list_trials(sweep.rec.key):
        if trial.state == CRASHED:
            continue
        if trial.run_id in cache:
            histories[trial.run_id] = cache[trial.run_id]
            continue
        rec = store.get_run(sweep.rec.project, trial.run_id)
        if rec is None:
            continue
        histories[trial.run_id] = _metric_history(store, rec, cfg.metric.name)
        if trial.state != "running" and trial.run_id != run_id:
            cache[trial.run_id] = histories[trial.run_id]
    stop = to_stop(cfg.early_terminate, cfg.metric.goal, histories, [run_id])
    return run_id in stop


class Monitor:
    """Hyperband's watch over one trial's run while its function runs: every
    :data:`MONITOR_INTERVAL` seconds, a run hyperband stops is asked to stop (rule 31: its
    next ``log`` raises ``RunStopped`` and it ends ``killed``, its rows kept)."""

    def __init__(self, sweep: SweepHandle, run_id: str) -> None:
        self.sweep = sweep
        self.run_id = run_id
        self.stopped = False
        self._ended: dict[str, list[float]] = {}  # histories of the sweep's ended runs
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="nbrun-sweep-monitor", daemon=True)

    def __enter__(self) -> Monitor:
        if self.sweep.cfg.early_terminate is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        store, project = self.sweep.store, self.sweep.rec.project
        while not self._done.wait(MONITOR_INTERVAL):
            rec = store.get_run(project, self.run_id)
            if rec is None or not is_live(rec.state):
                continue
            try:
                stop = hyperband_stops(self.sweep, self.run_id, self._ended)
            except Exception:  # a read that failed now: judged again at the next poll
                continue
            if stop:
                StoredRun(store, rec).stop()
                self.stopped = True
                return


# -- running trials ----------------------------------------------------------------------------
def _end_state(run: Any, error: BaseException | None) -> None:
    """Finish the trial's run if the function left it open: failed on an exception."""
    if run is not None and is_live(run.state):
        run.finish(exit_code=1 if error is not None else None)


def program_call(sweep: SweepHandle, trial: TrialRecord) -> Callable[[], Any]:
    """The trial's call when the agent has no function: the sweep's ``program`` in a
    subprocess (rules 55-57) whose ``init`` finds the trial through ``NBRUN_SWEEP_ID`` /
    ``NBRUN_RUN_ID`` / ``NBRUN_DIR`` (rule 51). Hyperband stops it through the store (its
    next ``log`` raises ``RunStopped``)."""

    def call() -> int:
        cfg, rec = sweep.cfg, sweep.rec
        return run_program(
            cfg.program,
            cfg.command,
            trial.params,
            sweep_id=rec.id,
            project=rec.project,
            run_id=trial.run_id,
            store=sweep.dir,
            entity=cfg.entity,
        )

    return call


def run_trial(sweep: SweepHandle, trial: TrialRecord, function: Callable[[], Any] | None) -> str:
    """Run ``function`` as ``trial`` (None: the sweep's program): its ``init`` becomes the
    trial's run (rule 51); the run is finished when the function returns (failed when it
    raises: the traceback is printed and the agent goes on, as W&B's). Records and returns
    the trial's state."""
    store, project = sweep.store, sweep.rec.project
    if function is None:
        function = program_call(sweep, trial)
    pending = PendingTrial(sweep.dir, project, sweep.rec.id, trial.run_id, trial.params)
    error: BaseException | None = None
    set_pending_trial(pending)
    try:
        with Monitor(sweep, trial.run_id):
            function()
    except RunStopped as exc:  # hyperband, or someone stopped the run: it ends killed
        error = exc
    except Exception as exc:
        error = exc
        traceback.print_exc(file=sys.stderr)
    except BaseException as exc:  # Ctrl-C: the run ends failed, the agent stops
        error = exc
        raise
    finally:
        set_pending_trial(None)
        _end_state(live_run(store.path, project, trial.run_id), error)
    rec = store.get_run(project, trial.run_id)
    if rec is None:  # the function never called init: no run to count (rule 51)
        warnings.warn(
            f"sweep {sweep.rec.id!r}: the function (or program) did not call nbrun.init() "
            f"(or wandb.init()), so trial {trial.idx} has no run; it is recorded failed",
            UserWarning,
            stacklevel=3,
        )
        state, value = FAILED, None
    else:
        state = (
            rec.state if rec.state in (FINISHED, FAILED, KILLED) else effective_state(store, rec)
        )
        if state == CRASHED:  # its program died, this agent did not: a failure, not retried
            state = FAILED
        value = trial_value(sweep, rec.summary, warn=True)
    store.update_trial(trial.key, {"state": state, "value": value}, only_if="running")
    return state


def claim(sweep: SweepHandle) -> TrialRecord | None:
    """Settle the sweep's stale trials, then claim its next suggestion for a new run id."""
    settle_trials(sweep)
    return sweep.store.claim_trial(
        sweep.rec.key,
        chooser(sweep),
        _ids.generate_id(),
        (_system.host_name(), os.getpid()),
        sweep.cfg.run_cap,
        params=sweep.cfg.method == "bayes",  # grid and random read no params
    )


def max_initial_failures() -> int:
    """:data:`MAX_INITIAL_FAILURES`, or the environment's value for it."""
    for var in ("NBRUN_AGENT_MAX_INITIAL_FAILURES", "WANDB_AGENT_MAX_INITIAL_FAILURES"):
        text = os.environ.get(var)
        if text:
            try:
                return max(0, int(text))
            except ValueError:
                raise UsageError(f"{var}={text!r}: pass an int (default 5)") from None
    return MAX_INITIAL_FAILURES


def run_agent(sweep: SweepHandle, function: Callable[[], Any] | None, count: int | None) -> int:
    """Run trials of ``sweep`` until ``count`` ran here, the sweep has none left or its
    ``run_cap`` is reached; the number run. Stops early, with a warning, when more than
    :func:`max_initial_failures` trials of this agent failed and none succeeded (W&B's agent
    does)."""
    limit = max_initial_failures()
    done = failed = 0
    while count is None or done < count:
        trial = claim(sweep)
        if trial is None:
            break
        state = run_trial(sweep, trial, function)
        done += 1
        failed += state == FAILED
        if failed == done > limit:
            warnings.warn(
                f"sweep {sweep.rec.id!r}: the first {done} trials of this agent failed; the "
                "agent stops (as W&B's; WANDB_AGENT_MAX_INITIAL_FAILURES sets how many may "
                "fail); fix the function and start it again",
                UserWarning,
                stacklevel=3,
            )
            break
    settle(sweep)
    return done


def settle(sweep: SweepHandle) -> None:
    """Mark the sweep ``FINISHED`` once no trial is left to claim: its ``run_cap`` trials (or,
    for a grid, every point) were claimed and did not crash. An agent whose ``count`` ends
    on the last trial would otherwise leave it ``RUNNING`` until the next claim found nothing
    (rule 50)."""
    store = sweep.store
    counted = sum(1 for t in store.list_trials(sweep.rec.key) if t.state != CRASHED)
    cap = sweep.cfg.run_cap
    size = grid_size(sweep.cfg) if sweep.cfg.method == "grid" else None
    full = (cap is not None and counted >= cap) or (size is not None and counted >= size)
    if full:
        store.set_sweep_state(sweep.rec.key, "FINISHED")
