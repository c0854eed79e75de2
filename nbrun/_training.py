"""Training functions run in the background, and forks that really continue training.

``nbrun.launch(train, **init_kwargs)`` starts a run and calls ``train(run)`` on a background
thread, so the kernel stays free for clicks and cells. Inside ``train``, ``run.restore()``
gives the state to start from and ``run.checkpoint(state)`` saves it. ``run.fork(step)`` and
``run.rewind(step)`` of a launched run snap to the latest checkpoint at or before ``step``,
create the new run there (``fork_from`` / ``resume_from``), and call the same function with
the restored state and the edited config on a new thread.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _checkpoints, _console, _registry
from ._api import init
from ._checkpoints import Checkpoint
from ._lineage import ancestry, fork_point
from ._run import Run
from ._states import is_live
from ._views import TRAINING_FAILED, RunView, StoredRun, run_path
from .errors import RunStopped, UsageError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainSpec:
    """A registered training function and what is known about it."""

    fn: Callable[[Run], Any]
    total: int | None = None


@dataclass
class TrainingState:
    """A launched run's training: its function, thread, the checkpoint it starts from and the
    traceback if the function raised. Held by the run as ``run._training``; only this module
    writes it."""

    spec: TrainSpec
    thread: threading.Thread | None = None
    restore_from: Checkpoint | None = None
    error: str | None = None


_specs: dict[tuple[Path | str, str, str], TrainSpec] = {}
_specs_lock = threading.Lock()


def _key(view: RunView) -> tuple[Path | str, str, str]:
    return (view._store.path, view.project, view.id)


def train_spec(view: RunView) -> TrainSpec | None:
    """The training function registered for this run (in this process), if any."""
    return _specs.get(_key(view))


def run_folder(view: RunView, run_id: str | None = None) -> Path:
    """The folder of ``view`` (or of another run of its project)."""
    return run_path(view._store, view.project, run_id or view.id)


# -- checkpoints along the lineage ------------------------------------------------------------
def checkpoints(view: RunView, lineage: bool = True) -> list[Checkpoint]:
    """Checkpoints in the run's history view: its own, and (``lineage``) those it inherits from
    the runs it was forked from, up to each fork step; by step."""
    rec = view._record()
    chain = ancestry(view._store, rec) if lineage else [(rec, None)]
    out: list[Checkpoint] = []
    for member, limit in chain:
        point = fork_point(member)
        lower = point.step if point is not None else -1
        for ck in _checkpoints.listing(run_folder(view, member["id"]), member["id"]):
            if (limit is None or ck.step <= limit) and ck.step >= lower:
                out.append(ck)
    # a step saved by both a parent and a child: the child's (later in the chain) wins
    by_step = {ck.step: ck for ck in out}
    return [by_step[s] for s in sorted(by_step)]


def find_checkpoint(view: RunView, step: int) -> Checkpoint | None:
    """The latest checkpoint at or before ``step`` in the run's history view."""
    best = None
    for ck in checkpoints(view):
        if ck.step <= step:
            best = ck
    return best


def save_checkpoint(run: Run, obj: Any, serializer: Any = None) -> Checkpoint:
    """``run.checkpoint(obj)``: save ``obj`` as the state after the last written row."""
    step = run.step - 1
    if step < 0:
        raise UsageError(
            f"checkpoint: run {run.id} has written no row yet; a checkpoint belongs to the "
            "last written step, so log a row first"
        )
    return _checkpoints.save(run_folder(run), run.id, step, obj, serializer)


def restore(run: Run) -> Any:
    """``run.restore()``: the state to start from, or None for a fresh run."""
    training = run._training
    ck = training.restore_from if training is not None else None
    if ck is None:
        if run.step == 0:
            return None
        ck = find_checkpoint(run, run.step - 1)
        if ck is None:
            return None
    run.restored_step = ck.step
    return ck.load()


# -- background runs ---------------------------------------------------------------------------
def launch(
    train: Callable[[Run], Any],
    *,
    total: int | None = None,
    **init_kwargs: Any,
) -> Run:
    """Create a run like :func:`nbrun.init` and call ``train(run)`` on a background thread.

    Returns the run at once (it is not made ``nbrun.run``: several launched runs may train side
    by side); the run finishes when ``train`` returns (``failed`` if it
    raises; the traceback is recorded as an alert), or ends ``killed`` when stopped.
    ``total`` (steps) feeds the widget's progress bar. Forks and rewinds of the run from the
    chart or with ``run.fork`` / ``run.rewind`` call ``train`` again from the restored state.
    """
    if not callable(train):
        raise UsageError(f"launch: train {train!r} must be callable as train(run)")
    if total is not None and (type(total) is not int or total < 0):
        raise UsageError(f"launch: total={total!r} must be a non-negative int or None")
    run = init_detached(**init_kwargs)
    _start(run, TrainSpec(train, total), None)
    return run


def _start(run: Run, spec: TrainSpec, restore_from: Checkpoint | None) -> None:
    if not isinstance(run, Run):
        raise UsageError("launch: training needs a stored run; mode='disabled' has none")
    with _specs_lock:
        _specs[_key(run)] = spec
    training = TrainingState(spec, restore_from=restore_from)
    meta = dict(run.metadata)
    meta["training"] = {
        "function": getattr(spec.fn, "__qualname__", repr(spec.fn)),
        "total": spec.total,
    }
    run.metadata = meta
    run._store.update_run(run._key, {"metadata": meta})
    thread = threading.Thread(
        target=_body, args=(run, spec), name=f"nbrun-train-{run.id}", daemon=True
    )
    training.thread = thread
    run._training = training
    thread.start()


def _body(run: Run, spec: TrainSpec) -> None:
    sink = run._console
    if sink is not None:  # what this thread prints belongs to this run (issue 13)
        _console.bind_thread(sink)
    try:
        _train(run, spec)
    finally:
        _console.unbind_thread()


def _train(run: Run, spec: TrainSpec) -> None:
    try:
        spec.fn(run)
    except RunStopped:
        run.finish()
        return
    except BaseException:
        tb = traceback.format_exc()
        if run._training is not None:
            run._training.error = tb
        if run._console is not None:  # the run's output.log ends with the traceback
            run._console.feed("stderr", tb)
        if is_live(run.state):
            try:
                run.alert(TRAINING_FAILED, tb[-8000:], level="ERROR", wait_duration=0)
            finally:
                run.finish(exit_code=1)
        return
    run.finish(0)


def _stop_training(view: RunView, timeout: float = 60.0) -> None:
    live = view.live()
    if live is None or live._training is None:
        return
    thread = live._training.thread
    if thread is not None and thread.is_alive():
        live.stop()
        thread.join(timeout)
        if thread.is_alive():
            raise UsageError(
                f"run {view.id}: its training did not stop within {timeout:.0f} s (it stops at "
                "its next log call); try again when it logs"
            )


# -- fork / rewind shortcuts (the calls behind the widgets' buttons) --------------------------
def _check_step(step: object) -> int:
    if type(step) is not int or step < 0:
        raise UsageError(f"step {step!r}: must be a non-negative int")
    return step


def init_detached(**init_kwargs: Any) -> Run:
    """``init`` that leaves ``nbrun.run`` as it was (for forks, rewinds and launches made on
    the side, e.g. from a widget button or a background thread)."""
    before = _registry.current_run()
    init_kwargs.setdefault("reinit", "create_new")
    try:
        return init(**init_kwargs)
    finally:
        keep = before is not None and is_live(before.state)
        _registry.set_current(before if keep else None)


def fork_run(
    view: RunView, step: int, config: Mapping[str, Any] | None = None, **init_kwargs: Any
) -> Run:
    """A fork of ``view`` at ``step`` with ``config`` overrides (a new run, not made current)."""
    step = _check_step(step)
    return init_detached(
        project=view.project,
        dir=view.root,
        fork_from=f"{view.id}?_step={step}",
        config=dict(config or {}),
        **init_kwargs,
    )


def rewind_run(
    view: RunView, step: int, config: Mapping[str, Any] | None = None, **init_kwargs: Any
) -> Run:
    """Rewind ``view`` to ``step`` (finishing it first if it is live and running)."""
    step = _check_step(step)
    live = view.live()
    if live is not None:
        live.finish()
    return init_detached(
        project=view.project,
        dir=view.root,
        resume_from=f"{view.id}?_step={step}",
        config=dict(config or {}),
        **init_kwargs,
    )


# -- fork / rewind that continue training ------------------------------------------------------
def _restore_note(requested: int, ck: Checkpoint, changed: Iterable[str]) -> dict[str, Any]:
    note: dict[str, Any] = {
        "requested_step": requested,
        "checkpoint_step": ck.step,
        "checkpoint_run": ck.run_id,
        "checkpoint": ck.path,
        "changed": sorted(changed),
        "warning": None,
    }
    if ck.step < requested:
        note["warning"] = (
            f"no checkpoint at step {requested}: training restarted from the checkpoint at "
            f"step {ck.step}, so the fork point is step {ck.step}"
        )
    return note


def _record_restore(run: Run, note: dict[str, Any]) -> None:
    meta = dict(run.metadata)
    meta["restore"] = note
    run.metadata = meta
    run._store.update_run(run._key, {"metadata": meta})


def _checkpoint_for(view: RunView, step: int, what: str) -> Checkpoint:
    if type(step) is not int or step < 0:
        raise UsageError(f"{what}: step {step!r} must be a non-negative int")
    ck = find_checkpoint(view, step)
    if ck is None:
        raise UsageError(
            f"{what} at step {step}: run {view.id} has no checkpoint at or before step {step}; "
            "its training function must call run.checkpoint(state) to be continued"
        )
    return ck


def fork(
    view: RunView, step: int, config: Mapping[str, Any] | None = None, **init_kwargs: Any
) -> Run:
    """Fork at ``step``; for a launched run, continue training from the latest checkpoint at
    or before it (the fork point snaps to that checkpoint)."""
    spec = train_spec(view)
    if spec is None:
        return fork_run(view, step, config, **init_kwargs)
    ck = _checkpoint_for(view, step, "fork")
    child = fork_run(view, ck.step, config, **init_kwargs)
    _record_restore(child, _restore_note(step, ck, child.config_diff))
    _start(child, spec, ck)
    return child


def rewind(
    view: RunView, step: int, config: Mapping[str, Any] | None = None, **init_kwargs: Any
) -> Run:
    """Rewind to ``step``; for a launched run, stop its training, rewind to the latest
    checkpoint at or before ``step`` and train again from it."""
    spec = train_spec(view)
    if spec is None:
        return rewind_run(view, step, config, **init_kwargs)
    ck = _checkpoint_for(view, step, "rewind")
    _stop_training(view)
    run = rewind_run(view, ck.step, config, **init_kwargs)
    _record_restore(run, _restore_note(step, ck, (config or {}).keys()))
    _start(run, spec, ck)
    return run


def fork_many(
    view: RunView, step: int, configs: Iterable[Mapping[str, Any]], **init_kwargs: Any
) -> list[Run]:
    """One fork per config, all from the same step (and checkpoint)."""
    configs = list(configs)
    if not configs:
        raise UsageError("fork_many: pass at least one config dict")
    for cfg in configs:
        if not isinstance(cfg, Mapping):
            raise UsageError(f"fork_many: config {cfg!r} must be a dict")
    return [fork(view, step, cfg, **init_kwargs) for cfg in configs]


def ranking(runs: Iterable[Run | StoredRun], metric: str, goal: str = "minimize") -> pd.DataFrame:
    """A table of runs ranked by a summary metric (best first): id, name, state, step,
    the config keys each changed, and the metric's value."""
    import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

    if goal not in ("minimize", "maximize"):
        raise UsageError(f"ranking: goal {goal!r}; allowed: 'minimize', 'maximize'")
    rows = []
    for r in runs:
        value = r.summary.get(metric)
        if isinstance(value, dict):
            value = value.get("best", value.get("last", value.get("min")))
        rows.append(
            {
                "id": r.id,
                "name": r.name,
                "state": r.state,
                "step": r.step,
                "changed": ", ".join(f"{k}={v['to']!r}" for k, v in r.config_diff.items()),
                metric: value,
            }
        )
    df = pd.DataFrame(rows, columns=["id", "name", "state", "step", "changed", metric])
    df = df.sort_values(metric, ascending=goal == "minimize", na_position="last")
    return df.reset_index(drop=True)
