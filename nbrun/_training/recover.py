"""Recovery by rewind (``launch(recover=nbrun.Recover(...))``, rules 60-61).

How a divergence is seen, and why this way. ``Run.log`` has a C fast path for its common case
(a dict of floats), and it must not get slower for runs that do not ask for recovery. So the
check is not a test inside ``log``: it is a per-run observer, installed only on runs launched
with ``recover=`` (``Run.check_rows``, the same hook live feeds use). A run with an observer
takes ``log``'s Python path (the C path already declines runs with feeds, with the one check
it always made), and the observer looks at the watched key of each written row only; runs
without ``recover`` pay nothing, not even an attribute test. The other designs cost more:
a check in ``log`` itself is paid by every run; polling the history from another thread sees
the divergence late (more diverged steps) and cannot stop the user's loop where it is.

When the observer sees NaN/inf (``nan=True``) or a spike (``spike=k``: above ``k`` times the
median of the last ``window`` values), it raises :class:`Diverged`, a private signal (a
``BaseException``, so a training loop's ``except Exception`` does not swallow it), out of the
user's ``run.log`` call, once the row is written (the diverged row is part of the history
that the rewind then archives). The training wrapper (``body._body``) catches it, and
:func:`recover_from` rewinds the run to its last checkpoint before the bad step (the rows
after it are archived, as with every rewind; when the first row after a restore diverges, the
restored checkpoint itself holds a diverged state and the recovery goes to the checkpoint
before it), multiplies the ``update`` factors into the config, records an alert naming the
metric, value and step, and the wrapper calls ``train`` again with the rewound run, which
restores that checkpoint. Everything happens in the thread
(or executor worker) that trains the run: on an executor the worker detects and rewinds, and
the caller's :class:`~nbrun._training.remote.RemoteRun` follows the run through the store.
After ``retries`` recoveries, the next divergence fails the run with a ``training failed``
alert saying so.
"""

from __future__ import annotations

import math
import numbers
import statistics
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._lifecycle import Recover, TrainSpec
from .._run import Run
from .._views import TRAINING_FAILED
from ..errors import UsageError
from .detached import rewind_run
from .state import _restore_note, find_checkpoint, training_note

RECOVERED = "recovered by rewind"
"""Title of the alert recorded each time a run is rewound after a divergence."""

#: metadata of the diverged run that the rewound run keeps (where it was made, its hand-off)
_CARRIED = ("executor", "created_by")


@dataclass(frozen=True)
class Divergence:
    """What the observer saw: the metric's value at a step, and why it is a divergence."""

    metric: str
    value: float
    step: int
    why: str
    """``"not finite"`` or ``"spike"``."""
    median: float | None = None
    """The recent median a spike was measured against."""

    def describe(self) -> str:
        """``loss=nan at step 37`` (with the median a spike exceeded)."""
        text = f"{self.metric}={self.value!r} at step {self.step}"
        if self.median is not None:
            ratio = self.value / self.median
            text += f" (over {ratio:.3g} times its recent median {self.median:.6g})"
        return text

    def as_json(self) -> dict[str, Any]:
        """For the run's metadata (NaN and inf as text: JSON has no such numbers)."""
        value: float | str = self.value if math.isfinite(self.value) else repr(self.value)
        return {"metric": self.metric, "value": value, "step": self.step, "why": self.why}


class Diverged(BaseException):
    """The private signal raised out of ``run.log`` when the watched metric diverged; the
    training wrapper catches it (a ``BaseException``: ``except Exception`` in a training loop
    lets it through)."""

    def __init__(self, found: Divergence) -> None:
        super().__init__(f"diverged: {found.describe()}")
        self.found = found


def _as_float(value: object) -> float | None:
    """The logged value as a float, or None when it is not a single number."""
    if type(value) is float:
        return value
    if isinstance(value, bool) or isinstance(value, str | bytes):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "__float__"):  # a 0-d array or tensor
        try:
            return float(value)
        except Exception:
            return None
    return None


class Guard:
    """The per-run observer: called with every written row of a run launched with
    ``recover=``; it raises :class:`Diverged` in the training thread when the watched metric
    diverges (a divergence seen in another thread is raised at the training thread's next
    written row, or when ``train`` returns)."""

    def __init__(self, run: Run, recover: Recover) -> None:
        self._run = run
        self._metric = recover.metric
        self._nan = recover.nan
        self._spike = recover.spike
        self._recent: deque[float] = deque(maxlen=recover.window)
        self._min = min(recover.window, 5)
        self._thread = threading.get_ident()
        self._armed = True
        self.found: Divergence | None = None
        """A divergence seen and not yet raised (logged from another thread)."""

    def disarm(self) -> None:
        """Stop raising (before the wrapper finishes or rewinds the run)."""
        self._armed = False

    def __call__(self, row: dict[str, Any]) -> None:
        if not self._armed:
            return
        if self.found is None:
            value = row.get(self._metric)
            if value is None:
                return
            number = _as_float(value)
            if number is None:
                return
            self.found = self._judge(number, int(row.get("_step", self._run.step - 1)))
            if self.found is None:
                return
        if threading.get_ident() == self._thread and not self._run.stop_requested:
            found = self.found
            self.found = None
            self._armed = False
            raise Diverged(found)

    def _judge(self, value: float, step: int) -> Divergence | None:
        if not math.isfinite(value):
            return Divergence(self._metric, value, step, "not finite") if self._nan else None
        recent = self._recent
        if self._spike is not None and len(recent) >= self._min:
            median = statistics.median(recent)
            if median > 0 and value > self._spike * median:
                return Divergence(self._metric, value, step, "spike", median)
        recent.append(value)
        return None


def watch(run: Run, recover: Recover | None) -> Guard | None:
    """Install the observer on ``run`` when it recovers (None: nothing is installed)."""
    if recover is None:
        return None
    guard = Guard(run, recover)
    run.check_rows(guard)
    return guard


def check_recover(recover: object, config: object) -> Recover | None:
    """``launch(recover=)``: a :class:`Recover` or None; with a config dict given to launch,
    every ``update`` key must be a numeric key of it."""
    if recover is None:
        return None
    if not isinstance(recover, Recover):
        raise UsageError(
            f"launch: recover={recover!r} must be nbrun.Recover(...) or None, e.g. "
            "recover=nbrun.Recover(metric='loss', update={'lr': 0.5})"
        )
    if isinstance(config, Mapping):  # else (none, an object): checked on the new run
        problem = _update_problem(config, recover)
        if problem is not None:
            raise UsageError(f"launch: {problem}")
    return recover


def check_run_config(run: Run, recover: Recover | None) -> None:
    """After the run exists (no config given to launch, or another object than a dict, e.g.
    a sweep's trial or an argparse namespace): the same check on the run's config; a bad key
    fails the new run and raises."""
    if recover is None:
        return
    problem = _update_problem(run.config.as_dict(), recover)
    if problem is not None:
        run.alert(TRAINING_FAILED, problem, level="ERROR", wait_duration=0)
        run.finish(exit_code=1)
        raise UsageError(f"launch: {problem}")


def _update_problem(config: Mapping[str, Any], recover: Recover) -> str | None:
    for key in recover.update:
        if key not in config:
            return (
                f"Recover(update=...) key {key!r} is not in the run's config (keys: "
                f"{sorted(config)}); name a numeric config key, or add {key!r} to config="
            )
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return (
                f"Recover(update=...) key {key!r}: the config value {value!r} is not a number; "
                "the update multiplies numeric config values only"
            )
    return None


def _updated(config: Mapping[str, Any], recover: Recover) -> tuple[dict[str, Any], str | None]:
    problem = _update_problem(config, recover)
    if problem is not None:
        return {}, problem
    return {k: config[k] * f for k, f in recover.update.items()}, None


def _give_up(run: Run, text: str) -> None:
    """Fail the run with ``text`` as its ``training failed`` alert (and its error)."""
    training = run.training_state
    if training is not None:
        training.error = text
    run.write_output("stderr", text + "\n")
    run.alert(TRAINING_FAILED, text, level="ERROR", wait_duration=0)
    run.finish(exit_code=1)


def recover_from(run: Run, spec: TrainSpec, found: Divergence, done: int) -> Run | None:
    """Rewind ``run`` after ``found`` (its ``done``-th recovery so far): the rewound run, with
    the same training attached and the updated config, or None when the run failed instead
    (retries used up, no checkpoint before the bad step, a config value not numeric)."""
    recover = spec.recover
    assert recover is not None
    what = found.describe()
    if done >= recover.retries:
        _give_up(
            run,
            f"training diverged: {what}; gave up after {done} recoveries by rewind "
            f"(Recover(retries={recover.retries})). Rewind it by hand from an earlier "
            "checkpoint, with a smaller update factor, or raise retries",
        )
        return None
    training = run.training_state
    limit = found.step - 1
    restored = training.restore_from if training is not None else None
    if restored is not None and found.step == restored.step + 1:
        limit = restored.step - 1  # its first row diverged: the checkpoint itself is bad
    ck = find_checkpoint(run, limit)
    if ck is None:
        _give_up(
            run,
            f"training diverged: {what}, and run {run.id} has no checkpoint before step "
            f"{limit + 1} to rewind to; call run.checkpoint(state) during training",
        )
        return None
    before = run.config.as_dict()
    config, problem = _updated(before, recover)
    if problem is not None:
        _give_up(run, f"training diverged: {what}; cannot recover: {problem}")
        return None
    carried = {k: run.metadata[k] for k in _CARRIED if k in run.metadata}
    new = rewind_run(run, ck.step, config, settings=run.settings)
    changes = {k: [before[k], v] for k, v in config.items()}
    note = {**found.as_json(), "recovery": done + 1, "checkpoint_step": ck.step}
    meta = {
        **new.metadata,
        **carried,
        "training": training_note(spec),
        "restore": _restore_note(ck.step, ck, config),
        "recovered": {**note, "config": changes},
    }
    new.metadata = meta
    new.store.update_run(new.store_key, {"metadata": meta})
    changed = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items()) or "no change"
    new.alert(
        RECOVERED,
        f"{what}: rewound to the checkpoint at step {ck.step} (recovery {done + 1} of "
        f"{recover.retries}); config {changed}",
        level="WARN",
        wait_duration=0,
    )
    if training is not None:
        training.restore_from = ck
        new.attach_training(training)
    return new
