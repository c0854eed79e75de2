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
from nbrun._store import PgStore
from tests import resources
from tests.postgres import Server, find_bin, missing

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


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the watchdog that stops what the tests started if pytest dies
    (``tests/resources.py``)."""
    resources.start_watchdog()


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Iterator[None]:
    """After every fixture is torn down: nothing the tests started may still run. Whatever is
    left is stopped, named, and fails the run."""
    result = yield
    left = resources.leftovers()
    resources.stop_all()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if left:
        message = "test resources LEFT RUNNING after the suite (now stopped): " + "; ".join(left)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        message = f"test resources: {resources.summary()} started, all stopped"
    if reporter is not None:
        reporter.write_sep("-", message, red=bool(left), bold=bool(left))
    return result


#: the store backends a suite runs on when it asks for both (``BOTH_BACKENDS``)
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session", autouse=True)
def _checkpoint_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's checkpoint key file (rule 45), never the user's own ``~/.config/nbrun/key``;
    set before any worker process (Dask cluster, process pool, subprocess) starts, so they all
    sign and verify with it."""
    saved = {var: os.environ.get(var) for var in ("NBRUN_KEY", "NBRUN_KEY_FILE")}
    path = tmp_path_factory.mktemp("nbrun-key") / "key"
    os.environ.pop("NBRUN_KEY", None)
    os.environ["NBRUN_KEY_FILE"] = str(path)
    yield path
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """One real PostgreSQL server for the session (see ``tests/postgres.py``)."""
    bindir = find_bin()
    if bindir is None:
        missing("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("psycopg is not installed (pip install 'nbrun[postgres]')")
    server = Server(bindir)  # type: ignore[arg-type]
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backend of the test's store: SQLite unless a test asks for both
    (``@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)``) or a module
    overrides this fixture with one parametrised over :data:`BACKENDS`."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def run_dir(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    store_backend: str,
) -> Iterator[Path]:
    """A fresh run directory; the cwd is moved there so defaults land in it too. With the
    ``postgresql`` backend the runs go to a fresh database of the session's server instead
    (``NBRUN_STORE``, files under ``<run_dir>/files``): reach it with :func:`where`."""
    monkeypatch.chdir(tmp_path)
    for var in (
        "NBRUN_PROJECT",
        "NBRUN_DIR",
        "NBRUN_STORE",
        "NBRUN_FILES",
        "NBRUN_RUN_ID",
        "NBRUN_SWEEP_ID",
        "NBRUN_MODE",
        "NBRUN_RESUME",
        "NBRUN_FORK_FROM",
        "NBRUN_RESUME_FROM",
    ):
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):  # W&B's variables also supply init's arguments (rule 38)
        if var.startswith("WANDB_") or var == "NBRUN_AS_WANDB":
            monkeypatch.delenv(var, raising=False)
    url = None
    if store_backend == "postgresql":
        url = request.getfixturevalue("pg_server").new_database()
        monkeypatch.setenv("NBRUN_STORE", url)
        monkeypatch.setenv("NBRUN_FILES", str(tmp_path / "files"))
    yield tmp_path
    if url is not None:  # finish this test's runs, then close the connections to its database
        for run in _registry.live_runs():
            run.finish()
        _registry.set_current(None)
        PgStore.forget_url(url)


def where(run_dir: Path) -> str:
    """The ``dir=`` that reaches the test's store: the PostgreSQL URL of the ``postgresql``
    variant, else ``run_dir``."""
    return os.environ.get("NBRUN_STORE") or str(run_dir)


@pytest.fixture(autouse=True)
def _no_run_left_behind() -> Iterator[None]:
    yield
    for run in _registry.live_runs():
        run.finish()
    _registry.set_current(None)


@pytest.fixture
def api(run_dir: Path) -> nbrun.Api:
    """An Api over the test's store (its run directory, or its PostgreSQL database)."""
    return nbrun.Api(where(run_dir))


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, interval: float = 0.01) -> None:
    """Wait until ``cond()`` is true (tests wait on conditions, never on fixed sleeps). The
    timeout is generous: CI runs the suite on 2 busy cores, and a met condition ends the wait
    at once."""
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
