"""Summary and ``define_metric``: last values and aggregates, recomputable from history
(rules 26-28)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ._history import _convert
from .errors import UsageError

SUMMARY_OPS = ("min", "max", "mean", "first", "last", "best", "none")
GOALS = ("minimize", "maximize")


@dataclass
class Metric:
    """A metric definition made by :meth:`Run.define_metric`."""

    name: str
    step_metric: str | None = None
    step_sync: bool | None = None
    hidden: bool | None = None
    summary: tuple[str, ...] | None = None
    goal: str | None = None

    def matches(self, key: str) -> bool:
        """Whether this definition covers ``key`` (a trailing ``*`` matches by prefix)."""
        if self.name.endswith("*"):
            return key.startswith(self.name[:-1])
        return key == self.name

    def to_json(self) -> dict[str, Any]:
        """A storable dict."""
        d = asdict(self)
        d["summary"] = list(self.summary) if self.summary is not None else None
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Metric:
        """Inverse of :meth:`to_json`."""
        s = d.get("summary")
        return cls(
            name=d["name"],
            step_metric=d.get("step_metric"),
            step_sync=d.get("step_sync"),
            hidden=d.get("hidden"),
            summary=tuple(s) if s is not None else None,
            goal=d.get("goal"),
        )


def make_metric(
    name: object,
    step_metric: object = None,
    step_sync: object = None,
    hidden: object = None,
    summary: object = None,
    goal: object = None,
) -> Metric:
    """Validate ``define_metric`` arguments (rule 27) and return a :class:`Metric`."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"define_metric: name {name!r} must be a non-empty str")
    if "*" in name[:-1]:
        raise UsageError(
            f"define_metric: name {name!r}: '*' is only allowed at the end, as a prefix glob "
            "like 'val/*'"
        )
    if step_metric is not None and (not isinstance(step_metric, str) or not step_metric):
        raise UsageError(f"define_metric: step_metric {step_metric!r} must be a non-empty str")
    if goal is not None and goal not in GOALS:
        raise UsageError(f"define_metric: goal {goal!r}; allowed: 'minimize', 'maximize'")
    ops: tuple[str, ...] | None = None
    if summary is not None:
        if not isinstance(summary, str):
            raise UsageError(
                f"define_metric: summary {summary!r} must be a comma list str like 'min,max'"
            )
        ops = tuple(dict.fromkeys(p.strip() for p in summary.split(",") if p.strip()))
        for op in ops:
            if op not in SUMMARY_OPS:
                raise UsageError(
                    f"define_metric: summary op {op!r} in {summary!r}; allowed: "
                    + ", ".join(SUMMARY_OPS)
                )
        if not ops:
            raise UsageError(f"define_metric: summary {summary!r} names no op")
        if "best" in ops and goal is None:
            raise UsageError(
                f"define_metric: summary 'best' for {name!r} needs goal='minimize' or "
                "goal='maximize'"
            )
    for flag_name, flag in (("step_sync", step_sync), ("hidden", hidden)):
        if flag is not None and not isinstance(flag, bool):
            raise UsageError(f"define_metric: {flag_name}={flag!r} must be True, False or None")
    if step_sync is None and step_metric is not None:
        step_sync = True
    return Metric(name, step_metric, step_sync, hidden, ops, goal)  # type: ignore[arg-type]


@dataclass
class _Agg:
    ops: tuple[str, ...]
    goal: str | None
    min: float | None = None
    max: float | None = None
    total: float = 0.0
    count: int = 0
    nan: bool = False
    first: Any = field(default=None)
    has_first: bool = False
    last: Any = None

    def add(self, v: Any) -> None:
        if not self.has_first:
            self.first = v
            self.has_first = True
        self.last = v
        if type(v) is bool or not isinstance(v, (int, float)):
            return
        self.count += 1
        self.total += v
        if v != v:
            self.nan = True
            return
        if self.min is None or v < self.min:
            self.min = v
        if self.max is None or v > self.max:
            self.max = v

    def view(self) -> dict[str, Any]:
        lo = math.nan if self.nan else self.min
        hi = math.nan if self.nan else self.max
        values = {
            "min": lo,
            "max": hi,
            "mean": self.total / self.count if self.count else None,
            "first": self.first,
            "last": self.last,
            "best": lo if self.goal == "minimize" else hi,
        }
        return {op: values[op] for op in self.ops}


class Summary:
    """A run's summary: dict-like; each key holds its last written value, or a dict of the
    aggregates that :meth:`Run.define_metric` asked for. ``summary[k] = v`` sets a value that
    the next log of ``k`` replaces; keys never logged persist."""

    def __init__(
        self, last: Mapping[str, Any] | None = None, user: Mapping[str, Any] | None = None
    ) -> None:
        self._last: dict[str, Any] = dict(last or {})
        self._user: dict[str, Any] = dict(user or {})
        self._metrics: list[Metric] = []
        self._ops_cache: dict[str, tuple[str, ...] | None] = {}
        self._aggs: dict[str, _Agg] = {}
        self.has_aggregates = False
        self.readonly = False
        self.dirty = False

    def _ops(self, key: str) -> tuple[str, ...] | None:
        try:
            return self._ops_cache[key]
        except KeyError:
            pass
        ops = None
        goal = None
        exact = [m for m in self._metrics if m.name == key]
        for m in exact or [m for m in self._metrics if m.matches(key)]:
            if m.summary is not None:
                ops, goal = m.summary, m.goal
        self._ops_cache[key] = ops
        if ops and "none" not in ops and key not in self._aggs:
            self._aggs[key] = _Agg(ops, goal)
        return ops

    # -- dict-like reading -----------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """The summary as a plain dict (what is stored and shown)."""
        out: dict[str, Any] = {}
        for key, value in self._last.items():
            ops = self._ops(key) if self.has_aggregates else None
            if ops is None:
                out[key] = value
            elif "none" not in ops:
                out[key] = self._aggs[key].view()
        out.update(self._user)
        return out

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def keys(self) -> Any:
        """The summary's keys."""
        return self.as_dict().keys()

    def items(self) -> Any:
        """The summary's ``(key, value)`` pairs."""
        return self.as_dict().items()

    def values(self) -> Any:
        """The summary's values."""
        return self.as_dict().values()

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self.as_dict().get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Summary, Mapping)):
            return self.as_dict() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Summary({self.as_dict()!r})"

    # -- writing ---------------------------------------------------------------------------
    def _check_writable(self) -> None:
        if self.readonly:
            raise UsageError("the summary of a finished run or a stored run view is read-only")

    def __setitem__(self, key: str, value: Any) -> None:
        self._check_writable()
        if not isinstance(key, str):
            raise TypeError(f"summary key {key!r} must be a str")
        self._user[key] = _convert(key, value)
        self.dirty = True

    def __delitem__(self, key: str) -> None:
        self._check_writable()
        if key not in self.as_dict():
            raise KeyError(key)
        self._user.pop(key, None)
        self._last.pop(key, None)
        self.dirty = True

    def update(self, data: Mapping[str, Any]) -> None:
        """Set several keys as with ``summary[k] = v``."""
        for k, v in data.items():
            self[k] = v

    # -- engine side -----------------------------------------------------------------------
    # the hot path's contract (rule 71): observe_floats is what both paths of Run.log do with a
    # written row of floats; nbrun/_fastlog.c does it in place, reading the state it names in
    # its layout table (``_user``, ``has_aggregates``, ``_last``), checked at import
    def observe_floats(self, row: dict[str, Any]) -> None:
        """Take a written row whose values are all floats (hot path): when no value was set
        by hand and no aggregate is defined, that is only an update of the last values;
        otherwise :meth:`observe`."""
        if self._user or self.has_aggregates:
            self.observe(row)
        else:
            self._last.update(row)

    def observe(self, row: dict[str, Any]) -> None:
        """Take a written row's user values (hot path). A logged None is stored in history as
        a missing value, so it does not replace the summary's last value."""
        if None in row.values():
            row = {k: v for k, v in row.items() if v is not None}
        self._last.update(row)
        if self._user:
            for k in row:
                self._user.pop(k, None)
        if self.has_aggregates:
            for k, v in row.items():
                if self._ops(k) is not None:
                    agg = self._aggs.get(k)
                    if agg is not None:
                        agg.add(v)

    def set_metrics(self, metrics: list[Metric]) -> None:
        """Replace the definitions; call :meth:`rebuild` afterwards for the aggregates."""
        self._metrics = list(metrics)
        self._ops_cache.clear()
        self._aggs.clear()
        self.has_aggregates = any(m.summary is not None for m in self._metrics)

    @property
    def metrics(self) -> list[Metric]:
        """The metric definitions in force."""
        return list(self._metrics)

    @property
    def user_values(self) -> dict[str, Any]:
        """Values set with ``summary[k] = v`` and not logged since."""
        return dict(self._user)

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Take last values and aggregates from a cumulative history state (see
        :func:`advance_state`); the metric definitions in force decide what is shown."""
        self._last = dict(state.get("last", {}))
        self._aggs.clear()
        self._ops_cache.clear()
        if not self.has_aggregates:
            return
        first = state.get("first", {})
        aggs = state.get("agg", {})
        for key in self._last:
            if self._ops(key) is None:
                continue
            agg = self._aggs.get(key)
            if agg is None:
                continue
            agg.first, agg.has_first, agg.last = first.get(key), key in first, self._last[key]
            stats = aggs.get(key)
            if stats is not None:
                agg.min, agg.max, agg.total, agg.count, agg.nan = stats
