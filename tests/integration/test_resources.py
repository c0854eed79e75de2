"""Nothing the tests start outlives them (issue 22): the watchdog of ``tests/resources.py``
stops a PostgreSQL server (daemonized, so not pytest's child) and pytest's child processes when
pytest is killed with ``kill -9``, and a SIGTERM still tears the fixtures down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.conftest import python_env, wait_for
from tests.postgres import find_bin

ROOT = Path(__file__).resolve().parents[2]

# an inner test run: a PostgreSQL server of its own and a child process, then it waits to be
# killed; it writes the server's folder and the child's pid where the outer test can read them
INNER = """
import subprocess, sys, time
from pathlib import Path
from tests.postgres import Server, find_bin

def test_hold(tmp_path):
    server = Server(find_bin())
    server.start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path(OUT).write_text(f"{server.tmp}\\n{child.pid}\\n")
    try:
        time.sleep(600)
    finally:
        server.stop()
"""


def _inner_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp_path / "held.txt"
    test = tmp_path / "inner" / "test_inner.py"
    test.parent.mkdir()
    test.write_text(f"OUT = {str(out)!r}\n" + textwrap.dedent(INNER))
    # the inner run uses this checkout's conftest (its watchdog and its end-of-run check)
    (test.parent / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    env = python_env()
    env.pop("CI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 2, timeout=120)
    return proc, out


def _postmaster_alive(tmp: str) -> bool:
    pidfile = Path(tmp) / "data" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, psutil.Error):
        return False


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _need_pg() -> None:
    if find_bin() is None:
        pytest.skip("PostgreSQL's initdb is not installed")


@pytest.mark.slow  # an inner pytest run with its own PostgreSQL server
def test_kill_9_of_pytest_leaves_no_server_and_no_child(tmp_path: Path) -> None:
    _need_pg()
    proc, out = _inner_run(tmp_path)
    tmp, child = out.read_text().splitlines()
    assert _postmaster_alive(tmp) and _alive(int(child))
    proc.send_signal(signal.SIGKILL)  # no teardown runs in the inner pytest
    proc.wait(30)
    wait_for(lambda: not _postmaster_alive(tmp) and not _alive(int(child)), timeout=60)
    wait_for(lambda: not Path(tmp).exists(), timeout=30)


@pytest.mark.slow  # an inner pytest run with its own PostgreSQL server
def test_sigterm_of_pytest_tears_fixtures_down_and_says_so(tmp_path: Path) -> None:
    _need_pg()
    proc, out = _inner_run(tmp_path)
    tmp, child = out.read_text().splitlines()
    os.kill(proc.pid, signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    text = output.decode(errors="replace")
    assert not _postmaster_alive(tmp) and not Path(tmp).exists()
    # the test's own finally stopped the server; the child it forgot is named and stopped
    assert "LEFT RUNNING" in text and f"(pid {child})" in text, text
    assert not _alive(int(child))
    assert proc.returncode != 0
