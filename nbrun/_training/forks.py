"""Forks and rewinds that continue training: of a launched run, they snap to the latest
checkpoint at or before the step, create the new run there and call the same training
function with the restored state and the edited config."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterable, Mapping
from typing import Any

from .._checkpoints import Checkpoint
from .._run import Run
from .._states import is_live
from .._views import RunView
from ..errors import UsageError
from .detached import fork_run, rewind_run
from .launcher import _check_executor, _start, _with_executor
from .remote import RemoteRun, _pack, _remote
from .state import _key, _record_restore, _restore_note, find_checkpoint, train_spec


def _stop_training(view: RunView, timeout: float = 60.0) -> None:
    remote = _remote.get(_key(view))
    if remote is not None and remote.training:
        if is_live(remote.state):
            remote.stop()
        if not remote.wait(timeout):
            raise UsageError(
                f"run {view.id}: its training on the executor did not stop within "
                f"{timeout:.0f} s (it stops at its next log call); try again when it logs"
            )
        return
    live = view.live()
    training = live.training_state if live is not None else None
    if live is None or training is None:
        return
    thread = training.thread
    if thread is not None and thread.is_alive():
        live.stop()
        thread.join(timeout)
        if thread.is_alive():
            raise UsageError(
                f"run {view.id}: its training did not stop within {timeout:.0f} s (it stops at "
                "its next log call); try again when it logs"
            )


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
    view: RunView,
    step: int,
    config: Mapping[str, Any] | None = None,
    *,
    executor: cf.Executor | None = None,
    **init_kwargs: Any,
) -> Run | RemoteRun:
    """Fork at ``step``; for a launched run, continue training from the latest checkpoint at
    or before it (the fork point snaps to that checkpoint). ``executor`` trains the fork there
    (default: where the run itself trained)."""
    _check_executor(executor, "fork")
    spec = train_spec(view)
    if spec is None:
        _no_training(view, executor, "fork")
        return fork_run(view, step, config, **init_kwargs)
    ck = _checkpoint_for(view, step, "fork")
    spec = _with_executor(spec, executor)
    payload = _pack(spec.fn) if spec.executor is not None else None
    child = fork_run(view, ck.step, config, **init_kwargs)
    _record_restore(child, _restore_note(step, ck, child.config_diff))
    return _start(child, spec, ck, init_kwargs, payload)


def _no_training(view: RunView, executor: object, what: str) -> None:
    if executor is not None:
        raise UsageError(
            f"{what}: executor= trains a launched run's function, and run {view.id} was not "
            "started with nbrun.launch in this process; there is nothing to train"
        )


def rewind(
    view: RunView,
    step: int,
    config: Mapping[str, Any] | None = None,
    *,
    executor: cf.Executor | None = None,
    **init_kwargs: Any,
) -> Run | RemoteRun:
    """Rewind to ``step``; for a launched run, stop its training, rewind to the latest
    checkpoint at or before ``step`` and train again from it (on ``executor`` if given, else
    where the run trained)."""
    _check_executor(executor, "rewind")
    spec = train_spec(view)
    if spec is None:
        _no_training(view, executor, "rewind")
        return rewind_run(view, step, config, **init_kwargs)
    ck = _checkpoint_for(view, step, "rewind")
    spec = _with_executor(spec, executor)
    payload = _pack(spec.fn) if spec.executor is not None else None
    _stop_training(view)
    run = rewind_run(view, ck.step, config, **init_kwargs)
    _record_restore(run, _restore_note(step, ck, (config or {}).keys()))
    return _start(run, spec, ck, init_kwargs, payload)


def fork_many(
    view: RunView,
    step: int,
    configs: Iterable[Mapping[str, Any]],
    *,
    executor: cf.Executor | None = None,
    **init_kwargs: Any,
) -> list[Run | RemoteRun]:
    """One fork per config, all from the same step (and checkpoint); with ``executor`` they
    train there side by side."""
    _check_executor(executor, "fork_many")
    configs = list(configs)
    if not configs:
        raise UsageError("fork_many: pass at least one config dict")
    for cfg in configs:
        if not isinstance(cfg, Mapping):
            raise UsageError(f"fork_many: config {cfg!r} must be a dict")
    return [fork(view, step, cfg, executor=executor, **init_kwargs) for cfg in configs]
