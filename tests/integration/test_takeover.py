"""One writer per run (rule 41, issue 21 item 1): two processes that take the same run at the
same moment (``resume="must" | "allow" | "auto"``, ``resume=None`` re-using an id, or a fresh
id) never both write it. The take-over is one compare-and-set in the store: exactly one wins,
the other gets :class:`nbrun.RunInUseError` naming the live holder (host, pid) and writes
nothing. Real processes, released together by a barrier; SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import queue
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun import _system
from tests.conftest import BACKENDS, python_env, wait_for, where

ROWS = 20
ROUNDS = 50
#: per round: the resume mode both racers pass, and whether the run exists before the race
CASES = [
    ("must", True),
    ("allow", True),
    ("auto", True),
    (None, True),
    (None, False),
    ("allow", False),
    ("auto", False),
]


# -- the racers: two spawned processes that take one run per round -----------------------------
def _racer(idx: int, commands: Any, results: Any, barrier: Any) -> None:
    """Per command: wait for the other racer, call ``init`` on the round's run, wait until the
    other has tried too (the winner holds the run meanwhile), then log ``ROWS`` rows and
    finish (winner) or report the error (loser)."""
    while True:
        cmd = commands.get()
        if cmd is None:
            return
        dir_, project, run_id, resume = cmd
        barrier.wait(120)
        me = os.getpid()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                run = nbrun.init(dir=dir_, project=project, id=run_id, resume=resume)
            except nbrun.RunInUseError as exc:
                barrier.wait(120)
                lost = {"error": str(exc), "host": exc.host, "pid": exc.pid}
                results.put({"idx": idx, "won": False, "me": me, **lost})
                continue
            except BaseException as exc:  # any other outcome fails the test, with its text
                barrier.wait(120)
                lost = {"error": f"{type(exc).__name__}: {exc}", "host": None, "pid": None}
                results.put({"idx": idx, "won": False, "me": me, **lost})
                continue
            barrier.wait(120)
            for i in range(ROWS):
                run.log({"x": float(i), "who": idx})
            run.finish()
        said = [f"{w.category.__name__}: {w.message}" for w in caught]
        results.put({"idx": idx, "won": True, "me": me, "state": run.state, "warnings": said})


class Racers:
    """Two spawned racer processes (started once, used for every round)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.results = ctx.Queue()
        self.barrier = ctx.Barrier(2)
        self.commands = [ctx.Queue(), ctx.Queue()]
        self.procs = [
            ctx.Process(target=_racer, args=(i, self.commands[i], self.results, self.barrier))
            for i in range(2)
        ]
        for p in self.procs:
            p.start()

    def race(self, cmd: tuple[Any, ...]) -> list[dict[str, Any]]:
        for q in self.commands:
            q.put(cmd)
        out = []
        for _ in range(2):
            try:
                out.append(self.results.get(timeout=120))
            except queue.Empty:
                raise AssertionError(f"a racer did not answer for {cmd}: {out}") from None
        return sorted(out, key=lambda r: r["idx"])

    def close(self) -> None:
        for q in self.commands:
            q.put(None)
        for p in self.procs:
            p.join(60)
            if p.is_alive():
                p.kill()
                p.join()


@pytest.fixture
def racers() -> Iterator[Racers]:
    r = Racers()
    try:
        yield r
    finally:
        r.close()


# -- rule 41 ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule41_two_processes_taking_one_run_exactly_one_wins_and_no_row_is_lost(
    run_dir: Path, store_backend: str, racers: Racers
) -> None:
    dir_ = where(run_dir)
    api = nbrun.Api(dir_)
    for rnd in range(ROUNDS):
        resume, exists = CASES[rnd % len(CASES)]
        run_id = f"r{rnd}"
        if exists:  # a finished run with one row: both racers may take it, one at a time
            with nbrun.init(dir=dir_, project="race", id=run_id, reinit="create_new") as first:
                first.log({"x": -1.0, "who": -1})
        out = racers.race((dir_, "race", run_id, resume))
        winners = [r for r in out if r["won"]]
        losers = [r for r in out if not r["won"]]
        assert len(winners) == 1 and len(losers) == 1, (rnd, resume, exists, out)
        (win,), (lose,) = winners, losers
        # the loser's typed error names the live holder: the winner's host and pid
        assert lose["host"] == _system.host_name() and lose["pid"] == win["me"], (rnd, out)
        assert f"pid {win['me']}" in lose["error"] and _system.host_name() in lose["error"]
        assert win["state"] == "finished"
        assert not [w for w in win["warnings"] if w.startswith("RuntimeWarning")], win
        view = api.run(f"race/{run_id}")
        assert view.state == "finished" and view._record().pid == win["me"]
        hist = view.history()
        who = hist["who"].tolist()
        if exists and resume is not None:  # continued: the old row, then all the winner's
            assert who == [-1] + [win["idx"]] * ROWS, (rnd, who)
            assert hist["_step"].tolist() == list(range(ROWS + 1))
        else:  # started afresh (an old run's row archived): only the winner's rows
            assert who == [win["idx"]] * ROWS, (rnd, who)
            assert hist["_step"].tolist() == list(range(ROWS))
            assert len(view.archives()) == int(exists)
    assert len(api.runs("race")) == ROUNDS


HOLDER = r"""
import sys
from pathlib import Path
import nbrun

run = nbrun.init(dir=sys.argv[1], project="held", id="h")
run.log({"x": 1.0})
run.flush()
Path(sys.argv[2]).write_text("ready")
sys.stdin.read()  # hold the run until the test closes stdin
run.finish()
"""


@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("resume", ["must", "allow", "auto", None, "never"])
def test_rule41_taking_a_run_another_process_holds_is_refused_and_writes_nothing(
    run_dir: Path, store_backend: str, resume: str | None
) -> None:
    dir_ = where(run_dir)
    ready = run_dir / "ready"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, dir_, str(ready)],
        stdin=subprocess.PIPE,
        env=python_env(),
    )
    try:
        wait_for(ready.exists)
        view = nbrun.Api(dir_).run("held/h")
        before = view._record()
        folder = Path(view.dir)
        files_before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        with pytest.raises(nbrun.RunInUseError) as info:
            nbrun.init(dir=dir_, project="held", id="h", resume=resume)
        err = info.value
        assert isinstance(err, nbrun.UsageError)
        assert err.pid == holder.pid and err.host == _system.host_name()
        assert f"pid {holder.pid} on {_system.host_name()}" in str(err) and "'h'" in str(err)
        assert nbrun.run is None
        # nothing written: the record, its history and the run folder are as they were
        after = view._record()
        assert after == before.replace(heartbeat=after.heartbeat, updated=after.updated)
        assert after.pid == holder.pid
        assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == files_before
        assert view.archives() == []
    finally:
        holder.communicate(b"", timeout=60)
    assert holder.returncode == 0
    assert nbrun.Api(dir_).run("held/h").history()["x"].tolist() == [1.0]


def test_rule41_a_run_this_process_holds_is_refused_with_the_same_typed_error(
    run_dir: Path,
) -> None:
    run = nbrun.init(project="p", id="mine")
    with pytest.raises(nbrun.RunInUseError, match="in this process") as info:
        nbrun.init(project="p", id="mine", resume="must", reinit="create_new")
    assert info.value.pid == os.getpid() and info.value.host == _system.host_name()
    assert nbrun.run is run
    run.finish()
    again = nbrun.init(project="p", id="mine", resume="must")  # a finished run: taken over
    assert again.resumed
    again.finish()
