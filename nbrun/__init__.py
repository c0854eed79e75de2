"""nbrun: a local-first, W&B-style experiment run manager for Jupyter.

``nbrun.init(...)`` starts a :class:`Run`; ``run.log``, ``run.config``, ``run.summary``,
``run.define_metric`` and ``run.finish`` follow W&B. Runs live in SQLite under
``<dir>/nbrun/``; history comes back as pandas DataFrames. ``fork_from="ID?_step=N"`` and
``resume_from="ID?_step=N"`` fork and rewind runs; ``run.display()`` shows live charts.

``nbrun.run`` is the current run (or None).
"""

from __future__ import annotations

from typing import Any

from . import _actions, _registry, _system, media
from ._api import (
    Api,
    define_metric,
    finish,
    init,
    link_model,
    log,
    log_artifact,
    log_model,
    restore,
    runs,
    save,
    use_artifact,
    use_model,
)
from ._artifacts import Artifact, ArtifactManifest, ArtifactManifestEntry
from ._copy import copy
from ._lineage import ForkPoint
from ._manage import DamagedChunk, StoreCheck, check
from ._pbt import pbt
from ._run import Run, Settings
from ._states import RunState
from ._summary import Metric
from ._sweep_view import Sweep
from ._sweeps.api import agent, sweep
from ._training import Recover, RemoteRun, launch, ranking
from ._views import Archive, RunView, StoredRun
from .errors import (
    ArtifactNotFoundError,
    ConfigError,
    Error,
    LineageError,
    RunInUseError,
    RunNotFoundError,
    RunStopped,
    StoreError,
    UnsafeEntryError,
    UnsafePathError,
    UntrustedCheckpointError,
    UsageError,
)

_MEDIA = ("Audio", "Histogram", "Html", "Image", "Object3D", "Table", "Video", "plot")

__version__ = "0.1.0"

# the widget stack and the W&B drop-in load on first use: the registry imports them when one of
# their actions is first asked for (RunView.display / chart / to_html, display_project, as_wandb)
_actions.provided_by(
    "nbrun.widgets",
    display="display_run",
    chart="chart",
    tree="tree",
    to_html="to_html",
    display_project="display_project",
)
_actions.provided_by(
    "nbrun.wandb_compat._hook", wandb_install="install", wandb_uninstall="uninstall"
)

__all__ = [
    "Api",
    "Archive",
    "Artifact",
    "ArtifactManifest",
    "ArtifactManifestEntry",
    "ArtifactNotFoundError",
    "Audio",
    "ConfigError",
    "DamagedChunk",
    "Error",
    "ForkPoint",
    "Histogram",
    "Html",
    "Image",
    "LineageError",
    "Metric",
    "Object3D",
    "Recover",
    "RemoteRun",
    "Run",
    "RunInUseError",
    "RunNotFoundError",
    "RunState",
    "RunStopped",
    "RunView",
    "Settings",
    "StoreCheck",
    "StoreError",
    "StoredRun",
    "Sweep",
    "Table",
    "UnsafeEntryError",
    "UnsafePathError",
    "UntrustedCheckpointError",
    "UsageError",
    "Video",
    "agent",
    "as_wandb",
    "check",
    "copy",
    "define_metric",
    "display_project",
    "finish",
    "init",
    "launch",
    "link_model",
    "log",
    "log_artifact",
    "log_model",
    "pbt",
    "plot",
    "ranking",
    "restore",
    "run",
    "runs",
    "save",
    "sweep",
    "use_artifact",
    "use_model",
]


def display_project(project: str | None = None, dir: str | None = None) -> Any:
    """Show a table of the project's runs with their lineage; pick one to open its dashboard.

    The widget stack (anywidget, ipywidgets, Altair) is imported on this first use."""
    return _actions.get("display_project")(project, dir)


def as_wandb(on: bool = True) -> None:
    """Turn the W&B drop-in on (or off with ``on=False``): from now on ``import wandb`` in this
    process, also inside libraries (transformers, Lightning), gives nbrun's W&B module
    (:mod:`nbrun.wandb_compat`), and ``importlib.metadata.version("wandb")`` answers a W&B
    version. Call it before the code that imports wandb. ``NBRUN_AS_WANDB=1`` in the
    environment does the same at interpreter start."""
    _actions.get("wandb_install" if on else "wandb_uninstall")()


def __getattr__(name: str) -> Any:
    if name == "run":
        return _registry.current_run()
    if name in _MEDIA:  # media types load on first use
        return getattr(media, name)
    raise AttributeError(f"module 'nbrun' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"run", *_MEDIA})


# In a notebook the runs are usually shown: load the widget stack's heavy imports (pandas,
# anywidget) on a background thread now, so the first ``run.display()`` draws at once (issue 15).
if _system.in_notebook():
    _system.warm_imports()
