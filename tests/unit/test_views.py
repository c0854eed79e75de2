"""The public surface of run views (issue 10): ``root``, ``live()``, ``error``, ``training``,
``follow()`` and ``RunState``, on live runs and on stored views alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import nbrun


def test_root_is_the_dir_that_reaches_the_run_again(run_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other place"
    run = nbrun.init(project="v", dir=elsewhere)
    run.log({"x": 1})
    run.finish()
    assert Path(run.root) == elsewhere.resolve()
    view = nbrun.Api(run.root).run(f"v/{run.id}")
    assert view.root == run.root
    assert list(view.history()["x"]) == [1]


def test_live_gives_the_in_process_run_while_it_runs(run_dir: Path) -> None:
    run = nbrun.init(project="v")
    view = nbrun.Api(run_dir).run(f"v/{run.id}")
    assert view.live() is run and run.live() is run
    run.finish()
    assert view.live() is None and run.live() is None


def test_follow_on_a_stored_view_of_a_live_run_gets_rows_as_logged(run_dir: Path) -> None:
    run = nbrun.init(project="v")
    run.log({"x": 0})
    view = nbrun.Api(run_dir).run(f"v/{run.id}")
    feed = view.follow(from_step=-1)
    run.log({"x": 1})  # not flushed yet: a pushed feed has it at once
    assert [r["x"] for r in feed.drain()] == [0, 1]
    feed.close()
    run.log({"x": 2})
    assert feed.drain() == []  # closed: the run stopped feeding it
    run.finish()


def test_follow_on_a_run_of_another_process_reads_the_store(run_dir: Path) -> None:
    run = nbrun.init(project="v")
    run.log({"x": 0})
    run.finish()
    view = nbrun.Api(run_dir).run(f"v/{run.id}")
    feed = view.follow(from_step=-1)
    assert [r["x"] for r in feed.drain()] == [0]
    again = nbrun.init(project="v", id=run.id, resume="allow")
    again.log({"x": 1})
    again.finish()
    assert [r["x"] for r in feed.drain()] == [1]


def test_error_and_training_of_a_launched_run_that_fails(run_dir: Path) -> None:
    def train(run: nbrun.Run) -> None:
        run.log({"x": 1})
        raise ValueError("diverged at step 1")

    run = nbrun.launch(train, project="v")
    assert run.wait(30)
    assert not run.training and run.state == "failed"
    assert run.error is not None and "ValueError: diverged at step 1" in run.error
    view = nbrun.Api(run_dir).run(f"v/{run.id}")
    assert view.live() is None and not view.training
    assert view.error is not None and "diverged at step 1" in view.error


def test_error_is_none_for_a_run_that_did_not_fail(run_dir: Path) -> None:
    run = nbrun.init(project="v")
    run.alert("training failed", "not a traceback", level="ERROR")  # same title, not failed
    run.finish()
    assert nbrun.Api(run_dir).run(f"v/{run.id}").error is None


def test_training_is_true_while_the_thread_runs(run_dir: Path) -> None:
    go = []

    def train(run: nbrun.Run) -> None:
        while not go:
            time.sleep(0.01)
        run.log({"x": 1})

    run = nbrun.launch(train, project="v")
    view = nbrun.Api(run_dir).run(f"v/{run.id}")
    assert run.training and view.training
    go.append(1)
    assert run.wait(30)
    assert not run.training and not view.training


def test_run_state_names_every_state_and_which_are_live() -> None:
    assert {s.value for s in nbrun.RunState} == {
        "running",
        "preempting",
        "finished",
        "failed",
        "crashed",
        "killed",
    }
    assert [s.value for s in nbrun.RunState if s.is_live] == ["running", "preempting"]
    assert nbrun.RunState("killed") == "killed" and str(nbrun.RunState.FAILED) == "failed"
    with pytest.raises(ValueError, match="'paused'"):
        nbrun.RunState("paused")


def test_state_of_a_run_is_a_plain_str_that_runstate_accepts(run_dir: Path) -> None:
    run = nbrun.init(project="v")
    assert type(run.state) is str and nbrun.RunState(run.state).is_live
    run.finish()
    assert not nbrun.RunState(run.state).is_live
