"""What runs a training function, on a thread of this process or on an executor's worker:
``train(run)`` with the thread's output captured, and the run's end from how it returned
(finished, killed when stopped, failed with the traceback as an alert). A run launched with
``recover=`` is watched while ``train`` runs; a divergence rewinds it and ``train`` is called
again with the rewound run (``recover``)."""

from __future__ import annotations

import traceback

from .._lifecycle import TrainSpec
from .._run import Run
from .._states import is_live
from .._views import TRAINING_FAILED
from ..errors import RunStopped
from .recover import Diverged, Divergence, Guard, recover_from, watch


def _body(run: Run, spec: TrainSpec) -> Run:
    """Train ``run``; returns the run as it ended (after recoveries by rewind, the rewound
    run: same id, a new live object)."""
    done = 0
    while True:
        guard = watch(run, spec.recover)
        with run.capture_thread_output():  # what this thread prints belongs to this run (issue 13)
            found = _train(run, spec, guard)
        if found is None:
            return run
        try:
            again = recover_from(run, spec, found, done)
        except BaseException:  # the rewind itself failed (the store): the run fails with why
            _failed(run, traceback.format_exc())
            return run
        if again is None:
            return run
        run, done = again, done + 1


def _train(run: Run, spec: TrainSpec, guard: Guard | None) -> Divergence | None:
    """Call ``train(run)`` and end the run from how it returned; a divergence (``recover=``)
    leaves the run live and is returned for the caller to rewind."""
    try:
        try:
            spec.fn(run)
        finally:
            if guard is not None:
                guard.disarm()  # finishing writes the pending row: no signal from there
    except Diverged as sig:
        if not run.stop_requested:
            return sig.found
        run.finish()
        return None
    except RunStopped:
        run.finish()
        return None
    except BaseException:
        _failed(run, traceback.format_exc())
        return None
    if guard is not None and guard.found is not None and is_live(run.state):
        return guard.found  # seen in a row logged from another thread
    run.finish(0)
    return None


def _failed(run: Run, tb: str) -> None:
    training = run.training_state
    if training is not None:
        training.error = tb
    run.write_output("stderr", tb)  # the run's output.log ends with the traceback
    if is_live(run.state):
        try:
            run.alert(TRAINING_FAILED, tb[-8000:], level="ERROR", wait_duration=0)
        finally:
            run.finish(exit_code=1)
