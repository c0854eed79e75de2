"""What runs a training function, on a thread of this process or on an executor's worker:
``train(run)`` with the thread's output captured, and the run's end from how it returned
(finished, killed when stopped, failed with the traceback as an alert)."""

from __future__ import annotations

import traceback

from .._lifecycle import TrainSpec
from .._run import Run
from .._states import is_live
from .._views import TRAINING_FAILED
from ..errors import RunStopped


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
