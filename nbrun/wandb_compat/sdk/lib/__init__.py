"""``wandb.sdk.lib``: ``RunDisabled`` (an ``isinstance`` check that holds for
``mode="disabled"`` runs) and ``config_util``."""

from __future__ import annotations

from typing import Any

from . import config_util


class _DisabledCheck(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return getattr(obj, "disabled", False) is True and hasattr(obj, "log")


class RunDisabled(metaclass=_DisabledCheck):
    """A ``mode="disabled"`` run (nbrun's stand-in that stores nothing)."""


__all__ = ["RunDisabled", "config_util"]
