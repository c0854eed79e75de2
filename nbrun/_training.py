"""Training functions run in the background, and forks that really continue training.

``nbrun.launch(train, **init_kwargs)`` starts a run and calls ``train(run)`` on a background
thread, so the kernel stays free for clicks and cells. Inside ``train``, ``run.restore()``
gives the state to start from and ``run.checkpoint(state)`` saves it. ``run.fork(step)`` and
``run.rewind(step)`` of a launched run snap to the latest checkpoint at or before ``step``,
create the new run there (``fork_from`` / ``resume_from``), and call the same function with
the restored state and the edited config on a new thread.

With ``executor=`` (any ``concurrent.futures.Executor``: a process pool, a Dask cluster's
``client.get_executor()``) the training goes to that executor instead: the run record is made
here first (so dashboards and lineage show it at once), then handed off; a worker opens the
same store, takes the run over, restores the checkpoint from the run files and trains. The
caller gets a :class:`RemoteRun`, a stored view of the run with ``wait`` / ``error`` / ``stop``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from . import _actions, _checkpoints, _registry, _system
from ._api import _make_run, _summary_for, open_run
from ._checkpoints import Checkpoint
from ._history import empty_state
from ._init_request import InitRequest
from ._lifecycle import QUEUED_HOST, TrainingState, TrainSpec
from ._lineage import ForkPoint, ancestry, fork_point, last_step, state_at
from ._records import RunRecord
from ._run import Run, Settings
from ._states import CRASHED, is_live
from ._store import Store
from ._views import (
    STALE_AFTER_KEY,
    TRAINING_FAILED,
    RunView,
    StoredRun,
    effective_state,
    process_is_alive,
    recorded_stale_after,
    run_path,
)
from .errors import RunNotFoundError, RunStopped, UsageError

if TYPE_CHECKING:
    import pandas as pd


_specs: dict[tuple[Path | str, str, str], TrainSpec] = {}
_specs_lock = threading.Lock()


def _key(view: RunView) -> tuple[Path | str, str, str]:
    return (view.store.path, view.project, view.id)


def train_spec(view: RunView) -> TrainSpec | None:
    """The training function registered for this run (in this process), if any."""
    return _specs.get(_key(view))


def run_folder(view: RunView, run_id: str | None = None) -> Path:
    """The folder of ``view`` (or of another run of its project)."""
    return run_path(view.store, view.project, run_id or view.id)


# -- checkpoints along the lineage ------------------------------------------------------------
def checkpoints(view: RunView, lineage: bool = True) -> list[Checkpoint]:
    """Checkpoints in the run's history view: its own, and (``lineage``) those it inherits from
    the runs it was forked from, up to each fork step; by step."""
    rec = view.record()
    chain = ancestry(view.store, rec) if lineage else [(rec, None)]
    out: list[Checkpoint] = []
    for member, limit in chain:
        point = fork_point(member)
        lower = point.step if point is not None else -1
        for ck in _checkpoints.listing(run_folder(view, member.id), member.id):
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


def restore(run: Run, trust: bool = False) -> Any:
    """``run.restore(trust=False)``: the state to start from, or None for a fresh run; a
    checkpoint not signed by the user's key is unpickled only with ``trust`` (rule 45)."""
    if not isinstance(trust, bool):
        raise UsageError(f"restore(trust={trust!r}): pass True or False")
    training = run.training_state
    ck = training.restore_from if training is not None else None
    if ck is None:
        if run.step == 0:
            return None
        ck = find_checkpoint(run, run.step - 1)
        if ck is None:
            return None
    state = ck.load(trust=trust)
    run.restored_step = ck.step
    return state


# -- background runs ---------------------------------------------------------------------------
def launch(
    train: Callable[[Run], Any],
    *,
    total: int | None = None,
    executor: cf.Executor | None = None,
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
    """
    if not callable(train):
        raise UsageError(f"launch: train {train!r} must be callable as train(run)")
    if total is not None and (type(total) is not int or total < 0):
        raise UsageError(f"launch: total={total!r} must be a non-negative int or None")
    _check_executor(executor, "launch")
    spec = TrainSpec(train, total, executor)
    payload = _pack(train) if executor is not None else None  # before anything is created
    run = init_detached(**init_kwargs)
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
    meta["training"] = {
        "function": getattr(spec.fn, "__qualname__", repr(spec.fn)),
        "total": spec.total,
    }
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


def _body(run: Run, spec: TrainSpec) -> None:
    with run.capture_thread_output():  # what this thread prints belongs to this run (issue 13)
        _train(run, spec)


def _train(run: Run, spec: TrainSpec) -> None:
    try:
        spec.fn(run)
    except RunStopped:
        run.finish()
        return
    except BaseException:
        tb = traceback.format_exc()
        training = run.training_state
        if training is not None:
            training.error = tb
        run.write_output("stderr", tb)  # the run's output.log ends with the traceback
        if is_live(run.state):
            try:
                run.alert(TRAINING_FAILED, tb[-8000:], level="ERROR", wait_duration=0)
            finally:
                run.finish(exit_code=1)
        return
    run.finish(0)


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


# -- fork / rewind shortcuts (the calls behind the widgets' buttons) --------------------------
def _check_step(step: object) -> int:
    if type(step) is not int or step < 0:
        raise UsageError(f"step {step!r}: must be a non-negative int")
    return step


def init_detached(
    fork_at: ForkPoint | None = None, rewind_to: ForkPoint | None = None, **init_kwargs: Any
) -> Run:
    """``init`` that leaves ``nbrun.run`` as it was (for forks, rewinds and launches made on
    the side, e.g. from a widget button or a background thread). A fork or rewind passes its
    point as such (``fork_at`` / ``rewind_to``), not as ``"id?_step=N"`` text."""
    before = _registry.current_run()
    init_kwargs.setdefault("reinit", "create_new")
    try:
        return open_run(InitRequest.build(init_kwargs, fork_at, rewind_to))
    finally:
        keep = before is not None and is_live(before.state)
        _registry.set_current(before if keep else None)


def _in_store_of(view: RunView, init_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``init``'s keywords for a run made beside ``view`` (a fork, a rewind): on PostgreSQL
    also the run-files folder ``view`` reads, so its checkpoints are found there even after
    ``NBRUN_FILES`` changed in this process (issue 21, item 12)."""
    store = view.store
    if store.backend != "postgresql":
        return init_kwargs
    files = str(store.root)
    settings = init_kwargs.get("settings")
    if settings is None:
        settings = {"files_dir": files}
    elif isinstance(settings, Mapping):
        settings = {"files_dir": files, **settings}
    elif isinstance(settings, Settings) and settings.files_dir is None:
        settings = replace(settings, files_dir=files)
    return {**init_kwargs, "settings": settings}


def fork_run(
    view: RunView, step: int, config: Mapping[str, Any] | None = None, **init_kwargs: Any
) -> Run:
    """A fork of ``view`` at ``step`` with ``config`` overrides (a new run, not made current)."""
    step = _check_step(step)
    return init_detached(
        project=view.project,
        dir=view.root,
        fork_at=ForkPoint(view.id, step),
        config=dict(config or {}),
        **_in_store_of(view, init_kwargs),
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
        rewind_to=ForkPoint(view.id, step),
        config=dict(config or {}),
        **_in_store_of(view, init_kwargs),
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
    run.store.update_run(run.store_key, {"metadata": meta})


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


# -- training on an executor (other processes, other machines) ---------------------------------
TRAINING_LOST = "training lost"
"""Title of the alert recorded when a run's worker died (or the executor dropped its task)."""

_remote: dict[tuple[Path | str, str, str], RemoteRun] = {}


def _pack(fn: Callable[[Run], Any]) -> bytes:
    """The training function as bytes any worker can load: cloudpickle (a notebook's
    functions travel by value, as with Dask) when installed, else pickle (by reference)."""
    try:
        import cloudpickle  # noqa: PLC0415 - optional extra, loaded only for executors

        dumps: Callable[[Any], bytes] = cloudpickle.dumps
    except ImportError:  # pragma: no cover - the dask extra installs it
        dumps = pickle.dumps
    try:
        return dumps(fn)
    except Exception as exc:
        raise UsageError(
            f"executor: the training function {getattr(fn, '__qualname__', fn)!r} cannot be "
            f"pickled to send it to the executor ({type(exc).__name__}: {exc}); install "
            "cloudpickle (pip install 'nbrun[dask]') or define it in an importable module"
        ) from exc


def _dispatch(
    run: Run,
    spec: TrainSpec,
    restore_from: Checkpoint | None,
    meta: dict[str, Any],
    init_kwargs: dict[str, Any],
    payload: bytes,
) -> RemoteRun:
    executor = spec.executor
    assert executor is not None
    token = uuid.uuid4().hex
    kind = f"{type(executor).__module__}.{type(executor).__qualname__}"
    meta["training"] = {**meta["training"], "executor": kind}
    meta["executor"] = {"token": token, "kind": kind, "queued": time.time()}
    rec = run.hand_off(meta)
    store = run.store
    task = {
        "root": run.root,
        # the run-files folder this process uses for the store: the worker reads the run's
        # (and its parents') checkpoints there, whatever its own NBRUN_FILES (issue 21, item 12)
        "files": str(store.root) if store.backend == "postgresql" else None,
        "project": run.project,
        "id": run.id,
        "token": token,
        "payload": payload,
        "total": spec.total,
        "restore_step": restore_from.step if restore_from is not None else None,
        "settings": run.settings,
        "allow_val_change": bool(init_kwargs.get("allow_val_change")),
    }
    try:
        future = executor.submit(_remote_entry, task)
    except Exception as exc:
        _mark_lost(store, run.store_key, token, f"the executor refused the task: {exc!r}")
        raise UsageError(f"run {run.id}: the executor {kind} refused the task: {exc}") from exc
    handle = RemoteRun(store, rec, future, spec, token)
    _remote[_key(run)] = handle
    return handle


def _mark_lost(store: Store, key: int, token: str, text: str) -> None:
    """Mark a run whose worker died (or whose task never ran) crashed, if it is still live and
    still the hand-off ``token`` was made for (checked and written in one transaction)."""

    def crash(rec: RunRecord) -> dict[str, Any] | None:
        if not is_live(rec.state) or _token(rec) != token:
            return None
        return {"state": CRASHED, "updated": time.time()}

    if store.update_run_if(key, crash) is not None:
        store.add_alert(key, TRAINING_LOST, text[-8000:], "ERROR")


def _token(rec: RunRecord) -> str | None:
    """The token of the hand-off the run was last queued for (None: never handed off)."""
    return (rec.metadata.get("executor") or {}).get("token")


class _TakenElsewhere(RuntimeError):
    """Raised on a worker whose task lost the take-over of its run to another worker that is
    still alive (an executor that ran the task twice): this one leaves the run alone."""


def _owner_alive(store: Store, rec: RunRecord) -> bool:
    """Whether the process recorded as training ``rec`` is still there: on this host, its pid
    is alive; elsewhere, its heartbeat is younger than the run's ``stale_after`` (rule 29)."""
    if rec.host == _system.host_name():
        pid = int(rec.pid or 0)
        return pid == os.getpid() or process_is_alive(pid)
    return store.now() - rec.heartbeat <= recorded_stale_after(rec)


def _remote_entry(task: dict[str, Any]) -> dict[str, Any]:
    """What runs on the executor's worker: take the run over, restore, train, finish."""
    fn = pickle.loads(task["payload"])
    run = _adopt(task)
    spec = TrainSpec(fn, task["total"])
    try:
        step = task["restore_step"]
        ck = None if step is None else find_checkpoint(run, step)
        if step is not None and ck is None:
            raise UsageError(
                f"run {run.id}: no checkpoint at or before step {step} in its run files under "
                f"{run.store.root}; the worker must see the same files as the process that "
                "forked it"
            )
    except BaseException:
        run.finish(exit_code=1)
        raise
    training = TrainingState(spec, restore_from=ck)
    run.attach_training(training)
    _body(run, spec)
    return {
        "state": run.state,
        "step": run.step,
        "error": training.error,
        "worker": f"{_system.host_name()} pid {os.getpid()}",
    }


def _adopt(task: dict[str, Any]) -> Run:
    """The worker's side of a hand-off: open the store the run lives in, take the run over if
    it is still queued for this task (compare-and-set in the store: of two workers given the
    same task, one wins), and continue it here as a live :class:`Run`."""
    store = Store.open(task["root"], task.get("files"))
    found = store.get_run(task["project"], task["id"])
    if found is None:
        raise RunNotFoundError(
            f"run {task['project']}/{task['id']} is not in the store at {task['root']}"
        )
    seen: RunRecord = found
    settings: Settings = task["settings"]
    facts = _system.process_facts()  # outside the transaction: it may ask the GPU driver

    def take(rec: RunRecord) -> dict[str, Any] | None:
        nonlocal seen
        seen = rec  # the record the decision was made on, as the transaction read it
        if _token(rec) != task["token"] or rec.host != QUEUED_HOST:
            return None
        now = time.time()
        ex = rec.metadata["executor"]
        return {
            "pid": os.getpid(),
            "host": _system.host_name(),
            "heartbeat": now,
            "updated": now,
            "started": now,
            "metadata": {
                **_trained_here(rec.metadata, facts),
                "executor": {**ex, "worker": f"{_system.host_name()} pid {os.getpid()}"},
                STALE_AFTER_KEY: settings.stale_after,
            },
        }

    taken = store.update_run_if(found.key, take)
    if taken is None:
        _refuse(store, task, seen)
    rec: RunRecord = taken  # type: ignore[assignment]
    step = last_step(store, rec) + 1
    history_state = state_at(store, rec, step - 1) if step > 0 else empty_state()
    summary = _summary_for(rec.metrics, history_state)
    run = _make_run(store, rec, summary, settings, task["allow_val_change"], history_state)
    if rec.stop_requested:  # stopped while it waited in the executor's queue
        run.request_stop()
    return run


#: metadata keys that say where a run was made (kept in ``created_by`` when a worker trains it)
_CREATOR_KEYS = (*_system.PROCESS_KEYS, "command", "notebook")


def _trained_here(meta: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """A run's metadata once this worker trains it: the host, pid and hardware are this
    process's (``facts``); what the process that made the run recorded moves to
    ``created_by`` (kept from an earlier hand-off), so the overview says where it trained and
    where it was made (issue 21, item 13)."""
    created = meta.get("created_by") or {k: meta[k] for k in _CREATOR_KEYS if k in meta}
    out = {k: v for k, v in meta.items() if k not in _system.PROCESS_KEYS}
    return {**out, **facts, "created_by": created}


def _refuse(store: Store, task: dict[str, Any], rec: RunRecord) -> None:
    """Raise why this task does not take ``rec`` over (it is not queued for this task)."""
    if _token(rec) != task["token"]:
        raise UsageError(
            f"run {task['id']} was handed to an executor again after this task was submitted; "
            "this task leaves it alone"
        )
    owner = f"pid {rec.pid} on {rec.host}"
    if not is_live(rec.state):
        raise _TakenElsewhere(
            f"run {task['id']} was taken over by the worker {owner} and has ended "
            f"({rec.state}); a run is not trained twice: this task leaves it alone"
        )
    if _owner_alive(store, rec):
        raise _TakenElsewhere(
            f"run {task['id']} is being trained by the worker {owner}, which took it over "
            "first (the executor ran this task twice); a run is not trained twice: this task "
            "leaves it alone"
        )
    # the executor runs the task again: the worker that took the run over died
    text = (
        f"run {task['id']}: the worker training it ({owner}) died; the executor retried the "
        "task, but a run is not trained twice: it is marked crashed (fork or rewind it from its "
        "last checkpoint to continue)"
    )
    _mark_lost(store, rec.key, task["token"], text)
    raise RuntimeError(text)


class RemoteRun(StoredRun):
    """A launched run, fork or rewind that trains on an executor (``executor=``): a stored
    view of the run (it reads the store, so it follows the worker's rows), plus the handle on
    its task: :meth:`wait`, :attr:`error`, :attr:`training`, :attr:`total` (its dashboard's
    progress bar, as for a fork on a thread), :meth:`stop` (through the store, honoured at the
    worker's next ``log``). If the worker dies the run is marked ``crashed``
    and :attr:`error` says why."""

    def __init__(
        self, store: Store, rec: RunRecord, future: cf.Future[Any], spec: TrainSpec, token: str
    ) -> None:
        super().__init__(store, rec)
        self.future = future
        """The executor's future of the training task."""
        self._spec = spec
        self._token = token
        self._error: str | None = None
        self._watcher = threading.Thread(
            target=self._watch, name=f"nbrun-remote-{self.id}", daemon=True
        )
        self._watcher.start()

    def _watch(self) -> None:
        while True:
            done, _ = cf.wait([self.future], timeout=1.0)
            if done:
                break
            try:  # queued: the heartbeat is ours until a worker takes the run over
                rec = self._store.get_run_by_key(self._key)  # a read: no write lock when taken
                if rec is not None and self._beat(rec) is not None:
                    self._store.update_run_if(self._key, self._beat)
            except Exception:  # pragma: no cover - a store hiccup: try again next second
                continue
        try:
            self._settle()
        finally:
            self._store.close_thread_connection()

    def _beat(self, rec: RunRecord) -> dict[str, Any] | None:
        if rec.host == QUEUED_HOST and _token(rec) == self._token:
            return {"heartbeat": time.time()}
        return None

    def _settle(self) -> None:
        fut = self.future
        exc: BaseException | None
        exc = cf.CancelledError("the executor cancelled the task") if fut.cancelled() else None
        if exc is None:
            exc = fut.exception()
        if exc is None:
            result = fut.result()
            self._error = result.get("error") if isinstance(result, dict) else None
            return
        if isinstance(exc, _TakenElsewhere):
            # the executor ran the task twice and this future's copy lost the take-over: the
            # winner trains the run, so follow it through the store until it ends
            self._follow()
            return
        self._error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            _mark_lost(self._store, self._key, self._token, self._error)
        except Exception as err:  # pragma: no cover - the store is gone as well
            self._error += f"\n(could not mark the run crashed: {err!r})"

    def _follow(self) -> None:
        while True:
            rec = self._store.get_run_by_key(self._key)
            if rec is None or not is_live(effective_state(self._store, rec)):
                return
            time.sleep(0.2)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the training task ends (and its outcome is recorded); False on
        timeout."""
        self._watcher.join(timeout)
        return not self._watcher.is_alive()

    @property
    def training(self) -> bool:
        """Whether the training task is still queued or running."""
        return self._watcher.is_alive()

    @property
    def error(self) -> str | None:
        """The traceback of the training function if it raised, or of the executor's error if
        the worker died (the run is then ``crashed``)."""
        return self._error or super().error

    @property
    def total(self) -> int | None:
        """Total steps announced to ``nbrun.launch`` (for progress bars), if any."""
        return self._spec.total


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
    return cast("pd.DataFrame", df.reset_index(drop=True))


# -- the actions the read and run layers reach through _actions --------------------------------
_actions.register("fork", fork)
_actions.register("rewind", rewind)
_actions.register("fork_many", fork_many)
_actions.register("checkpoints", checkpoints)
_actions.register("save_checkpoint", save_checkpoint)
_actions.register("restore", restore)
