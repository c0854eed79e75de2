"""Run states: one name per state, and which of them mean "still running".

``run.state`` is a plain ``str`` as in W&B. The engine compares against the constants below;
:class:`RunState` is the public enumeration of the same names (``RunState(run.state).is_live``).
"""

from __future__ import annotations

from enum import Enum

RUNNING = "running"
"""Logging; its process is alive."""
PREEMPTING = "preempting"
"""Still running, but marked as about to be preempted (``run.mark_preempting()``)."""
FINISHED = "finished"
"""Ended with exit code 0."""
FAILED = "failed"
"""Ended with a non-zero exit code (or its training function raised)."""
CRASHED = "crashed"
"""Its process died without finishing it (what a reader reports)."""
KILLED = "killed"
"""Stopped (``run.stop()``, the Stop button, or another process)."""

LIVE_STATES = frozenset({RUNNING, PREEMPTING})


def is_live(state: str) -> bool:
    """Whether ``state`` (a state name) means the run is still running."""
    return state in LIVE_STATES


class RunState(str, Enum):
    """The states a run can be in (rule 29); members compare equal to ``run.state``."""

    RUNNING = RUNNING
    PREEMPTING = PREEMPTING
    FINISHED = FINISHED
    FAILED = FAILED
    CRASHED = CRASHED
    KILLED = KILLED

    @property
    def is_live(self) -> bool:
        """Whether a run in this state is still running (``running`` or ``preempting``)."""
        return self.value in LIVE_STATES

    def __str__(self) -> str:
        return self.value
