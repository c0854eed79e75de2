"""``wandb.apis.public``: the public API's ``Api``, which ``wandb.Api`` is too."""

from __future__ import annotations

from typing import Any

import nbrun


class Api(nbrun.Api):
    """``wandb.Api()``: reads the store ``nbrun.Api()`` reads (where ``wandb.init`` writes):
    ``NBRUN_STORE`` (a team's PostgreSQL URL or a folder), else ``NBRUN_DIR``, else
    ``WANDB_DIR``, else the current directory; ``api.runs("entity/project")``,
    ``api.run("e/p/id")``. W&B's ``overrides`` (server, entity defaults) have no local
    meaning."""

    def __init__(
        self,
        overrides: dict[str, Any] | None = None,
        timeout: int | None = None,
        api_key: str | None = None,
    ) -> None:
        super().__init__(None)
