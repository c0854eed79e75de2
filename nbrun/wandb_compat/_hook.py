"""Turning the drop-in on: ``import wandb`` (and its submodules) resolve to
:mod:`nbrun.wandb_compat`, and ``importlib.metadata`` answers for a ``wandb`` distribution.

``nbrun.as_wandb()`` calls :func:`install`; ``NBRUN_AS_WANDB=1`` calls it at interpreter start
through the ``nbrun_as_wandb.pth`` file installed with nbrun, which imports this module only
when the variable is set. Off, nothing here is loaded and nothing answers to ``wandb``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

#: the version ``importlib.metadata.version("wandb")`` answers (integrations check a minimum)
WANDB_VERSION = "0.31.0"
PACKAGE = "nbrun.wandb_compat"
ENV = "NBRUN_AS_WANDB"

_METADATA = (
    "Metadata-Version: 2.1\n"
    "Name: wandb\n"
    f"Version: {WANDB_VERSION}\n"
    "Summary: nbrun's W&B drop-in (import wandb resolves to nbrun.wandb_compat)\n"
)


class _Loader(importlib.abc.Loader):
    """Hands out the nbrun.wandb_compat module standing for a ``wandb`` module."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was loaded under its nbrun name."""


class _Distribution(importlib.metadata.Distribution):
    """The ``wandb`` distribution the drop-in announces (metadata only, no files)."""

    def read_text(self, filename: str) -> str | None:
        if filename in ("METADATA", "PKG-INFO"):
            return _METADATA
        if filename == "top_level.txt":
            return "wandb\n"
        return None

    def locate_file(self, path: str | os.PathLike[str]) -> Path:
        return Path(__file__).parent / path


class WandbFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder: ``wandb`` and ``wandb.X`` -> ``nbrun.wandb_compat`` (``.X``)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "wandb" and not fullname.startswith("wandb."):
            return None
        real = PACKAGE + fullname[len("wandb") :]
        spec = importlib.util.find_spec(real)
        if spec is None:
            return None  # a W&B submodule the drop-in does not have: ImportError as usual
        is_pkg = spec.submodule_search_locations is not None
        return importlib.machinery.ModuleSpec(fullname, _Loader(real), is_package=is_pkg)

    def find_distributions(self, context: Any = None) -> Iterable[importlib.metadata.Distribution]:
        name = getattr(context, "name", None)
        if name is None or _normal(name) == "wandb":
            return [_Distribution()]
        return []


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


_finder = WandbFinder()


def installed() -> bool:
    """Whether the drop-in is on in this process."""
    return _finder in sys.meta_path


def install() -> None:
    """Turn the drop-in on (idempotent). A real ``wandb`` already imported is replaced in
    ``sys.modules`` (modules that hold it keep it), with one warning."""
    if installed():
        return
    sys.meta_path.insert(0, _finder)
    real = [m for m in sys.modules if m == "wandb" or m.startswith("wandb.")]
    real = [m for m in real if not getattr(sys.modules[m], "__name__", "").startswith(PACKAGE)]
    if real or _real_wandb_installed():
        warnings.warn(
            "nbrun: W&B is installed too; while the drop-in is on, `import wandb` gives nbrun "
            "(nbrun.wandb_compat) and runs are stored locally"
            + ("; the wandb already imported was replaced" if real else ""),
            UserWarning,
            stacklevel=3,
        )
    for m in real:
        del sys.modules[m]


def uninstall() -> None:
    """Turn the drop-in off: ``wandb`` is no longer answered by nbrun."""
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for m in [m for m in sys.modules if m == "wandb" or m.startswith("wandb.")]:
        if getattr(sys.modules[m], "__name__", "").startswith(PACKAGE):
            del sys.modules[m]


def _real_wandb_installed() -> bool:
    for finder in sys.meta_path:
        if finder is _finder:
            continue
        find = getattr(finder, "find_spec", None)
        try:
            if find is not None and find("wandb", None) is not None:
                return True
        except Exception:  # a broken finder must not stop the drop-in
            continue
    return False


def startup() -> None:
    """Called from ``nbrun_as_wandb.pth`` when ``NBRUN_AS_WANDB`` is set to a true value."""
    if env_on():
        install()


def env_on() -> bool:
    """Whether ``NBRUN_AS_WANDB`` asks for the drop-in."""
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")
