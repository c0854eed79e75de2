"""``wandb.env``: W&B's environment variable names and setters integrations call."""

from __future__ import annotations

import os

MODE = "WANDB_MODE"
PROJECT = "WANDB_PROJECT"
ENTITY = "WANDB_ENTITY"
DIR = "WANDB_DIR"
NAME = "WANDB_NAME"
NOTES = "WANDB_NOTES"
TAGS = "WANDB_TAGS"
RUN_ID = "WANDB_RUN_ID"
RESUME = "WANDB_RESUME"
RUN_GROUP = "WANDB_RUN_GROUP"
JOB_TYPE = "WANDB_JOB_TYPE"
SILENT = "WANDB_SILENT"
CONSOLE = "WANDB_CONSOLE"


def set_project(value: str, env: dict[str, str] | None = None) -> None:
    """Set ``WANDB_PROJECT`` (the default project of the next ``init``)."""
    (os.environ if env is None else env)[PROJECT] = value


def set_entity(value: str, env: dict[str, str] | None = None) -> None:
    """Set ``WANDB_ENTITY``."""
    (os.environ if env is None else env)[ENTITY] = value


def get_project(default: str | None = None) -> str | None:
    """``WANDB_PROJECT`` or ``default``."""
    return os.environ.get(PROJECT, default)


def get_dir(default: str | None = None) -> str | None:
    """``WANDB_DIR`` or ``default``."""
    return os.environ.get(DIR, default)
