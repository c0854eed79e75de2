"""Finishing runs at interpreter exit with the process's exit status (rule 30), and the
console sink of the current run for unbound threads."""

from __future__ import annotations

import atexit
import builtins
import sys
from typing import Any

from .. import _console, _registry, _system


class _ExitHooks:
    """Records the exit status of a script so runs can be finished with it at exit (rule 30)."""

    def __init__(self) -> None:
        self.code: int = 0
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        self._orig_exit = sys.exit
        self._orig_excepthook = sys.excepthook
        sys.exit = self._exit  # type: ignore[assignment]
        sys.excepthook = self._excepthook
        for name in ("exit", "quit"):  # site's exit() / quit() raise SystemExit themselves
            if hasattr(builtins, name):
                setattr(builtins, name, _Quitter(self, getattr(builtins, name)))

    def record(self, code: object) -> None:
        if code is None:
            self.code = 0
        elif isinstance(code, int):
            self.code = code
        else:
            self.code = 1

    def _exit(self, code: object = 0) -> None:
        self.record(code)
        self._orig_exit(code)  # type: ignore[arg-type]  # sys.exit takes any object

    def _excepthook(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.code = 1
        self._orig_excepthook(exc_type, exc, tb)


class _Quitter:
    """Wraps the ``exit`` / ``quit`` builtins so the exit status they give is recorded."""

    def __init__(self, hooks: _ExitHooks, orig: Any) -> None:
        self._hooks = hooks
        self._orig = orig

    def __repr__(self) -> str:
        return repr(self._orig)

    def __call__(self, code: object = None) -> None:
        self._hooks.record(code)
        self._orig(code)


exit_hooks = _ExitHooks()


def finish_all_at_exit() -> None:
    """Finish every run of this process still running, with the exit status."""
    for run in _registry.live_runs():
        try:
            training = run.training_state
            thread = training.thread if training is not None else None
            if thread is not None and thread.is_alive():
                # background training still going at interpreter exit: stop it, end as killed
                run.stop()
                thread.join(5)
            run.finish(exit_code=exit_hooks.code)
        except Exception as exc:  # pragma: no cover - best effort at exit
            print(f"nbrun: could not finish run {run.id}: {exc}", file=sys.stderr)


_atexit_registered = [False]


def _current_console() -> _console.ConsoleSink | None:
    """The console sink of the current run (where writes of unbound threads go)."""
    return getattr(_registry.current_run(), "_console", None)


_console.set_default(_current_console)


def _ensure_exit_handling() -> None:
    """Once per process: finish runs at interpreter exit; in scripts also record the exit
    status (uncaught exception: 1, ``sys.exit(n)``: n) so the run ends with it (rule 30)."""
    if _atexit_registered[0]:
        return
    _atexit_registered[0] = True
    atexit.register(finish_all_at_exit)
    if not _system.in_notebook():
        exit_hooks.install()
