"""The action registry: how the read and run layers reach what a higher layer implements.

``RunView.fork`` / ``rewind`` / ``fork_many`` / ``checkpoints``, ``Run.checkpoint`` /
``restore`` (implemented by ``_training``), ``RunView.display`` / ``chart`` / ``to_html``
(implemented by ``widgets``) and ``Artifact.logged_by`` / ``used_by`` (which return
``_views.StoredRun``) live in modules *below* the code that implements them. Instead of
importing upward, they look the implementation up here by name; the implementing module
registers it when it is imported (:func:`register`). A module that is imported only on first
use (the widget stack, the W&B drop-in) is named by the top layer (``nbrun/__init__``) with
:func:`provided_by`, and loaded by :func:`get` the first time one of its actions is asked
for. An action nothing registered is a :class:`~nbrun.UsageError` that names it.

This module imports nothing of nbrun but ``errors``: it sits at layer 1.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, cast

from .errors import UsageError

_actions: dict[str, Callable[..., Any]] = {}
_providers: dict[str, tuple[str, str]] = {}
_lock = threading.Lock()


def register(name: str, fn: Callable[..., Any]) -> None:
    """Make ``fn`` the implementation of the action ``name`` (the implementing module calls
    this when it is imported; registering again replaces it)."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"action name {name!r}: must be a non-empty str")
    if not callable(fn):
        raise UsageError(f"action {name!r}: implementation {fn!r} must be callable")
    with _lock:
        _actions[name] = fn


def provided_by(module: str, **names: str) -> None:
    """Say that the actions ``names`` (action name -> attribute name) are attributes of
    ``module`` (a dotted name), imported the first time one of them is asked for: for a layer
    loaded on first use (the widget stack), so ``import nbrun`` does not pay for it."""
    with _lock:
        for name, attr in names.items():
            _providers[name] = (module, attr)


def get(name: str) -> Callable[..., Any]:
    """The implementation of the action ``name``; its provider module is imported first if
    it was named with :func:`provided_by` and has not registered yet."""
    fn = _actions.get(name)
    if fn is not None:
        return fn
    provider = _providers.get(name)
    if provider is not None:
        fn = cast("Callable[..., Any]", getattr(importlib.import_module(provider[0]), provider[1]))
        register(name, fn)
        return fn
    known = ", ".join(sorted(_actions)) or "none"
    raise UsageError(
        f"action {name!r}: nothing registered it (its module was not imported; registered "
        f"actions: {known}); import nbrun (not only its submodules) before calling it"
    )
