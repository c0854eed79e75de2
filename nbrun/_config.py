"""Config: a run's hyperparameters and their change rules (rule 7)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ._history import _convert
from .errors import ConfigError, UsageError


def load_config_source(source: object) -> dict[str, Any]:
    """Turn ``init(config=...)`` into a plain dict: a mapping, an object with ``__dict__``
    (e.g. ``argparse.Namespace``), or a path to a YAML file (plain or W&B's ``{value: ...}``)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        data = dict(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UsageError(
                f"config {str(source)!r}: no such YAML file; pass a dict, an object with "
                "attributes (argparse.Namespace) or the path of a YAML file"
            )
        import yaml  # noqa: PLC0415 - loaded only for YAML config files

        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UsageError(f"config {str(source)!r}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UsageError(
                f"config {str(source)!r}: the YAML file holds a {type(loaded).__name__}; "
                "it must hold a mapping of keys to values"
            )
        data = {}
        for k, v in loaded.items():
            if isinstance(v, dict) and "value" in v and set(v) <= {"value", "desc"}:
                v = v["value"]  # W&B's config-defaults.yaml form
            data[k] = v
        data.pop("wandb_version", None)
        data.pop("_wandb", None)
    elif hasattr(source, "__dict__"):
        data = {k: v for k, v in vars(source).items() if not k.startswith("_")}
    else:
        raise UsageError(
            f"config {source!r}: a {type(source).__name__} is not allowed; pass a dict, an "
            "object with attributes (argparse.Namespace) or the path of a YAML file"
        )
    return clean_config(data)


def clean_config(data: Mapping[Any, Any]) -> dict[str, Any]:
    """Check keys are str and values storable; return a storable copy."""
    out = {}
    for k, v in data.items():
        if not isinstance(k, str):
            raise UsageError(f"config key {k!r} is a {type(k).__name__}; keys must be str")
        try:
            out[k] = _convert(k, v, json_keys=True)
        except (TypeError, UsageError) as exc:  # (a UsageError: rule 43's limits)
            raise UsageError(str(exc).replace("log:", "config:", 1)) from None
    return out


def filter_keys(data: dict[str, Any], include: Any = None, exclude: Any = None) -> dict[str, Any]:
    """Apply ``config_include_keys`` / ``config_exclude_keys`` (both at once: UsageError)."""
    if include is not None and exclude is not None:
        raise UsageError(
            "config_include_keys and config_exclude_keys were both given; pass one of them"
        )
    for name, keys in (("config_include_keys", include), ("config_exclude_keys", exclude)):
        if keys is not None and (
            isinstance(keys, str) or not all(isinstance(k, str) for k in keys)
        ):
            raise UsageError(f"{name} {keys!r}: pass a list of str keys")
    if include is not None:
        return {k: v for k, v in data.items() if k in include}
    if exclude is not None:
        return {k: v for k, v in data.items() if k not in exclude}
    return data


def config_diff(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """Keys whose value differs between a fork and its parent: ``{key: {"from", "to"}}``."""
    diff = {}
    for k in child.keys() | parent.keys():
        old, new = parent.get(k, _MISSING), child.get(k, _MISSING)
        if old is _MISSING or new is _MISSING or not _same(old, new):
            diff[k] = {
                "from": None if old is _MISSING else old,
                "to": None if new is _MISSING else new,
            }
    return dict(sorted(diff.items()))


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return False
    try:
        if a != a and b != b:  # NaN == NaN for config purposes
            return True
    except Exception:  # pragma: no cover - exotic __ne__
        pass
    return bool(a == b)


class Config:
    """A run's config: dict-like with attribute access (``run.config.lr``, ``run.config["lr"]``).

    Changing an existing key to a different value raises :class:`~nbrun.ConfigError` unless
    ``allow_val_change`` is true (given to ``init`` or to :meth:`update`); setting the same value
    is silent.
    """

    __slots__ = ("_allow_val_change", "_data", "_frozen", "_on_change")

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        allow_val_change: bool = False,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        object.__setattr__(self, "_data", dict(data or {}))
        object.__setattr__(self, "_allow_val_change", allow_val_change)
        object.__setattr__(self, "_on_change", on_change)
        object.__setattr__(self, "_frozen", False)

    # -- reading ---------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(
                f"config has no key {key!r}; keys: {', '.join(sorted(self._data)) or 'none'}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return bool(self._data == other._data)
        if isinstance(other, Mapping):
            return bool(self._data == dict(other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config({self._data!r})"

    def keys(self) -> Any:
        """The config's keys."""
        return self._data.keys()

    def values(self) -> Any:
        """The config's values."""
        return self._data.values()

    def items(self) -> Any:
        """The config's ``(key, value)`` pairs."""
        return self._data.items()

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._data.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """A plain-dict copy."""
        return dict(self._data)

    # -- writing ---------------------------------------------------------------------------
    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            raise AttributeError(f"config keys set as attributes must not start with '_': {key!r}")
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        self._check_writable()
        del self._data[key]
        self._changed()

    def update(self, data: object = None, allow_val_change: bool | None = None) -> None:
        """Add keys and change values (see the class docstring for the rules)."""
        self._check_writable()
        new = load_config_source(data) if not isinstance(data, Mapping) else clean_config(data)
        allow = self._allow_val_change if allow_val_change is None else allow_val_change
        if not allow:
            for k, v in new.items():
                if k in self._data and not _same(self._data[k], v):
                    raise ConfigError(
                        f"config key {k!r}: attempted to change value from {self._data[k]!r} "
                        f"to {v!r}; pass allow_val_change=True to change it"
                    )
        self._data.update(new)
        if new:
            self._changed()

    def setdefaults(self, data: Mapping[str, Any]) -> None:
        """Set keys that are not set yet; existing keys keep their values."""
        self.update({k: v for k, v in clean_config(data).items() if k not in self._data})

    def _check_writable(self) -> None:
        if self._frozen:
            raise UsageError("config of a finished or stored run is read-only")

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


def freeze(config: Config) -> None:
    """Make ``config`` read-only (a finished run's, a stored view's). A function, not a
    method: a method would hide a config key of the same name."""
    object.__setattr__(config, "_frozen", True)
