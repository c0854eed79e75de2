"""``Settings``: the run's settings (``nbrun.init(settings=...)``), checked once; the alert
levels and console modes they allow."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .. import _wbnames
from ..errors import UsageError

ALERT_LEVELS = ("INFO", "WARN", "ERROR")
#: W&B's ``console`` values; nbrun wraps ``sys.stdout`` / ``sys.stderr`` for all but "off"
CONSOLE_MODES = ("auto", "wrap", "redirect", "wrap_raw", "wrap_emu", "off")


@dataclass
class Settings:
    """Engine settings, passed as ``init(settings={...})`` or a ``Settings``."""

    flush_interval: float = 1.0
    """Seconds between writer flushes (also the heartbeat period)."""
    flush_rows: int = 1000
    """Rows that make the writer flush at once."""
    stale_after: float = 60.0
    """Seconds without a heartbeat after which a run of another host reads as crashed; recorded
    in the run's metadata, so every reader judges the run by its writer's setting (rule 29).
    Must exceed ``flush_interval`` (the heartbeat period)."""
    stats: bool = True
    """Record system metrics (``run.history(stream="system")``); W&B's ``x_disable_stats``."""
    stats_interval: float = 10.0
    """Seconds between system metric samples (W&B's ``x_stats_sampling_interval``, 10 s);
    a sample is also taken when the run starts and when it finishes."""
    console: str = "auto"
    """Capture what the run prints to stdout / stderr (``run.logs()``, ``output.log``):
    ``"off"`` turns it off; W&B's other values (``"auto"``, ``"wrap"``, ``"redirect"``, ...)
    all wrap ``sys.stdout`` / ``sys.stderr`` (text written to the file descriptors directly,
    e.g. by a subprocess, is not seen)."""
    disable_git: bool = False
    """Leave git facts (root, remote, commit) out of the run's metadata (W&B's setting)."""
    files_dir: str | None = None
    """With a PostgreSQL store (``dir="postgresql://..."``): the shared folder for run files
    (checkpoints, media, artifacts); default ``NBRUN_FILES``."""
    wandb: dict[str, Any] = field(default_factory=dict)
    """W&B settings given to ``init`` (by W&B's names); rule 38 says which nbrun applies."""

    @classmethod
    def coerce(cls, value: object) -> Settings:
        """Build settings from None, a mapping or a Settings. Keys are nbrun's fields or W&B's
        settings names (rule 38); anything else is a UsageError."""
        if value is None:
            return cls()
        if isinstance(value, Settings):
            return value
        if not isinstance(value, Mapping):
            raise UsageError(f"settings {value!r}: pass a dict or nbrun.Settings")
        names = {f.name for f in fields(cls)} - {"wandb"}
        own: dict[str, Any] = {}
        wb: dict[str, Any] = {}
        for k, v in value.items():
            if k in names:
                if v is not None:  # None: unset, as in wandb.Settings
                    own[k] = v
            elif isinstance(k, str) and _wbnames.settings_key(k) is not None:
                wb[_wbnames.settings_key(k)] = v  # type: ignore[index]
            else:
                raise UsageError(
                    f"settings key {k!r} is unknown; allowed: {', '.join(sorted(names))} "
                    "or a W&B setting (wandb.Settings field)"
                )
        if wb.get("x_disable_stats") is not None and "stats" not in own:
            own["stats"] = not bool(wb["x_disable_stats"])
        if wb.get("x_stats_sampling_interval") is not None and "stats_interval" not in own:
            own["stats_interval"] = wb["x_stats_sampling_interval"]
        s = cls(**own, wandb=wb)
        if not (isinstance(s.flush_interval, (int, float)) and s.flush_interval > 0):
            raise UsageError(f"settings flush_interval={s.flush_interval!r}: a positive number")
        if not (type(s.flush_rows) is int and s.flush_rows > 0):
            raise UsageError(f"settings flush_rows={s.flush_rows!r}: a positive int")
        if not (type(s.stale_after) in (int, float) and 0 < s.stale_after < float("inf")):
            raise UsageError(
                f"settings stale_after={s.stale_after!r}: a positive number of seconds"
            )
        if "stale_after" in own and s.stale_after <= s.flush_interval:
            raise UsageError(
                f"settings stale_after={s.stale_after!r}: must exceed flush_interval="
                f"{s.flush_interval!r} (the heartbeat period), or a live run reads as crashed "
                "between two heartbeats"
            )
        if type(s.stats) is not bool:
            raise UsageError(f"settings stats={s.stats!r}: True or False")
        if not (
            isinstance(s.stats_interval, (int, float))
            and not isinstance(s.stats_interval, bool)
            and 0 < s.stats_interval < float("inf")
        ):
            raise UsageError(
                f"settings stats_interval={s.stats_interval!r}: a positive number of seconds"
            )
        if s.console not in CONSOLE_MODES:
            raise UsageError(
                f"settings console={s.console!r}; allowed: "
                + ", ".join(repr(m) for m in CONSOLE_MODES)
            )
        if s.files_dir is not None:
            if not isinstance(s.files_dir, (str, os.PathLike)) or not os.fspath(s.files_dir):
                raise UsageError(
                    f"settings files_dir={s.files_dir!r}: a folder path every machine can read"
                )
            s.files_dir = os.fspath(s.files_dir)
        return s
