"""Training on an executor (other processes, other machines): the run record is made by the
caller, handed off with a token, taken over by a worker (compare-and-set in the store), and
followed by a :class:`RemoteRun`; a dead worker's run is marked crashed."""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import _system
from .._api import _make_run, _summary_for
from .._checkpoints import Checkpoint
from .._history import empty_state
from .._lifecycle import QUEUED_HOST, TrainingState, TrainSpec
from .._lineage import last_step, state_at
from .._records import RunRecord
from .._run import Run, Settings
from .._states import CRASHED, is_live
from .._store import Store
from .._views import (
    STALE_AFTER_KEY,
    StoredRun,
    effective_state,
    process_is_alive,
    recorded_stale_after,
)
from ..errors import RunNotFoundError, UsageError
from .body import _body
from .state import _key, find_checkpoint

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
        "recover": spec.recover,
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
    spec = TrainSpec(fn, task["total"], recover=task.get("recover"))
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
    run = _body(run, spec)  # after recoveries by rewind: the rewound run
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
