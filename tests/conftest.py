"""Shared fixtures: one temporary run directory per test, and no run left behind; the
Hypothesis profiles (``dev``: few examples, the default locally; ``ci``: the full counts, loaded
when ``CI`` is set; ``HYPOTHESIS_PROFILE`` picks one explicitly)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import nbrun
from nbrun import _registry

#: examples per property test in CI; tests scale from it with :func:`examples`
CI_EXAMPLES = 300
_COMMON: dict[str, object] = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=CI_EXAMPLES // 10, **_COMMON)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def examples(per_ci_example: float) -> int:
    """``max_examples`` for a test that runs ``per_ci_example`` times the profile's count
    (the CI profile: ``CI_EXAMPLES``), at least 5."""
    return max(5, round(settings.default.max_examples * per_ci_example))


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
    for var in list(os.environ):  # W&B's variables also supply init's arguments (rule 38)
        if var.startswith("WANDB_") or var == "NBRUN_AS_WANDB":
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
