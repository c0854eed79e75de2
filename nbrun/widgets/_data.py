"""Chart data for the widgets: min/max-preserving downsampling and row helpers.

Nothing here touches Altair, anywidget or the browser; it turns history rows into the compact
points the dashboard streams (``[i, x, y, step]``), at most ``cap`` points per series whatever
the run's length, keeping every bucket's minimum and maximum so spikes never vanish.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from nbrun.media import is_ref

#: Most points a series ever holds in the browser.
MAX_POINTS = 2000

#: Columns every history row has that are not metrics.
SYSTEM_KEYS = ("_step", "_runtime", "_timestamp")

Point = tuple[float, float, int]  # (x, y, step)

#: the columns of ``view.history_buckets()`` frames, in bucket order
_BUCKET_COLUMNS = ("rows", "x_min", "y_min", "step_min", "x_max", "y_max", "step_max")
#: the ``_runtime`` / ``_timestamp`` of each bucket's lowest and highest point's row
_TIME_COLUMNS = ("runtime_min", "timestamp_min", "runtime_max", "timestamp_max")


class Columns(Protocol):
    """Named columns of history rows: a DataFrame or a dict of lists."""

    def __getitem__(self, key: str) -> Any:
        """The column ``key``."""
        ...

    def __contains__(self, key: object) -> bool:
        """Whether there is a column ``key``."""
        ...


def flatten_row(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys, as ``run.history()`` does."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not is_ref(value):  # media references stay whole
            out.update(flatten_row(value, name + "."))
        else:
            out[name] = value
    return out


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, or None (strings, None, NaN, inf, bools are skipped)."""
    if value is None or isinstance(value, bool | str | bytes):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def step_metric_for(metric: str, definitions: Mapping[str, Mapping[str, Any]]) -> str:
    """The x column of ``metric``: its ``define_metric`` step_metric (exact name or glob),
    else ``_step``."""
    d = definitions.get(metric)
    if d is None:
        for name, candidate in definitions.items():
            if any(ch in name for ch in "*?[") and fnmatch.fnmatchcase(metric, name):
                d = candidate
                break
    step_metric = (d or {}).get("step_metric")
    return step_metric if isinstance(step_metric, str) and step_metric else "_step"


def axis_title(x_key: str) -> str:
    """The x axis title of a chart over ``x_key``: "step" for the global step ``_step`` (one x
    title in every view: dashboard, snapshots, ``run.chart``), the step metric's name otherwise."""
    return "step" if x_key == "_step" else x_key


def is_hidden(metric: str, definitions: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether ``define_metric(..., hidden=True)`` hid the metric."""
    d = definitions.get(metric) or {}
    return bool(d.get("hidden"))


class MinMaxSeries:
    """A series downsampled into buckets of ``width`` consecutive rows, each kept as its
    minimum and maximum point (in step order); ``width`` doubles whenever the buckets would
    exceed ``cap // 2``, so at most ``cap`` points are kept for any number of rows.

    Point ``j`` (0 or 1) of bucket ``b`` has index ``2 * b + j``: a change from bucket ``b``
    on is sent as "drop points with index >= 2 * b, insert these".
    """

    def __init__(self, cap: int = MAX_POINTS) -> None:
        if cap < 4:
            raise ValueError(f"cap={cap}: must be at least 4")
        self.cap_buckets = cap // 2
        self.width = 1
        self.rows = 0
        # each bucket: [count, lo_point, hi_point]
        self.buckets: list[list[Any]] = []

    def __len__(self) -> int:
        return sum(1 if b[1] is b[2] else 2 for b in self.buckets)

    @classmethod
    def from_buckets(
        cls, frame: Any, cap: int = MAX_POINTS, times: Any = None, stamped: bool = False
    ) -> MinMaxSeries:
        """A series from a run's stored bucket summaries (one frame of
        ``view.history_buckets()``: ``rows``, the lowest and the highest point per bucket,
        ``attrs["width"]``); rows added later go on filling its last bucket. ``stamped``: each
        kept point carries its row's ``_runtime`` and ``_timestamp`` (the dashboard's time
        axes), from the frame's ``runtime_min`` ... columns; a frame without them, or
        ``stamped`` False, looks them up in ``times`` (a ``(steps, runtimes, timestamps)``
        triple of sorted arrays; None: points carry no times)."""
        series = cls(cap)
        series.width = max(1, int(frame.attrs.get("width", 1)))
        cols = [frame[c].tolist() for c in _BUCKET_COLUMNS]
        buckets: list[list[Any]] = []
        if stamped and all(c in frame for c in _TIME_COLUMNS):  # times came with the buckets
            rt0, ts0, rt1, ts1 = (frame[c].tolist() for c in _TIME_COLUMNS)
            more: Iterable[tuple[tuple[float, ...], tuple[float, ...]]] = zip(
                zip(rt0, ts0, strict=True), zip(rt1, ts1, strict=True), strict=True
            )
        else:
            more = _times_for(times, cols[3], cols[6])
        for (rows, x0, y0, s0, x1, y1, s1), (m0, m1) in zip(
            zip(*cols, strict=True), more, strict=True
        ):
            lo = (x0, y0, s0, *m0)
            hi = lo if s0 == s1 else (x1, y1, s1, *m1)
            buckets.append([rows, lo, hi])
        series.buckets = buckets
        series.rows = sum(b[0] for b in buckets)
        while len(series.buckets) > series.cap_buckets:
            series._halve()
        return series

    def extend(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        steps: Sequence[int],
        extra: Sequence[Sequence[float]] = (),
    ) -> int | None:
        """Add points (already finite, in step order). ``extra``: more columns carried along
        with each point (the dashboard's other x axes, ``_runtime`` and ``_timestamp``), sent
        after its step. Returns the first bucket whose points changed (``0`` after a
        re-bucketing), or None when nothing was added."""
        n = len(ys)
        if n == 0:
            return None
        width_before = self.width
        first_dirty = len(self.buckets)
        if self.buckets and self.buckets[-1][0] < self.width:
            first_dirty -= 1
        start = 0
        # fill the open bucket point by point
        while start < n and self.buckets and self.buckets[-1][0] < self.width:
            self._add(float(xs[start]), float(ys[start]), int(steps[start]), _at(extra, start))
            start += 1
        if n - start > 4 * self.width:
            self._bulk(
                np.asarray(xs[start:], float),
                np.asarray(ys[start:], float),
                np.asarray(steps[start:], np.int64),
                [np.asarray(col[start:], float) for col in extra],
            )
        else:
            for k in range(start, n):
                self._add(float(xs[k]), float(ys[k]), int(steps[k]), _at(extra, k))
        self.rows += n
        while len(self.buckets) > self.cap_buckets:
            self._halve()
        return 0 if self.width != width_before else first_dirty

    def _add(self, x: float, y: float, step: int, more: tuple[float, ...] = ()) -> None:
        p = (x, y, step, *more)
        if not self.buckets or self.buckets[-1][0] >= self.width:
            self.buckets.append([1, p, p])
            return
        b = self.buckets[-1]
        b[0] += 1
        if y < b[1][1]:
            b[1] = p
        if y > b[2][1]:
            b[2] = p

    def _bulk(
        self,
        xs: np.ndarray,
        ys: np.ndarray,
        steps: np.ndarray,
        extra: Sequence[np.ndarray] = (),
    ) -> None:
        n = len(ys)
        w = self.width
        # widen first, so that the bulk part never needs more than the cap
        while (len(self.buckets) + math.ceil(n / w)) > self.cap_buckets:
            self._halve()
            w = self.width
        nb = math.ceil(n / w)
        pad = nb * w - n
        lo = np.concatenate([ys, np.full(pad, np.inf)]).reshape(nb, w).argmin(axis=1)
        hi = np.concatenate([ys, np.full(pad, -np.inf)]).reshape(nb, w).argmax(axis=1)
        base = np.arange(nb) * w
        counts = np.minimum(w, n - base)
        for b in range(nb):
            i, j = int(base[b] + lo[b]), int(base[b] + hi[b])
            p_lo = (float(xs[i]), float(ys[i]), int(steps[i]), *_at(extra, i))
            p_hi = p_lo if i == j else (float(xs[j]), float(ys[j]), int(steps[j]), *_at(extra, j))
            self.buckets.append([int(counts[b]), p_lo, p_hi])

    def _halve(self) -> None:
        """Merge neighbouring buckets pairwise (width doubles)."""
        merged: list[list[Any]] = []
        bs = self.buckets
        for k in range(0, len(bs), 2):
            if k + 1 == len(bs):
                merged.append(bs[k])
                continue
            a, b = bs[k], bs[k + 1]
            lo = a[1] if a[1][1] <= b[1][1] else b[1]
            hi = a[2] if a[2][1] >= b[2][1] else b[2]
            merged.append([a[0] + b[0], lo, hi])
        self.buckets = merged
        self.width *= 2

    def nearest(self, step: int) -> Point | None:
        """The kept point whose step is closest to ``step`` (the earlier on a tie), or None."""
        best: Point | None = None
        for _, lo, hi in self.buckets:
            for p in (lo, hi):
                if best is None or (abs(p[2] - step), p[2]) < (abs(best[2] - step), best[2]):
                    best = p
        return best

    def points(self, from_bucket: int = 0) -> list[list[Any]]:
        """Points ``[index, x, y, step, *extra]`` of the buckets from ``from_bucket`` on, step
        order (an extra value that is not finite is sent as None)."""
        # a dashboard of 20 forks sends ~80k points: x and y converted a column at a time
        kept = list(self._kept(from_bucket))
        xs = _nums([p[0] for _, p in kept])
        ys = _nums([p[1] for _, p in kept])
        opt = _opt
        return [
            [i, x, y, p[2]] if len(p) == 3 else [i, x, y, p[2], *map(opt, p[3:])]
            for (i, p), x, y in zip(kept, xs, ys, strict=True)
        ]

    def xy(self) -> list[tuple[float, float]]:
        """``(x, y)`` of the kept points, step order: :meth:`points` without the index, step
        and extra columns (what a static chart draws; the extras cost most to convert)."""
        kept = [p for _, p in self._kept(0)]
        return list(zip(_nums([p[0] for p in kept]), _nums([p[1] for p in kept]), strict=True))

    def _kept(self, from_bucket: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """``(index, point)`` of the buckets' kept points from ``from_bucket`` on, step order:
        a bucket's low and high point (one when they are the same row)."""
        buckets = self.buckets
        for b in range(from_bucket, len(buckets)):
            _, lo, hi = buckets[b]
            if lo is hi or lo[2] == hi[2]:
                yield 2 * b, lo
            elif int(hi[2]) < int(lo[2]):
                yield 2 * b, hi
                yield 2 * b + 1, lo
            else:
                yield 2 * b, lo
                yield 2 * b + 1, hi


def _times_for(
    times: Any, lo_steps: list[Any], hi_steps: list[Any]
) -> Iterable[tuple[tuple[float, ...], tuple[float, ...]]]:
    """Per bucket, the ``(_runtime, _timestamp)`` of its low and high point's rows (looked up
    by step in ``times``), or empty tuples when ``times`` is None."""
    if times is None:
        return [((), ())] * len(lo_steps)
    steps, runtimes, stamps = times

    def at(wanted: list[Any]) -> list[tuple[float, float]]:
        if not len(steps):
            return [(math.nan, math.nan)] * len(wanted)
        idx = np.clip(np.searchsorted(steps, np.asarray(wanted, float)), 0, len(steps) - 1)
        hit = steps[idx] == np.asarray(wanted, float)
        rt = np.where(hit, runtimes[idx], np.nan)
        ts = np.where(hit, stamps[idx], np.nan)
        return list(zip(rt.tolist(), ts.tolist(), strict=True))

    return list(zip(at(lo_steps), at(hi_steps), strict=True))


def _at(extra: Sequence[Any], k: int) -> tuple[float, ...]:
    """Row ``k`` of the extra columns."""
    return tuple(float(col[k]) for col in extra)


def _opt(v: float) -> float | None:
    """An extra value on the wire: None when it is not finite (JSON has no NaN)."""
    if v - v != 0:  # inf or NaN (math.isfinite, without the call: ~160k a dashboard)
        return None
    r = round(v, 3)
    return int(r) if r.is_integer() and -_EXACT < r < _EXACT else r


#: floats below this size are whole numbers exactly when ``is_integer()`` says so
_EXACT = 2.0**53


def _num(v: float) -> float:
    """Ints stay ints on the wire (shorter JSON)."""
    return int(v) if float(v).is_integer() and abs(v) < _EXACT else v


def _nums(values: list[Any]) -> list[Any]:
    """``[_num(v) for v in values]`` for a column of numbers, with numpy deciding which are
    whole (an int too big for a float's exact range is left to :func:`_num`)."""
    if len(values) < 16:
        return [_num(v) for v in values]
    arr = np.asarray(values, dtype=float)
    whole = (np.abs(arr) < _EXACT) & (arr == np.floor(arr))
    if not whole.any():
        return [v if type(v) is not int else _num(v) for v in values]
    ints = np.where(whole, arr, 0).astype(np.int64).tolist()
    return [
        i if w else (v if type(v) is not int else _num(v))
        for v, i, w in zip(values, ints, whole.tolist(), strict=True)
    ]


def xy_arrays(
    columns: Columns, metric: str, x_key: str
) -> tuple[list[float], list[float], list[int]]:
    """The finite (x, y, step) points of ``metric`` from columns (a DataFrame or dict of
    lists with ``_step``)."""
    if metric not in columns or x_key not in columns:
        return [], [], []
    ys_raw = list(columns[metric])
    xs_raw = list(columns[x_key])
    steps_raw = list(columns["_step"])
    xs: list[float] = []
    ys: list[float] = []
    steps: list[int] = []
    for x, y, s in zip(xs_raw, ys_raw, steps_raw, strict=False):
        fy, fx = as_number(y), as_number(x)
        if fy is None or fx is None:
            continue
        xs.append(fx)
        ys.append(fy)
        steps.append(int(s))
    return xs, ys, steps


def numeric_metrics(columns: Iterable[str], values: Columns) -> list[str]:
    """Columns that hold at least one finite number (system columns excluded), in order."""
    out = []
    for c in columns:
        if c in SYSTEM_KEYS:
            continue
        if any(as_number(v) is not None for v in values[c]):
            out.append(c)
    return out
