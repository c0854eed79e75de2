"""W&B's module surface over nbrun: ``import wandb`` gets this module while the drop-in is on
(``nbrun.as_wandb()`` or ``NBRUN_AS_WANDB=1``).

Every name maps onto nbrun's public API and adds no behaviour of its own: ``wandb.init`` is
``nbrun.init`` (with W&B's meaning of ``dir=``: a staging folder, the store stays where
``NBRUN_STORE``, else ``NBRUN_DIR``, else ``WANDB_DIR``, else the current directory puts it),
``wandb.log`` logs to the current run, ``wandb.config`` / ``wandb.summary`` are the current
run's (and, as in W&B, raise before ``init``), ``wandb.Image`` ... are nbrun's media types
where this nbrun has them. The submodules integrations import (``wandb.sdk``,
``wandb.sdk.lib.config_util``, ``wandb.wandb_run``, ``wandb.util``, ``wandb.errors``) sit beside
this file.

Importing this module turns nothing on; see :mod:`nbrun.wandb_compat._hook` for that.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any

import nbrun

from . import apis, env, errors, sdk, util, wandb_run
from .apis.public import Api
from .errors import CommError, Error, UsageError
from .sdk.lib.config_util import ConfigError
from .sdk.wandb_run import Run
from .sdk.wandb_settings import Settings

__version__ = "0.31.0"
"""The W&B version this module answers to (integrations check it)."""

#: nbrun names re-exported under W&B's names once this nbrun has them (media: issue 11,
#: artifacts: issue 12)
_FROM_NBRUN = (
    "Image",
    "Table",
    "Histogram",
    "Video",
    "Audio",
    "Html",
    "Object3D",
    "Molecule",
    "Plotly",
    "Graph",
    "plot",
    "Artifact",
)

__all__ = [
    "AlertLevel",
    "Api",
    "CommError",
    "ConfigError",
    "Error",
    "Run",
    "Settings",
    "UsageError",
    "__version__",
    "alert",
    "apis",
    "config",
    "define_metric",
    "env",
    "errors",
    "finish",
    "init",
    "link_model",
    "log",
    "log_artifact",
    "log_code",
    "log_model",
    "login",
    "require",
    "restore",
    "save",
    "sdk",
    "setup",
    "summary",
    "teardown",
    "termerror",
    "termlog",
    "termwarn",
    "unwatch",
    "use_artifact",
    "util",
    "wandb_run",
    "watch",
]


# -- the current run ---------------------------------------------------------------------------
def _current(what: str) -> Any:
    run = nbrun.run
    if run is None:
        raise Error(f"You must call wandb.init() before {what}")
    return run


class _RunPart:
    """``wandb.config`` / ``wandb.summary``: the current run's, or W&B's pre-init error."""

    def __init__(self, part: str) -> None:
        object.__setattr__(self, "_part", part)

    def _target(self, what: str) -> Any:
        return getattr(_current(f"wandb.{self._part}{what}"), self._part)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        target = self._target(f".{key}")
        if self._part == "summary" and not hasattr(type(target), key):
            try:
                return target[key]  # wandb.summary.acc reads the summary value
            except KeyError:
                raise AttributeError(key) from None
        return getattr(target, key)

    def __setattr__(self, key: str, value: Any) -> None:
        target = self._target(f".{key}")
        if self._part == "summary":
            target[key] = value  # wandb.summary.acc = 0.9 sets the summary value
        else:
            setattr(target, key, value)

    def __getitem__(self, key: str) -> Any:
        return self._target(f"[{key!r}]")[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target(f"[{key!r}]")[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target(f"[{key!r}]")[key]

    def __contains__(self, key: object) -> bool:
        return key in self._target(" in")

    def __iter__(self) -> Iterator[str]:
        return iter(self._target(" iteration"))

    def __len__(self) -> int:
        return len(self._target(" len"))

    def keys(self) -> Any:
        """The current run's keys."""
        return self._target(".keys()").keys()

    def items(self) -> Any:
        """The current run's items."""
        return self._target(".items()").items()

    def values(self) -> Any:
        """The current run's values."""
        return self._target(".values()").values()

    def get(self, key: str, default: Any = None) -> Any:
        """The current run's value for ``key``, else ``default``."""
        return self._target(".get()").get(key, default)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        """Update the current run's values."""
        return self._target(".update()").update(*args, **kwargs)

    def __repr__(self) -> str:
        run = nbrun.run
        return repr(getattr(run, self._part)) if run is not None else f"<wandb.{self._part}>"

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        """``vars(wandb.config)``: W&B's config keeps its values in ``_items``, which
        transformers' ``hyperparameter_search`` reads (rule 57); here a copy of the current
        run's values (empty before ``init``)."""
        run = nbrun.run
        items = dict(getattr(run, self._part)) if run is not None else {}
        return {"_part": object.__getattribute__(self, "_part"), "_items": items}


config = _RunPart("config")
"""The current run's config (``wandb.config``)."""
summary = _RunPart("summary")
"""The current run's summary (``wandb.summary``)."""


def __getattr__(name: str) -> Any:
    if name == "run":
        return nbrun.run
    if name in _FROM_NBRUN:
        try:
            return getattr(nbrun, name)
        except AttributeError:
            raise AttributeError(
                f"wandb.{name}: this nbrun has no {name} yet, so the drop-in cannot offer it"
            ) from None
    raise AttributeError(f"module 'wandb' (nbrun's drop-in) has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"run"} | {n for n in _FROM_NBRUN if hasattr(nbrun, n)})


# -- init / log / finish -----------------------------------------------------------------------
#: W&B 0.31's ``wandb.init`` keywords in its order: a positional call maps by it. nbrun.init
#: takes the same names (and older W&B's ``magic``) and builds its one request of them
_INIT_KEYWORDS = (
    "entity",
    "project",
    "dir",
    "id",
    "name",
    "notes",
    "tags",
    "config",
    "config_exclude_keys",
    "config_include_keys",
    "allow_val_change",
    "group",
    "job_type",
    "mode",
    "force",
    "reinit",
    "resume",
    "resume_from",
    "fork_from",
    "save_code",
    "tensorboard",
    "sync_tensorboard",
    "monitor_gym",
    "settings",
    "anonymous",
)


def init(*args: Any, **kwargs: Any) -> Any:
    """``nbrun.init`` with W&B's signature. ``dir`` (and ``settings.root_dir``) is W&B's staging
    folder: the store stays where ``NBRUN_STORE``, else ``NBRUN_DIR``, else ``WANDB_DIR``, else
    the current directory puts it (rule 38)."""
    if len(args) > len(_INIT_KEYWORDS):
        raise TypeError(
            f"init() takes from 0 to {len(_INIT_KEYWORDS)} positional arguments but "
            f"{len(args)} were given"
        )
    for key, value in zip(_INIT_KEYWORDS, args, strict=False):
        if key in kwargs:
            raise TypeError(f"init() got multiple values for argument {key!r}")
        kwargs[key] = value
    unknown = set(kwargs) - set(_INIT_KEYWORDS) - {"magic"}
    if unknown:
        raise TypeError(f"init() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    dir = kwargs.pop("dir", None)
    if dir is not None and not isinstance(dir, (str, os.PathLike)):
        raise TypeError(f"init: dir={dir!r} must be a path")
    settings = kwargs.get("settings")
    if settings is not None and isinstance(settings, Mapping) and "root_dir" in settings:
        kwargs["settings"] = {k: v for k, v in settings.items() if k != "root_dir"}
    return nbrun.init(**kwargs)


init.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        for k in _INIT_KEYWORDS
    ]
    + [inspect.Parameter("legacy", inspect.Parameter.VAR_KEYWORD)]
)


def log(
    data: Mapping[str, Any], step: int | None = None, commit: bool | None = None, **_: Any
) -> None:
    """Log to the current run (``run.log``)."""
    _current("wandb.log()").log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any."""
    nbrun.finish(exit_code=exit_code)


def define_metric(name: str, **kwargs: Any) -> Any:
    """``define_metric`` on the current run."""
    return _current("wandb.define_metric()").define_metric(name, **kwargs)


def watch(
    models: Any,
    criterion: Any = None,
    log: str | None = "gradients",
    log_freq: int = 1000,
    idx: int | None = None,
    log_graph: bool = False,
) -> Any:
    """``run.watch`` on the current run: gradient / parameter histograms of torch modules."""
    return _current("wandb.watch()").watch(
        models, criterion=criterion, log=log, log_freq=log_freq, idx=idx, log_graph=log_graph
    )


def unwatch(models: Any = None) -> None:
    """``run.unwatch`` on the current run."""
    run = nbrun.run
    if run is not None:
        run.unwatch(models)


def _delegate(method: str, what: str, *args: Any, **kwargs: Any) -> Any:
    run = _current(f"wandb.{what}()")
    fn = getattr(run, method, None)
    if fn is None:
        raise Error(f"wandb.{what}: this nbrun's runs have no {method}() yet")
    return fn(*args, **kwargs)


def save(*args: Any, **kwargs: Any) -> Any:
    """``run.save`` on the current run (files kept with the run)."""
    return _delegate("save", "save", *args, **kwargs)


def log_artifact(*args: Any, **kwargs: Any) -> Any:
    """``run.log_artifact`` on the current run."""
    return _delegate("log_artifact", "log_artifact", *args, **kwargs)


def use_artifact(*args: Any, **kwargs: Any) -> Any:
    """``run.use_artifact`` on the current run."""
    return _delegate("use_artifact", "use_artifact", *args, **kwargs)


def log_model(*args: Any, **kwargs: Any) -> Any:
    """``run.log_model`` on the current run."""
    return _delegate("log_model", "log_model", *args, **kwargs)


def log_code(*args: Any, **kwargs: Any) -> Any:
    """``run.log_code`` on the current run."""
    return _delegate("log_code", "log_code", *args, **kwargs)


def use_model(*args: Any, **kwargs: Any) -> Any:
    """``run.use_model`` on the current run."""
    return _delegate("use_model", "use_model", *args, **kwargs)


def link_model(*args: Any, **kwargs: Any) -> Any:
    """``run.link_model`` on the current run."""
    return _delegate("link_model", "link_model", *args, **kwargs)


def restore(
    name: str,
    run_path: str | None = None,
    replace: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> Any:
    """``nbrun.restore``: a run's saved file copied to ``root`` and opened (None if absent)."""
    return nbrun.restore(name, run_path=run_path, replace=replace, root=root)


# -- alerts, terminal, login ------------------------------------------------------------------
class AlertLevel(Enum):
    """Alert levels (``run.alert(level=...)``)."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """``run.alert`` on the current run."""
    kwargs: dict[str, Any] = {}
    if level is not None:
        kwargs["level"] = level
    if wait_duration is not None:
        kwargs["wait_duration"] = wait_duration
    _current("wandb.alert()").alert(title, text, **kwargs)


_printed: set[str] = set()


def _term(prefix: str, string: str, newline: bool, repeat: bool, use_prefix: bool) -> None:
    if os.environ.get("WANDB_SILENT", "").lower() in ("1", "true", "yes"):
        return
    if not repeat:
        if string in _printed:
            return
        _printed.add(string)
    lead = f"wandb: {prefix}" if use_prefix else ""
    text = "\n".join(lead + line for line in str(string).split("\n"))
    sys.stderr.write(text + ("\n" if newline else ""))


def termlog(
    string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True
) -> None:
    """Print ``wandb: <string>`` to stderr (not with ``WANDB_SILENT``)."""
    _term("", string, newline, repeat, prefix)


def termwarn(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print ``wandb: WARNING <string>`` to stderr."""
    _term("WARNING ", string, newline, repeat, prefix)


def termerror(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print ``wandb: ERROR <string>`` to stderr."""
    _term("ERROR ", string, newline, repeat, prefix)


def login(*args: Any, **kwargs: Any) -> bool:
    """No account, nothing to log in to: True."""
    return True


class _Setup:
    """What ``wandb.setup()`` returns: holds the settings it was given."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings


def setup(settings: Any = None) -> _Setup:
    """Accepted (nbrun has no service process to start)."""
    return _Setup(settings)


def teardown(exit_code: int | None = None) -> None:
    """Finish the current run (W&B also stops its service process)."""
    nbrun.finish(exit_code=exit_code)


def require(*args: Any, **kwargs: Any) -> None:
    """W&B's feature switches (``wandb.require("service")``): accepted, nothing to switch."""


def sweep(
    sweep: Any,
    entity: str | None = None,
    project: str | None = None,
    prior_runs: list[str] | None = None,
) -> str:
    """``nbrun.sweep`` with W&B's signature: ``sweep`` is the sweep config (or a function
    returning it); returns the sweep id. The store is found as ``init`` finds it (rule 50)."""
    if callable(sweep):
        sweep = sweep()
    if prior_runs:
        raise UsageError(
            f"wandb.sweep(prior_runs={prior_runs!r}): nbrun cannot add existing runs to a "
            "sweep; leave prior_runs out"
        )
    return nbrun.sweep(sweep, project=project)


def agent(
    sweep_id: str,
    function: Any = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
) -> None:
    """``nbrun.agent`` with W&B's signature: run ``function`` once per suggestion of the
    sweep (``"ID"``, ``"project/ID"`` or ``"entity/project/ID"``), its ``wandb.init()`` the
    trial's run (rules 51-53)."""
    nbrun.agent(sweep_id, function, count=count, project=project)
