"""Rich data for ``run.log``: W&B's media types with its class names and arguments.

``Image``, ``Histogram``, ``Table``, ``Video``, ``Audio``, ``Html``, ``Object3D`` and the
``nbrun.plot`` presets. The training thread only checks and copies; the run's writer thread
encodes and stores each object as a content-addressed file under the run's folder
(``media/<kind>/<sha256>.<ext>``) and keeps a small typed reference in the history row. Reading
history turns references back into these objects. This package never imports the run.

The type modules are imported on first use (``import nbrun`` stays fast).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _base
from ._base import (
    REF_TYPES,
    EntryResolver,
    Media,
    MediaFiles,
    Resolver,
    UnreadableMedia,
    describe,
    has_media,
    is_figure,
    is_ref,
    media_seen,
)

_LAZY = {
    "Audio": "._files",
    "Html": "._files",
    "Object3D": "._files",
    "Video": "._files",
    "Histogram": "._histogram",
    "Image": "._image",
    "Table": "._table",
    "Plot": ".plot",
}


def _load_types() -> None:
    """Import every media type module (each registers the references it reads back)."""
    for module in ("._files", "._histogram", "._image", "._table", ".plot"):
        importlib.import_module(module, __name__)


_base.set_type_loader(_load_types)

__all__ = [
    "REF_TYPES",
    "Audio",
    "EntryResolver",
    "Histogram",
    "Html",
    "Image",
    "Media",
    "MediaFiles",
    "Object3D",
    "Plot",
    "Resolver",
    "Table",
    "UnreadableMedia",
    "Video",
    "describe",
    "has_media",
    "is_figure",
    "is_ref",
    "media_seen",
    "plot",
]


def __getattr__(name: str) -> Any:
    if name == "plot":
        return importlib.import_module(".plot", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbrun.media' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
