"""``wandb.sdk.lib.config_util``: ``ConfigError`` is nbrun's, so an ``except`` around a config
change catches what nbrun raises."""

from __future__ import annotations

from nbrun import ConfigError

__all__ = ["ConfigError"]
