"""Sweep agents in real processes sharing one store (rules 50, 51 and 53): SQLite, and
PostgreSQL as agents on several machines would share it; agents on an executor's workers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import nbrun
from nbrun._records import TrialRecord
from nbrun._store import Store
from tests.conftest import BACKENDS, python_env, wait_for, where

pytestmark = pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
P = "agents"

AGENT = """
import sys, time, nbrun
sweep, where, count, hold = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def train():
    run = nbrun.init()
    run.log({"loss": float(run.config["x"])})
    if hold != "-" and run.config["x"] == int(hold):
        print("holding", run.id, flush=True)
        time.sleep(600)  # the test kills this agent here

nbrun.agent(sweep, train, dir=where, count=None if count == "-" else int(count))
"""


def _agent(sweep: str, loc: str, count: str = "-", hold: str = "-") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", AGENT, sweep, loc, count, hold],
        env=python_env(),
        stdout=subprocess.PIPE,
        text=True,
    )


def _trials(loc: str, sweep_id: str) -> list[TrialRecord]:
    store = Store.open(loc)
    rec = store.get_sweep(P, sweep_id)
    assert rec is not None
    return store.list_trials(rec.key)


def _finish(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.wait(timeout=300)
        assert proc.returncode == 0


@pytest.mark.slow
def test_rule50_four_agent_processes_run_every_grid_point_exactly_once(run_dir: Path) -> None:
    loc = where(run_dir)
    n = 40
    sid = nbrun.sweep(
        {"method": "grid", "parameters": {"x": {"values": list(range(n))}}}, project=P, dir=loc
    )
    procs = [_agent(f"{P}/{sid}", loc) for _ in range(4)]
    _finish(procs)
    trials = _trials(loc, sid)
    assert sorted(t.idx for t in trials) == list(range(n))
    assert all(t.state == "finished" for t in trials)
    runs = nbrun.Api(loc).runs(P)
    assert sorted(r.config["x"] for r in runs) == list(range(n))
    assert {r.sweep_id for r in runs} == {sid}


@pytest.mark.slow
def test_rule50_run_cap_holds_across_agent_processes(run_dir: Path) -> None:
    loc = where(run_dir)
    sid = nbrun.sweep(
        {"method": "random", "run_cap": 9, "parameters": {"x": {"values": list(range(5))}}},
        project=P,
        dir=loc,
    )
    _finish([_agent(f"{P}/{sid}", loc, count="5") for _ in range(4)])
    trials = _trials(loc, sid)
    assert len(trials) == 9 and sorted(t.idx for t in trials) == list(range(9))
    assert len(nbrun.Api(loc).runs(P)) == 9
    assert nbrun.Api(loc).sweep(f"{P}/{sid}").state == "FINISHED"


@pytest.mark.slow
def test_rule53_a_killed_agents_point_is_retried_by_another_agent(run_dir: Path) -> None:
    loc = where(run_dir)
    sid = nbrun.sweep(
        {"method": "grid", "parameters": {"x": {"values": [0, 1, 2]}}}, project=P, dir=loc
    )
    victim = _agent(f"{P}/{sid}", loc, hold="0")
    assert victim.stdout is not None
    line = victim.stdout.readline()  # "holding <run id>": inside point 0's trial, run started
    assert line.startswith("holding"), line
    held = line.split()[1]
    os.kill(victim.pid, signal.SIGKILL)  # kill -9 mid-trial
    victim.wait(timeout=60)
    wait_for(lambda: any(t.run_id == held and t.state == "running" for t in _trials(loc, sid)))
    _finish([_agent(f"{P}/{sid}", loc)])
    trials = _trials(loc, sid)
    point0 = [(t.run_id, t.state) for t in trials if t.idx == 0]
    assert point0[0] == (held, "crashed") and point0[1][1] == "finished" and len(point0) == 2
    assert sorted(t.idx for t in trials if t.state == "finished") == [0, 1, 2]
    assert nbrun.Api(loc).run(f"{P}/{held}").state == "crashed"  # its rows and record kept


def _train_on_worker() -> None:
    run = nbrun.init()
    run.log({"loss": float(run.config["x"]), "pid": os.getpid()})


@pytest.mark.slow
def test_rule51_executor_runs_the_trials_on_its_workers(run_dir: Path) -> None:
    loc = where(run_dir)
    sid = nbrun.sweep(
        {"method": "grid", "parameters": {"x": {"values": list(range(6))}}}, project=P, dir=loc
    )
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        nbrun.agent(f"{P}/{sid}", _train_on_worker, dir=loc, executor=pool)
    trials = _trials(loc, sid)
    assert sorted(t.idx for t in trials) == list(range(6))
    assert all(t.state == "finished" and t.pid != os.getpid() for t in trials)
    runs = nbrun.Api(loc).runs(P)
    assert sorted(r.config["x"] for r in runs) == list(range(6))
    assert all(r.summary["pid"] != os.getpid() for r in runs)
    endless = nbrun.sweep(
        {"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}}, project=P, dir=loc
    )
    with (
        ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool,
        pytest.raises(nbrun.UsageError, match=r"has no end.*pass count="),
    ):
        nbrun.agent(f"{P}/{endless}", _train_on_worker, dir=loc, executor=pool)
    assert _trials(loc, endless) == []


PROGRAM = """
import argparse, nbrun
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int)
args = parser.parse_args()
run = nbrun.init(config={"x": -1, "from_args": args.x})
run.log({"loss": float(run.config["x"])})
"""


@pytest.mark.slow
def test_rule51_without_a_function_the_agent_runs_the_sweeps_program(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loc = where(run_dir)
    (run_dir / "train.py").write_text(PROGRAM)
    monkeypatch.setenv("PYTHONPATH", python_env()["PYTHONPATH"])
    sid = nbrun.sweep(
        {
            "method": "grid",
            "program": "train.py",
            "metric": {"name": "loss"},
            "parameters": {"x": {"values": [3, 1, 2]}},
        },
        project=P,
        dir=loc,
    )
    nbrun.agent(f"{P}/{sid}", dir=loc)
    trials = _trials(loc, sid)
    assert sorted((t.params["x"], t.state, t.value) for t in trials) == [
        (1, "finished", 1.0),
        (2, "finished", 2.0),
        (3, "finished", 3.0),
    ]
    runs = nbrun.Api(loc).runs(P)
    assert all(r.config["x"] == r.config["from_args"] and r.sweep_id == sid for r in runs)
    assert nbrun.Api(loc).sweep(f"{P}/{sid}").best_run().config["x"] == 1


DYING = """
import os, signal, nbrun
run = nbrun.init()
run.log({"loss": 1.0})
if run.config["x"] == 1:
    os.kill(os.getpid(), signal.SIGKILL)  # the program dies, its agent lives
"""


@pytest.mark.slow
def test_rule53_a_program_that_dies_under_a_live_agent_is_failed_not_retried(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loc = where(run_dir)
    (run_dir / "dying.py").write_text(DYING)
    monkeypatch.setenv("PYTHONPATH", python_env()["PYTHONPATH"])
    sid = nbrun.sweep(
        {"method": "grid", "program": "dying.py", "parameters": {"x": {"values": [0, 1, 2]}}},
        project=P,
        dir=loc,
    )
    nbrun.agent(f"{P}/{sid}", dir=loc)
    trials = _trials(loc, sid)
    assert sorted((t.idx, t.state) for t in trials) == [
        (0, "finished"),
        (1, "failed"),
        (2, "finished"),
    ]
    (died,) = [t for t in trials if t.idx == 1]
    assert nbrun.Api(loc).run(f"{P}/{died.run_id}").state == "crashed"
