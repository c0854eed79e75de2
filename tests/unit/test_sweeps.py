"""Sweeps (issue 23, rules 50-54): the store's tables and atomic claims, ``nbrun.sweep`` /
``nbrun.agent``, the trial's run, and reading sweeps back."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun import _store
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
        "DROP TABLE sweep_trials; DROP TABLE sweeps; ALTER TABLE runs DROP COLUMN sweep_id;"
        "UPDATE meta SET value = '4' WHERE key = 'schema_version'"
    )
    conn.close()
    store = Store.open(run_dir)
    assert store.sweeps and store.get_run(P, "before").sweep_id is None  # type: ignore[union-attr]
    _sweep(store)
    assert [s.id for s in store.list_sweeps()] == ["sw1"]
