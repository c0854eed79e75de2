"""The dashboard's overview: the run's identity, state, config (or its change against the
parent), summary, forks, archived segments, saved files, artifacts in and out, alerts and
errors, as JSON-safe data for the
``overview`` trait. The front end writes every string of it as text."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import nbrun
from nbrun.media import describe

from ._data import as_number
from ._protocols import RunLike


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
    }


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
    """The total steps announced to ``nbrun.launch`` (the progress bar): known to the ``Run``
    object (the view itself, or the run this process logs into)."""
    run = view if isinstance(view, nbrun.Run) else view.live()
    return run.total if isinstance(run, nbrun.Run) else None


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
