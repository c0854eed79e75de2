"""Training on executors (issue 17): ``launch`` / ``fork`` / ``fork_many`` / ``rewind`` with
``executor=`` send the training function to another process (a real ``ProcessPoolExecutor``,
a real Dask ``LocalCluster`` with process workers), which takes over the run made here, restores
the checkpoint from the run files, trains and finishes; Stop works through the store; a worker
that dies marks its run crashed. No mocks."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

import nbrun
from nbrun._training import QUEUED_HOST, TRAINING_LOST
from tests import resources
from tests.conftest import BACKENDS, wait_for

# the training functions below travel by value, so a worker does not import this test module
# (and pytest, hypothesis, ... with it): it only needs numpy and nbrun
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def train(run: Any) -> None:
    """A deterministic noisy descent whose RNG lives in the checkpointed state (module level:
    pickled by reference); ``pause`` slows each step so a test can stop or kill it midway."""
    cfg = run.config
    state = run.restore() or {"w": 5.0, "rng": np.random.default_rng(cfg.get("seed", 0))}
    for _ in range(run.step, cfg.get("steps", 60)):
        state["w"] -= cfg.lr * state["w"] + state["rng"].normal() * 0.1
        run.log({"loss": state["w"] ** 2, "w": state["w"], "pid": os.getpid()})
        if run.step % 10 == 0:
            run.checkpoint(state)
        if cfg.get("pause"):
            time.sleep(cfg.pause)


# what a notebook cell defines: a function of the interactive __main__ module, which workers
# cannot import, so it must travel by value (cloudpickle, as Dask sends notebook functions)
NOTEBOOK_CELL = """
import numpy as np

SCALE = 3.0

def train(run):
    state = run.restore() or {"x": 0.0}
    for _ in range(run.step, run.config.steps):
        state["x"] += run.config.lr * SCALE
        run.log({"x": state["x"]})
        if run.step % 5 == 0:
            run.checkpoint(state)
"""


def notebook_train() -> Any:
    ns: dict[str, Any] = {"__name__": "__main__"}
    exec(NOTEBOOK_CELL, ns)
    fn = ns["train"]
    assert fn.__module__ == "__main__"
    return fn


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers start fresh (spawn): nothing is inherited by forking."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def parent_run(run_dir: Path, project: str = "x") -> nbrun.Run:
    run = nbrun.launch(train, project=project, dir=run_dir, config={"lr": 0.1, "seed": 3})
    assert isinstance(run, nbrun.Run) and run.wait(30) and run.state == "finished"
    return run


def column(view: Any, key: str) -> list[float]:
    return view.history(keys=[key])[key].tolist()


def worker_pid(view: nbrun.RemoteRun) -> int:
    return int(view._record().pid or 0)


# -- bad input ----------------------------------------------------------------------------------
def test_bad_executor_is_refused_and_creates_nothing(run_dir: Path, api: nbrun.Api) -> None:
    with pytest.raises(nbrun.UsageError, match=r"executor='dask'.*concurrent.futures.Executor"):
        nbrun.launch(train, project="bad", dir=run_dir, executor="dask")  # type: ignore[arg-type]
    assert api.runs("bad") == []
    plain = nbrun.init(project="bad", dir=run_dir)
    plain.log({"a": 1})
    plain.finish()
    with spawn_pool(1) as pool, pytest.raises(nbrun.UsageError, match="not started with"):
        plain.fork(0, executor=pool)
    assert [r.id for r in api.runs("bad")] == [plain.id]


def test_unpicklable_training_function_is_refused_before_a_run_exists(
    run_dir: Path, api: nbrun.Api
) -> None:
    import threading

    lock = threading.Lock()

    def holds_a_lock(run: Any) -> None:
        with lock:
            run.log({"a": 1})

    with spawn_pool(1) as pool, pytest.raises(nbrun.UsageError, match="cannot be pickled"):
        nbrun.launch(holds_a_lock, project="bad", dir=run_dir, executor=pool)
    assert api.runs("bad") == []


# -- a local process pool -----------------------------------------------------------------------
@pytest.mark.slow
def test_process_pool_forks_continue_from_the_checkpoint_like_a_thread_fork(
    run_dir: Path, api: nbrun.Api
) -> None:
    parent = parent_run(run_dir)
    here = parent.fork(25, {"lr": 0.2})  # a thread of this process
    assert isinstance(here, nbrun.Run) and here.wait(30)
    with spawn_pool(2) as pool:
        far = parent.fork_many(25, [{"lr": 0.2}, {"lr": 0.05}], executor=pool)
        # the records exist at once, with their lineage, before any worker has them
        listed = {r.id: r for r in api.runs("x")}
        for f in far:
            assert isinstance(f, nbrun.RemoteRun)
            assert listed[f.id].forked_from.run_id == parent.id
            assert listed[f.id].forked_from.step == 19  # snapped to the checkpoint
        for f in far:
            assert f.wait(60), f.id
    for f in far:
        assert f.state == "finished" and f.error is None and f.step == 60
        assert f.metadata["restore"]["checkpoint_step"] == 19
        own_pids = set(f.history(keys=["pid"])["pid"].tolist()[20:])
        assert own_pids and os.getpid() not in own_pids  # trained in a worker process
        assert f.metadata["executor"]["worker"].endswith(f"pid {own_pids.pop()}")
    assert column(far[0], "w") == column(here, "w")  # same checkpoint, same config: same values
    assert column(far[1], "w")[:20] == column(parent, "w")[:20]
    assert column(far[1], "w")[20:] != column(here, "w")[20:]


@pytest.mark.slow
def test_a_queued_fork_reads_running_and_a_stop_reaches_it_through_the_store(
    run_dir: Path, api: nbrun.Api
) -> None:
    parent = parent_run(run_dir)
    with spawn_pool(1) as pool:  # one worker: the second fork waits in the queue
        busy, queued = parent.fork_many(
            25, [{"pause": 0.02, "steps": 100_000}, {"lr": 0.3}], executor=pool
        )
        wait_for(lambda: busy.step > 25, timeout=120)
        rec = queued._record()
        assert rec.host == QUEUED_HOST and queued.state == "running" and queued.training
        queued.stop()  # asked while it waits: it ends killed as soon as a worker takes it
        busy.stop()  # honoured at the worker's next log, through the store (rule 31)
        assert busy.wait(60) and queued.wait(60)
    assert busy.state == "killed" and busy.step > 25
    assert queued.state == "killed" and queued.step == 20  # took over, logged nothing
    assert api.run(f"x/{busy.id}").state == "killed"


@pytest.mark.slow
def test_a_remote_fork_shows_its_progress_like_a_thread_fork(run_dir: Path) -> None:
    """A launch's ``total`` is a fork's progress bar, whether the fork trains on a thread here
    or on an executor: its handle's ``total``, its dashboard's progress (steps done / total,
    growing as the worker logs), and a reader elsewhere (``Api().run``) sees it as well."""
    from nbrun.widgets._dashboard import Dashboard
    from nbrun.widgets._overview import overview

    parent = nbrun.launch(train, project="x", dir=run_dir, config={"lr": 0.1}, total=200)
    assert isinstance(parent, nbrun.Run) and parent.wait(30) and parent.step == 60
    here = parent.fork(25, {"lr": 0.2})
    assert isinstance(here, nbrun.Run) and here.wait(30)
    assert here.total == 200 and overview(here)["total"] == 200
    with spawn_pool(1) as pool:
        far = parent.fork(25, {"pause": 0.02, "steps": 100_000}, executor=pool)
        assert isinstance(far, nbrun.RemoteRun) and far.total == 200
        dash = Dashboard(far, start=False)
        try:
            seen: list[tuple[int, int | None]] = []

            def progressed() -> bool:
                dash.poll()
                ov = dash.overview
                seen.append((ov["step"], ov["total"]))
                return ov["step"] > 40

            wait_for(progressed, timeout=120)
            assert {total for _, total in seen} == {200}  # from the first poll on
            steps = [step for step, _ in seen]
            assert steps == sorted(steps) and steps[-1] > 40  # steps done grow toward it
            elsewhere = nbrun.Api(run_dir).run(f"x/{far.id}")  # a reader that trains nothing
            assert overview(elsewhere)["total"] == 200
        finally:
            dash.close()
            far.stop()
        assert far.wait(60) and far.state == "killed"
    assert overview(nbrun.Api(run_dir).run(f"x/{far.id}"))["total"] == 200
    plain = nbrun.init(project="x", dir=run_dir)  # not launched: no total, no progress bar
    plain.log({"a": 1})
    plain.finish()
    assert overview(plain)["total"] is None
    assert overview(nbrun.Api(run_dir).run(f"x/{plain.id}"))["total"] is None


@pytest.mark.slow
def test_rewind_of_a_remote_run_stops_it_and_trains_again_on_the_executor(
    run_dir: Path,
) -> None:
    parent = parent_run(run_dir)
    with spawn_pool(1) as pool:
        child = parent.fork(25, {"pause": 0.02, "steps": 100_000}, executor=pool)
        wait_for(lambda: child.step > 35, timeout=120)
        again = child.rewind(30, {"pause": 0, "steps": 50})  # the child's executor is kept
        assert isinstance(again, nbrun.RemoteRun) and again.id == child.id
        assert again.wait(60)
    assert again.state == "finished" and again.step == 50
    assert again.metadata["restore"]["checkpoint_step"] == 29
    assert len(again.archives()) == 1  # the rows after the rewind step, kept as an archive


@pytest.mark.slow
def test_killing_a_pool_worker_marks_its_run_crashed_and_keeps_its_rows(run_dir: Path) -> None:
    parent = parent_run(run_dir)
    with spawn_pool(1) as pool:
        child = parent.fork(25, {"pause": 0.02, "steps": 100_000}, executor=pool)
        wait_for(lambda: child.step > 40 and worker_pid(child) > 0, timeout=120)
        seen = child.step
        os.kill(worker_pid(child), signal.SIGKILL)
        assert child.wait(60)
    assert child.state == "crashed"
    assert child.error is not None and "BrokenProcessPool" in child.error
    assert child.step >= seen  # everything flushed before the kill is still there
    assert [a["title"] for a in child.alerts] == [TRAINING_LOST]
    assert parent.state == "finished"  # nothing else touched


# -- a task delivered twice: the take-over is compare-and-set in the store --------------------
_barrier: Any = None


def _keep_barrier(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _together(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` once the pool's other worker is ready to run its copy too."""
    _barrier.wait(120)
    return fn(*args)


class TwiceExecutor(cf.Executor):
    """A real executor with at-least-once delivery (Dask re-runs a task whose worker it
    thought lost, while that worker may still be running it): every task goes to both
    processes of a spawn pool, released together by a barrier, so both try to take the run
    over at the same moment. ``submit`` returns the first copy's future; ``pairs`` has both."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(
            2, mp_context=ctx, initializer=_keep_barrier, initargs=(ctx.Barrier(2),)
        )
        self.pairs: list[tuple[cf.Future[Any], cf.Future[Any]]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        first = self.pool.submit(_together, fn, *args)
        second = self.pool.submit(_together, fn, *args)
        self.pairs.append((first, second))
        return first

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait, cancel_futures=cancel_futures)


@pytest.mark.slow
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_a_task_delivered_twice_is_taken_over_by_exactly_one_worker(
    run_dir: Path, store_backend: str
) -> None:
    with TwiceExecutor() as twice:
        runs = [
            nbrun.launch(train, project="dup", config={"lr": 0.1, "steps": 30}, executor=twice)
            for _ in range(8)
        ]
        for run in runs:
            assert isinstance(run, nbrun.RemoteRun)
            assert run.wait(120), run.id
        outcomes = [[_outcome(f) for f in pair] for pair in twice.pairs]
    for run, pair in zip(runs, outcomes, strict=True):
        winners = [o for o in pair if isinstance(o, dict)]
        losers = [o for o in pair if not isinstance(o, dict)]
        assert len(winners) == 1 and len(losers) == 1, (run.id, pair)
        assert "a run is not trained twice" in losers[0], losers[0]
        # the run was trained once, by the winner, and nobody marked it crashed
        assert run.state == "finished" and run.error is None and run.alerts == []
        history = run.history(keys=["pid"])
        assert history["_step"].tolist() == list(range(30))
        (pid,) = set(history["pid"].tolist())
        assert winners[0]["worker"].endswith(f"pid {pid}")
        assert run.metadata["executor"]["worker"] == winners[0]["worker"]


def _outcome(future: cf.Future[Any]) -> dict[str, Any] | str:
    exc = future.exception(120)
    return future.result() if exc is None else f"{type(exc).__name__}: {exc}"


# -- a real Dask cluster ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        resources.count("Dask cluster")
        yield client.get_executor()


@pytest.mark.slow
def test_dask_fork_many_continues_from_the_checkpoint(run_dir: Path, dask_executor: Any) -> None:
    parent = parent_run(run_dir)
    here = parent.fork(45, {"lr": 0.05})
    assert isinstance(here, nbrun.Run) and here.wait(30)
    forks = parent.fork_many(45, [{"lr": 0.05}, {"lr": 0.5}], executor=dask_executor)
    for f in forks:
        assert f.wait(120), f.id
        assert f.state == "finished" and f.error is None and f.step == 60
        assert "distributed" in f.metadata["training"]["executor"]
    assert column(forks[0], "w") == column(here, "w")
    assert column(forks[1], "w")[:40] == column(parent, "w")[:40]
    assert column(forks[1], "w")[40:] != column(here, "w")[40:]


@pytest.mark.slow
def test_dask_trains_a_notebook_defined_function(run_dir: Path, dask_executor: Any) -> None:
    fn = notebook_train()
    run = nbrun.launch(
        fn, project="nb", dir=run_dir, config={"lr": 1.0, "steps": 20}, executor=dask_executor
    )
    assert isinstance(run, nbrun.RemoteRun) and run.wait(120)
    assert run.state == "finished", run.error
    assert column(run, "x") == [3.0 * (i + 1) for i in range(20)]
    fork = run.fork(12, {"lr": 2.0})  # the launch's executor is kept
    assert isinstance(fork, nbrun.RemoteRun) and fork.wait(120)
    assert fork.state == "finished", fork.error
    assert column(fork, "x") == [3.0 * (i + 1) for i in range(10)] + [
        30.0 + 6.0 * (i + 1) for i in range(10)
    ]


@pytest.mark.slow
def test_dask_stop_from_the_notebook_kills_the_worker_run(
    run_dir: Path, dask_executor: Any
) -> None:
    parent = parent_run(run_dir)
    (child,) = parent.fork_many(25, [{"pause": 0.02, "steps": 100_000}], executor=dask_executor)
    wait_for(lambda: child.step > 30, timeout=120)
    child.stop()
    assert child.wait(60)
    assert child.state == "killed" and child.error is None


@pytest.mark.slow
def test_dask_dashboard_follows_a_fork_trained_on_the_cluster(
    run_dir: Path, dask_executor: Any
) -> None:
    from nbrun.widgets._dashboard import Dashboard

    parent = parent_run(run_dir)
    dash = Dashboard(nbrun.Api(run_dir).run(f"x/{parent.id}"), start=False)
    try:
        (child,) = parent.fork_many(25, [{"lr": 0.3, "pause": 0.01}], executor=dask_executor)
        key = ("w", f"child:{child.id}")
        steps: list[int] = []

        def grown() -> bool:
            dash.poll()
            if key in dash._data:
                steps.append(dash._data[key].points()[-1][3])
            return bool(steps) and steps[-1] == 59

        wait_for(grown, timeout=120)
        assert child.wait(60) and child.state == "finished"
        assert dash._data[key].points()[-1][2] == column(child, "w")[-1]
    finally:
        dash.close()


@pytest.mark.slow
def test_dask_killed_worker_marks_its_run_crashed(run_dir: Path, dask_executor: Any) -> None:
    """Last in the module: the cluster's nanny restarts the killed worker."""
    parent = parent_run(run_dir)
    doomed, other = parent.fork_many(
        25, [{"pause": 0.02, "steps": 100_000}, {"lr": 0.3}], executor=dask_executor
    )
    wait_for(lambda: doomed.step > 40 and worker_pid(doomed) > 0, timeout=120)
    seen = doomed.step
    os.kill(worker_pid(doomed), signal.SIGKILL)
    assert doomed.wait(120)
    assert doomed.state == "crashed" and doomed.error is not None
    assert doomed.step >= seen
    assert other.wait(120) and other.state == "finished" and other.step == 60


# -- issue 21: where a run trains, and the run files a worker reads -----------------------------
@pytest.mark.slow
def test_a_run_trained_on_a_worker_records_the_worker_and_keeps_its_creator(
    run_dir: Path,
) -> None:
    """Item 13: the host, pid and hardware in the run's metadata are the worker's (another
    process); the notebook's are kept in ``created_by``; the overview names both."""
    from nbrun.widgets._overview import about

    with spawn_pool(1) as pool:
        run = nbrun.launch(train, project="w", config={"lr": 0.1, "steps": 12}, executor=pool)
        assert isinstance(run, nbrun.RemoteRun) and run.wait(120) and run.state == "finished"
    (pid,) = set(column(run, "pid"))
    meta = nbrun.Api(run_dir).run(f"w/{run.id}").metadata
    assert meta["pid"] == pid != os.getpid() and worker_pid(run) == pid
    assert meta["host"] == run._record().host and meta["cpu_count"] == os.cpu_count()
    assert meta["memory"]["total"] > 0 and meta["executable"]
    creator = meta["created_by"]
    assert creator["pid"] == os.getpid() and creator["host"] == meta["host"]
    assert creator["cwd"] == os.getcwd()
    shown = about(nbrun.Api(run_dir).run(f"w/{run.id}"))
    assert shown["trained_by"] == f"{meta['host']} pid {pid}"
    assert shown["created_by"] == f"{meta['host']} pid {os.getpid()}"
    # a run trained in this process has no worker: nothing extra is shown
    here = nbrun.launch(train, project="w", config={"lr": 0.1, "steps": 5})
    assert isinstance(here, nbrun.Run) and here.wait(60)
    assert here.metadata["pid"] == os.getpid() and "created_by" not in here.metadata
    assert about(here)["trained_by"] is None and about(here)["created_by"] is None


@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
def test_pg_files_folder_is_resolved_at_each_open_not_once_per_process(
    run_dir: Path, store_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 2 (item 12): NBRUN_FILES changed after the first open reaches the stores opened
    after it; a store opened with ``files_dir`` keeps its folder beside them."""
    first = nbrun.init(project="f", id="a")
    first.finish()
    assert Path(first.dir).is_relative_to(run_dir / "files")
    monkeypatch.setenv("NBRUN_FILES", str(run_dir / "later"))
    later = nbrun.init(project="f", id="b")
    later.finish()
    assert Path(later.dir).is_relative_to(run_dir / "later")
    kept = nbrun.init(project="f", id="c", settings={"files_dir": str(run_dir / "files")})
    kept.finish()
    assert Path(kept.dir).is_relative_to(run_dir / "files")


@pytest.mark.slow
@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
def test_dask_fork_finds_its_checkpoint_after_nbrun_files_changed(
    run_dir: Path, store_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 2 (item 12): the hand-off carries the run-files folder the forking process used,
    so a worker that sees another NBRUN_FILES (a cluster started after it changed) still finds
    the checkpoint the fork continues from."""
    from distributed import Client, LocalCluster

    parent = nbrun.launch(train, project="x", config={"lr": 0.1, "seed": 3})
    assert isinstance(parent, nbrun.Run) and parent.wait(30) and parent.state == "finished"
    monkeypatch.setenv("NBRUN_FILES", str(run_dir / "elsewhere"))
    with (
        LocalCluster(
            n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        child = parent.fork(45, {"lr": 0.05}, executor=client.get_executor())
        assert isinstance(child, nbrun.RemoteRun) and child.wait(120)
    assert child.state == "finished" and child.error is None, child.error
    assert child.step == 60 and column(child, "w")[:40] == column(parent, "w")[:40]
    assert Path(child.dir).is_relative_to(run_dir / "files")
    assert not (run_dir / "elsewhere" / "runs").exists()
