"""Nothing the tests start outlives them (issue 22): PostgreSQL servers, JupyterLab servers and
their kernels, Chromium, Dask clusters, helper processes.

Three layers, because each catches what the one before cannot:

1. Fixtures stop what they start (``finally`` blocks, context managers).
2. A ``SIGTERM`` or ``SIGHUP`` to pytest becomes a ``KeyboardInterrupt``, so pytest tears its
   fixtures down as it does on Ctrl-C (by default these signals end the process at once and no
   teardown runs).
3. A watchdog process (this file run as a script), started in its own session when the test
   run starts, follows pytest: every second it notes pytest's descendants, and when pytest is
   gone (a ``kill -9``, a CI time limit) it stops every noted process still alive, every
   process whose environment carries the run's mark (``NBRUN_TESTS_RUN``, inherited by all
   that the run starts, so a process started in pytest's last second is found too), and every
   PostgreSQL server the run registered (``pg_ctl`` daemonizes the server, so it is not a
   descendant) and removes their folders.

At the end of the run :func:`leftovers` lists what is still alive; ``conftest.py`` stops it,
fails the run when anything was left, and prints one line saying what was started and that it
all stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

#: the run's registry of daemonized servers: one JSON object a line
_STATE = Path(tempfile.gettempdir()) / f"nbrun-tests-{os.getpid()}.jsonl"
_started: dict[str, int] = {}
#: the environment variable that marks every process of this run
_MARK = "NBRUN_TESTS_RUN"
_watchdog: subprocess.Popen[bytes] | None = None


def start_watchdog() -> None:
    """Start the watchdog for this (pytest's) process and turn SIGTERM / SIGHUP into
    KeyboardInterrupt."""
    global _watchdog
    _STATE.write_text("")
    os.environ[_MARK] = _STATE.name
    _watchdog = subprocess.Popen(
        [sys.executable, __file__, str(os.getpid()), str(_STATE)],
        start_new_session=True,  # not in pytest's process group: a Ctrl-C does not stop it
        stdin=subprocess.DEVNULL,
    )
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def count(kind: str) -> None:
    """Note that the run started one more ``kind`` (for the closing line)."""
    _started[kind] = _started.get(kind, 0) + 1


def register_pg(tmp: Path, bindir: Path, user: str | None) -> None:
    """Register a PostgreSQL cluster the watchdog stops if pytest dies."""
    count("PostgreSQL server")
    entry = {"kind": "pg", "tmp": str(tmp), "bindir": str(bindir), "user": user}
    with open(_STATE, "a") as f:
        f.write(json.dumps(entry) + "\n")


def _registered_pg() -> list[dict[str, Any]]:
    try:
        lines = _STATE.read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def _postmaster(tmp: str) -> psutil.Process | None:
    """The live postmaster of the cluster in ``tmp``, if any."""
    try:
        pid = int((Path(tmp) / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
        proc = psutil.Process(pid)
        return proc if proc.status() != psutil.STATUS_ZOMBIE else None
    except (OSError, ValueError, psutil.Error):
        return None


def _stop_pg(entry: dict[str, Any]) -> None:
    proc = _postmaster(entry["tmp"])
    if proc is not None:
        cmd = [str(Path(entry["bindir"]) / "pg_ctl"), "-D", f"{entry['tmp']}/data"]
        cmd += ["-m", "immediate", "-w", "stop"]
        if entry["user"]:
            cmd = ["runuser", "-u", entry["user"], "--", *cmd]
        subprocess.run(cmd, capture_output=True, check=False, timeout=60)
        if proc.is_running():
            proc.kill()
    shutil.rmtree(entry["tmp"], ignore_errors=True)


#: helpers of Python's own multiprocessing that live as long as the process that started them
_PYTHON_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _descendants(pid: int, exclude: set[int], helpers: bool = True) -> list[psutil.Process]:
    """The live descendants of ``pid`` but ``exclude``; without ``helpers``, also not
    multiprocessing's resource tracker and fork server (they end with their parent)."""
    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    alive = []
    for p in procs:
        try:
            if p.pid in exclude or p.status() == psutil.STATUS_ZOMBIE:
                continue
            if not helpers and any(h in " ".join(p.cmdline()) for h in _PYTHON_HELPERS):
                continue
            alive.append(p)
        except psutil.Error:
            pass
    return alive


def _kill(procs: list[psutil.Process]) -> None:
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


def leftovers() -> list[str]:
    """What the run started that is still alive (called once every fixture is torn down)."""
    exclude = {_watchdog.pid} if _watchdog is not None else set()
    # a process still ending (a kernel its server just shut down) gets a few seconds
    _, procs = psutil.wait_procs(_descendants(os.getpid(), exclude, helpers=False), timeout=10)
    left = []
    for p in procs:
        try:
            left.append(f"{' '.join(p.cmdline()[:3])} (pid {p.pid})")
        except psutil.Error:
            pass
    left += [
        f"PostgreSQL server in {entry['tmp']}"
        for entry in _registered_pg()
        if _postmaster(entry["tmp"]) is not None
    ]
    return left


def stop_all() -> None:
    """Stop whatever :func:`leftovers` found, then the watchdog itself."""
    exclude = {_watchdog.pid} if _watchdog is not None else set()
    _kill(_descendants(os.getpid(), exclude, helpers=False))
    for entry in _registered_pg():
        _stop_pg(entry)
    if _watchdog is not None:
        _watchdog.terminate()
        _watchdog.wait(10)
    _STATE.unlink(missing_ok=True)


def summary() -> str:
    """What the run started, e.g. ``2 PostgreSQL servers, 14 JupyterLab servers``."""
    parts = [f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in sorted(_started.items())]
    return ", ".join(parts) or "no servers"


def _watch(parent: int, state: Path) -> None:
    try:
        me = psutil.Process(parent)
        born = me.create_time()
    except psutil.Error:
        return
    seen: dict[int, float] = {}
    while True:
        try:
            if not me.is_running() or me.create_time() != born or me.status() == "zombie":
                break
        except psutil.Error:
            break
        for p in _descendants(parent, {os.getpid()}):
            try:
                seen[p.pid] = p.create_time()
            except psutil.Error:
                pass
        time.sleep(1.0)
    # pytest is gone without its teardown: stop what it left
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.environ().get(_MARK) == state.name:
                seen.setdefault(p.pid, p.create_time())
        except psutil.Error:
            pass
    procs = []
    for pid, created in seen.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == created:
                procs.append(p)
        except psutil.Error:
            pass
    _kill(procs)
    try:
        lines = state.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        if line.strip():
            _stop_pg(json.loads(line))
    state.unlink(missing_ok=True)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), Path(sys.argv[2]))
