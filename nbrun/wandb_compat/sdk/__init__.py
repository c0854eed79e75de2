"""``wandb.sdk``: the submodules W&B integrations import (``wandb.sdk.lib``,
``wandb.sdk.wandb_run``, ``wandb.sdk.wandb_settings``); the rest is the top module's."""

from __future__ import annotations

import sys
from typing import Any

from . import lib, wandb_run, wandb_settings

__all__ = ["lib", "wandb_run", "wandb_settings"]


def __getattr__(name: str) -> Any:
    top = sys.modules[__name__.rsplit(".", 1)[0]]  # nbrun.wandb_compat, loaded by now
    if name != "__path__" and not name.startswith("__") and hasattr(top, name):
        return getattr(top, name)
    raise AttributeError(f"module 'wandb.sdk' (nbrun's drop-in) has no attribute {name!r}")
