"""The live run: :class:`Run` (``nbrun.init`` makes one), its settings and exit handling.

One concept a module, each importing only the ones listed before it:

- ``settings``: ``Settings``, the alert levels and console modes;
- ``exits``: finishing this process's runs at interpreter exit with its exit status (rule 30);
- ``files``: ``RunFiles``, system metrics, console capture and saved files (rule 34);
- ``artifacts``: ``RunArtifacts``, logging, using and linking artifacts (rules 35-36);
- ``lifecycle``: ``RunLifecycle``, what training drives (attach, hand off, stop, detach) and
  the background training handle (``checkpoint``, ``restore``, ``wait``);
- ``run``: ``Run`` itself: identity, ``log`` (the C fast path ``_fastlog`` and the pending
  row), ``define_metric``, ``alert``, ``flush``, ``follow``, ``finish`` and the state machine.
"""

from __future__ import annotations

from .exits import exit_hooks, finish_all_at_exit
from .run import Run, _fastlog
from .settings import ALERT_LEVELS, CONSOLE_MODES, Settings

__all__ = [
    "ALERT_LEVELS",
    "CONSOLE_MODES",
    "Run",
    "Settings",
    "_fastlog",
    "exit_hooks",
    "finish_all_at_exit",
]
