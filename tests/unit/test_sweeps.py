"""Sweeps (issue 23, rules 50-54): the store's tables and atomic claims, ``nbrun.sweep`` /
``nbrun.agent``, the trial's run, and reading sweeps back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun import _store, _system
from nbrun._records import SweepRecord, TrialRecord
from nbrun._store import Store
from nbrun.errors import StoreError
from tests.conftest import BACKENDS, where

both = pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
P = "sweeps"


def _sweep(store: Store, sweep_id: str = "sw1", method: str = "grid") -> int:
    now = time.time()
    key = store.create_sweep(
        SweepRecord(0, P, sweep_id, "s", {"method": method}, method, "PENDING", 7, now, now)
    )
    assert key is not None
    return key


def _next_point(size: int) -> Any:
    """A grid chooser: the lowest point no live trial holds (crashed ones may be retried)."""

    def choose(trials: Any) -> tuple[int, dict[str, Any]] | None:
        taken = {t.idx for t in trials if t.state != "crashed"}
        free = [i for i in range(size) if i not in taken]
        return None if not free else (free[0], {"x": free[0]})

    return choose


# -- rule 50: the store's sweeps and the atomic claim ---------------------------------------
@both
def test_rule50_sweep_and_trials_round_trip_and_the_id_is_unique_per_project(
    run_dir: Path,
) -> None:
    store = Store.open(where(run_dir))
    key = _sweep(store)
    now = time.time()
    again = SweepRecord(0, P, "sw1", None, {}, "grid", "PENDING", 1, now, now)
    assert store.create_sweep(again) is None  # same id in the project: nothing written
    assert store.create_sweep(again.replace(project="other")) is not None
    rec = store.get_sweep(P, "sw1")
    assert isinstance(rec, SweepRecord) and rec.config == {"method": "grid"} and rec.seed == 7
    assert [s.id for s in store.list_sweeps(P)] == ["sw1"]
    trial = store.claim_trial(key, _next_point(3), "run-a", ("host", 42))
    assert isinstance(trial, TrialRecord)
    assert (trial.idx, trial.params, trial.state, trial.host, trial.pid) == (
        0,
        {"x": 0},
        "running",
        "host",
        42,
    )
    assert store.get_sweep(P, "sw1").state == "RUNNING"  # type: ignore[union-attr]
    assert store.update_trial(trial.key, {"state": "finished", "value": 0.5}, only_if="running")
    assert not store.update_trial(trial.key, {"state": "crashed"}, only_if="running")
    (back,) = store.list_trials(key)
    assert (back.state, back.value) == ("finished", 0.5)
    sweep, found = store.trial_of_run(P, "run-a")  # type: ignore[misc]
    assert sweep.id == "sw1" and found.key == trial.key


@both
def test_rule50_claims_stop_at_run_cap_and_when_the_grid_is_taken(run_dir: Path) -> None:
    store = Store.open(where(run_dir))
    key = _sweep(store)
    claims = [
        store.claim_trial(key, _next_point(5), f"r{i}", ("h", 1), run_cap=3) for i in range(4)
    ]
    assert [c.idx for c in claims[:3]] == [0, 1, 2] and claims[3] is None  # type: ignore[union-attr]
    assert store.get_sweep(P, "sw1").state == "FINISHED"  # type: ignore[union-attr]
    other = _sweep(store, "sw2")
    taken = [store.claim_trial(other, _next_point(2), f"q{i}", ("h", 1)) for i in range(3)]
    assert [t.idx if t else None for t in taken] == [0, 1, None]


@both
def test_rule50_a_point_is_claimed_once_unless_its_trial_crashed(run_dir: Path) -> None:
    store = Store.open(where(run_dir))
    key = _sweep(store)
    first = store.claim_trial(key, _next_point(1), "r0", ("h", 1))
    assert first is not None
    with pytest.raises(StoreError):  # the partial unique index: point 0 is taken
        store.claim_trial(key, lambda trials: (0, {"x": 0}), "r1", ("h", 1))
    assert [t.run_id for t in store.list_trials(key)] == ["r0"]  # rolled back
    store.update_trial(first.key, {"state": "crashed"}, only_if="running")
    again = store.claim_trial(key, _next_point(1), "r2", ("h", 1))
    assert again is not None and again.idx == 0
    assert [(t.run_id, t.state) for t in store.list_trials(key)] == [
        ("r0", "crashed"),
        ("r2", "running"),
    ]


@both
def test_rule50_threads_claiming_at_once_take_every_point_once(run_dir: Path) -> None:
    store = Store.open(where(run_dir))
    key = _sweep(store)
    got: list[int] = []
    lock = threading.Lock()

    def agent(n: int) -> None:
        i = 0
        while True:
            trial = store.claim_trial(key, _next_point(40), f"t{n}-{i}", ("h", n), run_cap=30)
            if trial is None:
                return
            with lock:
                got.append(trial.idx)
            i += 1

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(got) == list(range(30))


def test_rule50_forged_sweep_rows_are_refused_naming_the_database(run_dir: Path) -> None:
    store = Store.open(run_dir)
    key = _sweep(store)
    store.claim_trial(key, _next_point(2), "good", ("h", 1))
    conn = sqlite3.connect(run_dir / "nbrun" / _store.DB_NAME)
    conn.execute("UPDATE sweep_trials SET run_id = '../../etc' WHERE sweep_key = ?", (key,))
    conn.execute(
        "INSERT INTO sweeps (project, id, name, config, method, state, seed, created,"
        " updated) VALUES (?, 'a/b', NULL, '{}', 'grid', 'PENDING', 1, 0, 0)",
        (P,),
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"trial run id '\.\./\.\./etc'"):
        store.list_trials(key)
    with pytest.raises(StoreError, match=r"sweep id 'a/b'"):
        store.list_sweeps(P)


def test_rule50_a_version4_database_gets_the_sweep_tables_when_upgraded(run_dir: Path) -> None:
    store = Store.open(run_dir)
    run = nbrun.init(project=P, dir=run_dir, id="before")
    run.finish()
    db = run_dir / "nbrun" / _store.DB_NAME
    Store.forget(store)
    conn = sqlite3.connect(db)  # take the database back to version 4, as an older nbrun left it
    conn.executescript(
        "DROP TABLE history_summaries; DROP TABLE sweep_trials; DROP TABLE sweeps;"
        "ALTER TABLE runs DROP COLUMN sweep_id;"
        "UPDATE meta SET value = '4' WHERE key = 'schema_version'"
    )
    conn.close()
    store = Store.open(run_dir)
    assert store.sweeps and store.get_run(P, "before").sweep_id is None  # type: ignore[union-attr]
    _sweep(store)
    assert [s.id for s in store.list_sweeps()] == ["sw1"]


# -- helpers for the agent's tests -----------------------------------------------------------
GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.2, 0.3]}, "opt": {"values": ["adam", "sgd"]}},
}


def _sweep_id(run_dir: Path, config: dict[str, Any] | None = None, **kw: Any) -> str:
    return nbrun.sweep(config or GRID, project=P, dir=where(run_dir), **kw)


def _trial_rows(run_dir: Path | str, sweep_id: str) -> list[TrialRecord]:
    loc = str(run_dir)
    store = Store.open(loc if loc.startswith("postgresql://") else where(Path(loc)))
    rec = store.get_sweep(P, sweep_id)
    assert rec is not None
    return store.list_trials(rec.key)


# -- rule 51: the agent and the trial's run ---------------------------------------------------
@both
def test_rule51_each_suggestion_becomes_a_run_whose_config_holds_it(run_dir: Path) -> None:
    sid = _sweep_id(run_dir)
    seen: list[tuple[str, dict[str, Any], str | None, str]] = []

    def train() -> None:
        run = nbrun.init(project="elsewhere", config={"lr": 99, "epochs": 3})
        seen.append((run.id, dict(run.config), run.sweep_id, run.project))
        run.log({"loss": run.config["lr"]})

    nbrun.agent(f"{P}/{sid}", train, dir=where(run_dir))
    assert len(seen) == 6
    # the sweep's values win over init's config for their keys; init's other keys stay
    assert {(c["lr"], c["opt"]) for _, c, _, _ in seen} == {
        (lr, o) for lr in (0.1, 0.2, 0.3) for o in ("adam", "sgd")
    }
    assert all(c["epochs"] == 3 and s == sid and p == P for _, c, s, p in seen)
    api = nbrun.Api(where(run_dir))
    for run_id, config, _, _ in seen:
        view = api.run(f"{P}/{run_id}")
        assert view.sweep_id == sid and view.state == "finished"  # finished by the agent
        assert dict(view.config) == config
    trials = _trial_rows(run_dir, sid)
    assert sorted(t.idx for t in trials) == list(range(6))
    assert {t.run_id for t in trials} == {s[0] for s in seen}
    assert all(t.state == "finished" and t.value == t.params["lr"] for t in trials)


def test_rule51_count_bounds_one_call_and_the_id_forms_are_accepted(run_dir: Path) -> None:
    sid = _sweep_id(run_dir)
    calls: list[str] = []

    def train() -> None:
        run = nbrun.init()
        run.log({"loss": 0.5})
        calls.append(run.id)

    nbrun.agent(sid, train, count=1, project=P)
    nbrun.agent(sid, train, count=1)  # a bare id: the project that has it
    nbrun.agent(f"{P}/{sid}", train, count=1)
    nbrun.agent(f"someone/{P}/{sid}", train, count=10)
    assert len(calls) == 6 and len(set(calls)) == 6
    assert nbrun.Api().sweep(f"{P}/{sid}").state == "FINISHED"
    nbrun.agent(f"{P}/{sid}", train)  # nothing left: returns at once
    assert len(calls) == 6


def test_rule50_the_sweep_is_finished_when_the_last_trial_ends_not_at_the_next_claim(
    run_dir: Path,
) -> None:
    """An agent whose ``count`` ends on the sweep's last trial (its ``run_cap``, or a grid's
    last point) leaves it FINISHED; a random sweep without a cap stays RUNNING."""

    def train() -> None:
        nbrun.init().log({"loss": 0.5})

    capped = nbrun.sweep(
        {"method": "random", "run_cap": 3, "parameters": {"lr": {"min": 0.0, "max": 1.0}}},
        project=P,
    )
    nbrun.agent(capped, train, count=2, project=P)
    assert nbrun.Api().sweep(f"{P}/{capped}").state == "RUNNING"  # one trial left
    nbrun.agent(capped, train, count=1, project=P)
    assert nbrun.Api().sweep(f"{P}/{capped}").state == "FINISHED"
    grid = nbrun.sweep({"method": "grid", "parameters": {"a": {"values": [1, 2]}}}, project=P)
    nbrun.agent(grid, train, count=2, project=P)
    assert nbrun.Api().sweep(f"{P}/{grid}").state == "FINISHED"
    open_ended = nbrun.sweep(
        {"method": "random", "parameters": {"lr": {"min": 0.0, "max": 1.0}}}, project=P
    )
    nbrun.agent(open_ended, train, count=2, project=P)
    assert nbrun.Api().sweep(f"{P}/{open_ended}").state == "RUNNING"


def test_rule51_bad_agent_arguments_are_refused_before_any_trial(run_dir: Path) -> None:
    sid = _sweep_id(run_dir)
    with pytest.raises(nbrun.UsageError, match=r"count=0.*positive int"):
        nbrun.agent(f"{P}/{sid}", lambda: None, count=0)
    with pytest.raises(nbrun.UsageError, match=r"sweep_id 'a/b/c/d'"):
        nbrun.agent("a/b/c/d", lambda: None)
    with pytest.raises(nbrun.UsageError, match=r"no sweep 'nope' in any project"):
        nbrun.agent("nope", lambda: None)
    with pytest.raises(nbrun.UsageError, match=r"no sweep 'nope' in 'sweeps'"):
        nbrun.agent(f"{P}/nope", lambda: None)
    with pytest.raises(nbrun.UsageError, match=r"function=5"):
        nbrun.agent(f"{P}/{sid}", 5)  # type: ignore[arg-type]
    with pytest.raises(nbrun.UsageError, match=r"executor='pool'"):
        nbrun.agent(f"{P}/{sid}", lambda: None, executor="pool")  # type: ignore[arg-type]
    with pytest.raises(nbrun.UsageError, match=r"seed='1'"):
        nbrun.sweep(GRID, project=P, seed="1")  # type: ignore[arg-type]
    assert _trial_rows(run_dir, sid) == []


def test_rule51_a_bad_sweep_config_stores_nothing(run_dir: Path) -> None:
    with pytest.raises(nbrun.errors.SweepConfigError):
        nbrun.sweep({"method": "grdi", "parameters": {"x": {"values": [1]}}}, project=P)
    store = Store.open_existing(run_dir)
    assert store is None or store.list_sweeps() == []


def test_rule51_an_exception_fails_the_run_and_the_agent_goes_on(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = _sweep_id(run_dir)

    def train() -> None:
        run = nbrun.init()
        run.log({"loss": 1.0})
        if run.config["opt"] == "sgd":
            raise ValueError(f"diverged at lr={run.config['lr']}")

    nbrun.agent(f"{P}/{sid}", train)
    trials = _trial_rows(run_dir, sid)
    assert sorted((t.params["opt"], t.state) for t in trials) == sorted(
        [("adam", "finished")] * 3 + [("sgd", "failed")] * 3
    )
    api = nbrun.Api()
    for t in trials:
        view = api.run(f"{P}/{t.run_id}")
        assert view.state == t.state and len(view.history()) == 1  # rows kept
    assert capsys.readouterr().err.count("ValueError: diverged at lr=") == 3


def test_rule51_the_first_failures_in_a_row_stop_the_agent(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = _sweep_id(run_dir, {"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}})

    def train() -> None:
        nbrun.init()
        raise RuntimeError("broken")

    with pytest.warns(UserWarning, match=r"the first 6 trials of this agent failed"):
        nbrun.agent(f"{P}/{sid}", train)
    assert [t.state for t in _trial_rows(run_dir, sid)] == ["failed"] * 6  # more than 5
    monkeypatch.setenv("WANDB_AGENT_MAX_INITIAL_FAILURES", "1")
    with pytest.warns(UserWarning, match=r"the first 2 trials of this agent failed"):
        nbrun.agent(f"{P}/{sid}", train)
    assert len(_trial_rows(run_dir, sid)) == 8


def test_rule51_a_function_that_never_calls_init_leaves_a_failed_trial(run_dir: Path) -> None:
    sid = _sweep_id(run_dir)
    with pytest.warns(UserWarning, match=r"did not call nbrun.init\(\)"):
        nbrun.agent(f"{P}/{sid}", lambda: None, count=1)
    (trial,) = _trial_rows(run_dir, sid)
    assert trial.state == "failed" and nbrun.Api().runs(P) == []


def test_rule51_every_init_of_the_function_is_the_trials_run(run_dir: Path) -> None:
    sid = _sweep_id(run_dir)
    seen: list[Any] = []

    def train() -> None:
        first = nbrun.init(config={"epochs": 2})
        first.log({"loss": 0.5})
        with pytest.warns(UserWarning, match="returning it"):
            assert nbrun.init() is first  # open: the same run
        first.finish()
        # as transformers' WandbCallback does: finish, then init again (project of its own)
        again = nbrun.init(project="huggingface", config={"extra": 1})
        again.log({"loss": 0.25})
        seen.append((first.id, again.id, again.project, again.sweep_id, dict(again.config)))

    nbrun.agent(f"{P}/{sid}", train, count=1)
    ((first, again, project, sweep_id, config),) = seen
    assert (again, project, sweep_id) == (first, P, sid)  # continued (rule 10)
    assert config["epochs"] == 2 and config["extra"] == 1 and "lr" in config
    view = nbrun.Api().run(f"{P}/{first}")
    assert list(view.history()["loss"]) == [0.5, 0.25] and view.state == "finished"
    assert [t.value for t in _trial_rows(run_dir, sid)] == [0.25]
    assert [r.id for r in nbrun.Api().runs()] == [first]


def test_rule51_a_subprocess_reaches_its_trial_through_the_environment(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = _sweep_id(run_dir)
    store = Store.open(run_dir)
    rec = store.get_sweep(P, sid)
    assert rec is not None
    trial = store.claim_trial(rec.key, _next_point(1), "envrun", ("h", 1))
    assert trial is not None
    monkeypatch.setenv("NBRUN_SWEEP_ID", f"{P}/{sid}")
    monkeypatch.setenv("NBRUN_RUN_ID", "envrun")
    monkeypatch.setenv("NBRUN_DIR", str(run_dir))
    run = nbrun.init(config={"x": 5, "y": 1})
    assert (run.id, run.project, run.sweep_id, dict(run.config)) == (
        "envrun",
        P,
        sid,
        {"x": 0, "y": 1},
    )
    run.finish()
    monkeypatch.setenv("NBRUN_RUN_ID", "other")
    with pytest.raises(
        nbrun.UsageError, match=r"NBRUN_SWEEP_ID='sweeps/.*' with NBRUN_RUN_ID='other'"
    ):
        nbrun.init()


# -- rule 52: the trial's value, hyperband ------------------------------------------------------
def test_rule52_the_value_is_the_summary_metric_and_a_missing_one_warns_once(
    run_dir: Path,
) -> None:
    sid = _sweep_id(run_dir)

    def train() -> None:
        run = nbrun.init()
        if run.config["opt"] == "adam":
            run.log({"loss": 2.0})
            run.log({"loss": run.config["lr"]})  # the last value is the summary's
        else:
            run.log({"acc": 0.5})

    with pytest.warns(UserWarning, match=r"never logged the sweep's metric 'loss'") as caught:
        nbrun.agent(f"{P}/{sid}", train)
    assert sum("never logged" in str(w.message) for w in caught) == 1  # once per sweep
    trials = _trial_rows(run_dir, sid)
    assert len(trials) == 6 and all(t.state == "finished" for t in trials)  # all count
    assert sorted((t.params["opt"], t.value) for t in trials if t.params["opt"] == "adam") == [
        ("adam", 0.1),
        ("adam", 0.2),
        ("adam", 0.3),
    ]
    assert all(t.value is None for t in trials if t.params["opt"] == "sgd")


HYPERBAND = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"q": {"values": [1, 2, 100]}},
    "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
}


def test_rule52_hyperband_stops_a_weak_run_which_ends_killed_with_its_rows(
    run_dir: Path,
) -> None:
    sid = _sweep_id(run_dir, HYPERBAND)
    stopped: list[int] = []

    def train() -> None:
        run = nbrun.init()
        if run.config["q"] != 100:
            for _ in range(90):  # the good runs reach band 81 (bands 3, 9, 27, 81, 243)
                run.log({"loss": 1.0})
            return
        deadline = time.monotonic() + 60
        step = 0
        try:
            while time.monotonic() < deadline:  # logs until hyperband stops it
                # a run is judged at the highest band it reached: past step 85 it stays at 81
                run.log({"loss": 100.0}, commit=step < 85)
                step += 1
                time.sleep(0.002)
        except nbrun.RunStopped:
            stopped.append(step)
            raise

    nbrun.agent(f"{P}/{sid}", train)
    trials = {t.params["q"]: t for t in _trial_rows(run_dir, sid)}
    assert [trials[q].state for q in (1, 2, 100)] == ["finished", "finished", "killed"]
    assert len(stopped) == 1
    view = nbrun.Api().run(f"{P}/{trials[100].run_id}")
    assert view.state == "killed" and len(view.history()) >= 3  # judged at band 3, rows kept


# -- rule 53: crashed trials -----------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_rule53_a_trial_whose_agent_died_is_marked_crashed_and_its_point_retried(
    run_dir: Path,
) -> None:
    sid = _sweep_id(run_dir)
    store = Store.open(run_dir)
    rec = store.get_sweep(P, sid)
    assert rec is not None
    # an agent on this host claimed point 0 and died before its function called init
    dead = _dead_pid()
    lost = store.claim_trial(
        rec.key, lambda ts: (0, {"lr": 0.1, "opt": "adam"}), "lost0", (_system.host_name(), dead)
    )
    assert lost is not None
    ran: list[dict[str, Any]] = []

    def train() -> None:
        run = nbrun.init()
        run.log({"loss": 1.0})
        ran.append(dict(run.config))

    nbrun.agent(f"{P}/{sid}", train)
    trials = _trial_rows(run_dir, sid)
    assert [(t.run_id, t.state) for t in trials if t.idx == 0] == [
        ("lost0", "crashed"),
        (trials[1].run_id, "finished"),
    ]
    assert len(ran) == 6 and sorted(t.idx for t in trials if t.state == "finished") == list(
        range(6)
    )


def test_rule53_a_trial_whose_run_crashed_is_marked_crashed(run_dir: Path) -> None:
    sid = _sweep_id(run_dir)
    store = Store.open(run_dir)
    rec = store.get_sweep(P, sid)
    assert rec is not None
    dead = _dead_pid()
    trial = store.claim_trial(
        rec.key, lambda ts: (0, {"lr": 0.1, "opt": "adam"}), "gone", (_system.host_name(), dead)
    )
    assert trial is not None
    run = nbrun.init(project=P, id="gone")
    run.log({"loss": 3.0})
    run.finish()
    key = store.get_run(P, "gone").key  # type: ignore[union-attr]
    store.update_run(key, {"state": "running", "finished": None, "pid": dead})  # it died
    nbrun.agent(f"{P}/{sid}", lambda: nbrun.init().log({"loss": 1.0}), count=1)
    trials = _trial_rows(run_dir, sid)
    assert (trials[0].run_id, trials[0].state) == ("gone", "crashed")
    assert trials[1].idx == 0 and trials[1].state == "finished"  # the point ran again


def test_rule53_a_trial_whose_run_ended_after_its_agent_died_takes_the_runs_state(
    run_dir: Path,
) -> None:
    sid = _sweep_id(run_dir)
    store = Store.open(run_dir)
    rec = store.get_sweep(P, sid)
    assert rec is not None
    trial = store.claim_trial(
        rec.key,
        lambda ts: (0, {"lr": 0.1, "opt": "adam"}),
        "ended",
        (_system.host_name(), _dead_pid()),
    )
    assert trial is not None
    run = nbrun.init(project=P, id="ended")
    run.log({"loss": 0.25})
    run.finish()
    nbrun.agent(f"{P}/{sid}", lambda: nbrun.init().log({"loss": 1.0}), count=1)
    first = _trial_rows(run_dir, sid)[0]
    assert (first.state, first.value) == ("finished", 0.25)
    assert [t.idx for t in _trial_rows(run_dir, sid)] == [0, 1]  # not retried


# -- rule 54: reading sweeps back ----------------------------------------------------------------
@both
def test_rule54_the_sweep_view_its_runs_and_best_run(run_dir: Path) -> None:
    sid = _sweep_id(run_dir, {**GRID, "name": "lr search"}, seed=3)
    api = nbrun.Api(where(run_dir))
    sweep = api.sweep(f"{P}/{sid}")
    assert isinstance(sweep, nbrun.Sweep)
    assert (sweep.id, sweep.name, sweep.project, sweep.state) == (sid, "lr search", P, "PENDING")
    assert sweep.config["parameters"] == GRID["parameters"] and sweep.runs == []
    assert sweep.best_run() is None

    def train() -> None:
        run = nbrun.init()
        run.log(
            {
                "loss": run.config["lr"] * (2 if run.config["opt"] == "sgd" else 1),
                "acc": run.config["lr"],
            }
        )

    nbrun.agent(f"{P}/{sid}", train, dir=where(run_dir))
    assert sweep.state == "FINISHED" and len(sweep.runs) == 6
    assert all(r.sweep_id == sid for r in sweep.runs)
    best = sweep.best_run()
    assert (best.config["lr"], best.config["opt"]) == (0.1, "adam")
    assert best.id == api.sweep(f"me/{P}/{sid}").best_run().id
    assert sweep.best_run(order="-summary_metrics.acc").config["lr"] == 0.3
    assert sweep.best_run(order="+acc").config["lr"] == 0.1
    frame = nbrun.runs(P, dir=where(run_dir))
    assert set(frame["sweep"]) == {sid}
    other = nbrun.init(project=P, dir=where(run_dir))
    other.finish()
    assert nbrun.runs(P, dir=where(run_dir))["sweep"].isna().sum() == 1
    assert api.run(f"{P}/{other.id}").sweep_id is None and other.sweep_id is None


def test_rule54_bad_sweep_paths_and_orders_are_refused(run_dir: Path) -> None:
    sid = _sweep_id(run_dir, {"method": "random", "parameters": {"x": {"values": [1, 2]}}})
    api = nbrun.Api()
    for bad in ("", "a/b/c/d", "/x"):
        with pytest.raises(nbrun.UsageError, match="project/sweep_id"):
            api.sweep(bad)
    with pytest.raises(nbrun.RunNotFoundError, match=r"no sweep 'nope'"):
        api.sweep(f"{P}/nope")
    sweep = api.sweep(f"{P}/{sid}")
    with pytest.raises(nbrun.UsageError, match=r"the sweep has no metric"):
        sweep.best_run()
    with pytest.raises(nbrun.UsageError, match=r"order='-'"):
        sweep.best_run(order="-")


def test_rule54_the_wandb_drop_in_runs_a_sweep(run_dir: Path) -> None:
    import nbrun.wandb_compat as wandb

    sid = wandb.sweep(lambda: GRID, project=P)
    seen: list[Any] = []

    def train() -> None:
        wandb.init(config={"lr": 1.0})
        seen.append((wandb.config.lr, wandb.config["opt"], wandb.run.sweep_id))
        wandb.log({"loss": wandb.config.lr})

    wandb.agent(sid, function=train, project=P, count=4)
    assert len(seen) == 4 and all(s == sid and lr != 1.0 for lr, _, s in seen)
    sweep = wandb.Api().sweep(f"someone/{P}/{sid}")
    assert len(sweep.runs) == 4 and sweep.best_run().config["lr"] == 0.1
    with pytest.raises(wandb.UsageError, match="prior_runs"):
        wandb.sweep(GRID, project=P, prior_runs=["x"])


# -- rule 50: agents in threads share the sweep -------------------------------------------------
def test_rule50_agent_threads_run_every_grid_point_once(run_dir: Path) -> None:
    sid = _sweep_id(run_dir, {"method": "grid", "parameters": {"x": {"values": list(range(12))}}})
    mine = nbrun.init(project=P, id="notebook-run")  # the user's own run stays open, untouched
    done: list[tuple[str, int]] = []
    lock = threading.Lock()

    def train() -> None:
        run = nbrun.init()
        run.log({"y": run.config["x"]})
        with lock:
            done.append((threading.current_thread().name, run.config["x"]))

    threads = [
        threading.Thread(target=nbrun.agent, args=(f"{P}/{sid}", train), name=f"agent{i}")
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(x for _, x in done) == list(range(12))
    assert sorted(t.idx for t in _trial_rows(run_dir, sid)) == list(range(12))
    assert mine.state == "running" and not mine.summary.keys()
    mine.finish()


def test_rule50_a_bayes_agent_reads_the_trials_params_and_values(run_dir: Path) -> None:
    sid = _sweep_id(
        run_dir,
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        },
        seed=5,
    )

    def train() -> None:
        run = nbrun.init()
        run.log({"loss": (run.config["x"] - 0.3) ** 2})

    nbrun.agent(f"{P}/{sid}", train, count=6)
    trials = _trial_rows(run_dir, sid)
    assert [t.idx for t in trials] == list(range(6)) and len({t.params["x"] for t in trials}) == 6
    assert all(t.value == pytest.approx((t.params["x"] - 0.3) ** 2) for t in trials)


@both
def test_rule50_copy_carries_sweeps_their_trials_and_run_sweep_ids(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = where(run_dir)
    monkeypatch.delenv("NBRUN_STORE", raising=False)
    local = str(run_dir / "local")
    sid = nbrun.sweep(GRID, project=P, dir=local)
    nbrun.agent(f"{P}/{sid}", lambda: nbrun.init().log({"loss": 1.0}), count=3, dir=local)
    copied = nbrun.copy(local, dest)
    assert len(copied) == 3
    there = nbrun.Api(dest).sweep(f"{P}/{sid}")
    assert there.config == GRID and there.state == "RUNNING"
    assert sorted(r.id for r in there.runs) == sorted(c.split("/")[1] for c in copied)
    assert [(t.idx, t.params, t.state, t.value) for t in _trial_rows(dest, sid)] == [
        (t.idx, t.params, t.state, t.value) for t in _trial_rows(local, sid)
    ]
    assert nbrun.copy(local, dest) == []  # again: nothing twice, the sweep once
    assert len(Store.open(dest).list_sweeps(P)) == 1
    # the copy's sweep goes on where it stopped: the 3 other points, none twice
    nbrun.agent(f"{P}/{sid}", lambda: nbrun.init().log({"loss": 1.0}), dir=dest)
    assert sorted(t.idx for t in _trial_rows(dest, sid)) == list(range(6))
