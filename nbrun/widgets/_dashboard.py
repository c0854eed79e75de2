"""The run dashboard: one anywidget per run view with the overview, live charts and the
Fork / Rewind / Stop buttons.

The contract with ``js/dashboard.js``:

* traits (Python -> browser state): ``overview``, ``charts`` (one Vega-Lite spec per metric,
  embedded once), ``series`` (the lines and their colours), ``checkpoints`` (steps a selection
  snaps to), ``result`` (outcome of the last button action, with its request number),
  ``error`` (tracebacks from background threads) and ``_base`` (a full snapshot of the chart
  points with a sequence number);
* ``selected_step`` is set by the browser when a point is clicked (and may be set from Python);
* custom messages Python -> browser: ``{"type": "delta", "seq": n, "changes": [[metric,
  series, from_index, points], ...]}``: drop that series' points with index >= from_index,
  insert ``points`` (``[index, x, y, step]``), at most about 20 per second;
* custom messages browser -> Python: ``{"action": "fork" | "rewind" | "stop" | "resync",
  "req": n, "step": N, "config": {...}}``; every action is answered through ``result``.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from ._charts import Source, dashboard_spec, lineage_sources, source_history
from ._data import (
    MAX_POINTS,
    MinMaxSeries,
    as_number,
    flatten_row,
    is_hidden,
    numeric_metrics,
    step_metric_for,
)

STATIC = Path(__file__).parent / "static"
LIVE_STATES = ("running", "preempting")


def _live_run(view: Any) -> Any:
    """The in-process ``Run`` behind a stored view, if this process is writing it (its feed
    gets rows as they are logged instead of polling the store)."""
    live = getattr(view, "live", None)
    return live() if callable(live) else None


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a config or summary value (unknown objects become their repr)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth > 8:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    num = as_number(value)  # numpy scalars
    if num is not None:
        return int(num) if float(num).is_integer() and "int" in type(value).__name__ else num
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return jsonable(tolist(), depth + 1)
        except Exception:
            pass
    return repr(value)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# -- exceptions in background threads are invisible in notebooks: show them -------------------
_open_dashboards: weakref.WeakSet[Dashboard] = weakref.WeakSet()
_hook_lock = threading.Lock()
_hook_installed = [False]


def _install_thread_hook() -> None:
    with _hook_lock:
        if _hook_installed[0]:
            return
        _hook_installed[0] = True
        previous = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            text = "".join(
                traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
            )
            name = args.thread.name if args.thread is not None else "?"
            for dash in list(_open_dashboards):
                if dash._any_live():
                    dash._report(f"exception in thread {name!r}:\n{text}")
            previous(args)

        threading.excepthook = hook


class Dashboard(anywidget.AnyWidget):
    """One run's dashboard: overview, one live chart per metric with its lineage, click a
    point to select a step, then **Fork**, **Rewind** or **Stop**.

    Made by :func:`nbrun.widgets.display_run` (``run.display()``). The button actions are
    also methods (:meth:`fork`, :meth:`rewind`, :meth:`stop`)."""

    _esm = STATIC / "dashboard.js"
    overview = traitlets.Dict().tag(sync=True)
    charts = traitlets.List().tag(sync=True)
    series = traitlets.List().tag(sync=True)
    checkpoints = traitlets.List().tag(sync=True)
    selected_step = traitlets.Int(None, allow_none=True).tag(sync=True)
    result = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    _base = traitlets.Dict().tag(sync=True)

    #: seconds between looks for new forks once nothing shown is running
    IDLE_INTERVAL = 2.0

    def __init__(
        self,
        run: Any,
        *,
        max_points: int = MAX_POINTS,
        rate: float = 20.0,
        start: bool = True,
        **kwargs: Any,
    ) -> None:
        """``run``: a live ``nbrun.Run`` or a stored view. ``rate``: most chart updates per
        second. ``start=False`` leaves the update thread off (tests call :meth:`poll`)."""
        super().__init__(**kwargs)
        self._view = run
        self._max_points = max_points
        self._interval = 1.0 / max(1.0, min(rate, 20.0))
        self._lock = threading.RLock()
        self._sources: list[Source] = []
        self._data: dict[tuple[str, str], MinMaxSeries] = {}
        self._x_keys: dict[str, str] = {}
        self._seq = 0
        self._base_seq = -1
        self._closed = False
        self._thread: threading.Thread | None = None
        self._autostart = start
        self._last_overview = 0.0
        self._last_structure = 0.0
        self._last_base = 0.0
        self.updates_sent = 0
        self.on_msg(self._on_message)
        with self.hold_sync():
            self._rebuild()
            self._refresh_overview()
        _open_dashboards.add(self)
        _install_thread_hook()
        if start:
            self.start()

    # -- building the chart data -----------------------------------------------------------
    @property
    def run(self) -> Any:
        """The run shown (after a rewind, the resumed run)."""
        return self._view

    def _rebuild(self) -> None:
        """Read every source from scratch (at creation, after a rewind)."""
        with self._lock:
            for src in self._sources:
                self._unwatch(src)
            self._sources = []
            self._data = {}
            self._x_keys = {}
            view = self._view
            metrics_defs = view.metrics
            sources = lineage_sources(view)
            own = source_history(sources[0])
            for m in numeric_metrics(own.columns, own):
                if not is_hidden(m, metrics_defs):
                    self._x_keys[m] = step_metric_for(m, metrics_defs)
            for src in sources:
                self._load(src)
            self.series = [s for src in self._sources for s in self._series_meta(src)]
            self.charts = [
                {"metric": m, "x": x, "spec": dashboard_spec(m, x)} for m, x in self._x_keys.items()
            ]
            self._refresh_checkpoints()
            self._publish_base()

    @staticmethod
    def _series_meta(src: Source) -> list[dict[str, Any]]:
        out = [src.split.meta()] if src.split is not None else []
        return [*out, src.series.meta()]

    def _load(self, src: Source) -> None:
        """Read a source's stored rows and, when it is running, open a feed for new ones."""
        view = src.view
        live = getattr(view, "state", None) in LIVE_STATES
        if live:
            # a live run in this process feeds rows as they are logged; else poll the store
            feeder = _live_run(view) if not hasattr(view, "log") else view
            feeder = feeder or view
            df = source_history(src)
            src.last_step = int(df["_step"].iloc[-1]) if len(df) else src.min_step - 1
            src.feed = feeder.follow(from_step=max(src.last_step, src.min_step - 1))
            src.extra["feeder"] = feeder
            src.live = True
        else:
            df = source_history(src)
            src.last_step = int(df["_step"].iloc[-1]) if len(df) else -1
        self._sources.append(src)
        self._add_frame(src, df)

    def _add_frame(self, src: Source, df: Any) -> list[list[Any]]:
        """Add rows (a DataFrame or a dict of columns) of ``src``; returns the changes."""
        changes: list[list[Any]] = []
        if len(df) == 0:
            return changes
        steps_all = np.asarray(df["_step"], dtype=np.int64)
        split_at = src.split_step if src.split is not None else None
        for metric, x_key in self._x_keys.items():
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
                series = self._data.setdefault((metric, key), MinMaxSeries(self._max_points))
                first = series.extend(xs[mask], ys[mask], steps_all[mask])
                if first is not None:
                    changes.append([metric, key, 2 * first, series.points(first)])
        return changes

    def _fork_marks(self) -> dict[str, list[list[Any]]]:
        """Per metric, ``[x, y, color, label]`` of each fork point on the chart."""
        out: dict[str, list[list[Any]]] = {m: [] for m in self._x_keys}
        for src in self._sources:
            ser = src.series
            step = ser.fork_step
            if step is None:
                continue
            label = ser.label if ser.role != "self" else f"forked here @{step}"
            for metric in self._x_keys:
                pts = [
                    p
                    for key in (ser.key, src.split.key if src.split else None)
                    if key and (metric, key) in self._data
                    for p in self._data[(metric, key)].points()
                ]
                if not pts:
                    continue
                at = min(pts, key=lambda p: (abs(p[3] - step), p[3]))
                out[metric].append([at[1], at[2], ser.color, label])
        return out

    def _publish_base(self) -> None:
        """Send the full point set (new views and resyncs start from it)."""
        points: dict[str, dict[str, list[list[Any]]]] = {}
        for (metric, key), series in self._data.items():
            points.setdefault(metric, {})[key] = series.points()
        self._base_seq = self._seq
        self._last_base = time.monotonic()
        self._base = {"seq": self._seq, "points": points, "forks": self._fork_marks()}

    def _refresh_checkpoints(self) -> None:
        cps: list[int] = []
        checkpoints = getattr(self._view, "checkpoints", None)
        if callable(checkpoints):
            try:
                cps = sorted({int(ck.step) for ck in checkpoints()})
            except Exception:
                cps = []
        if cps != self.checkpoints:
            self.checkpoints = cps

    # -- overview ---------------------------------------------------------------------------
    def _refresh_overview(self) -> None:
        view = self._view
        fp = view.forked_from
        config = jsonable(dict(view.config))
        diff = jsonable(view.config_diff) if fp is not None else None
        ov: dict[str, Any] = {
            "name": str(view.name),
            "id": view.id,
            "project": view.project,
            "path": view.path,
            "state": view.state,
            "runtime": float(view.runtime),
            "step": int(view.step),
            "starting_step": int(view.starting_step),
            "total": getattr(view, "total", None),
            "config": config,
            "config_diff": diff,
            "summary": jsonable(dict(view.summary)),
            "tags": [str(t) for t in (view.tags or ())],
            "notes": view.notes,
            "group": view.group,
            "job_type": view.job_type,
            "forked_from": {"run_id": fp.run_id, "step": fp.step} if fp is not None else None,
            "children": [
                {
                    "id": c.id,
                    "name": str(c.name),
                    "state": c.state,
                    "step": c.forked_from.step if c.forked_from else None,
                }
                for c in view.children()
            ],
            "archives": [
                {
                    "index": a.index,
                    "from_step": a.from_step,
                    "to_step": a.to_step,
                    "rows": getattr(a, "rows", None),
                    "reason": a.reason,
                    "created": a.created,
                }
                for a in view.archives()
            ],
            "alerts": jsonable(list(view.alerts)),
            "training_error": getattr(view, "error", None),
            "restore_warning": _restore_warning(view),
        }
        self._last_overview = time.monotonic()
        if ov != self.overview:
            self.overview = ov

    # -- live updates ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the update thread (no-op when it runs already or nothing is live)."""
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._loop, name=f"nbrun-dashboard-{self._view.id}", daemon=True
            )
            self._thread.start()

    def _any_live(self) -> bool:
        return any(src.live for src in self._sources)

    def _loop(self) -> None:
        """Poll at ``rate`` while something is live; then every ``IDLE_INTERVAL`` seconds
        only, for forks made elsewhere (they join the chart), until the widget is closed."""
        failures = 0
        while not self._closed:
            t0 = time.monotonic()
            try:
                live = self.poll()
                failures = 0
            except Exception:
                failures += 1
                self._report("dashboard update failed:\n" + traceback.format_exc())
                if failures >= 5:
                    break
                live = False
            interval = self._interval if live else self.IDLE_INTERVAL
            time.sleep(max(0.0, interval - (time.monotonic() - t0)))

    def poll(self) -> bool:
        """One update: drain the live sources, send the chart delta, refresh the overview
        now and then. Returns whether anything is still live."""
        with self._lock:
            if self._closed:
                return False
            changes: list[list[Any]] = []
            structural = False
            for src in self._sources:
                if not src.live:
                    continue
                rows = src.feed.drain() if src.feed is not None else []
                if rows:
                    changes.extend(self._add_rows(src, rows))
                    structural |= bool(src.extra.pop("new_metrics", False))
                feeder = src.extra.get("feeder", src.view)
                if feeder.state not in LIVE_STATES:
                    rest = src.feed.drain() if src.feed is not None else []
                    if rest:
                        changes.extend(self._add_rows(src, rest))
                    self._unwatch(src)
                    src.live = False
                    structural = True
            now = time.monotonic()
            if structural or now - self._last_structure > 2.0:
                self._last_structure = now
                structural |= self._pick_up_new_children()
            if structural:
                with self.hold_sync():
                    if self._x_keys.keys() != {c["metric"] for c in self.charts}:
                        self.charts = [
                            {"metric": m, "x": x, "spec": dashboard_spec(m, x)}
                            for m, x in self._x_keys.items()
                        ]
                    self.series = [s for src in self._sources for s in self._series_meta(src)]
                    self._seq += 1
                    self._publish_base()
                    self._refresh_overview()
                    self._refresh_checkpoints()
            elif changes:
                self._seq += 1
                self.send({"type": "delta", "seq": self._seq, "changes": changes})
                self.updates_sent += 1
                if now - self._last_base > 5.0:
                    self._publish_base()  # lets views that render late catch up
            if now - self._last_overview > 0.5:
                self._refresh_overview()
                self._refresh_checkpoints()
            return self._any_live()

    def _add_rows(self, src: Source, rows: list[dict[str, Any]]) -> list[list[Any]]:
        flat = [flatten_row(r) for r in rows]
        flat = [r for r in flat if int(r.get("_step", -1)) > src.last_step]
        if not flat:
            return []
        src.last_step = int(flat[-1]["_step"])
        if src.series.role == "self":
            defs = self._view.metrics
            for r in flat:
                for k, v in r.items():
                    if (
                        k not in self._x_keys
                        and not k.startswith("_")
                        and as_number(v) is not None
                        and not is_hidden(k, defs)
                    ):
                        self._x_keys[k] = step_metric_for(k, defs)
                        src.extra["new_metrics"] = True
        keys = list(dict.fromkeys(k for r in flat for k in r))
        cols = {k: [r.get(k) for r in flat] for k in keys}
        return self._add_frame(src, _Columns(cols))

    def _pick_up_new_children(self) -> bool:
        """Forks made elsewhere (a notebook cell, another process) join the chart."""
        known = {src.series.run_id for src in self._sources if src.series.role == "child"}
        added = False
        try:
            children = self._view.children()
        except Exception:
            return False
        from ._charts import OTHER_COLORS, _fork_source

        used = sum(1 for src in self._sources if src.series.role in ("child", "sibling"))
        for child in children:
            if child.id in known or child.forked_from is None:
                continue
            src = _fork_source(child, "child", OTHER_COLORS[used % len(OTHER_COLORS)])
            used += 1
            self._load(src)
            added = True
        return added

    def _add_child(self, run: Any) -> None:
        """Put a fork made from this dashboard on the chart (streaming if it trains)."""
        from ._charts import OTHER_COLORS, _fork_source

        with self._lock:
            if any(s.series.run_id == run.id and s.series.role == "child" for s in self._sources):
                return
            used = sum(1 for src in self._sources if src.series.role in ("child", "sibling"))
            self._load(_fork_source(run, "child", OTHER_COLORS[used % len(OTHER_COLORS)]))
            with self.hold_sync():
                self.series = [s for src in self._sources for s in self._series_meta(src)]
                self._seq += 1
                self._publish_base()
                self._refresh_overview()

    @staticmethod
    def _unwatch(src: Source) -> None:
        feed, src.feed = src.feed, None
        if feed is None:
            return
        feed.close()

    def _report(self, text: str) -> None:
        """Show an error in the widget (and keep the earlier ones, newest last)."""
        lines = (self.error + "\n\n" + text).strip() if self.error else text
        self.error = lines[-20000:]

    # -- actions -----------------------------------------------------------------------------
    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or "action" not in content:
            return
        action = content.get("action")
        req = content.get("req")
        if action == "resync":
            with self._lock:
                self._publish_base()
            return
        try:
            if action == "fork":
                new = self.fork(content.get("step"), content.get("config"))
                fp = new.forked_from
                msg = f"forked {new.name} ({new.id}) from step {fp.step if fp else '?'}"
            elif action == "rewind":
                new = self.rewind(content.get("step"), content.get("config"))
                msg = f"rewound {new.id} to step {new.starting_step - 1}; later rows archived"
            elif action == "stop":
                new = self.stop()
                msg = f"stop requested: {new.id} ends as killed at its next log"
            else:
                raise ValueError(
                    f"unknown action {action!r}; the dashboard knows fork, rewind, stop"
                )
        except Exception as exc:
            self.result = {"req": req, "action": action, "ok": False, "message": _error_text(exc)}
            return
        self.result = {"req": req, "action": action, "ok": True, "message": msg, "run_id": new.id}

    def _check_step(self, step: Any) -> int:
        from nbrun import UsageError

        if step is None:
            step = self.selected_step
        if step is None:
            raise UsageError("no step selected: click a point on a chart first")
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if type(step) is not int or step < 0:
            raise UsageError(f"step {step!r}: must be a non-negative int")
        return step

    def _changed_config(self, config: Any) -> dict[str, Any]:
        from nbrun import UsageError

        if config is None:
            return {}
        if not isinstance(config, Mapping):
            raise UsageError(f"config {config!r}: must be a dict of config keys to values")
        current = dict(self._view.config)
        return {k: v for k, v in config.items() if k not in current or current[k] != v}

    def fork(self, step: int | None = None, config: Mapping[str, Any] | None = None) -> Any:
        """Fork the run at ``step`` (default: the selected step) with config overrides, like
        the **Fork** button; the new run joins the chart. Returns it."""
        step = self._check_step(step)
        changed = self._changed_config(config)
        # the one place the dashboard forks: RunView.fork continues a launched training too
        new = self._view.fork(step, changed)
        self._add_child(new)
        self.start()
        return new

    def rewind(self, step: int | None = None, config: Mapping[str, Any] | None = None) -> Any:
        """Rewind the run to ``step`` (default: the selected step), like the **Rewind**
        button: later rows are archived (drawn as a ghost line). Returns the resumed run."""
        step = self._check_step(step)
        changed = self._changed_config(config)
        new = self._view.rewind(step, changed)
        with self._lock:
            self._view = new
            with self.hold_sync():
                self._seq += 1
                self._rebuild()
                self._refresh_overview()
        self.start()
        return new

    def stop(self) -> Any:
        """Stop the running run, like the **Stop** button (it ends as ``killed``)."""
        from nbrun import UsageError

        view = self._view
        if hasattr(view, "log"):  # a live Run of this process
            if view.state not in LIVE_STATES:
                raise UsageError(
                    f"run {view.id} is {view.state}; only a running run can be stopped"
                )
            view.stop()
        else:
            view.stop()
        self._refresh_overview()
        return view

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the widget and stop its update thread."""
        with self._lock:
            self._closed = True
            for src in self._sources:
                self._unwatch(src)
        _open_dashboards.discard(self)
        super().close()


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


class _Columns(dict):  # type: ignore[type-arg]
    """A dict of equal-length columns that behaves enough like a DataFrame here."""

    def __len__(self) -> int:
        first = next(iter(self.values()), [])
        return len(first)


def _restore_warning(view: Any) -> str | None:
    meta = getattr(view, "metadata", None)
    try:
        note = (meta or {}).get("restore") or {}
        return note.get("warning")
    except Exception:  # pragma: no cover - unexpected metadata shape
        return None


def display_run(run: Any) -> Dashboard:
    """The dashboard widget of ``run`` (a live ``Run`` or a stored view).

    A notebook shows it when it is the cell's last expression (like an Altair chart); else
    pass it to ``IPython.display.display``. It is not displayed here, so that ``run.display()``
    at the end of a cell shows one dashboard, not two."""
    return Dashboard(run)


__all__ = ["Dashboard", "display_run"]
