"""Recovery by rewind on an executor (issue 23, item 3; rules 60-61): a run launched with
``executor=`` (a real spawn ``ProcessPoolExecutor``) and ``recover=`` is watched in the worker,
which rewinds it to its last checkpoint before the divergence, lowers the learning rate and
trains on; the caller's ``RemoteRun`` follows it through the store. SQLite and PostgreSQL."""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

import nbrun
from nbrun._training import RECOVERED
from tests.conftest import BACKENDS, where

# the training function travels by value: a worker imports numpy and nbrun, not this module
cloudpickle.register_pickle_by_value(sys.modules[__name__])

STEPS = 120


def toy(run: Any) -> None:
    """Gradient descent on a float32 least-squares problem of curvature 10 (diverges to inf
    for lr=0.5, converges for lr=0.125), checkpointed every 5 steps; logs the worker's pid."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    x *= math.sqrt(10 / np.linalg.eigvalsh(2 / len(x) * x.T @ x).max())
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0])).astype(np.float32)
    x = x.astype(np.float32)
    state = run.restore() or {"w": np.zeros(4, np.float32)}
    w = state["w"]
    lr = np.float32(run.config["lr"])
    with np.errstate(all="ignore"):
        for step in range(run.step, STEPS):
            err = x @ w - y
            run.log({"loss": float(np.mean(err * err)), "pid": os.getpid()})
            w = w - lr * np.float32(2 / len(x)) * (x.T @ err)
            if step % 5 == 4:
                run.checkpoint({"w": w})


def spawn_pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule60_the_worker_detects_rewinds_and_finishes(run_dir: Path) -> None:
    with spawn_pool() as pool:
        remote = nbrun.launch(
            toy,
            project="rec",
            dir=where(run_dir),
            config={"lr": 0.5},
            executor=pool,
            recover=nbrun.Recover(metric="loss", update={"lr": 0.5}, retries=3),
        )
        assert isinstance(remote, nbrun.RemoteRun)
        assert remote.wait(120)
    assert remote.error is None
    view = nbrun.Api(where(run_dir)).run(f"rec/{remote.id}")
    assert view.state == "finished" and view.step == STEPS
    assert view.config["lr"] == 0.125
    assert math.isfinite(view.summary["loss"]) and view.summary["loss"] < 1e-3
    pids = set(view.history(keys=["pid"])["pid"])
    assert pids and os.getpid() not in pids  # every row, before and after the rewinds: worker
    archives = view.archives()
    assert [a.reason for a in archives] == ["rewind", "rewind"]
    for archive in archives:
        assert not math.isfinite(archive.history(keys=["loss"])["loss"].iloc[-1])
    alerts = [a for a in view.alerts if a["title"] == RECOVERED]
    assert len(alerts) == 2 and "lr 0.25 -> 0.125" in alerts[1]["text"]
    # the hand-off's record survives the rewinds: the run still says where it was made
    assert view.metadata["executor"]["kind"].endswith("ProcessPoolExecutor")
    assert view.metadata["recovered"]["recovery"] == 2


def test_rule61_the_worker_fails_the_run_when_retries_are_used_up(run_dir: Path) -> None:
    with spawn_pool() as pool:
        remote = nbrun.launch(
            toy,
            project="rec",
            dir=run_dir,
            config={"lr": 0.5},
            executor=pool,
            recover=nbrun.Recover(update={"lr": 0.9}, retries=1),
        )
        assert isinstance(remote, nbrun.RemoteRun) and remote.wait(120)
    assert remote.state == "failed"
    assert remote.error is not None and "gave up after 1 recoveries" in remote.error
    assert "training diverged: loss=inf" in remote.error
    assert len(remote.archives()) == 1
