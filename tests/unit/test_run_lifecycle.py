"""What training needs from a run, as public methods of ``Run`` (issue 22, item 3): attach a
trainer, read it back, request a stop, capture a thread's output, detach the run from this
process and hand it to another; and the action registry through which the read and run layers
reach the training layer and the widgets without importing them."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import nbrun
from nbrun import _actions
from nbrun._lifecycle import QUEUED_HOST, TrainingState, TrainSpec
from tests.conftest import python_env, where


def _run(**kwargs: object) -> nbrun.Run:
    kwargs.setdefault("project", "life")
    kwargs.setdefault("reinit", "create_new")
    kwargs.setdefault("settings", {"stats": False})
    return nbrun.init(**kwargs)  # type: ignore[arg-type]


def _noop(run: nbrun.Run) -> None:
    return None


# -- attach_training / training_state -- rule 31 -----------------------------------------------
def test_attach_training_is_read_back_and_refused_twice_or_after_the_end(run_dir: Path) -> None:
    """Training attached to a live run is what wait / error / total / training read; a second
    attach while its thread runs, a wrong type, or an attach to an ended run is a UsageError
    that changes nothing."""
    run = _run(id="att")
    assert run.training_state is None and run.total is None and not run.training
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    state = TrainingState(TrainSpec(_noop, total=10), thread=thread)
    thread.start()
    run.attach_training(state)
    assert run.training_state is state and run.total == 10 and run.training
    other = TrainingState(TrainSpec(_noop, total=3))
    with pytest.raises(nbrun.UsageError, match="already has a training thread"):
        run.attach_training(other)
    with pytest.raises(nbrun.UsageError, match=r"attach_training\('x'\).*TrainingState"):
        run.attach_training("x")  # type: ignore[arg-type]
    assert run.training_state is state  # the refused calls changed nothing
    release.set()
    assert run.wait(30) and not run.training
    state.error = "Traceback: boom"
    assert run.error == "Traceback: boom"
    run.finish()
    with pytest.raises(nbrun.UsageError, match="run att is finished"):
        run.attach_training(other)
    assert run.training_state is state


# -- request_stop -- rule 31 ---------------------------------------------------------------
def test_rule31_request_stop_stops_the_next_log_without_writing_the_request(
    run_dir: Path,
) -> None:
    """``request_stop`` (a stop asked for elsewhere: the store, a queued hand-off) makes the
    next log raise RunStopped and the run end killed; unlike ``stop`` it does not record the
    request in the store itself."""
    run = _run(id="rs")
    run.log({"x": 1.0})
    run.request_stop()
    assert run.stop_requested
    assert not run.record().stop_requested
    with pytest.raises(nbrun.RunStopped):
        run.log({"x": 2.0})
    run.finish()
    assert run.state == "killed"


# -- capture_thread_output / write_output ------------------------------------------------------
def test_a_threads_output_goes_to_the_run_inside_capture_thread_output(run_dir: Path) -> None:
    """What a thread prints inside ``capture_thread_output`` is the run's; after the block it
    goes where any thread's output goes (the current run); ``write_output`` adds text to
    output.log without printing it; a bad stream or text is refused."""

    def work() -> None:
        with run.capture_thread_output():
            print("inside the block")
        print("after the block")

    current = _run(id="current")  # nbrun.run (create_new keeps it): unbound threads print here
    run = _run(id="cap")
    t = threading.Thread(target=work)
    t.start()
    t.join()
    run.write_output("stderr", "written, not printed\n")
    with pytest.raises(nbrun.UsageError, match=r"stream 'stdlog'.*'stdout', 'stderr'"):
        run.write_output("stdlog", "x\n")
    with pytest.raises(nbrun.UsageError, match="text must be a str, got int"):
        run.write_output("stdout", 3)  # type: ignore[arg-type]
    run.finish()
    current.finish()
    lines = run.logs()
    assert list(lines["text"]) == ["inside the block", "written, not printed"]
    assert list(current.logs()["text"]) == ["after the block"]
    assert list(lines["stream"]) == ["stdout", "stderr"]


# -- store / store_key / record ----------------------------------------------------------------
def test_store_store_key_and_record_name_the_stored_run(run_dir: Path) -> None:
    run = _run(id="rec", config={"lr": 0.1})
    view = nbrun.Api(where(run_dir)).run("life/rec")
    assert view.store_key == run.store_key == run.record().key
    assert view.record().config == {"lr": 0.1} and view.store.backend == run.store.backend
    run.finish()


# -- detach / hand_off -- rule 41 ----------------------------------------------------------
def test_rule41_detach_leaves_the_run_running_with_every_row_durable(run_dir: Path) -> None:
    """``detach`` stops this process's writing without ending the run: the pending row is
    written, every row is durable, the record stays running, the run is no longer live here."""
    run = _run(id="det")
    for i in range(3):
        run.log({"x": float(i)})  # the last row is still pending
    run.detach()
    view = nbrun.Api(where(run_dir)).run("life/det")
    assert view.live() is None
    assert view.record().state == "running"
    assert list(view.history()["x"]) == [0.0, 1.0, 2.0]


def test_rule41_hand_off_queues_the_run_for_another_process(run_dir: Path) -> None:
    """``hand_off(metadata)`` detaches the run and records it queued (pid 0, the queued host,
    the given metadata) for a worker to take over; bad metadata is refused before anything
    changes."""
    run = _run(id="ho")
    run.log({"x": 1.0})
    with pytest.raises(nbrun.UsageError, match=r"hand_off: metadata \[1\] must be a dict"):
        run.hand_off([1])  # type: ignore[arg-type]
    assert run.live() is run  # the refused call changed nothing
    rec = run.hand_off({"executor": {"token": "t1"}})
    assert (rec.pid, rec.host, rec.state) == (0, QUEUED_HOST, "running")
    assert rec.metadata == {"executor": {"token": "t1"}}
    view = nbrun.Api(where(run_dir)).run("life/ho")
    assert view.live() is None and list(view.history()["x"]) == [1.0]


# -- check_rows (the observer of launch(recover=)) -- rule 60 ---------------------------------
def test_check_rows_sees_each_written_row_and_its_error_comes_out_of_log(run_dir: Path) -> None:
    run = _run(id="chk")
    seen: list[dict[str, object]] = []

    def check(row: dict[str, object]) -> None:
        seen.append(dict(row))
        if row.get("x") == 3.0:
            raise ValueError("x is 3")

    feed = run.check_rows(check)
    run.log({"x": 1.0})
    run.log({"x": 2.0}, commit=False)
    assert [r["x"] for r in seen] == [1.0]  # a pending row is checked once written
    with pytest.raises(ValueError, match="x is 3"):
        run.log({"x": 3.0})  # overrides the pending x and writes the row
    assert [(r["_step"], r["x"]) for r in seen] == [(0, 1.0), (1, 3.0)]
    assert run.state == "running" and run.step == 2  # the row stays written
    feed.close()
    run.log({"x": 3.0})  # no check any more
    assert len(seen) == 2
    run.finish()
    assert list(nbrun.Api(where(run_dir)).run("life/chk").history()["x"]) == [1.0, 3.0, 3.0]
    other = _run(id="chk2")
    with pytest.raises(nbrun.UsageError, match=r"check_rows: check 3 must be callable"):
        other.check_rows(3)  # type: ignore[arg-type]
    other.finish()


def test_disabled_run_refuses_what_needs_a_stored_run(run_dir: Path) -> None:
    off = _run(mode="disabled", id="off")
    assert off.training_state is None and off.store is None
    assert off.check_rows(print).drain() == []
    off.request_stop()
    with off.capture_thread_output():
        off.write_output("stdout", "dropped\n")
    for call in (
        lambda: off.attach_training(TrainingState(TrainSpec(_noop))),
        off.detach,
        lambda: off.hand_off({}),
        off.record,
    ):
        with pytest.raises(nbrun.UsageError, match="disabled"):
            call()
    off.finish()


# -- the action registry -----------------------------------------------------------------------
def test_an_action_nothing_registered_is_a_usage_error_naming_it() -> None:
    with pytest.raises(nbrun.UsageError, match=r"action 'no-such-action': nothing registered"):
        _actions.get("no-such-action")
    with pytest.raises(nbrun.UsageError, match=r"action name '': must be a non-empty str"):
        _actions.register("", print)
    with pytest.raises(nbrun.UsageError, match=r"action 'x': implementation 3 must be callable"):
        _actions.register("x", 3)  # type: ignore[arg-type]
    with pytest.raises(nbrun.UsageError):
        _actions.get("x")  # the refused registration left nothing behind


def test_training_actions_are_registered_and_the_widgets_load_on_first_use(
    run_dir: Path,
) -> None:
    """``import nbrun`` registers the training actions and names the widget stack's, which
    is imported only when one of them is first asked for (``view.to_html()`` here)."""
    code = (
        "import sys, nbrun\n"
        "from nbrun import _actions, _training\n"
        "assert _actions.get('fork') is _training.fork\n"
        "assert 'nbrun.widgets' not in sys.modules\n"
        "run = nbrun.init(project='w', id='a', settings={'stats': False})\n"
        "run.log({'x': 1.0})\n"
        "run.finish()\n"
        "page = run.to_html()\n"
        "assert 'nbrun.widgets' in sys.modules and '<svg' in page\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=run_dir,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
