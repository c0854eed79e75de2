"""``wandb.errors``: W&B's exception names over nbrun's (an nbrun ``UsageError`` is W&B's)."""

from __future__ import annotations

import nbrun


class Error(nbrun.Error):
    """W&B's base error (``wandb.Error``); nbrun's own errors are not instances of it."""


class CommError(Error):
    """Communication with a server failed: never raised (nbrun has no server)."""


class AuthenticationError(CommError):
    """Never raised (no account)."""


class UsageError(Error, nbrun.UsageError):
    """Bad use of the API; nbrun's checks raise :class:`nbrun.UsageError`."""


__all__ = ["AuthenticationError", "CommError", "Error", "UsageError"]
