"""Shared fixtures: one temporary run directory per test, and no run left behind."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import nbrun
from nbrun import _registry


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh run directory; the cwd is moved there so defaults land in it too."""
    monkeypatch.chdir(tmp_path)
    for var in (
        "NBRUN_PROJECT",
        "NBRUN_DIR",
        "NBRUN_RUN_ID",
        "NBRUN_MODE",
        "NBRUN_RESUME",
        "NBRUN_FORK_FROM",
        "NBRUN_RESUME_FROM",
    ):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path


@pytest.fixture(autouse=True)
def _no_run_left_behind() -> Iterator[None]:
    yield
    for run in _registry.live_runs():
        run.finish()
    _registry.set_current(None)


@pytest.fixture
def api(run_dir: Path) -> nbrun.Api:
    """An Api over the test's run directory."""
    return nbrun.Api(run_dir)


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Wait until ``cond()`` is true (tests wait on conditions, never on fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def python_env() -> dict[str, str]:
    """Environment for subprocesses that import nbrun from this checkout."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env
