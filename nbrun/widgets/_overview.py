"""The dashboard's overview: the run's identity, state, config (or its change against the
parent), summary, forks, archived segments, saved files, artifacts in and out, alerts and
errors, as JSON-safe data for the
``overview`` trait. The front end writes every string of it as text."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import nbrun
from nbrun.media import describe

from ._data import as_number
from ._protocols import RunLike, is_live


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a config or summary value (unknown objects become their repr)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth > 8:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    num = as_number(value)  # numpy scalars
    if num is not None:
        return int(num) if float(num).is_integer() and "int" in type(value).__name__ else num
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return jsonable(tolist(), depth + 1)
        except Exception:
            pass
    return repr(value)


def overview(view: RunLike) -> dict[str, Any]:
    """The ``overview`` trait of ``view``'s dashboard."""
    fp = view.forked_from
    config = jsonable(dict(view.config))
    diff = jsonable(view.config_diff) if fp is not None else None
    return {
        "name": str(view.name),
        "id": view.id,
        "project": view.project,
        "path": view.path,
        "state": view.state,
        "runtime": float(view.runtime),
        "step": int(view.step),
        "last_step": last_step(view),
        "starting_step": int(view.starting_step),
        "total": _total(view),
        "config": config,
        "config_diff": diff,
        "summary": jsonable({k: describe(view.summary[k]) for k in view.summary.keys()}),
        "tags": [str(t) for t in (view.tags or ())],
        "notes": view.notes,
        "group": view.group,
        "job_type": view.job_type,
        "forked_from": {"run_id": fp.run_id, "step": fp.step} if fp is not None else None,
        "children": [
            {
                "id": c.id,
                "name": str(c.name),
                "state": c.state,
                "step": c.forked_from.step if c.forked_from else None,
            }
            for c in view.children()
        ],
        "archives": [
            {
                "index": a.index,
                "from_step": a.from_step,
                "to_step": a.to_step,
                "rows": a.rows,
                "reason": a.reason,
                "created": a.created,
            }
            for a in view.archives()
        ],
        "alerts": jsonable(list(view.alerts)),
        **files_and_artifacts(view),
        "training_error": view.error,
        "restore_warning": restore_warning(view),
        "about": about(view),
    }


def last_step(view: RunLike) -> int | None:
    """The step of the run's last row (what the header and the overview show), None before
    the first one."""
    step = int(view.step) - 1
    return step if step >= 0 else None


def about(view: RunLike) -> dict[str, Any]:
    """What W&B's Overview tab lists of the run's process, from its recorded metadata: command
    (or notebook), git (commit, remote, dirty), host, OS, Python, hardware (CPU count, GPUs,
    memory), and its duration (wall clock since it was created; ``runtime`` is the time it
    ran). A run trained on an executor's worker records the worker's host, pid and hardware;
    ``trained_by`` and ``created_by`` then name the worker and the process that made it."""
    meta = getattr(view, "metadata", None) or {}
    git = meta.get("git") if isinstance(meta.get("git"), Mapping) else None
    command = meta.get("command")
    if isinstance(command, list | tuple):
        command = " ".join(str(c) for c in command)
    created = getattr(view, "created", None) or getattr(view, "start_time", None)
    ended = None if is_live(view.state) else getattr(view, "ended", None)
    duration = None
    if isinstance(created, int | float):
        end = ended if isinstance(ended, int | float) else time.time()
        duration = max(0.0, float(end) - float(created))
    memory = meta.get("memory")
    creator = meta.get("created_by")
    trained_by = created_by = None
    if isinstance(creator, Mapping):  # trained by an executor's worker: both processes
        trained_by = f"{meta.get('host')} pid {meta.get('pid')}"
        created_by = f"{creator.get('host')} pid {creator.get('pid')}"
    about: dict[str, Any] = jsonable(
        {
            "command": command,
            "notebook": meta.get("notebook"),
            "cwd": meta.get("cwd"),
            "git": {k: git.get(k) for k in ("commit", "remote", "dirty")} if git else None,
            "host": meta.get("host"),
            "os": meta.get("os"),
            "python": meta.get("python"),
            "executable": meta.get("executable"),
            "cpu_count": meta.get("cpu_count"),
            "gpu": meta.get("gpu"),
            "gpu_count": meta.get("gpu_count"),
            "memory_total": memory.get("total") if isinstance(memory, Mapping) else None,
            "trained_by": trained_by,
            "created_by": created_by,
            "duration": duration,
        }
    )
    return about


#: the fields the overview edits (``{"action": "edit", "field", "value"}``)
EDITABLE = ("name", "tags", "notes")


def apply_edit(view: RunLike, field: Any, value: Any) -> str:
    """Set the run's ``name``, ``tags`` (a list of str, or one comma-separated str) or
    ``notes`` through nbrun's public API (stored at once, for a live run and a stored view
    alike); returns what was done. Bad values raise nbrun's own errors, nothing is changed."""
    if field not in EDITABLE:
        raise nbrun.UsageError(f"edit: field {field!r}; the overview edits {', '.join(EDITABLE)}")
    if field == "tags" and isinstance(value, str):
        value = [t.strip() for t in value.split(",") if t.strip()]
    if field == "notes" and value == "":
        value = None
    setattr(view, field, tuple(value) if field == "tags" and isinstance(value, list) else value)
    return f"{field} saved"


#: at most this many files / artifacts are listed in the overview (the rest are counted)
OVERVIEW_LIMIT = 50


def files_and_artifacts(view: RunLike) -> dict[str, Any]:
    """The overview's saved files (name, size) and artifacts logged (out; inherited ones name
    the run that logged them) and used (in), with versions, aliases and sizes."""
    files = list(view.files())
    own = {a.id for a in view.logged_artifacts()}

    def item(a: Any, inherited: bool) -> dict[str, Any]:
        by = a.logged_by() if inherited else None
        return {
            "name": str(a.name),
            "type": str(a.type),
            "aliases": [str(x) for x in a.aliases],
            "size": int(a.size),
            "inherited_from": by.id if by is not None else None,
        }

    outs = list(view.logged_artifacts(lineage=True))[-OVERVIEW_LIMIT:]
    return {
        "files": [{"name": str(f.name), "size": int(f.size)} for f in files[:OVERVIEW_LIMIT]],
        "files_more": max(0, len(files) - OVERVIEW_LIMIT),
        "artifacts_out": [item(a, a.id not in own) for a in outs],
        "artifacts_in": [item(a, False) for a in list(view.used_artifacts())[-OVERVIEW_LIMIT:]],
    }


def _total(view: RunLike) -> int | None:
    """The total steps announced to ``nbrun.launch`` (the progress bar): known to the object
    that trains the run here (a ``Run`` of this process, or the ``RemoteRun`` handle of a run
    trained on an executor); else, for a run launched elsewhere (another worker, another
    notebook on the team's store), what its launch recorded in the run's metadata."""
    run = view if isinstance(view, (nbrun.Run, nbrun.RemoteRun)) else view.live()
    if isinstance(run, (nbrun.Run, nbrun.RemoteRun)):
        return run.total
    try:
        training = (view.metadata or {}).get("training")
    except Exception:  # pragma: no cover - unexpected metadata shape
        return None
    total = training.get("total") if isinstance(training, Mapping) else None
    return total if type(total) is int and total > 0 else None


def restore_warning(view: RunLike) -> str | None:
    """The warning a restore from a checkpoint left in the run's metadata, if any."""
    try:
        note = (view.metadata or {}).get("restore") or {}
        return note.get("warning")
    except Exception:  # pragma: no cover - unexpected metadata shape
        return None


def checkpoint_steps(view: RunLike) -> list[int]:
    """The steps of the run's checkpoints (a selection snaps to them), sorted."""
    try:
        return sorted({int(ck.step) for ck in view.checkpoints()})
    except Exception:
        return []
