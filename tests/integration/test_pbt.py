"""Population-based training with members on a real process pool (issue 23, item 2; rule 58):
members train in worker processes, meet at the boundaries through their run folders, and the
population's configs and family tree are the same as with members on threads."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

import nbrun
from tests import resources
from tests.conftest import where

# the training function travels by value: a worker needs only numpy and nbrun
cloudpickle.register_pickle_by_value(sys.modules[__name__])

LRS = (0.02, 0.1, 0.4, 3.0)  # 3.0 diverges


def train(run: Any) -> None:
    """Least squares by gradient descent; checkpoints every step (the launch contract)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.01 * rng.normal(size=64)
    state = run.restore() or {"w": np.zeros(3)}
    w = state["w"]
    with np.errstate(all="ignore"):
        for _ in range(run.step, run.total):
            w = w - run.config.lr * (x.T @ (x @ w - y)) / len(y)
            run.log({"loss": float(np.mean((x @ w - y) ** 2)), "pid": os.getpid()})
            run.checkpoint({"w": w})


def lineage(root: Path | str, project: str = "p") -> list[tuple[Any, ...]]:
    runs = {r.id: r for r in nbrun.Api(str(root)).runs(project)}
    out = []
    for r in runs.values():
        fp = r.forked_from
        parent = (runs[fp.run_id].name, fp.step) if fp is not None else None
        out.append((r.name, r.state, r.step, dict(r.config), parent))
    return sorted(out, key=repr)


def run_population(root: Path | str, executor: Any = None, project: str = "p") -> list[Any]:
    return nbrun.pbt(
        train,
        [{"lr": lr} for lr in LRS],
        metric="loss",
        interval=10,
        total=30,
        perturb={"lr": (0.8, 1.25)},
        seed=11,
        executor=executor,
        dir=str(root),
        project=project,
    )


@pytest.mark.slow
def test_rule58_members_on_a_process_pool_match_members_on_threads(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        final = run_population(tmp_path / "pool", pool)
    assert all(isinstance(r, nbrun.RemoteRun) for r in final)
    assert [r.state for r in final] == ["finished"] * 4 and {r.step for r in final} == {30}
    losses = [r.summary["loss"] for r in final]
    assert losses == sorted(losses)
    runs = nbrun.Api(str(tmp_path / "pool")).runs("p")
    # every member trained in a worker process, not here
    for r in runs:
        pids = set(r.history(keys=["pid"])["pid"].dropna().astype(int))
        assert pids and os.getpid() not in pids
    # the diverging member was replaced at the first boundary by a fork at step 9
    bad = next(r for r in runs if r.name == "pbt-3")
    assert bad.state == "killed" and bad.step == 10
    child = next(r for r in runs if r.id == bad.metadata["pbt"]["replaced_by"])
    assert child.forked_from.step == 9 and child.config_diff["lr"]["to"] == child.config["lr"]
    # the same seed gives the same configs and family tree as members on threads
    run_population(tmp_path / "threads")
    assert lineage(tmp_path / "pool") == lineage(tmp_path / "threads")


@pytest.mark.slow
@pytest.mark.parametrize("store_backend", ["postgresql"], indirect=True)
def test_rule58_members_on_a_pool_share_a_postgresql_store(run_dir: Path) -> None:
    """The meeting files live in the run-files folder the workers share with this process; on
    PostgreSQL that is NBRUN_FILES, sent to the workers with every task."""
    store = where(run_dir)
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        final = run_population(store, pool, project="pg")
    assert [r.state for r in final] == ["finished"] * 4
    run_population(store, None, project="threads")
    assert lineage(store, "pg") == lineage(store, "threads")


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=2, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        resources.count("Dask cluster")
        yield client.get_executor()


@pytest.mark.slow
def test_rule58_members_on_a_dask_cluster_match_members_on_threads(
    tmp_path: Path, dask_executor: Any
) -> None:
    final = run_population(tmp_path / "dask", dask_executor)
    assert [r.state for r in final] == ["finished"] * 4
    for r in nbrun.Api(str(tmp_path / "dask")).runs("p"):
        pids = set(r.history(keys=["pid"])["pid"].dropna().astype(int))
        assert pids and os.getpid() not in pids
    run_population(tmp_path / "threads")
    assert lineage(tmp_path / "dask") == lineage(tmp_path / "threads")


@pytest.mark.slow
def test_rule58_an_executor_with_too_few_workers_is_an_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nbrun._pbt, "STALL_GRACE", 3.0)  # the tunable grace, shortened
    with (
        ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool,
        pytest.raises(nbrun.UsageError, match=r"members pbt-2, pbt-3 are still queued"),
    ):
        run_population(tmp_path, pool)
    # every member ended (the paused ones were stopped, the queued ones never trained on)
    runs = nbrun.Api(str(tmp_path)).runs("p")
    assert len(runs) == 4 and all(r.state == "killed" for r in runs)
