"""The dashboard's actions: Fork, Rewind and Stop as the buttons ask for them, checked the way
the Python methods check them, each answered with a result message (the ``result`` trait)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from nbrun import UsageError

from ._protocols import KeyValues, RunLike, is_live


class ActionTarget(Protocol):
    """What performs the actions: the dashboard's public methods."""

    def fork(self, step: int | None = None, config: Mapping[str, Any] | None = None) -> RunLike:
        """Fork at ``step`` with config overrides; returns the new run."""
        ...

    def rewind(self, step: int | None = None, config: Mapping[str, Any] | None = None) -> RunLike:
        """Rewind to ``step`` with config overrides; returns the resumed run."""
        ...

    def stop(self) -> RunLike:
        """Stop the running run; returns it."""
        ...


def perform(target: ActionTarget, action: Any, content: Mapping[str, Any]) -> dict[str, Any]:
    """Carry out a button's message ``{"action", "req", "step", "config"}`` on ``target``;
    returns the ``result`` to show (``ok`` False with the error's text when it failed)."""
    req = content.get("req")
    try:
        if action == "fork":
            new = target.fork(content.get("step"), content.get("config"))
            fp = new.forked_from
            msg = f"forked {new.name} ({new.id}) from step {fp.step if fp else '?'}"
        elif action == "rewind":
            new = target.rewind(content.get("step"), content.get("config"))
            msg = f"rewound {new.id} to step {new.starting_step - 1}; later rows archived"
        elif action == "stop":
            new = target.stop()
            msg = f"stop requested: {new.id} ends as killed at its next log"
        else:
            raise ValueError(f"unknown action {action!r}; the dashboard knows fork, rewind, stop")
    except Exception as exc:
        return {"req": req, "action": action, "ok": False, "message": error_text(exc)}
    return {"req": req, "action": action, "ok": True, "message": msg, "run_id": new.id}


def error_text(exc: BaseException) -> str:
    """One line naming the exception and its message."""
    return f"{type(exc).__name__}: {exc}"


def check_step(step: Any, selected: int | None) -> int:
    """The step to act on: ``step``, else the selected one; a non-negative int."""
    if step is None:
        step = selected
    if step is None:
        raise UsageError("no step selected: click a point on a chart first")
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if type(step) is not int or step < 0:
        raise UsageError(f"step {step!r}: must be a non-negative int")
    return step


def changed_config(config: Any, current: KeyValues) -> dict[str, Any]:
    """The keys of ``config`` (a dict from the fork editor) that differ from ``current``."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise UsageError(f"config {config!r}: must be a dict of config keys to values")
    now = dict(current)
    return {k: v for k, v in config.items() if k not in now or now[k] != v}


def stop_run(view: RunLike) -> RunLike:
    """Ask the running run ``view`` to stop (it ends as ``killed``); returns it."""
    if not is_live(view.state):
        raise UsageError(f"run {view.id} is {view.state}; only a running run can be stopped")
    view.stop()
    return view
