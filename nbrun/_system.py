"""Facts about the process a run was started in: host, OS, Python, command, git, notebook."""

from __future__ import annotations

import getpass
import importlib
import os
import platform
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


def in_notebook() -> bool:
    """Whether this process is a Jupyter (ipykernel) kernel."""
    if "ipykernel" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get else None
    return shell is not None and hasattr(shell, "kernel")


#: third-party modules the first ``run.display()`` of a notebook needs (pandas for the history,
#: anywidget with ipywidgets for the widget): seconds of imports in a fresh kernel (issue 15)
DISPLAY_IMPORTS = ("pandas", "anywidget")
_warm_started = threading.Event()


def warm_imports(names: tuple[str, ...] = DISPLAY_IMPORTS) -> threading.Thread | None:
    """Import ``names`` on a daemon thread, once per process, so that a later first use (the
    notebook's ``run.display()``) finds them loaded. Returns the thread (None when started
    before, or off with ``NBRUN_WARM_IMPORTS=0``); an import that fails is left to that first
    use to report."""
    if _warm_started.is_set() or os.environ.get("NBRUN_WARM_IMPORTS") == "0":
        return None
    _warm_started.set()

    def work() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # the first real use raises it, with context
                continue

    thread = threading.Thread(target=work, name="nbrun-warm-imports", daemon=True)
    thread.start()
    return thread


def user_name() -> str:
    """The local user name (the default entity)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, e.g. in some containers
        return os.environ.get("USER") or "local"


def host_name() -> str:
    """This machine's host name."""
    return socket.gethostname()


def git_root(start: Path | None = None) -> Path | None:
    """The top of the git work tree containing ``start`` (default: cwd), or None."""
    cur = (start or Path.cwd()).resolve()
    for p in (cur, *cur.parents):
        if (p / ".git").exists():
            return p
    return None


def _signature(root: Path) -> tuple[int, ...]:
    """What the remote and the commit depend on: change time, inode and size of ``.git``'s
    HEAD, config, packed refs and the loose ref HEAD names (0s where one is missing). A commit,
    checkout, fetch or ``git remote set-url`` rewrites one of them (git writes a new file and
    renames it: a new inode even where the clock is coarse)."""
    git = root / ".git"
    if git.is_file():  # a worktree or submodule: ".git" names the real folder
        text = git.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            git = (root / text[7:].strip()).resolve()
    files = [git / "HEAD", git / "config", git / "packed-refs"]
    try:
        head = (git / "HEAD").read_text(errors="replace").strip()
    except OSError:
        head = ""
    if head.startswith("ref:"):
        files.append(git / head[4:].strip())
    out: list[int] = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            out += (0, 0, 0)
            continue
        out += (st.st_mtime_ns, st.st_ino, st.st_size)
    return tuple(out)


#: remote and commit per work tree, with the signature they were read under: each run's init
#: asked git three times (about 20 ms); now a sweep's or a PBT's runs ask once (``dirty``)
_git_facts: dict[Path, tuple[tuple[int, ...], str | None, str | None]] = {}


def git_facts(root: Path) -> dict[str, Any]:
    """The git facts a run records: work tree, remote, commit and whether tracked files differ
    from the commit (always asked: an edited file changes nothing under ``.git``)."""
    sig = _signature(root)
    known = _git_facts.get(root)
    if known is None or known[0] != sig:
        remote = _git(root, "config", "--get", "remote.origin.url")
        commit = _git(root, "rev-parse", "HEAD")
        known = (sig, remote, commit)
        _git_facts[root] = known
    return {
        "root": str(root),
        "remote": known[1],
        "commit": known[2],
        "dirty": _git(root, "status", "--porcelain", "--untracked-files=no") is not None,
    }


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=3, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def notebook_path() -> str | None:
    """The path of the notebook this kernel runs, where Jupyter tells it."""
    for var in ("JPY_SESSION_NAME", "__vsc_ipynb_file__"):
        if os.environ.get(var):
            return os.environ[var]
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get else None
    session = getattr(shell, "user_ns", {}).get("__session__") if shell is not None else None
    return str(session) if session else None


def memory_total() -> int | None:
    """This machine's physical memory in bytes, where the OS tells it cheaply."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def gpu_names() -> list[str]:
    """The NVIDIA GPUs' model names as the Linux driver lists them (no library, no subprocess);
    empty elsewhere or without the driver."""
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
                    break
        except OSError:
            continue
    return names


#: the metadata keys that describe the process (and machine) writing a run; a run trained on
#: an executor's worker records the worker's (issue 21, item 13)
PROCESS_KEYS = (
    "host",
    "os",
    "python",
    "executable",
    "cwd",
    "user",
    "pid",
    "cpu_count",
    "memory",
    "gpu",
    "gpu_count",
    "gpu_devices",
)


def process_facts() -> dict[str, Any]:
    """This process's host, pid, user, Python and hardware (the :data:`PROCESS_KEYS`; GPU
    keys only when there is a GPU)."""
    meta: dict[str, Any] = {
        "host": host_name(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "cwd": os.getcwd(),
        "user": user_name(),
        "pid": os.getpid(),
        "cpu_count": os.cpu_count(),
        "memory": {"total": memory_total()},
    }
    gpus = gpu_names()
    if gpus:
        meta["gpu"] = gpus[0]
        meta["gpu_count"] = len(gpus)
        meta["gpu_devices"] = gpus
    return meta


def collect(version: str, git: bool = True) -> dict[str, Any]:
    """Run metadata as W&B's run overview shows it (without git facts when ``git`` is False)."""
    meta: dict[str, Any] = {**process_facts(), "nbrun_version": version}
    if in_notebook():
        meta["notebook"] = notebook_path()
    else:
        meta["command"] = [sys.argv[0] if sys.argv else "", *sys.argv[1:]]
    root = git_root() if git else None
    if root is not None:
        meta["git"] = git_facts(root)
    return meta
