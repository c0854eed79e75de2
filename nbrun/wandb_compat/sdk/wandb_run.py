"""``wandb.sdk.wandb_run`` / ``wandb.wandb_run``: ``Run``, which ``isinstance`` holds for
every run nbrun's ``init`` returns (also ``mode="disabled"`` ones, as in W&B 0.31)."""

from __future__ import annotations

from typing import Any

import nbrun


class _RunCheck(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        if isinstance(obj, nbrun.Run):
            return True
        return getattr(obj, "disabled", False) is True and hasattr(obj, "log")

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, nbrun.Run)


class Run(metaclass=_RunCheck):
    """W&B's run class, standing for :class:`nbrun.Run` (not instantiated directly)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("wandb.Run is made by wandb.init(), not directly")


__all__ = ["Run"]
