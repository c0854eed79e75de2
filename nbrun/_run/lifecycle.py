"""What training needs from a run (attach, hand off, request a stop, detach) and the
background training's handle (``checkpoint``, ``restore``, ``wait``): methods of
:class:`~nbrun._run.run.Run`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from .. import _actions, _registry
from .._lifecycle import QUEUED_HOST, TrainingState
from .._records import RunRecord
from .._states import LIVE_STATES
from ..errors import UsageError
from .fields import LiveRunFields

if TYPE_CHECKING:
    from .._checkpoints import Checkpoint


class RunLifecycle(LiveRunFields):
    """The lifecycle methods training drives, and the background training handle."""

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

    # -- background training (implemented in _training/, reached through _actions) ---------
    def checkpoint(self, obj: Any, serializer: Any = None) -> Checkpoint:
        """Save training state as of the last written row: called when ``run.step == S`` it
        belongs to step ``S - 1``. Written atomically into the run's folder; pickled, or
        ``torch.save``-d when it holds torch objects, or with ``serializer`` ("pickle",
        "torch", or an object with ``name, suffix, dump(obj, f), load(f)``)."""
        return cast("Checkpoint", _actions.get("save_checkpoint")(self, obj, serializer))

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
