"""nbrun's exceptions.

Every error nbrun raises on purpose is one of these (or a plain ``TypeError`` for a value of
the wrong type, as Python itself does)::

    Error                      base of everything below
    ├── UsageError             a call that breaks the API's rules (bad id, bad fork spec, ...)
    │   ├── ConfigError        a config change that is not allowed (value change without
    │   │                      ``allow_val_change``)
    │   ├── LineageError       deleting or moving a run that forks still read from (names them)
    │   ├── SweepConfigError   a sweep configuration W&B's rules refuse: names the key path
    │   │                      (``parameters.lr.min``), the bad value and what is allowed
    │   └── RunInUseError      taking over a run another process (or this one) is writing:
    │                          names the holder's host and pid (rule 41)
    ├── RunNotFoundError       no run with that id in that project
    ├── StoreError             the database file cannot be used (corrupt, foreign, newer schema,
    │                          read-only), or a file cannot be stored (disk full): the message
    │                          names the file
    ├── ArtifactNotFoundError  no artifact version with that name and version or alias
    ├── UnsafePathError        a path built from stored data (run id, project, file name,
    │   │                      digest) that would leave its root, or a download that would
    │   │                      write through a symlinked folder (rule 42)
    │   └── UnsafeEntryError   an artifact entry whose path would escape the download root
    └── UntrustedCheckpointError  a checkpoint not signed by the user's key that only
                               unpickling could read (rule 45): names the file and why
    RunStopped                 raised by ``run.log`` after the run was stopped from a widget or
                               ``Api``; a ``KeyboardInterrupt`` so it ends a training loop the
                               same way Ctrl-C does

Messages name the bad value, what is allowed, and the fix.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArtifactNotFoundError",
    "ConfigError",
    "Error",
    "LineageError",
    "RunInUseError",
    "RunNotFoundError",
    "RunStopped",
    "StoreError",
    "SweepConfigError",
    "UnsafeEntryError",
    "UnsafePathError",
    "UntrustedCheckpointError",
    "UsageError",
]


class Error(Exception):
    """Base class of nbrun's errors."""


class UsageError(Error):
    """A call that breaks nbrun's API rules; the message says what is allowed."""


class ConfigError(UsageError):
    """A config change that is not allowed (e.g. a value change without allow_val_change)."""


class LineageError(UsageError):
    """Deleting or moving a run would leave runs that read its history dangling; ``runs``
    names them (``"project/id"``) and the message says the option that handles them."""

    def __init__(self, message: str, runs: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.runs = runs


class SweepConfigError(UsageError):
    """A sweep configuration that cannot run (rule 46): an unknown method, distribution or
    key, ``min`` not below ``max``, empty ``values``, ``probabilities`` that do not sum to 1, a
    ``bayes`` sweep or ``hyperband`` without a ``metric``, ... ``path`` is the key path
    (``"parameters.lr.min"``); the message names it, the bad value and what is allowed.
    Raised before any run starts."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the path across processes (pickle)
        return (type(self), (str(self), self.path))


class RunInUseError(UsageError):
    """The run is being written by a live process (rule 41: one writer per run): ``init``
    could not take it over. ``host`` and ``pid`` name the holder; the refused call wrote
    nothing."""

    def __init__(self, message: str, host: str | None = None, pid: int | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.pid = pid

    def __reduce__(self) -> tuple[Any, ...]:  # keeps host and pid across processes (pickle)
        return (type(self), (str(self), self.host, self.pid))


class RunNotFoundError(Error):
    """No run with the given id exists in the given project."""


class StoreError(Error):
    """The run database cannot be used: corrupt, foreign, read-only, or of a newer schema."""


class ArtifactNotFoundError(Error, ValueError):
    """No artifact version with the given name and version or alias."""


class UnsafePathError(Error, ValueError):
    """A path nbrun would build from stored data (a run id, project, file name or digest read
    back from a store) that is not valid or leads outside its root, or a download that would
    write through a symlinked folder (rule 42). The message names the value and the root;
    nothing was touched."""


class UnsafeEntryError(UnsafePathError):
    """An artifact entry whose path is absolute, climbs out with ``..`` or goes through a
    symlink: writing it would escape the download root. The message names the entry."""


class UntrustedCheckpointError(Error):
    """A checkpoint that does not carry a signature by the user's key (a store from someone
    else, a file replaced on disk or moved from another run or step) and that only unpickling
    could read: it was not loaded (rule 45). ``path`` is the file; the message says why and
    how to trust it (``run.restore(trust=True)``, ``checkpoint.trust()``)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class RunStopped(KeyboardInterrupt):
    """Raised by ``run.log`` once the run was stopped; the run ends as ``killed``."""
