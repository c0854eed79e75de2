"""``nbrun.launch``: create a run and call ``train(run)`` on a background thread (or hand it
to an executor); ``_start`` is shared by launches, forks and rewinds."""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .._checkpoints import Checkpoint
from .._lifecycle import Recover, TrainingState, TrainSpec
from .._run import Run
from ..errors import UsageError
from .body import _body
from .detached import init_detached
from .recover import check_recover, check_run_config
from .remote import RemoteRun, _dispatch, _pack
from .state import _key, _specs, _specs_lock, training_note


def launch(
    train: Callable[[Run], Any],
    *,
    total: int | None = None,
    executor: cf.Executor | None = None,
    recover: Recover | None = None,
    **init_kwargs: Any,
) -> Run | RemoteRun:
    """Create a run like :func:`nbrun.init` and call ``train(run)`` on a background thread.

    Returns the run at once (it is not made ``nbrun.run``: several launched runs may train side
    by side); the run finishes when ``train`` returns (``failed`` if it
    raises; the traceback is recorded as an alert), or ends ``killed`` when stopped.
    ``total`` (steps) feeds the widget's progress bar. Forks and rewinds of the run from the
    chart or with ``run.fork`` / ``run.rewind`` call ``train`` again from the restored state.

    ``executor`` (a ``concurrent.futures.Executor``: a process pool, or a Dask cluster's
    ``client.get_executor()``) trains in a worker process instead of a thread: the run is
    created here, ``train`` and the config are sent to the executor (with cloudpickle when it is
    installed, so notebook-defined functions work), and a :class:`RemoteRun` is returned. Its
    forks and rewinds go to the same executor unless given another.

    ``recover`` (:class:`nbrun.Recover`, rules 60-61) watches a logged metric: when it goes
    NaN/inf or spikes, the run is rewound to its last checkpoint before that step, the
    ``update`` factors are multiplied into its config, an alert is recorded, and ``train`` is
    called again from the checkpoint (also on an executor's worker); after ``retries``
    recoveries the run fails. The returned :class:`~nbrun.Run` is the run as first started:
    after a recovery the live run is a new object (``run.live()``; ``run.wait()`` waits for
    the whole training and ``run.error`` follows it), as after any rewind.
    """
    if not callable(train):
        raise UsageError(f"launch: train {train!r} must be callable as train(run)")
    if total is not None and (type(total) is not int or total < 0):
        raise UsageError(f"launch: total={total!r} must be a non-negative int or None")
    _check_executor(executor, "launch")
    recover = check_recover(recover, init_kwargs.get("config"))
    spec = TrainSpec(train, total, executor, recover)
    payload = _pack(train) if executor is not None else None  # before anything is created
    run = init_detached(**init_kwargs)
    if not isinstance(init_kwargs.get("config"), Mapping):
        check_run_config(run, recover)
    return _start(run, spec, None, init_kwargs, payload)


def _check_executor(executor: object, what: str) -> None:
    if executor is not None and not isinstance(executor, cf.Executor):
        raise UsageError(
            f"{what}: executor={executor!r} must be a concurrent.futures.Executor (e.g. "
            "ProcessPoolExecutor(), or distributed.Client(...).get_executor()) or None"
        )


def _with_executor(spec: TrainSpec, executor: cf.Executor | None) -> TrainSpec:
    return spec if executor is None else replace(spec, executor=executor)


def _start(
    run: Run,
    spec: TrainSpec,
    restore_from: Checkpoint | None,
    init_kwargs: Mapping[str, Any] | None = None,
    payload: bytes | None = None,
) -> Run | RemoteRun:
    if not isinstance(run, Run):
        raise UsageError("launch: training needs a stored run; mode='disabled' has none")
    with _specs_lock:
        _specs[_key(run)] = spec
    meta = dict(run.metadata)
    meta["training"] = training_note(spec)
    if spec.executor is not None:
        if payload is None:
            payload = _pack(spec.fn)
        return _dispatch(run, spec, restore_from, meta, dict(init_kwargs or {}), payload)
    training = TrainingState(spec, restore_from=restore_from)
    run.metadata = meta
    run.store.update_run(run.store_key, {"metadata": meta})
    thread = threading.Thread(
        target=_body, args=(run, spec), name=f"nbrun-train-{run.id}", daemon=True
    )
    training.thread = thread
    run.attach_training(training)
    thread.start()
    return run
