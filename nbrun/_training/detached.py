"""Runs made on the side: ``init`` that leaves ``nbrun.run`` alone, and the plain fork and
rewind of a run at a step (the calls behind the widgets' buttons, for runs not launched here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .. import _registry
from .._api import open_run
from .._init_request import InitRequest
from .._lineage import ForkPoint
from .._run import Run, Settings
from .._states import is_live
from .._views import RunView
from ..errors import UsageError


def _check_step(step: object) -> int:
    if type(step) is not int or step < 0:
        raise UsageError(f"step {step!r}: must be a non-negative int")
    return step


def init_detached(
    fork_at: ForkPoint | None = None, rewind_to: ForkPoint | None = None, **init_kwargs: Any
) -> Run:
    """``init`` that leaves ``nbrun.run`` as it was (for forks, rewinds and launches made on
    the side, e.g. from a widget button or a background thread). A fork or rewind passes its
    point as such (``fork_at`` / ``rewind_to``), not as ``"id?_step=N"`` text."""
    before = _registry.current_run()
    init_kwargs.setdefault("reinit", "create_new")
    try:
        return open_run(InitRequest.build(init_kwargs, fork_at, rewind_to))
    finally:
        keep = before is not None and is_live(before.state)
        _registry.set_current(before if keep else None)


def _in_store_of(view: RunView, init_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``init``'s keywords for a run made beside ``view`` (a fork, a rewind): on PostgreSQL
    also the run-files folder ``view`` reads, so its checkpoints are found there even after
    ``NBRUN_FILES`` changed in this process (issue 21, item 12)."""
    store = view.store
    if store.backend != "postgresql":
        return init_kwargs
    files = str(store.root)
    settings = init_kwargs.get("settings")
    if settings is None:
        settings = {"files_dir": files}
    elif isinstance(settings, Mapping):
        settings = {"files_dir": files, **settings}
    elif isinstance(settings, Settings) and settings.files_dir is None:
        settings = replace(settings, files_dir=files)
    return {**init_kwargs, "settings": settings}


def fork_run(
    view: RunView, step: int, config: Mapping[str, Any] | None = None, **init_kwargs: Any
) -> Run:
    """A fork of ``view`` at ``step`` with ``config`` overrides (a new run, not made current)."""
    step = _check_step(step)
    return init_detached(
        project=view.project,
        dir=view.root,
        fork_at=ForkPoint(view.id, step),
        config=dict(config or {}),
        **_in_store_of(view, init_kwargs),
    )


def rewind_run(
    view: RunView, step: int, config: Mapping[str, Any] | None = None, **init_kwargs: Any
) -> Run:
    """Rewind ``view`` to ``step`` (finishing it first if it is live and running)."""
    step = _check_step(step)
    live = view.live()
    if live is not None:
        live.finish()
    return init_detached(
        project=view.project,
        dir=view.root,
        rewind_to=ForkPoint(view.id, step),
        config=dict(config or {}),
        **_in_store_of(view, init_kwargs),
    )
