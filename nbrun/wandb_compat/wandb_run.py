"""``wandb.wandb_run``: the same ``Run`` as ``wandb.sdk.wandb_run``."""

from __future__ import annotations

from .sdk.wandb_run import Run

__all__ = ["Run"]
