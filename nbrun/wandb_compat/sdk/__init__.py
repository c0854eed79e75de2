"""``wandb.sdk``: the submodules W&B integrations import (``wandb.sdk.lib``,
``wandb.sdk.wandb_run``, ``wandb.sdk.wandb_settings``); the rest is the top module's."""

from __future__ import annotations

from typing import Any

from . import lib, wandb_run, wandb_settings

__all__ = ["lib", "wandb_run", "wandb_settings"]


def __getattr__(name: str) -> Any:
    from .. import __dict__ as top  # noqa: PLC0415 - the parent is loaded by now

    if name in top:
        return top[name]
    raise AttributeError(f"module 'wandb.sdk' (nbrun's drop-in) has no attribute {name!r}")
