"""``wandb.apis``: ``wandb.apis.public.Api`` is the top module's ``Api``."""

from __future__ import annotations

from . import public

__all__ = ["public"]
