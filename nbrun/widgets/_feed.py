"""The dashboard's chart data: every line of a run's lineage downsampled, followed while its
run is live, and the changes as the ``delta`` messages of the widget protocol.

Nothing here touches anywidget or the browser: :class:`ChartFeed` reads sources, keeps one
:class:`~nbrun.widgets._data.MinMaxSeries` per (metric, series) and hands back the changes
``[metric, series, from_index, points]`` and full snapshots; the widget sends them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._charts import (
    Series,
    Source,
    colour_group,
    dashboard_spec,
    diverged_after_fork,
    family_ids,
    fork_source,
    has_buckets,
    last_bucket_step,
    lineage_sources,
    short,
    source_buckets,
    source_history,
)
from ._colors import family_colors
from ._data import (
    MAX_POINTS,
    MinMaxSeries,
    _num,
    as_number,
    axis_title,
    flatten_row,
    is_hidden,
    numeric_metrics,
    step_metric_for,
)
from ._marks import event_marks
from ._media import MediaIndex, kind_of
from ._protocols import RunLike, is_live

#: one change of the chart data: drop ``series``' points of ``metric`` with index >=
#: ``from_index``, insert ``points`` (``[index, x, y, step, runtime, timestamp]``)
Change = list[Any]
#: a source's series with their metrics' bucket summaries (``source_buckets``)
Bucketed = list[tuple[Series, dict[str, Any]]]

#: columns every point carries after its step, for the dashboard's other x axes
TIME_KEYS = ("_runtime", "_timestamp")
#: the columns of ``history_buckets`` frames holding those of each bucket's two points
TIME_COLUMNS = ("runtime_min", "timestamp_min", "runtime_max", "timestamp_max")


class ChartFeed:
    """The points of every line on a run's charts, one chart per metric.

    :meth:`rebuild` reads everything; :meth:`drain` takes the rows logged since by the live
    sources; :meth:`snapshot` is the full point set (the ``_base`` trait) with the sequence
    number :attr:`seq` that the deltas continue."""

    def __init__(self, view: RunLike, max_points: int = MAX_POINTS) -> None:
        self.view = view
        self.max_points = max_points
        self.sources: list[Source] = []
        self.data: dict[tuple[str, str], MinMaxSeries] = {}
        self.x_keys: dict[str, str] = {}
        #: sequence number of the last delta or snapshot
        self.seq = 0
        #: the run's media keys and their steps (see ._media); ``media_changed`` after new ones
        self.media = MediaIndex(view)
        self.media_changed = False
        #: the run's family, oldest first, and their colours (see ._colors.family_colors)
        self.family: list[str] = []
        self.colors: dict[str, str] = {}
        #: archived segments each other run on the chart had when read (a rewind adds one)
        self.archive_counts: dict[str, int] = {}

    # -- reading -----------------------------------------------------------------------------
    def rebuild(self, view: RunLike) -> None:
        """Read every source of ``view`` from scratch (at creation, after a rewind)."""
        self.close()
        self.view = view
        self.sources = []
        self.data = {}
        self.x_keys = {}
        metrics_defs = view.metrics
        self.family = family_ids(view)
        self.colors = family_colors(colour_group(view, self.family))
        sources = lineage_sources(view, self.colors)
        self.media = MediaIndex(view)
        first: Bucketed | None = None
        if has_buckets(sources[0]):
            # the run's metrics from its downsampled history; only media columns are read whole
            first = source_buckets(sources[0], None, self.max_points)
            x_of: dict[str, str] = {}
            first_step: dict[str, int] = {}
            for _, frames in first:
                for m, f in frames.items():
                    x_of[m] = f.attrs.get("x", "_step")
                    if len(f):
                        at = int(f["step_min"].min())
                        first_step[m] = min(first_step.get(m, at), at)
            rank = {k: n for n, k in enumerate(view.summary.keys())}
            order = sorted(
                x_of, key=lambda m: (first_step.get(m, 1 << 62), rank.get(m, len(rank)), m)
            )
            for m in order:
                if not is_hidden(m, metrics_defs):
                    self.x_keys[m] = x_of[m]
            self._add_media(view)
        else:
            own = source_history(sources[0])
            self.media.add_columns(own)
            for m in logged_order(numeric_metrics(own.columns, own), own, view.summary.keys()):
                if not is_hidden(m, metrics_defs):
                    self.x_keys[m] = step_metric_for(m, metrics_defs)
        for n, src in enumerate(sources):
            self.load(src, first if n == 0 else None)

    def _add_media(self, view: RunLike) -> None:
        """Index the run's media: the keys its summary holds media under, read whole."""
        try:
            summary = {k: view.summary[k] for k in view.summary.keys()}
        except Exception:
            return
        keys = [k for k, v in flatten_row(summary).items() if kind_of(v) is not None]
        if keys:
            self.media.add_columns(view.history(keys=keys))

    def load(self, src: Source, read: Bucketed | None = None) -> None:
        """Read a source's stored rows and, when its run is running, follow it: a run logged
        by this process pushes its rows into the feed as they are written, else the feed
        reads them from the store. ``read``: the source's bucket summaries, when read already."""
        live = src.run is not None and is_live(src.run.state)
        if not has_buckets(src):
            self._load_frame(src, live)
            return
        # read after the state: a run that ends now is still followed
        if read is None:
            x = None if src.run is not None else dict(self.x_keys)
            read = source_buckets(src, x, self.max_points)
        last = last_bucket_step(read)
        if live and src.run is not None:
            src.last_step = last if last is not None else src.min_step - 1
            src.feed = src.run.follow(from_step=max(src.last_step, src.min_step - 1))
            src.live = True
        else:
            src.last_step = last if last is not None else -1
        self.sources.append(src)
        if src.run is not None and src.series.role in _OTHERS:
            self.archive_counts[src.series.key] = len(src.run.archives())
        # the buckets carry their points' times (rule 68); a view whose buckets do not has
        # its time columns read
        stamped = all(
            all(c in f for c in TIME_COLUMNS) for _, frames in read for f in frames.values()
        )
        times = _times(src) if last is not None and not stamped else None
        for series, frames in read:
            for metric in self.x_keys:
                frame = frames.get(metric)
                if frame is not None and len(frame):
                    mm = MinMaxSeries.from_buckets(frame, self.max_points, times, stamped)
                    self.data[(metric, series.key)] = mm

    def _load_frame(self, src: Source, live: bool) -> None:
        """:meth:`load` for a view without ``history_buckets``: its rows as a DataFrame."""
        df = source_history(src)
        if live and src.run is not None:
            src.last_step = int(df["_step"].iloc[-1]) if len(df) else src.min_step - 1
            src.feed = src.run.follow(from_step=max(src.last_step, src.min_step - 1))
            src.live = True
        else:
            src.last_step = int(df["_step"].iloc[-1]) if len(df) else -1
        self.sources.append(src)
        if src.run is not None and src.series.role in _OTHERS:
            self.archive_counts[src.series.key] = len(src.run.archives())
        self.add_frame(src, df)

    def add_frame(self, src: Source, df: Any) -> list[Change]:
        """Add rows (a DataFrame or a dict of columns) of ``src``; returns the changes."""
        changes: list[Change] = []
        if len(df) == 0:
            return changes
        steps_all = np.asarray(df["_step"], dtype=np.int64)
        times = [_floats(df[k]) if k in df else np.full(len(steps_all), np.nan) for k in TIME_KEYS]
        split_at = src.split_step if src.split is not None else None
        for metric, x_key in self.x_keys.items():
            if metric not in df or x_key not in df:
                continue
            ys = _floats(df[metric])
            xs = ys if x_key == metric else _floats(df[x_key])
            ok = np.isfinite(ys) & np.isfinite(xs)
            parts = [(src.series.key, ok)]
            if split_at is not None and src.split is not None:
                early = steps_all <= split_at
                parts = [(src.split.key, ok & early), (src.series.key, ok & ~early)]
            for key, mask in parts:
                if not mask.any():
                    continue
                series = self.data.setdefault((metric, key), MinMaxSeries(self.max_points))
                first = series.extend(xs[mask], ys[mask], steps_all[mask], [t[mask] for t in times])
                if first is not None:
                    changes.append([metric, key, 2 * first, series.points(first)])
        return changes

    def add_rows(self, src: Source, rows: list[dict[str, Any]]) -> list[Change]:
        """Add rows as a feed gives them (nested dicts); new metrics of the run get charts."""
        flat = [flatten_row(r) for r in rows]
        flat = [r for r in flat if int(r.get("_step", -1)) > src.last_step]
        if not flat:
            return []
        src.last_step = int(flat[-1]["_step"])
        if src.series.role == "self" and self.media.add_rows(flat):
            self.media_changed = True
        if src.series.role == "self":
            defs = self.view.metrics
            for r in flat:
                for k, v in r.items():
                    if (
                        k not in self.x_keys
                        and not k.startswith("_")
                        and as_number(v) is not None
                        and not is_hidden(k, defs)
                    ):
                        self.x_keys[k] = step_metric_for(k, defs)
                        src.new_metrics = True
        keys = list(dict.fromkeys(k for r in flat for k in r))
        cols = {k: [r.get(k) for r in flat] for k in keys}
        return self.add_frame(src, _Columns(cols))

    def drain(self) -> tuple[list[Change], bool]:
        """Take the rows the live sources got since the last call. Returns the changes and
        whether the structure changed (a new metric, a source that stopped being live)."""
        changes: list[Change] = []
        structural = False
        for src in self.sources:
            if not src.live:
                continue
            rows = src.feed.drain() if src.feed is not None else []
            if rows:
                changes.extend(self.add_rows(src, rows))
                structural |= src.new_metrics
                src.new_metrics = False
            if not _still_live(src):
                rest = src.feed.drain() if src.feed is not None else []
                if rest:
                    changes.extend(self.add_rows(src, rest))
                _unfollow(src)
                src.live = False
                structural = True
        return changes, structural

    def pick_up_new_children(self) -> bool:
        """Forks made elsewhere (a notebook cell, another process) join the chart. Returns
        whether any did."""
        known = {src.series.run_id for src in self.sources if src.series.role == "child"}
        added = False
        try:
            children = self.view.children()
        except Exception:
            return False
        for child in children:
            if child.id in known or child.forked_from is None:
                continue
            src = fork_source(child, "child", self.color_of(child.id))
            self.load(src)
            added = True
        return added

    def reload_rewound(self) -> bool:
        """Read again the lines of other runs (parent, siblings, forks) that were rewound since
        they were read: their archived rows leave the chart, their new rows join it; a parent
        rewound to before the fork point is no longer drawn past it. Returns whether any
        line changed."""
        changed = False
        for src in list(self.sources):
            key = src.series.key
            if src.run is None or key not in self.archive_counts:
                continue
            try:
                count = len(src.run.archives())
            except Exception:
                continue
            if count == self.archive_counts[key]:
                continue
            changed = True
            _unfollow(src)
            self.sources.remove(src)
            del self.archive_counts[key]
            for series_key in [k for k in self.data if k[1] == key]:
                del self.data[series_key]
            fp = self.view.forked_from
            if (
                src.series.role == "parent"
                and fp is not None
                and diverged_after_fork(self.view, src.run, fp.step)
            ):
                continue
            self.load(Source(src.run, src.series, run=src.run, min_step=src.min_step))
        return changed

    def rename_self(self, name: str) -> None:
        """The run's own line after it was renamed (the legend shows the new name)."""
        for src in self.sources:
            if src.series.role == "self":
                src.series.label = f"this · {short(name)}"

    def add_child(self, run: RunLike) -> bool:
        """Put a fork of the run on the chart (streaming if it trains); False when it is on
        it already."""
        if any(s.series.run_id == run.id and s.series.role == "child" for s in self.sources):
            return False
        self.load(fork_source(run, "child", self.color_of(run.id)))
        return True

    def color_of(self, run_id: str) -> str:
        """The colour of a run of the family; a new fork (the newest run) joins it."""
        if run_id not in self.colors:
            self.family.append(run_id)
            self.colors = family_colors(self.family)
        return self.colors[run_id]

    # -- what the widget publishes ----------------------------------------------------------
    def any_live(self) -> bool:
        """Whether a source is still followed."""
        return any(src.live for src in self.sources)

    def charts(self) -> list[dict[str, Any]]:
        """The ``charts`` trait: one Vega-Lite spec per metric."""
        return [
            {"metric": m, "x": x, "spec": dashboard_spec(m, axis_title(x))}
            for m, x in self.x_keys.items()
        ]

    def series_meta(self) -> list[dict[str, Any]]:
        """The ``series`` trait: every line with its colour, dash and label."""
        out: list[dict[str, Any]] = []
        for src in self.sources:
            if src.split is not None:
                out.append(src.split.meta())
            out.append(src.series.meta())
        return out

    def fork_marks(self) -> dict[str, list[list[Any]]]:
        """Per metric, ``[x, y, color, label, step, run_id]`` of each fork point on the chart
        (``step``: the point's, so the browser can place it on another x axis)."""
        out: dict[str, list[list[Any]]] = {m: [] for m in self.x_keys}
        for src in self.sources:
            ser = src.series
            step = ser.fork_step
            if step is None:
                continue
            label = ser.label if ser.role != "self" else f"forked here @{step}"
            for metric in self.x_keys:
                near = [
                    p
                    for key in (ser.key, src.split.key if src.split else None)
                    if key and (metric, key) in self.data
                    for p in [self.data[(metric, key)].nearest(step)]
                    if p is not None
                ]
                if not near:
                    continue
                x, y, at_step = min((p[:3] for p in near), key=lambda p: (abs(p[2] - step), p[2]))
                out[metric].append([_num(x), _num(y), ser.color, label, at_step, ser.run_id])
        return out

    def snapshot(self) -> dict[str, Any]:
        """The ``_base`` trait: every point, the fork marks, the PBT and recovery marks
        (``events``, rule 70) and the current :attr:`seq`."""
        points: dict[str, dict[str, list[list[Any]]]] = {}
        for (metric, key), series in self.data.items():
            points.setdefault(metric, {})[key] = series.points()
        return {
            "seq": self.seq,
            "points": points,
            "forks": self.fork_marks(),
            "events": event_marks(self),
        }

    def close(self) -> None:
        """Stop following every source."""
        for src in self.sources:
            _unfollow(src)


def _times(src: Source) -> tuple[Any, Any, Any]:
    """A source's ``(steps, runtimes, timestamps)`` as sorted arrays: only these columns are
    read, for the points its bucket summaries keep (the dashboard's time axes)."""
    view: Any = src.view
    df = view.history(keys=list(TIME_KEYS))
    if src.min_step > 0 and len(df):
        df = df[df["_step"] >= src.min_step]
    steps = np.asarray(df["_step"], dtype=float) if len(df) else np.empty(0)
    cols = [_floats(df[k]) if k in df else np.full(len(steps), np.nan) for k in TIME_KEYS]
    return steps, cols[0], cols[1]


def logged_order(metrics: list[str], df: Any, summary_keys: Any) -> list[str]:
    """``metrics`` in the order they were first logged (the history's columns are sorted by
    name): by the first row holding a value, then by the summary's order (the keys of one
    ``log`` call enter it in the order they were given), then by name."""
    rank = {k: n for n, k in enumerate(summary_keys)}
    first: dict[str, int] = {}
    for m in metrics:
        column = df[m]
        mask = column.notna() if hasattr(column, "notna") else [v is not None for v in column]
        hits = np.flatnonzero(np.asarray(mask, dtype=bool))
        first[m] = int(hits[0]) if len(hits) else len(df)
    return sorted(metrics, key=lambda m: (first[m], rank.get(m, len(rank)), m))


#: roles of the lines of other runs (followed for rewinds, see ChartFeed.reload_rewound)
_OTHERS = ("parent", "sibling", "child")


def _still_live(src: Source) -> bool:
    """Whether the run of a followed source still runs: asked of this process's live ``Run``
    when it has one (its rows reach the feed before its state changes), else of the store."""
    run = src.run
    if run is None:
        return False
    return is_live((run.live() or run).state)


def _unfollow(src: Source) -> None:
    """Close the source's feed (a run's feed detaches from it)."""
    feed, src.feed = src.feed, None
    if feed is None:
        return
    feed.close()


def _floats(column: Any) -> np.ndarray:
    """A column as floats: numbers as they are, anything else (None, str, dict) as NaN."""
    arr = np.asarray(column, dtype=object) if not hasattr(column, "dtype") else column
    if getattr(arr, "dtype", None) is not None and arr.dtype.kind in "fiu":
        try:
            return np.asarray(arr, dtype=float)
        except (TypeError, ValueError):  # nullable integer columns holding NA
            pass
    return np.array([_f(v) for v in arr], dtype=float)


def _f(value: Any) -> float:
    num = as_number(value)
    return math.nan if num is None else num


class _Columns(dict[str, list[Any]]):
    """A dict of equal-length columns that behaves enough like a DataFrame here."""

    def __len__(self) -> int:
        first = next(iter(self.values()), [])
        return len(first)
