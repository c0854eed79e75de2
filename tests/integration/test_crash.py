"""kill -9 at random moments: the store stays sound, durable rows survive, the run reads as
``crashed`` and ``resume`` continues it from the next step (issue 7).

A child process logs continuously while a helper thread prints the writer's durable step
(``run._writer.last_durable_step``) after every flush. The parent kills it with SIGKILL once
that step passed a random target, plus a random jitter so the kill lands anywhere in the
writer's cycle (mid-transaction included). Every line the child printed was printed before it
died, so the last one is a step the writer had made durable before the kill.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import nbrun
from nbrun._store import PgStore, Store, is_url
from tests.conftest import BACKENDS, python_env, wait_for
from tests.postgres import sibling_database

PROJECT = "crash"


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The crash suite runs on SQLite and on PostgreSQL."""
    return str(request.param)


CHILD = r"""
import sys, threading, time
import nbrun

d, rid = sys.argv[1], sys.argv[2]
run = nbrun.init(project="crash", dir=d, id=rid, config={"lr": 0.1},
                 settings={"flush_interval": 0.05, "flush_rows": 200})

def report():
    last = None
    while True:
        s = run._writer.last_durable_step
        if s != last:
            sys.stdout.write(f"{s}\n")
            sys.stdout.flush()
            last = s
        time.sleep(0.002)

threading.Thread(target=report, daemon=True).start()
i = 0
while True:
    run.log({"loss": 1.0 / (i + 1), "i": i, "tag": "r" * (i % 4), "nested": {"sq": i * i}})
    i += 1
    if i % 20 == 0:
        time.sleep(0.0005)
"""


def expected_row(i: int) -> dict[str, object]:
    """What the child logs at step ``i``."""
    return {"loss": 1.0 / (i + 1), "i": i, "tag": "r" * (i % 4), "nested.sq": i * i}


@dataclass
class Trial:
    """One kill: where it happened and what the child reported as durable before it."""

    dir: Path
    store: str  # the dir= of the trial's store: ``dir``, or a database of its own
    run_id: str
    target: int
    reported: list[int] = field(default_factory=list)
    returncode: int | None = None
    stderr: str = ""

    @property
    def durable(self) -> int:
        """The last step the writer reported durable (-1: none)."""
        return self.reported[-1] if self.reported else -1


def kill_trial(
    base: Path, index: int, rng: random.Random, target: int | None = None, jitter: float = 0.06
) -> Trial:
    """Start a logging child, SIGKILL it once its durable step reached ``target`` (random
    when None; -1: as soon as init returned) plus a random jitter, return what it reported."""
    d = base / f"t{index}"
    d.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("NBRUN_STORE")
    store = sibling_database(url) if url else str(d)  # resume="auto" looks at one store
    trial = Trial(d, store, f"run{index}", rng.randint(0, 400) if target is None else target)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, store, trial.run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=python_env(),
        text=True,
    )

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            trial.reported.append(int(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: (trial.reported and trial.durable >= trial.target) or proc.poll() is not None,
            timeout=60,
        )
        # the kill moment itself is random: anywhere within about one flush cycle
        time.sleep(rng.uniform(0, jitter))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    reader.join(30)
    assert proc.stderr is not None
    trial.stderr = proc.stderr.read()
    proc.stderr.close()
    trial.returncode = proc.returncode
    return trial


@dataclass
class Outcome:
    """What the checks after one kill found."""

    survived: bool
    rows_lost: int
    problems: list[str]


def check_trial(trial: Trial, resume: str) -> Outcome:
    """Integrity, durable rows, ``crashed`` state, resume from the next step."""
    problems: list[str] = []
    lost = 0
    if trial.returncode != -signal.SIGKILL:
        problems.append(f"child ended with {trial.returncode}, not SIGKILL: {trial.stderr[-2000:]}")
    # a fresh instance, as a new process would open
    store = PgStore(trial.store, None) if is_url(trial.store) else Store(trial.dir / "nbrun")
    try:
        integrity = store.integrity_check()
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
    finally:
        store.close()
    view = nbrun.Api(trial.store).run(f"{PROJECT}/{trial.run_id}")
    if view.state != "crashed":
        problems.append(f"state {view.state!r}, expected 'crashed'")
    hist = view.history()
    steps = hist["_step"].tolist()
    last = steps[-1] if steps else -1
    if steps != list(range(last + 1)):
        problems.append(f"steps not 0..{last} without gaps or duplicates")
    missing = set(range(trial.durable + 1)) - set(steps)
    lost += len(missing)
    for step in range(min(last, trial.durable) + 1):
        row = hist.iloc[step]
        for k, v in expected_row(step).items():
            if row[k] != v:
                problems.append(f"step {step}: {k}={row[k]!r}, logged {v!r}")
                break
    if last < trial.durable:
        problems.append(f"last stored step {last} < reported durable step {trial.durable}")

    kwargs: dict[str, object] = {"resume": resume}
    if resume == "allow":
        kwargs["id"] = trial.run_id
    run = nbrun.init(
        project=PROJECT,
        dir=trial.store,
        reinit="create_new",
        settings={"flush_interval": 0.05},
        **kwargs,  # type: ignore[arg-type]
    )
    try:
        if run.id != trial.run_id:
            problems.append(f"resume={resume!r} picked run {run.id!r}, not {trial.run_id!r}")
        if not run.resumed:
            problems.append("run.resumed is False")
        if run.step != last + 1 or run.starting_step != last + 1:
            problems.append(f"resumed at step {run.step}, expected {last + 1}")
        if run.config["lr"] != 0.1:
            problems.append(f"config lost: {dict(run.config)}")
        for i in range(run.step, run.step + 5):
            run.log(expected_row(i) | {"nested": {"sq": i * i}})
    finally:
        run.finish()
    after = nbrun.Api(trial.store).run(f"{PROJECT}/{trial.run_id}")
    steps2 = after.history()["_step"].tolist()
    if steps2 != list(range(last + 6)):
        problems.append(f"after resume steps are not 0..{last + 5} once each")
    if after.state != "finished":
        problems.append(f"after resume and finish the state is {after.state!r}")
    summary_loss = after.summary["loss"]
    if not math.isclose(summary_loss, 1.0 / (last + 6)):
        problems.append(f"summary loss {summary_loss} is not the last logged value")
    return Outcome(not problems, lost, problems)


def run_trials(base: Path, n: int, seed: int, workers: int = 3) -> list[tuple[Trial, Outcome]]:
    """Kill ``n`` children (``workers`` at once), then check each one (in this process)."""
    rng = random.Random(seed)
    rngs = [random.Random(rng.random()) for _ in range(n)]
    with ThreadPoolExecutor(workers) as pool:
        trials = list(pool.map(lambda i: kill_trial(base, i, rngs[i]), range(n)))
    return [(t, check_trial(t, ("auto", "allow")[i % 2])) for i, t in enumerate(trials)]


@pytest.mark.slow  # kill -9 trials: ~4 s each
@pytest.mark.parametrize(
    ("store_backend", "seed"),
    [("sqlite", 7), ("sqlite", 8), ("postgresql", 7)],
    indirect=["store_backend"],
)
def test_sigkill_at_random_moments_loses_nothing_durable(run_dir: Path, seed: int) -> None:
    results = run_trials(run_dir, 12, seed)
    failures = [
        f"trial {t.run_id} (target {t.target}, durable {t.durable}): {o.problems}"
        for t, o in results
        if not o.survived
    ]
    assert not failures, "\n".join(failures)
    assert sum(o.rows_lost for _, o in results) == 0
    # the kills really happened while rows were being logged and flushed
    assert sum(t.durable > 0 for t, _ in results) >= len(results) // 2


def test_kill_before_anything_was_flushed(run_dir: Path) -> None:
    """A kill right after init (nothing durable yet) still leaves a resumable crashed run."""
    trial = kill_trial(run_dir, 0, random.Random(3), target=-1, jitter=0)
    outcome = check_trial(trial, "auto")
    assert outcome.survived, outcome.problems


def test_crashed_run_is_not_picked_twice_by_resume_auto(run_dir: Path) -> None:
    """After a crashed run was resumed and finished, ``resume='auto'`` starts a new run."""
    trial = kill_trial(run_dir, 0, random.Random(5), target=50)
    assert check_trial(trial, "auto").survived
    run = nbrun.init(project=PROJECT, dir=trial.store, resume="auto", reinit="create_new")
    try:
        assert run.id != trial.run_id and not run.resumed and run.step == 0
    finally:
        run.finish()
    if not is_url(trial.store):
        assert os.path.exists(Path(trial.dir) / "nbrun" / "nbrun.db")
