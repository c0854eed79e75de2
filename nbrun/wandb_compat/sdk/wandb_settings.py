"""``wandb.Settings``: W&B's settings as a mapping ``nbrun.init(settings=...)`` takes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import nbrun
from nbrun import UsageError


def settings_key(key: str) -> str | None:
    """W&B's name for a settings key (``_disable_stats`` -> ``x_disable_stats``), or None."""
    try:
        wb = nbrun.Settings.coerce({key: None}).wandb
    except UsageError:
        return None
    return next(iter(wb), key)  # not in .wandb: a name nbrun's Settings has too (console)


class Settings(Mapping[str, Any]):
    """``wandb.Settings(console="off", ...)``: every W&B setting name is accepted; an unknown
    name is a ``UsageError``. Attribute access reads a setting (None when unset)."""

    def __init__(self, **settings: Any) -> None:
        values: dict[str, Any] = {}
        for k, v in settings.items():
            name = settings_key(k)
            if name is None:
                raise UsageError(f"wandb.Settings: {k!r} is not a W&B setting")
            values[name] = v
        object.__setattr__(self, "_values", values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        name = settings_key(key)
        if name is None:
            raise AttributeError(f"wandb.Settings has no setting {key!r}")
        return self._values.get(name)

    def __setattr__(self, key: str, value: Any) -> None:
        name = settings_key(key)
        if name is None:
            raise UsageError(f"wandb.Settings: {key!r} is not a W&B setting")
        self._values[name] = value

    def update(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Set several settings."""
        for k, v in {**dict(settings or {}), **kwargs}.items():
            setattr(self, k, v)

    def to_dict(self) -> dict[str, Any]:
        """The settings given, by W&B name."""
        return dict(self._values)

    def __repr__(self) -> str:
        return f"wandb.Settings({self._values!r})"


__all__ = ["Settings"]
