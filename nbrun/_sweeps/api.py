"""``nbrun.sweep`` and ``nbrun.agent`` (W&B's ``wandb.sweep`` / ``wandb.agent``, offline):
a sweep is stored in the run store; agents anywhere that reach the store run its trials
(rules 50-53)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import pickle
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import _ids, _system
from .._init_request import env_value
from .._records import SweepRecord
from .._store import Store
from ..errors import UsageError
from .agent import SweepHandle, find_sweep, run_agent, split_sweep_path
from .config import parse_sweep_config
from .program import check_program
from .search import grid_size


def _store_dir(dir: str | os.PathLike[str] | None) -> str:
    """The store ``init`` would use: ``dir``, else NBRUN_STORE, NBRUN_DIR, WANDB_DIR, cwd."""
    return str(env_value("dir", dir) or os.getcwd())


def _project(project: str | None, fallback: str | None = None) -> str | None:
    given = env_value("project", project) or fallback
    return None if given is None else _ids.validate_project(given)


def sweep(
    config: Mapping[str, Any],
    project: str | None = None,
    *,
    dir: str | os.PathLike[str] | None = None,
    seed: int | None = None,
) -> str:
    """Store a sweep and return its id (W&B's ``wandb.sweep``, rule 50).

    ``config`` is W&B's sweep configuration (``method``, ``metric``, ``parameters``,
    ``run_cap``, ``early_terminate``, ...), checked before anything is stored: a bad one
    raises :class:`~nbrun.errors.SweepConfigError` naming the key. ``project``: else the
    config's ``project``, else ``NBRUN_PROJECT`` / ``WANDB_PROJECT``, else the git
    repository's name (as ``init``). ``dir``: the store (a folder or a ``postgresql://``
    URL), found as ``init`` finds it. ``seed`` makes the suggestions reproducible (random
    when None). Start agents with :func:`nbrun.agent` (``"project/ID"``)."""
    cfg = parse_sweep_config(config)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise UsageError(f"sweep(seed={seed!r}): pass an int (or None for a random seed)")
    name = _project(project, cfg.project)
    if name is None:
        root = _system.git_root()
        name = _ids.validate_project(root.name if root is not None else "uncategorized")
    store = Store.open(_store_dir(dir))
    now = time.time()
    while True:
        rec = SweepRecord(
            key=0,
            project=name,
            id=_ids.generate_id(),
            name=cfg.name,
            config=cfg.raw,
            method=cfg.method,
            state="PENDING",
            seed=secrets.randbelow(2**31) if seed is None else seed,
            created=now,
            updated=now,
        )
        if store.create_sweep(rec) is not None:
            return rec.id


def agent(
    sweep_id: str,
    function: Callable[[], Any] | None = None,
    count: int | None = None,
    project: str | None = None,
    *,
    dir: str | os.PathLike[str] | None = None,
    executor: cf.Executor | None = None,
) -> None:
    """Run trials of a sweep (W&B's ``wandb.agent``, rules 51-53): for each suggestion
    claimed from the store, call ``function()``; its ``nbrun.init()`` (or ``wandb.init()``)
    becomes the trial's run, with the suggestion in its config and ``run.sweep_id`` set.
    When ``function`` returns, its run is finished; when it raises, the run fails, the
    traceback is printed and the agent goes on.

    ``sweep_id``: ``"ID"`` (with ``project``), ``"project/ID"`` or ``"entity/project/ID"``.
    ``count``: at most this many trials in this call (None: until the sweep has none left
    or its ``run_cap`` is reached). Any number of agents (threads, processes, machines on one
    PostgreSQL store) may share a sweep. ``function=None`` runs the sweep's ``program`` in a
    subprocess per trial (W&B's default command ``${env} ${interpreter} ${program} ${args}``,
    or the config's ``command``). ``executor`` (a ``concurrent.futures.Executor``: a process
    pool, a Dask client's ``get_executor()``): the trials run on its workers, each task an
    agent of one trial (``count`` tasks, else as many as the grid or ``run_cap`` leaves;
    the function travels with cloudpickle)."""
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise UsageError(f"agent(count={count!r}): pass a positive int, or None (no limit)")
    if function is not None and not callable(function):
        raise UsageError(f"agent(function={function!r}): pass a callable taking no arguments")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise UsageError(
            f"agent(executor={executor!r}): pass a concurrent.futures.Executor (e.g. "
            "ProcessPoolExecutor(), or distributed.Client(...).get_executor()) or None"
        )
    name, sid = split_sweep_path(sweep_id, _project(project))
    handle = find_sweep(_store_dir(dir), name, sid)
    if function is None and handle.cfg.program is None and handle.cfg.command is None:
        raise UsageError(
            f"agent({sweep_id!r}) without function= runs the sweep's program, and sweep "
            f"{handle.rec.id!r} has no program: pass function=, or give the config a "
            "program: (or command:)"
        )
    if function is None:  # a bad command or a missing program: before any trial (rule 56)
        check_program(handle.cfg.program, handle.cfg.command, entity=handle.cfg.entity)
    if executor is not None:
        if function is None:
            raise UsageError("agent(executor=...) runs a function on the workers: pass function=")
        _on_executor(handle, function, count, executor)
        return
    run_agent(handle, function, count)


# -- executor= -------------------------------------------------------------------------------
def _pack(function: Callable[[], Any]) -> bytes:
    try:
        import cloudpickle  # noqa: PLC0415 - optional extra, loaded only for executors

        return bytes(cloudpickle.dumps(function))
    except ImportError:  # pragma: no cover - the dask extra installs it
        return pickle.dumps(function)
    except Exception as exc:
        raise UsageError(
            f"agent(executor=...): the function {getattr(function, '__qualname__', function)!r}"
            f" cannot be pickled to send it to the executor ({type(exc).__name__}: {exc}); "
            "define it in an importable module"
        ) from exc


def remote_trial(payload: bytes, base: str, files: str | None, project: str, sid: str) -> int:
    """An executor's task: one agent of at most one trial (0 when none was left)."""
    if files is not None:  # the shared run-files folder of the store the agent uses
        os.environ.setdefault("NBRUN_FILES", files)
    function = pickle.loads(payload)  # our own payload, made by _pack
    return run_agent(find_sweep(base, project, sid), function, 1)


def _on_executor(
    handle: SweepHandle, function: Callable[[], Any], count: int | None, executor: cf.Executor
) -> int:
    cfg, store = handle.cfg, handle.store
    tasks = count
    if tasks is None:
        limit = min(n for n in (grid_size(cfg), cfg.run_cap, 2**31) if n is not None)
        if limit == 2**31:
            raise UsageError(
                f"agent(executor=...) on sweep {handle.rec.id!r}, which has no end (method "
                f"{cfg.method!r}, no run_cap): pass count="
            )
        taken = sum(1 for t in store.list_trials(handle.rec.key) if t.state != "crashed")
        tasks = max(0, limit - taken)
    payload = _pack(function)
    files = str(store.root) if store.backend == "postgresql" else None
    futures = [
        executor.submit(remote_trial, payload, handle.dir, files, handle.rec.project, handle.rec.id)
        for _ in range(tasks)
    ]
    return sum(f.result() for f in futures)
