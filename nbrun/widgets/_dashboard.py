"""The run dashboard: one anywidget per run view with the overview, live charts and the
Fork / Rewind / Stop buttons.

The widget composes three parts: the chart data (:mod:`._feed`), the overview
(:mod:`._overview`) and the actions (:mod:`._actions`); it owns the traits, the update thread
and the messages. The contract with ``js/dashboard.js``:

* traits (Python -> browser state): ``overview``, ``charts`` (one Vega-Lite spec per metric,
  embedded once), ``series`` (the lines and their colours), ``checkpoints`` (steps a selection
  snaps to), ``result`` (outcome of the last button action, with its request number),
  ``error`` (tracebacks from background threads) and ``_base`` (a full snapshot of the chart
  points with a sequence number);
* ``selected_step`` is set by the browser when a point is clicked (and may be set from Python);
* custom messages Python -> browser: ``{"type": "delta", "seq": n, "changes": [[metric,
  series, from_index, points], ...]}``: drop that series' points with index >= from_index,
  insert ``points`` (``[index, x, y, step, runtime, timestamp]``: the last two, the
  row's ``_runtime`` and ``_timestamp``, are the other x axes), at most about 20 per second;
* custom messages browser -> Python: ``{"action": "fork" | "rewind" | "stop" | "resync",
  "req": n, "step": N, "config": {...}}``; every action is answered through ``result``;
* ``system`` and ``logs``: the System and Logs sections (see :mod:`._side`).
* the overview edits the run's name, tags and notes: ``{"action": "edit", "req", "field",
  "value"}`` is answered by ``{"type": "edited", "req", "field", "ok", "message"}``.
* ``_vega``: the Vega module's shared model (``IPY_MODEL_<id>``, see :mod:`._vega`); the
  charts are drawn as plain SVG lines first and become Vega views once it is loaded.
* ``snapshot_id``: the display id of the static snapshot shown with the widget (see
  :mod:`._snapshot`); the view hides that snapshot while it shows.
* media panels (see :mod:`._media` and ``js/dashboard/media.js``): the ``media`` trait lists
  media keys and their steps; ``{"action": "media", "req", "key", "step"}`` is answered by a
  ``{"type": "media", ...}`` message with that key's content at that step.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

import nbrun
from nbrun import RunView

from ._actions import changed_config, check_step, perform, stop_run
from ._charts import Source
from ._data import MAX_POINTS, MinMaxSeries
from ._feed import ChartFeed
from ._overview import apply_edit, checkpoint_steps, overview
from ._protocols import RunLike, as_run_like, is_live
from ._side import logs_payload, system_payload
from ._snapshot import dashboard_html, dashboard_text, feed_charts, publish_snapshot, watch_cells
from ._tree import dashboard_tree, tree_html
from ._vega import vega_ref

STATIC = Path(__file__).parent / "static"
#: seconds between refreshes of the displayed snapshot while the run is live
SNAPSHOT_EVERY = 10.0
#: seconds between reads of the run's family for the Tree panel (new forks, rewinds, values)
TREE_EVERY = 2.0


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
                dash._thread_failed(name, text)  # noqa: SLF001 - this module's own hook
            previous(args)

        threading.excepthook = hook


def _base_to_json(value: dict[str, Any], _widget: Any) -> Any:
    """The ``_base`` trait on the wire: its JSON text as one binary buffer (the browser decodes
    it, ``js/dashboard/store.js``), so ipywidgets does not walk every point list looking for
    buffers (0.16 CPU s for a run with 20 forks); as a dict if it holds a non-finite number."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return value


def _base_from_json(value: Any, _widget: Any) -> dict[str, Any]:
    """The inverse of :func:`_base_to_json`."""
    if isinstance(value, bytes | bytearray | memoryview):
        return dict(json.loads(bytes(value)))
    return dict(value or {})


class Dashboard(anywidget.AnyWidget):
    """One run's dashboard: overview, one live chart per metric with its lineage, click a
    point to select a step, then **Fork**, **Rewind** or **Stop**.

    Made by :func:`nbrun.widgets.display_run` (``run.display()``). The button actions are
    also methods (:meth:`fork`, :meth:`rewind`, :meth:`stop`)."""

    _esm = STATIC / "dashboard.js"
    overview = traitlets.Dict().tag(sync=True)
    charts: traitlets.List[Any] = traitlets.List().tag(sync=True)
    series: traitlets.List[Any] = traitlets.List().tag(sync=True)
    checkpoints: traitlets.List[Any] = traitlets.List().tag(sync=True)
    selected_step = traitlets.Int(None, allow_none=True).tag(sync=True)
    result = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    _base = traitlets.Dict().tag(sync=True, to_json=_base_to_json, from_json=_base_from_json)
    system = traitlets.Dict().tag(sync=True)
    logs = traitlets.Dict().tag(sync=True)
    media: traitlets.List[Any] = traitlets.List().tag(sync=True)
    #: the display id of the static snapshot shown with the widget (the view hides it)
    snapshot_id = traitlets.Unicode("").tag(sync=True)
    #: the shared model holding the Vega module (see :mod:`._vega`)
    _vega = traitlets.Unicode("").tag(sync=True)
    #: the Tree panel (rule 62): the family's layout ({} without a family, see :mod:`._tree`),
    #: the metric it is coloured by (set by the browser), the dashboard opened from a node
    tree = traitlets.Dict().tag(sync=True)
    tree_metric = traitlets.Unicode("").tag(sync=True)
    tree_opened = traitlets.Unicode("").tag(sync=True)

    #: seconds between looks for new forks once nothing shown is running
    IDLE_INTERVAL = 2.0

    def __init__(
        self,
        run: RunLike,
        *,
        max_points: int = MAX_POINTS,
        rate: float = 20.0,
        start: bool = True,
        **kwargs: Any,
    ) -> None:
        """``run``: a live ``nbrun.Run`` or a stored view. ``rate``: most chart updates per
        second. ``start=False`` leaves the update thread off (tests call :meth:`poll`)."""
        kwargs.setdefault("_vega", vega_ref())
        super().__init__(**kwargs)
        self._view: RunLike = run
        self._feed = ChartFeed(run, max_points)
        self._interval = 1.0 / max(1.0, min(rate, 20.0))
        self._lock = threading.RLock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._autostart = start
        self._last_overview = 0.0
        self._last_structure = 0.0
        self._last_base = 0.0
        self._last_side = 0.0
        self._last_tree = 0.0
        self._opened: Dashboard | None = None
        self._side_done = False  # the System and Logs sections of a finished run are final
        self._system_specs: dict[str, dict[str, Any]] = {}
        self.updates_sent = 0
        #: the display id of this dashboard's static snapshot output (set when displayed)
        self._display_id: str | None = None
        self.snapshot_id = f"nbrun-snapshot-{self.model_id}"
        self._snap_key: Any = None
        self._snap_key_cell: Any = None
        self._last_snap = 0.0
        self.on_msg(self._on_message)
        self.observe(lambda _change: self._refresh_tree(), "tree_metric")
        with self.hold_sync():
            self._rebuild()
            self._refresh_overview()
            self._refresh_side()
        _open_dashboards.add(self)
        _install_thread_hook()
        if start:
            self.start()

    @property
    def run(self) -> RunLike:
        """The run shown (after a rewind, the resumed run)."""
        return self._view

    # -- chart data (see ._feed) ---------------------------------------------------------------
    @property
    def _sources(self) -> list[Source]:
        return self._feed.sources

    @property
    def _data(self) -> dict[tuple[str, str], MinMaxSeries]:
        return self._feed.data

    def _rebuild(self) -> None:
        """Read every source from scratch (at creation, after a rewind)."""
        with self._lock:
            self._feed.rebuild(self._view)
            self.series = self._feed.series_meta()
            self.charts = self._feed.charts()
            self.media = self._feed.media.meta()
            self._refresh_checkpoints()
            self._publish_base()
            self._refresh_tree()

    def _refresh_tree(self) -> None:
        """Read the run's family into the Tree panel's layout (sent when it changed)."""
        self._last_tree = time.monotonic()
        try:
            layout = dashboard_tree(self._view, self.tree_metric or None)
        except Exception:  # the charts never fail for their tree: it shows as it was
            return
        if layout != self.tree:
            self.tree = layout

    def _publish_base(self) -> None:
        """Send the full point set (new views and resyncs start from it)."""
        self._last_base = time.monotonic()
        self._base = self._feed.snapshot()

    def _publish_structure(self) -> None:
        """After lines or charts came or went: the charts, the series and a new snapshot."""
        with self.hold_sync():
            if self._feed.x_keys.keys() != {c["metric"] for c in self.charts}:
                self.charts = self._feed.charts()
            self.series = self._feed.series_meta()
            self._feed.seq += 1
            self._publish_base()
            self._refresh_overview()
            self._refresh_checkpoints()

    # -- overview (see ._overview) -------------------------------------------------------------
    def _refresh_overview(self, ov: dict[str, Any] | None = None) -> None:
        ov = overview(self._view) if ov is None else ov
        self._last_overview = time.monotonic()
        if ov != self.overview:
            self.overview = ov

    def _refresh_checkpoints(self) -> None:
        cps = checkpoint_steps(self._view)
        if cps != self.checkpoints:
            self.checkpoints = cps

    # -- system metrics and console output (see ._side) ----------------------------------------
    def _refresh_side(self) -> None:
        """Read the run's system samples and last console lines into the System and Logs
        sections; a finished run's are read once."""
        if self._side_done:
            return
        self._last_side = time.monotonic()
        view = self._view
        live = is_live(view.state)
        system = system_payload(view, self._system_specs)
        logs = logs_payload(view)
        if system != self.system:
            self.system = system
        if logs != self.logs:
            self.logs = logs
        self._side_done = not live

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
        return self._feed.any_live()

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
            now = time.monotonic()
            # the overview is read before the rows are drained: a run that ends in between
            # shows as ended only after the delta with its last rows (read before, the end
            # came with rows still to drain, sent one poll later)
            ov = overview(self._view) if now - self._last_overview > 0.5 else None
            changes, structural = self._feed.drain()
            if self._feed.media_changed:
                self._feed.media_changed = False
                self.media = self._feed.media.meta()
            if structural or now - self._last_structure > 2.0:
                self._last_structure = now
                structural |= self._feed.pick_up_new_children()
                structural |= self._feed.reload_rewound()
            if structural:
                self._publish_structure()
            elif changes:
                self._feed.seq += 1
                self.send({"type": "delta", "seq": self._feed.seq, "changes": changes})
                self.updates_sent += 1
                if now - self._last_base > 5.0:
                    self._publish_base()  # lets views that render late catch up
            if ov is not None and not structural:  # a new structure came with a newer one
                self._refresh_overview(ov)
                self._refresh_checkpoints()
            if now - self._last_side > 1.0:
                self._refresh_side()
            live = self._any_live()
        if now - self._last_tree > TREE_EVERY:
            self._refresh_tree()
        if self._display_id is not None and (not live or now - self._last_snap > SNAPSHOT_EVERY):
            self.refresh_snapshot()
        return live

    def _thread_failed(self, name: str, text: str) -> None:
        """A thread of this process raised: shown while the dashboard shows a live run."""
        if self._any_live():
            self._report(f"exception in thread {name!r}:\n{text}")

    def _report(self, text: str) -> None:
        """Show an error in the widget (and keep the earlier ones, newest last)."""
        lines = (self.error + "\n\n" + text).strip() if self.error else text
        self.error = lines[-20000:]

    # -- static snapshot (see ._snapshot) ------------------------------------------------------
    def snapshot(self) -> tuple[str, str]:
        """The dashboard as it is now: a self-contained HTML fragment (overview and SVG charts,
        no scripts) and a text/plain summary. Saved notebooks and exports show these."""
        with self._lock:
            self._refresh_overview()
            series, charts = feed_charts(self._feed)
            ov = dict(self.overview)
        tree = tree_html(self.tree) if self.tree else ""
        return dashboard_html(ov, series, charts, self.snapshot_id) + tree, dashboard_text(ov)

    def _snapshot_key(self) -> Any:
        ov = self.overview
        nodes = len(self.tree.get("nodes") or ())
        return (
            ov.get("id"),
            ov.get("state"),
            ov.get("step"),
            len(self.series),
            self._feed.seq,
            nodes,
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The widget view plus the static snapshot (``text/html``) and a text summary, for
        front ends without the widget (nbconvert skips a widget view without saved state)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, meta = bundle
        data["text/html"], data["text/plain"] = self.snapshot()
        return data, meta

    def _ipython_display_(self) -> None:
        """Displayed in a notebook: two outputs, the live widget and the static snapshot (with
        a display id, so it is replaced as the run goes on: see :meth:`refresh_snapshot`). The
        widget goes first (its first chart does not wait for the snapshot) and hides the
        snapshot while it shows; without a kernel the snapshot remains."""
        from IPython.display import display  # noqa: PLC0415 - the widget stack, on first use

        bundle = super()._repr_mimebundle_()
        if bundle is not None:
            widget, meta = bundle
            widget["text/plain"] = (
                f"(the live nbrun dashboard of run {self.overview.get('id')}: needs its kernel; "
                "the snapshot below shows the run)"
            )
            display(widget, raw=True, metadata=meta)
        html, text = self.snapshot()
        self._display_id = self.snapshot_id
        self._snap_key = self._snap_key_cell = self._snapshot_key()
        self._last_snap = time.monotonic()
        display({"text/html": html, "text/plain": text}, raw=True, display_id=self._display_id)
        watch_cells(self)

    def refresh_snapshot(self, force: bool = False, from_cell: bool = False) -> bool:
        """Replace the displayed snapshot with the run as it is now (when it changed, or
        ``force``). Called as the run goes on (every few seconds and when it ends, from the
        update thread) and after every cell (from the kernel's main thread: front ends such as
        ``jupyter execute`` apply an update of an earlier cell's output only then). Returns
        whether an update was sent."""
        if self._display_id is None or self._closed:
            return False
        with self._lock:
            self._refresh_overview()
            key = self._snapshot_key()
        last = self._snap_key_cell if from_cell else self._snap_key
        if not force and key == last:
            return False
        html, text = self.snapshot()
        if from_cell:
            self._snap_key_cell = key
        else:
            self._snap_key = key
            self._last_snap = time.monotonic()
        publish_snapshot(self._display_id, html, text)
        return True

    # -- actions (see ._actions) ---------------------------------------------------------------
    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or "action" not in content:
            return
        action = content.get("action")
        if action == "resync":
            with self._lock:
                self._publish_base()
            return
        if action == "media":
            self._send_media(content)
            return
        if action == "edit":
            self._edit(content)
            return
        if action == "open":
            self._opened, self.tree_opened = open_from(self._view, content, self._opened, self.send)
            return
        self.result = perform(self, action, content)

    def _edit(self, content: dict[str, Any]) -> None:
        """Answer the overview's ``{"action": "edit", "req", "field", "value"}`` (name, tags or
        notes, saved through the run's public setters) with a ``{"type": "edited", "req",
        "field", "ok", "message"}`` message, then show the run as stored."""
        reply: dict[str, Any] = {"type": "edited", "req": content.get("req")}
        reply["field"] = content.get("field")
        try:
            reply.update(
                ok=True, message=apply_edit(self._view, reply["field"], content.get("value"))
            )
        except Exception as exc:
            reply.update(ok=False, message=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._refresh_overview()
            if reply.get("ok") and reply["field"] == "name":
                self._feed.rename_self(str(self._view.name))
                self.series = self._feed.series_meta()
        self.send(reply)

    def _send_media(self, content: dict[str, Any]) -> None:
        """Answer a media panel's request with the content of one key at one step."""
        key, step, size = content.get("key"), content.get("step"), content.get("size", 160)
        reply: dict[str, Any] = {"type": "media", "req": content.get("req"), "key": key}
        try:
            if not isinstance(key, str) or type(step) is not int:
                raise ValueError(f"media request for key {key!r} at step {step!r}")
            size = max(32, min(int(size), 512)) if isinstance(size, int | float) else 160
            with self._lock:
                reply.update(self._feed.media.payload(key, step, size, bool(content.get("dist"))))
        except Exception as exc:
            reply["error"] = f"{type(exc).__name__}: {exc}"
        self.send(reply)

    def fork(self, step: int | None = None, config: Mapping[str, Any] | None = None) -> RunLike:
        """Fork the run at ``step`` (default: the selected step) with config overrides, like
        the **Fork** button; the new run joins the chart. Returns it."""
        step = check_step(step, self.selected_step)
        changed = changed_config(config, self._view.config)
        # the one place the dashboard forks: RunView.fork continues a launched training too
        new = self._view.fork(step, changed)
        with self._lock:
            if self._feed.add_child(new):
                with self.hold_sync():
                    self.series = self._feed.series_meta()
                    self._feed.seq += 1
                    self._publish_base()
                    self._refresh_overview()
            self._refresh_tree()
        self.start()
        return new

    def rewind(self, step: int | None = None, config: Mapping[str, Any] | None = None) -> RunLike:
        """Rewind the run to ``step`` (default: the selected step), like the **Rewind**
        button: later rows are archived (drawn as a ghost line). Returns the resumed run."""
        step = check_step(step, self.selected_step)
        changed = changed_config(config, self._view.config)
        new = self._view.rewind(step, changed)
        with self._lock:
            self._view = new
            with self.hold_sync():
                self._feed.seq += 1
                self._rebuild()
                self._refresh_overview()
                self._side_done = False
                self._refresh_side()
        self.start()
        return new

    def stop(self) -> RunLike:
        """Stop the running run, like the **Stop** button (it ends as ``killed``)."""
        view = stop_run(self._view)
        self._refresh_overview()
        return view

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the widget and stop its update thread."""
        with self._lock:
            self._closed = True
            self._feed.close()
            if self._opened is not None:
                self._opened.close()
        _open_dashboards.discard(self)
        super().close()


def open_from(
    view: RunLike, content: Mapping[str, Any], previous: Dashboard | None, send: Any
) -> tuple[Dashboard | None, str]:
    """Answer a tree's ``{"action": "open", "req", "run_id"}`` (rule 62): the dashboard of that
    run of ``view``'s family, made in the kernel (``run.display()``) and shown by the browser
    inside the widget that asked (its ``IPY_MODEL_`` reference is returned); the one opened
    before (``previous``) is closed. ``send`` gets the ``{"type": "opened", "req", "ok",
    "message"}`` answer. Returns the dashboard now open and its reference ("" on failure)."""
    reply: dict[str, Any] = {"type": "opened", "req": content.get("req")}
    run_id = content.get("run_id")
    try:
        if not isinstance(run_id, str) or not run_id:
            raise nbrun.UsageError(f"open: run_id {run_id!r} must be a run id (a non-empty str)")
        run = nbrun.Api(view.root).run(f"{view.project}/{run_id}")
        dash = Dashboard(as_run_like(run))
    except Exception as exc:
        reply.update(ok=False, message=f"{type(exc).__name__}: {exc}")
        send(reply)
        return previous, f"IPY_MODEL_{previous.model_id}" if previous is not None else ""
    if previous is not None:
        previous.close()
    reply.update(ok=True, message=f"the dashboard of {run_id} is below")
    send(reply)
    return dash, f"IPY_MODEL_{dash.model_id}"


def display_run(run: RunView | RunLike) -> Dashboard:
    """The dashboard widget of ``run`` (a live ``Run`` or a stored view).

    A notebook shows it when it is the cell's last expression (like an Altair chart); else
    pass it to ``IPython.display.display``. It is not displayed here, so that ``run.display()``
    at the end of a cell shows one dashboard, not two."""
    return Dashboard(as_run_like(run))


__all__ = ["Dashboard", "display_run"]
