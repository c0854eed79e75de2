"""Population-based training on forks (issue 23, rules 58-59).

``nbrun.pbt(train, configs, ...)`` launches ``train`` once per config, as ``nbrun.launch``
does. Each member pauses at every ``interval`` boundary: its ``run.checkpoint(state)`` at the
first checkpoint at or past the boundary saves the checkpoint, reports the member's metric
value and waits there for a decision (the hook lives on a thin wrapper of the run handed to
``train``: ``log`` is the run's own bound method, so the hot path is untouched). Once every
live member has arrived, the controller (the calling thread) ranks them; the bottom
``quantile`` end ``killed`` and are replaced by forks (``nbrun``'s own ``fork``: the donor's
latest checkpoint, its config with ``perturb`` applied) of top-quantile members; the rest go
on at once. At ``total`` steps every member finishes.

Members on threads wait on a condition variable (no polling at all); members on an executor
wait on two small files in their own run folder (``pbt/arrive-K.json`` written by the member,
``pbt/decide-K.json`` by the controller), polled with a backoff only while paused at a
boundary, so nothing runs in the training loop.

Why pause inside ``checkpoint`` rather than stop every member at each boundary and continue
it (resume or rewind): the boundary needs a checkpoint anyway (it is what a fork restores), a
paused member keeps its live run, threads and in-memory state, and the family tree then holds
exactly the exploits: one run per member between two exploits, no run restarted
``total / interval`` times, no checkpoint restored by the members that go on.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._lifecycle import QUEUED_HOST
from ._run import Run
from ._training import RemoteRun, fork, launch
from ._views import RunView, run_path
from .errors import RunStopped, UsageError

CONTINUE = "continue"
STOP = "stop"
DONE = "done"

#: launch keywords a fork takes from its donor instead
_NOT_FOR_FORKS = ("dir", "project", "recover")

#: init keywords pbt sets itself for every member
_OWN_KWARGS = ("config", "name", "id", "fork_from", "resume_from", "resume", "total")


class _Done(BaseException):
    """Raised in a member's ``checkpoint`` at ``total``: its training function ends there."""


# -- checks --------------------------------------------------------------------------------------
def _check_args(
    train: object,
    configs: object,
    metric: object,
    goal: object,
    interval: object,
    total: object,
    perturb: object,
    quantile: object,
    executor: object,
    seed: object,
    init_kwargs: Mapping[str, Any],
) -> list[dict[str, Any]]:
    if not callable(train):
        raise UsageError(f"pbt: train {train!r} must be callable as train(run)")
    if not isinstance(metric, str) or not metric:
        raise UsageError(f"pbt: metric={metric!r} must be the non-empty name of a logged key")
    if goal not in ("minimize", "maximize"):
        raise UsageError(f"pbt: goal={goal!r}; allowed: 'minimize', 'maximize'")
    for name, value in (("interval", interval), ("total", total)):
        if type(value) is not int or value <= 0:
            raise UsageError(f"pbt: {name}={value!r} must be a positive int (steps)")
    assert isinstance(interval, int) and isinstance(total, int)
    if interval > total:
        raise UsageError(
            f"pbt: interval={interval} is longer than total={total}: no member would ever be "
            "exploited; pass an interval of at most total steps"
        )
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)):
        raise UsageError(f"pbt: quantile={quantile!r} must be a number in (0, 0.5]")
    if not 0 < quantile <= 0.5:
        raise UsageError(
            f"pbt: quantile={quantile!r} is outside (0, 0.5]: it is the fraction of the "
            "population replaced (and the fraction that donates) at each boundary"
        )
    if seed is not None and type(seed) is not int:
        raise UsageError(f"pbt: seed={seed!r} must be an int or None")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise UsageError(
            f"pbt: executor={executor!r} must be a concurrent.futures.Executor or None"
        )
    clash = sorted(k for k in init_kwargs if k in _OWN_KWARGS)
    if clash:
        raise UsageError(
            f"pbt: {', '.join(clash)} cannot be passed: pbt sets each member's config, name and "
            "id itself (pass the configs as `configs`, the steps as `total`)"
        )
    members = _check_configs(configs)
    _check_perturb(perturb, members)
    return members


def _check_configs(configs: object) -> list[dict[str, Any]]:
    if isinstance(configs, (str, bytes, Mapping)) or not isinstance(configs, Sequence):
        raise UsageError(f"pbt: configs={configs!r} must be a list of config dicts")
    if not configs:
        raise UsageError("pbt: configs is empty; pass one config dict per population member")
    out = []
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, Mapping):
            raise UsageError(f"pbt: configs[{i}]={cfg!r} must be a dict")
        out.append(dict(cfg))
    return out


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_perturb(perturb: object, configs: list[dict[str, Any]]) -> None:
    if not isinstance(perturb, Mapping) or not perturb:
        raise UsageError(
            f"pbt: perturb={perturb!r} must be a non-empty dict: key -> a tuple of factors "
            "(multiply, e.g. {'lr': (0.8, 1.25)}) or a list of values (resample, e.g. "
            "{'opt': ['adam', 'sgd']})"
        )
    for key, how in perturb.items():
        for i, cfg in enumerate(configs):
            if key not in cfg:
                raise UsageError(
                    f"pbt: perturb key {key!r} is not in configs[{i}] (keys: "
                    f"{sorted(cfg)}); perturb only keys every config has"
                )
        if isinstance(how, tuple):
            if not how:
                raise UsageError(f"pbt: perturb[{key!r}] is an empty tuple of factors")
            for f in how:
                if not _is_number(f) or not math.isfinite(f) or f <= 0:
                    raise UsageError(
                        f"pbt: perturb[{key!r}] factor {f!r} is not a positive finite number; "
                        "factors multiply the value, e.g. (0.8, 1.25)"
                    )
            for i, cfg in enumerate(configs):
                if not _is_number(cfg[key]):
                    raise UsageError(
                        f"pbt: perturb[{key!r}] multiplies by factors, but configs[{i}][{key!r}]"
                        f" = {cfg[key]!r} is not a number; give a list of values to resample"
                    )
        elif isinstance(how, list):
            if not how:
                raise UsageError(f"pbt: perturb[{key!r}] is an empty list of values")
        else:
            raise UsageError(
                f"pbt: perturb[{key!r}]={how!r}: give a tuple of factors (multiply) or a list "
                "of values (resample)"
            )


def boundaries(interval: int, total: int) -> list[int]:
    """The steps (rows trained) at which members meet: every ``interval``, and ``total``."""
    out = list(range(interval, total, interval))
    return [*out, total]


def first_after(bounds: Sequence[int], step: int) -> int:
    """The index of the first boundary a member starting at ``run.step == step`` meets."""
    return sum(1 for b in bounds if b <= step)


def quantile_count(n: int, quantile: float) -> int:
    """How many members are replaced (and how many donate) among ``n``: Ray Tune's rule,
    ``ceil(n * quantile)`` but at most half of them."""
    k = math.ceil(n * quantile)
    return min(k, n // 2)


def perturbed(
    config: Mapping[str, Any], perturb: Mapping[str, Any], rng: random.Random
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The perturbed values of ``config`` (only the perturbed keys) and what was done to each
    (``{"from", "to", "factor"}`` or ``{"from", "to", "choice"}``); keys in sorted order so a
    seed gives one sequence of draws."""
    values: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    for key in sorted(perturb):
        how = perturb[key]
        old = config[key]
        if isinstance(how, tuple):
            factor = rng.choice(how)
            new = old * factor
            if isinstance(old, int):
                new = round(new)
            notes[key] = {"from": old, "to": new, "factor": factor}
        else:
            new = rng.choice(how)
            notes[key] = {"from": old, "to": new, "choice": True}
        values[key] = new
    return values, notes


# -- the meeting point between members and the controller --------------------------------------
class _Local:
    """Members on threads of this process: a condition variable, nothing polled."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._arrived: dict[tuple[str, int], tuple[int, Any]] = {}
        self._decided: dict[tuple[str, int], str] = {}
        self._exited: dict[str, tuple[int, Any]] = {}

    def arrive(self, run: Run, k: int, step: int, value: Any) -> str:
        key = (run.id, k)
        with self._cond:
            self._arrived[key] = (step, value)
            self._cond.notify_all()
            # a stop from elsewhere (the dashboard, Api().run(...).stop()) ends a paused member
            while not self._cond.wait_for(lambda: key in self._decided, timeout=0.5):
                if run.stop_requested:
                    return STOP
            return self._decided.pop(key)

    def exit(self, run: Run, step: int, value: Any) -> None:
        with self._cond:
            self._exited[run.id] = (step, value)
            self._cond.notify_all()

    def gather(self, members: Sequence[_Member], k: int) -> dict[str, Report]:
        """Wait until each member has arrived at boundary ``k`` or its ``train`` has ended."""

        def ready() -> bool:
            return all((m.id, k) in self._arrived or m.id in self._exited for m in members)

        with self._cond:
            while not self._cond.wait_for(ready, timeout=1.0):
                for m in members:  # its thread ended unheard: recover= gave up (rule 61)
                    if not m.view.training and (m.id, k) not in self._arrived:
                        self._exited.setdefault(m.id, (-1, None))
            out = {}
            for m in members:
                if (m.id, k) in self._arrived:
                    out[m.id] = Report(True, *self._arrived.pop((m.id, k)))
                else:
                    out[m.id] = Report(False, *self._exited[m.id])
            return out

    def decide(self, member: _Member, k: int, decision: str) -> None:
        with self._cond:
            self._decided[(member.id, k)] = decision
            self._cond.notify_all()


class _Files:
    """Members on an executor: JSON files in each member's run folder (which the worker
    shares, as it does the checkpoints), polled with a backoff only while paused."""

    @staticmethod
    def _folder(view: RunView) -> Path:
        return Path(run_path(view.store, view.project, view.id)) / "pbt"

    @staticmethod
    def _write(path: Path, obj: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(obj), encoding="utf-8")
        os.replace(tmp, path)

    def arrive(self, run: Run, k: int, step: int, value: Any) -> str:
        run.flush()  # a fork of this member reads its rows from the store
        folder = self._folder(run)
        self._write(folder / f"arrive-{k}.json", {"step": step, "value": value})
        path = folder / f"decide-{k}.json"
        wait = 0.001
        while not path.exists():
            if run.stop_requested:  # stopped through the store (the controller is gone?)
                return STOP
            time.sleep(wait)
            wait = min(wait * 2, 0.02)
        return str(json.loads(path.read_text(encoding="utf-8")))

    def exit(self, run: Run, step: int, value: Any) -> None:
        run.flush()  # its last rows are in the store before the controller reads them
        self._write(self._folder(run) / "exit.json", {"step": step, "value": value})

    def gather(self, members: Sequence[_Member], k: int) -> dict[str, Report]:
        out: dict[str, Report] = {}
        wait = 0.001
        stall = _Stall(k)
        while len(out) < len(members):
            for m in members:
                if m.id in out:
                    continue
                folder = self._folder(m.view)
                arrived = folder / f"arrive-{k}.json"
                exited = folder / "exit.json"
                if arrived.exists():
                    got = json.loads(arrived.read_text(encoding="utf-8"))
                    out[m.id] = Report(True, got["step"], got["value"])
                    wait = 0.001
                elif exited.exists() or not _training(m.view):
                    # its train ended (exit.json is written before its task completes), or
                    # its worker died (no exit.json: the run is marked crashed)
                    got = json.loads(exited.read_text(encoding="utf-8")) if exited.exists() else {}
                    out[m.id] = Report(False, got.get("step", -1), got.get("value"))
            if len(out) < len(members):
                stall.check(members, out)
                time.sleep(wait)
                wait = min(wait * 2, 0.02)
        return out

    def decide(self, member: _Member, k: int, decision: str) -> None:
        self._write(self._folder(member.view) / f"decide-{k}.json", decision)


def _training(view: RunView) -> bool:
    return view.training if isinstance(view, RemoteRun) else True


STALL_GRACE = 30.0
"""Seconds members may stay queued on the executor while others wait at a boundary before
``pbt`` says the executor has too few workers (every paused member holds one)."""


class _Stall:
    """Members still queued on the executor while others are paused at the boundary hold
    every worker the queued ones need: past :data:`STALL_GRACE` that is an error, not a
    hang. Looks at the records (the store) at most once a second."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.since: float | None = None
        self.looked = 0.0

    def check(self, members: Sequence[_Member], out: Mapping[str, Report]) -> None:
        now = time.monotonic()
        if now - self.looked < 1.0:
            return
        self.looked = now
        missing = [m for m in members if m.id not in out]
        paused = any(r.arrived for r in out.values())
        if not paused or any(m.view.record().host != QUEUED_HOST for m in missing):
            self.since = None
            return
        self.since = self.since or now
        if now - self.since > STALL_GRACE:
            names = ", ".join(str(m.view.name) for m in missing)
            raise UsageError(
                f"pbt: members {names} are still queued on the executor after "
                f"{STALL_GRACE:.0f} s while the others wait at boundary {self.k + 1}: members "
                "wait for each other, so the executor needs a free worker per member; give it "
                "at least as many workers as configs (ProcessPoolExecutor(max_workers=N), more "
                "Dask workers or threads_per_worker)"
            )


# -- the member side: the run handed to train ---------------------------------------------------
class MemberRun:
    """The run a PBT member's ``train`` gets: the launched run itself for everything
    (attributes and methods are the run's; ``log`` is its own bound method), except that
    ``checkpoint`` also meets the population at each boundary (rule 58)."""

    def __init__(self, run: Run, plan: Plan) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_plan", plan)
        start = max(first_after(plan.bounds, run.step), plan.met.get(run.id, 0))
        object.__setattr__(self, "_next", start)
        object.__setattr__(self, "log", run.log)  # the hot path: no wrapper in between

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._run, name, value)

    def __repr__(self) -> str:
        return f"<pbt member {self._run!r}>"

    def checkpoint(self, obj: Any, serializer: Any = None) -> Any:
        """Save ``obj`` like :meth:`Run.checkpoint`; at a boundary, report the metric and wait
        for the population: go on, or end (replaced: ``killed``; at ``total``: finished)."""
        run: Run = self._run
        plan: Plan = self._plan
        ck = run.checkpoint(obj, serializer)
        bounds = plan.bounds
        while self._next < len(bounds) and run.step >= bounds[self._next]:
            k = self._next
            decision = plan.channel.arrive(run, k, run.step, _metric_value(run, plan.metric))
            object.__setattr__(self, "_next", k + 1)
            plan.met[run.id] = k + 1
            if decision == STOP:
                run.stop()
                raise RunStopped(f"pbt: run {run.id} was replaced at step {run.step}")
            if decision == DONE:
                raise _Done
        return ck


@dataclass
class Plan:
    """What a member's training needs to know: the user's function, the boundaries, the
    metric and where to meet. Picklable for executors (the meeting point is then files)."""

    train: Callable[[Any], Any]
    bounds: list[int]
    metric: str
    channel: Any = field(default=None)
    met: dict[str, int] = field(default_factory=dict)
    """Per run id, the boundary index it meets next: a run rewound by ``recover=`` (rule 60)
    is trained again from before a boundary it met, and does not meet it twice."""
    carry: dict[str, Any] = field(default_factory=dict)
    """Per run id, its ``metadata["pbt"]`` across a recovery's rewind (which starts the
    record's metadata afresh)."""
    runs: dict[str, Run] = field(default_factory=dict)
    """Per run id, the live run ``train`` was last called with (after a recovery, the rewound
    run: a new object); not sent to executors."""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "runs": {}}

    def __post_init__(self) -> None:
        # launch records the function's name in the run's metadata: the user's, not ours
        self.__qualname__ = str(getattr(self.train, "__qualname__", repr(self.train)))

    def __call__(self, run: Run) -> None:
        self.runs[run.id] = run
        carried = self.carry.pop(run.id, None)
        if carried:
            _note(run, carried)
        member = MemberRun(run, self)
        again = False
        try:
            self.train(member)
        except _Done:
            pass
        except BaseException as exc:
            # not an error nor a stop: nbrun's recovery signal (launch's recover=, rule 60),
            # after which train is called again with the rewound run, the same member
            again = not isinstance(exc, (Exception, KeyboardInterrupt, SystemExit))
            if again:
                self.carry[run.id] = run.record().metadata.get("pbt")
            raise
        finally:
            if not again:
                self.channel.exit(run, run.step, _metric_value(run, self.metric))


def _metric_value(run: Run, metric: str) -> Any:
    """The member's last logged ``metric``: a number, None (never logged) or its repr."""
    value = run.summary.get(metric)
    return value if value is None or _is_number(value) else repr(value)


@dataclass(frozen=True)
class Report:
    """What the controller hears from a member at a boundary: it ``arrived`` there (paused),
    or its ``train`` ended; its step (``run.step``; -1 when its worker died) and metric."""

    arrived: bool
    step: int
    value: Any


# -- the controller: the calling thread ---------------------------------------------------------
@dataclass
class _Member:
    slot: int
    view: Run | RemoteRun
    next_k: int
    """The index of the boundary this member meets next."""

    @property
    def id(self) -> str:
        return self.view.id


@dataclass
class _Population:
    plan: Plan
    goal: str
    quantile: float
    perturb: Mapping[str, Any]
    rng: random.Random
    executor: cf.Executor | None
    fork_kwargs: dict[str, Any]
    note: dict[str, Any]
    members: list[_Member] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)


def pbt(
    train: Callable[[Any], Any],
    configs: Sequence[Mapping[str, Any]],
    *,
    metric: str,
    goal: str = "minimize",
    interval: int,
    total: int,
    perturb: Mapping[str, tuple[float, ...] | list[Any]],
    quantile: float = 0.25,
    executor: cf.Executor | None = None,
    project: str | None = None,
    seed: int | None = None,
    **init_kwargs: Any,
) -> list[Run | RemoteRun]:
    """Population-based training whose every exploit is a fork (rules 58-59).

    ``train`` follows :func:`nbrun.launch`'s contract (``state = run.restore()``, a loop
    that logs ``metric`` and calls ``run.checkpoint(state)``; ``run.total`` is ``total``) and
    is launched once per config, each member a run named ``pbt-<slot>`` in one group. Every
    ``interval`` steps the members meet at their first checkpoint at or past the boundary:
    the bottom ``quantile`` by ``metric`` (its last logged value; NaN and inf rank last) end
    ``killed`` and are replaced by forks of top-quantile members (chosen with the seeded RNG)
    at the checkpoint the donor just saved, with each ``perturb`` key multiplied by one of its
    factors (a tuple, ``{"lr": (0.8, 1.25)}``) or drawn from a list (``{"opt": ["adam",
    "sgd"]}``). At ``total`` steps every member finishes. Returns the final population,
    best first. ``run.forked_from`` of a replacement names the donor and the checkpoint step;
    its ``config_diff`` and ``metadata["pbt"]["exploit"]`` record the perturbations.

    With ``executor`` each member trains there; it needs a free worker per member (members
    wait for each other at every boundary). ``recover=`` (:class:`nbrun.Recover`) and the
    other keywords go to :func:`nbrun.launch` / ``nbrun.init`` (``dir``, ``group``,
    ``tags``...). Bad arguments, and a metric a member has not logged by a boundary (every
    member is then stopped), are a :class:`~nbrun.UsageError` naming them (rule 59).

    Example::

        def train(run):
            state = run.restore() or {"w": 5.0}
            for _ in range(run.step, run.total):
                state["w"] -= run.config.lr * state["w"]
                run.log({"loss": state["w"] ** 2})
                run.checkpoint(state)

        best, *rest = nbrun.pbt(
            train, [{"lr": lr} for lr in (0.01, 0.1, 0.5, 2.5)],
            metric="loss", interval=20, total=100, perturb={"lr": (0.8, 1.25)}, seed=0,
        )
        best.forked_from  # the donor and step of the exploit that made it (None: a config)
    """
    configs = _check_args(
        train,
        configs,
        metric,
        goal,
        interval,
        total,
        perturb,
        quantile,
        executor,
        seed,
        init_kwargs,
    )
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)  # recorded, so the run can be replayed
    channel = _Local() if executor is None else _Files()
    plan = Plan(train, boundaries(interval, total), metric, channel)
    if project is not None:
        init_kwargs["project"] = project
    population = uuid.uuid4().hex[:8]
    init_kwargs.setdefault("group", f"pbt-{population}")
    pop = _Population(
        plan=plan,
        goal=goal,
        quantile=float(quantile),
        perturb=dict(perturb),
        rng=random.Random(seed),
        executor=executor,
        # a fork inherits its donor's store and training (recover= included)
        fork_kwargs={k: v for k, v in init_kwargs.items() if k not in _NOT_FOR_FORKS},
        note={"population": population, "seed": seed, "metric": metric, "goal": goal},
    )
    try:
        for slot, cfg in enumerate(configs):
            view = launch(
                plan, total=total, executor=executor, config=cfg, name=f"pbt-{slot}", **init_kwargs
            )
            pop.members.append(_Member(slot, view, 0))
            _note(view, {**pop.note, "slot": slot})
        for k in range(len(plan.bounds)):
            _meet(pop, k)
        for m in pop.members:
            m.view.wait()
    except BaseException:
        _abort(pop)
        raise
    ranked = sorted(pop.members, key=lambda m: _rank_key(pop, m))
    return [plan.runs.get(m.id, m.view) if isinstance(m.view, Run) else m.view for m in ranked]


def _rank_key(pop: _Population, m: _Member) -> tuple[int, float, int]:
    value = pop.values.get(m.id, math.nan)
    if not math.isfinite(value):
        return (1, 0.0, m.slot)
    return (0, value if pop.goal == "minimize" else -value, m.slot)


def _meet(pop: _Population, k: int) -> None:
    """Boundary ``k``: wait for the members due there, rank them, replace the bottom ones."""
    plan = pop.plan
    due = [m for m in pop.members if m.next_k == k]
    got = plan.channel.gather(due, k)
    steps: dict[str, int] = {}
    for m in due:
        report = got[m.id]
        if not report.arrived:
            if report.step < plan.bounds[-1]:  # its train ended (or failed) before total
                pop.members.remove(m)
                continue
            m.next_k = len(plan.bounds)  # trained to total without a checkpoint there: done
        else:
            steps[m.id] = report.step
        if not _is_number(report.value):
            _missing_metric(pop, m, report.step, report.value, plan.bounds[k])
        pop.values[m.id] = float(report.value)
    ranked = sorted((m for m in due if m.id in steps), key=lambda m: _rank_key(pop, m))
    if k == len(plan.bounds) - 1:
        for m in ranked:
            plan.channel.decide(m, k, DONE)
        return
    n = quantile_count(len(ranked), pop.quantile)
    keep, losers = ranked[: len(ranked) - n], ranked[len(ranked) - n :]
    for m in keep:  # the rest go on at once, while the forks are made
        m.next_k = k + 1
        plan.channel.decide(m, k, CONTINUE)
    for loser in losers:
        donor = pop.rng.choice(ranked[:n])
        _exploit(pop, k, loser, donor, steps[donor.id] - 1)


def _exploit(pop: _Population, k: int, loser: _Member, donor: _Member, step: int) -> None:
    """Stop ``loser`` and put a fork of ``donor`` at its checkpoint ``step`` in its slot."""
    values, notes = perturbed(dict(donor.view.config.items()), pop.perturb, pop.rng)
    loser.next_k = len(pop.plan.bounds)  # it meets nobody again
    pop.plan.channel.decide(loser, k, STOP)
    child = fork(
        donor.view,
        step,
        values,
        executor=pop.executor,
        name=f"pbt-{loser.slot}-{pop.plan.bounds[k]}",
        **pop.fork_kwargs,
    )
    exploit = {
        "donor": donor.id,
        "donor_name": donor.view.name,
        "step": step,
        "boundary": pop.plan.bounds[k],
        "replaced": loser.id,
        "replaced_name": loser.view.name,
        "perturbations": notes,
    }
    _note(child, {**pop.note, "slot": loser.slot, "exploit": exploit})
    _note(loser.view, {"replaced_by": child.id, "replaced_at": pop.plan.bounds[k]})
    index = pop.members.index(loser)
    pop.members[index] = _Member(loser.slot, child, first_after(pop.plan.bounds, step + 1))


def _missing_metric(pop: _Population, m: _Member, step: int, value: Any, bound: int) -> None:
    logged = sorted(k for k in m.view.summary.keys() if not str(k).startswith("_"))
    if value is None:
        what = f"was never logged by member {m.view.name} (run {m.id}) by step {step}"
    else:
        what = f"of member {m.view.name} (run {m.id}) at step {step} is {value}, not a number"
    raise UsageError(
        f"pbt: metric {pop.plan.metric!r} {what} (the boundary at {bound} steps); the run "
        f"logged {logged}; log {pop.plan.metric!r} before each checkpoint, or pass the metric "
        "the training function logs"
    )


def _abort(pop: _Population) -> None:
    """Stop every member (the controller failed or was interrupted) and wait for them."""
    for m in pop.members:
        if m.next_k < len(pop.plan.bounds):
            pop.plan.channel.decide(m, m.next_k, STOP)
        try:
            m.view.stop()
        except UsageError:  # it has ended already
            pass
    for m in pop.members:
        m.view.wait(60.0)


def _note(view: Run | RemoteRun, note: Mapping[str, Any]) -> None:
    """Merge ``note`` into the run's stored ``metadata["pbt"]`` in one write transaction (a
    worker's or a recovery's writes are not overwritten), and a live run's own copy."""

    def merge(meta: Mapping[str, Any]) -> dict[str, Any]:
        return {**meta, "pbt": {**(meta.get("pbt") or {}), **note}}

    view.store.update_run_if(view.store_key, lambda rec: {"metadata": merge(rec.metadata)})
    if isinstance(view, Run):
        view.metadata = merge(view.metadata)
