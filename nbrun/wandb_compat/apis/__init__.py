"""``wandb.apis``: ``wandb.apis.public.Api`` is the top module's ``Api``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def __getattr__(name: str) -> Any:
    if name == "public":
        from .. import Api  # noqa: PLC0415 - the parent is loaded by now

        return SimpleNamespace(Api=Api)
    raise AttributeError(f"module 'wandb.apis' (nbrun's drop-in) has no attribute {name!r}")
