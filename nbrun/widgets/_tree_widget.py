"""The family tree widget (``view.tree()``, rules 62-63): a run's family drawn by
``js/tree.js`` from the layout of :mod:`._tree`, kept current while the family grows.

The contract with the browser:

* ``layout`` (Python -> browser): :func:`~nbrun.widgets._tree.tree_layout` of the family,
  read again every :attr:`FamilyTree.INTERVAL` seconds (new forks, rewinds, values) and sent
  when it changed;
* ``metric``: the metric the nodes are coloured by; the browser's "colour by" menu sets it;
* ``selected``: the key of the node clicked (a run id, or ``"<run id>#<index>"`` for an
  archived segment), set by the browser, or from Python;
* ``{"action": "open", "req", "run_id"}`` (browser -> Python) makes that run's dashboard and
  sets ``opened`` to it (``IPY_MODEL_<id>``; the browser shows it below the tree); answered by
  ``{"type": "opened", "req", "ok", "message"}``;
* ``snapshot_id``: the display id of the static SVG shown with the widget (saved notebooks,
  exports), which the view hides while it shows.
"""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import Any

import anywidget
import traitlets

import nbrun
from nbrun import RunView

from ._dashboard import Dashboard, open_from
from ._protocols import RunLike, as_run_like, is_live
from ._snapshot import publish_snapshot, watch_cells
from ._tree import read_family, tree_html, tree_layout

STATIC = Path(__file__).parent / "static"


class FamilyTree(anywidget.AnyWidget):
    """A run's family tree: its runs and archived segments as nodes (rows), forks and rewinds
    as edges at their steps (x), each node coloured by a metric with a legend of the scale.

    Made by ``view.tree(metric=None)`` (:func:`nbrun.widgets.tree`). Click a node to select it
    (:attr:`selected`) and open its dashboard; the tree follows the family as forks appear."""

    _esm = STATIC / "tree.js"
    layout = traitlets.Dict().tag(sync=True)
    metric = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    opened = traitlets.Unicode("").tag(sync=True)
    snapshot_id = traitlets.Unicode("").tag(sync=True)

    #: seconds between reads of the family while one of its runs is running (else 3x that)
    INTERVAL = 1.0

    def __init__(self, run: RunLike, metric: str | None = None, *, start: bool = True) -> None:
        """``run``: a live ``nbrun.Run`` or a stored view; ``metric``: the metric colouring the
        nodes (None: the run's first numeric one; one no run has is a ``UsageError``).
        ``start=False`` leaves the update thread off (tests call :meth:`refresh`)."""
        if metric is not None and not isinstance(metric, str):
            raise nbrun.UsageError(f"tree(metric={metric!r}): pass a metric name (str) or None")
        family = read_family(run, metric)  # a bad metric is refused here, before the widget
        super().__init__(metric=family.metric or "")
        self._view = run
        self._lock = threading.RLock()
        self._closed = False
        self._live = False
        self._opened: Dashboard | None = None
        self._display_id: str | None = None
        self._snap_key: Any = None
        self.error = ""
        self.snapshot_id = f"nbrun-tree-{self.model_id}"
        self._apply(family)
        self.observe(lambda _change: self.refresh(), "metric")
        self.on_msg(self._on_message)
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(
                target=self._loop, name=f"nbrun-tree-{run.id}", daemon=True
            )
            self._thread.start()

    @property
    def run(self) -> RunLike:
        """The run the tree was opened from (its node is marked)."""
        return self._view

    def _apply(self, family: Any) -> bool:
        layout = tree_layout(family)
        self._live = any(is_live(n.state) for n in family.nodes)
        if layout == self.layout:
            return False
        self.layout = layout
        return True

    def refresh(self) -> bool:
        """Read the family again (new forks, rewinds, values); returns whether the layout
        changed. A metric the family no longer has falls back to the first one."""
        with self._lock:
            if self._closed:
                return False
            try:
                family = read_family(self._view, self.metric or None)
            except nbrun.UsageError:
                family = read_family(self._view, None)
            return self._apply(family)

    def _loop(self) -> None:
        while not self._closed:
            t0 = time.monotonic()
            try:
                self.refresh()
                if self._display_id is not None:
                    self.refresh_snapshot()
            except Exception:
                self.error = traceback.format_exc()[-4000:]
            pause = self.INTERVAL if self._live else 3 * self.INTERVAL
            time.sleep(max(0.0, pause - (time.monotonic() - t0)))

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("action") == "open":
            self._opened, self.opened = open_from(self._view, content, self._opened, self.send)

    def open_dashboard(self, run_id: str) -> Dashboard:
        """Open the dashboard of family member ``run_id`` below the tree (as the node's
        **Open dashboard** button does) and return it."""
        replies: list[dict[str, Any]] = []
        self._opened, self.opened = open_from(
            self._view, {"run_id": run_id}, self._opened, replies.append
        )
        if not replies or not replies[0].get("ok") or self._opened is None:
            raise nbrun.UsageError(
                f"open({run_id!r}): {replies[0].get('message') if replies else ''}"
            )
        return self._opened

    # -- static snapshot ------------------------------------------------------------------------
    def snapshot(self) -> tuple[str, str]:
        """The tree as it is now: an HTML fragment (the SVG as an image, no scripts, run data
        escaped) and a text/plain summary, for saved notebooks and exports."""
        layout = self.layout
        body = tree_html(layout) if layout.get("nodes") else ""
        html = (
            f'<div class="nbrun-snapshot" data-nbrun-tree="{self.snapshot_id}" '
            f'data-nbrun-snapshot="{self.snapshot_id}">{body}</div>'
        )
        return html, tree_text(layout)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The widget view plus the static tree (``text/html``) and a text summary."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, meta = bundle
        data["text/html"], data["text/plain"] = self.snapshot()
        return data, meta

    def _ipython_display_(self) -> None:
        """Two outputs, as the dashboard shows: the live widget, then the static tree with a
        display id (replaced as the family changes), which the widget hides while it shows."""
        from IPython.display import display  # noqa: PLC0415 - the widget stack, on first use

        bundle = super()._repr_mimebundle_()
        if bundle is not None:
            widget, meta = bundle
            widget["text/plain"] = "(the live nbrun family tree: needs its kernel; see below)"
            display(widget, raw=True, metadata=meta)
        html, text = self.snapshot()
        self._display_id = self.snapshot_id
        self._snap_key = self._key()
        display({"text/html": html, "text/plain": text}, raw=True, display_id=self._display_id)
        watch_cells(self)

    def _key(self) -> Any:
        return [(n["key"], n["last_step"], n["color"]) for n in self.layout.get("nodes", [])]

    def refresh_snapshot(self, force: bool = False, from_cell: bool = False) -> bool:
        """Replace the displayed static tree when the family changed (or ``force``). After a
        cell (``from_cell``) the family is read first: the cell may have forked a run."""
        if self._display_id is None or self._closed:
            return False
        if from_cell:
            self.refresh()
        key = self._key()
        if not force and key == self._snap_key:
            return False
        self._snap_key = key
        html, text = self.snapshot()
        publish_snapshot(self._display_id, html, text)
        return True

    def close(self) -> None:
        """Close the widget, stop following the family, close the dashboard opened from it."""
        lock = getattr(self, "_lock", None)  # None: __init__ refused its arguments
        if lock is not None:
            with lock:
                self._closed = True
                if self._opened is not None:
                    self._opened.close()
        super().close()


def tree_text(layout: dict[str, Any]) -> str:
    """The text/plain of a tree: one line per node, indented by depth."""
    nodes = layout.get("nodes") or []
    metric = layout.get("metric")
    lines = [
        f"nbrun family tree: {len(nodes)} nodes" + (f", coloured by {metric}" if metric else "")
    ]
    for n in nodes[:40]:
        value = f" · {metric}={n['value_text']}" if metric else ""
        lines.append("  " * (1 + int(n["depth"])) + f"{n['label']} [{n['state']}]{value}")
    if len(nodes) > 40:
        lines.append(f"  … {len(nodes) - 40} more")
    return "\n".join(lines)


def tree(run: RunView | RunLike, metric: str | None = None) -> FamilyTree:
    """The family tree widget of ``run`` (what ``run.tree(metric)`` returns): the root it
    descends from, every fork below it and every archived segment, coloured by ``metric``
    (None: the run's first numeric metric)."""
    return FamilyTree(as_run_like(run), metric)


__all__ = ["FamilyTree", "tree", "tree_text"]
