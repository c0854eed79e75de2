"""The project view: a comparison table of a project's runs (or of all projects) with their
lineage, sortable config and summary columns, filter, W&B ``group`` groups, checkboxes that
overlay the selected runs on one chart per metric (each run in its :func:`run_color`) and a
parallel-coordinates chart of config against a metric; delete and move (rule 40) with a
confirmation; open a run to see its dashboard below the table.

Browser -> Python messages: ``{"action": "open", "key": "project/id"}``, ``{"action":
"refresh"}``, ``{"action": "select", "keys": [...]}`` (answered through ``overlay``),
``{"action": "delete", "keys": [...], "detach": bool}`` and ``{"action": "move", "keys": [...],
"to": project, "lineage": bool}`` (answered through ``notice`` / ``message``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import anywidget
import traitlets

import nbrun

from ._assets import LazyWidget, in_marimo
from ._charts import colour_group, family_ids
from ._colors import family_colors, run_color
from ._compare import compared_ancestor, difference
from ._dashboard import Dashboard
from ._overview import jsonable, last_step
from ._snapshot import page, project_html, project_text, publish_snapshot, watch_cells, write_page
from ._sweeps import SweepWatch, sweep_groups, sweeps_running, trials_running, with_sweeps
from ._tree import project_trees_html

STATIC = Path(__file__).parent / "static"

#: points per run and metric sent for the overlay charts
OVERLAY_SAMPLES = 500
#: at most this many selected runs are overlaid (the first ones selected)
OVERLAY_RUNS = 20


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value and not {"_type"} <= value.keys():
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def summary_cell(value: Any, wanted: list[str] | None = None) -> Any:
    """A summary value for the table: a number, a short text, or for a ``define_metric``
    summary (``{"min": .., "last": ..}``) ``{"v": number to sort by, "parts": [[name,
    number], ...]}`` (the first summary the metric names sorts); None to leave it out."""
    num = _number(value)
    if num is not None:
        return num
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, dict) and "_type" not in value:
        nums = {str(k): n for k, v in value.items() if (n := _number(v)) is not None}
        if not nums:
            return None
        first = next((w for w in wanted or () if w in nums), next(iter(nums)))
        return {"v": nums[first], "parts": [[k, n] for k, n in nums.items()]}
    return None


def _row(r: nbrun.StoredRun, depth: int) -> dict[str, Any]:
    fp = r.forked_from
    metrics = r.metrics
    summary: dict[str, Any] = {}
    for k, v in dict(r.summary).items():
        if str(k).startswith("_"):
            continue
        spec = metrics.get(k, {}).get("summary")
        cell = summary_cell(v, list(spec) if isinstance(spec, list | tuple) else None)
        if cell is not None:
            summary[str(k)] = cell
    config: dict[str, Any] = {}
    _flat("", jsonable(dict(r.config)), config)
    config = {
        k: v if v is None or isinstance(v, bool | int | float | str) else jsonable(v)
        for k, v in config.items()
        if not k.startswith("_")
    }
    meta = r.metadata or {}
    return {
        "key": f"{r.project}/{r.id}",
        "id": r.id,
        "project": r.project,
        "name": str(r.name),
        "state": r.state,
        "step": last_step(r),  # the step of its last row, as the dashboard says (issue 25)
        "runtime": float(r.runtime),
        "created": r.created,
        "tags": [str(t) for t in (r.tags or ())],
        "group": None if r.group is None else str(r.group),
        "notes": None if r.notes is None else str(r.notes)[:500],
        "forked_from": fp.run_id if fp is not None else None,
        "fork_step": fp.step if fp is not None else None,
        "detached_from": (meta.get("detached_from") or {}).get("run_id"),
        "changed": jsonable(r.config_diff or {}) if fp is not None else {},
        "archives": len(r.archives()),
        "config": config,
        "summary": summary,
        "color": run_color(r.id),
        "depth": depth,
        "sweep": r.sweep_id,  # the sweep it is a trial of (rule 69: grouped by sweep)
    }


def project_rows(
    project: str | None, dir: str | os.PathLike[str] | None = None
) -> list[dict[str, Any]]:
    """One dict per run, parents before their forks (depth-first, oldest first), with
    ``depth`` for the lineage indent, flattened scalar ``config`` and table-ready
    ``summary`` (see :func:`summary_cell`)."""
    # read once for the whole table (a few queries, whatever the number of runs)
    runs = nbrun.Api(dir).runs(project, snapshot=True)
    by_parent: dict[str | None, list[nbrun.StoredRun]] = {}
    keys = {(r.project, r.id) for r in runs}
    for r in runs:
        fp = r.forked_from
        parent = (
            f"{r.project}/{fp.run_id}"
            if fp is not None and (r.project, fp.run_id) in keys
            else None
        )
        by_parent.setdefault(parent, []).append(r)
    out: list[dict[str, Any]] = []

    def visit(parent: str | None, depth: int) -> None:
        for r in by_parent.get(parent, []):
            out.append(_row(r, depth))
            visit(f"{r.project}/{r.id}", depth + 1)

    visit(None, 0)
    # one colour per run, as in its dashboard: the family's colours, oldest run first
    family: list[dict[str, Any]] = []
    for row in [*out, None]:
        if row is None or row["depth"] == 0:
            ordered = sorted(family, key=lambda f: (f["created"] or 0, f["id"]))
            colors = family_colors(f["id"] for f in ordered)
            for f in family:
                f["color"] = colors[f["id"]]
            family = []
        if row is not None:
            family.append(row)
    _sweep_colours(out)
    return out


def _sweep_colours(rows: list[dict[str, Any]]) -> None:
    """A sweep's trials that have no fork (alone in their family) take colours as one family
    of the sweep's runs, oldest first (as their dashboards do: ``colour_group``)."""
    children = {(r["project"], r["forked_from"]) for r in rows if r["forked_from"]}
    by_sweep: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("sweep"):
            by_sweep.setdefault((r["project"], r["sweep"]), []).append(r)
    for members in by_sweep.values():
        ordered = sorted(members, key=lambda f: (f["created"] or 0, f["id"]))
        colors = family_colors(f["id"] for f in ordered)
        for f in members:
            alone = f["depth"] == 0 and (f["project"], f["id"]) not in children
            if alone:
                f["color"] = colors[f["id"]]


def overlay_data(
    keys: list[str], dir: str | os.PathLike[str] | None = None, samples: int = OVERLAY_SAMPLES
) -> dict[str, Any]:
    """Chart data of the runs ``"project/id"``: ``runs`` (key, name, colour, ``base``: the
    index of the drawn ancestor it is compared with, ``start``: the step its line starts at
    then, rule 66) and per metric (in the order the first run logged them) ``points``
    ``[run index, step, value]``, at most ``samples`` rows per run, a fork's from ``start`` on;
    ``diff`` per metric: each such fork's ``[run index, step, fork - ancestor]`` (rule 67)."""
    api = nbrun.Api(dir)
    views = {key: api.run(key) for key in keys}
    drawn = {key: n for n, key in enumerate(views)}
    known = dict(views)  # the drawn runs and the ancestors read on the way up
    runs: list[dict[str, Any]] = []
    full: list[dict[str, list[tuple[float, float]]]] = []  # per run: metric -> its points
    order: list[str] = []
    families: list[tuple[str, set[str], dict[str, str]]] = []  # read once per family
    for key, view in views.items():
        df = view.history(samples=samples)
        color = _family_colors(view, families).get(view.id, run_color(view.id))
        found = compared_ancestor(key, drawn, lambda k: _parent_link(api, known, k))
        runs.append(
            {
                "key": key,
                "name": str(view.name),
                "color": color,
                "base": None if found is None else found[0],
                "start": None if found is None else found[1],
            }
        )
        summary = [str(k) for k in dict(view.summary)]
        cols = [str(c) for c in df.columns if not str(c).startswith("_")]
        cols.sort(key=lambda c: (summary.index(c) if c in summary else len(summary), c))
        steps = df["_step"].tolist()
        mine: dict[str, list[tuple[float, float]]] = {}
        for col in cols:
            pts: list[tuple[float, float]] = [
                (int(s), num)
                for s, v in zip(steps, df[col].tolist(), strict=True)
                if (num := _number(v)) is not None
            ]
            if pts:
                mine[col] = pts
                order += [] if col in order else [col]
        full.append(mine)
    points: dict[str, list[list[float]]] = {m: [] for m in order}
    diff: dict[str, list[list[float]]] = {}
    for index, (run, mine) in enumerate(zip(runs, full, strict=True)):
        start = -math.inf if run["start"] is None else run["start"]
        for metric, line in mine.items():
            points[metric] += [[index, s, v] for s, v in line if s >= start]
            if run["base"] is not None and metric in full[run["base"]]:
                d = difference(line, full[run["base"]][metric], start)
                if d:
                    diff.setdefault(metric, []).extend([index, s, v] for s, v in d)
    return {"runs": runs, "metrics": order, "points": points, "diff": diff}


def _family_colors(
    view: nbrun.StoredRun, families: list[tuple[str, set[str], dict[str, str]]]
) -> dict[str, str]:
    """The colours of ``view``'s family (:func:`family_ids`), read once for all the runs of
    one family that are overlaid: a family read whole holds every run whose lineage walk
    reaches its root, so a run found in one has that family (``families`` grows as read)."""
    for project, members, colors in families:
        if project == view.project and view.id in members:
            return colors
    ids = family_ids(view, FAMILY_LIMIT)
    group = colour_group(view, ids)  # a trial alone in its family: its sweep's runs
    colors = family_colors(group)
    if len(ids) < FAMILY_LIMIT:  # cut short: another member may see another part of it
        families.append((view.project, set(group), colors))
    return colors


#: the most runs of a family read for its colours (as :func:`family_ids`)
FAMILY_LIMIT = 200


def _parent_link(
    api: nbrun.Api, views: dict[str, nbrun.StoredRun], key: str
) -> tuple[str, int] | None:
    """``("project/parent id", fork step)`` of the run ``key``, None for a root (or a parent
    that is gone)."""
    view = views.get(key)
    if view is None:
        try:
            view = views[key] = api.run(key)
        except nbrun.RunNotFoundError:
            return None
    fp = view.forked_from
    return None if fp is None else (f"{view.project}/{fp.run_id}", int(fp.step))


class RunTable(LazyWidget):
    """The table half of :class:`ProjectView` (messages: see the module docstring). Its rows
    and overlay are kept out of the saved notebook (rule 64)."""

    _module_name = "project.js"
    _transient = ("runs", "overlay", "message", "notice")
    project = traitlets.Unicode("").tag(sync=True)
    runs: traitlets.List[Any] = traitlets.List().tag(sync=True)
    opened = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)
    overlay: traitlets.Dict[str, Any] = traitlets.Dict().tag(sync=True)
    #: the display id of the static snapshot shown with the project view (the view hides it)
    snapshot_id = traitlets.Unicode("").tag(sync=True)
    #: the project's sweeps with their runs (``_sweeps.sweep_groups``; rule 69)
    sweeps: traitlets.List[Any] = traitlets.List().tag(sync=True)


class ProjectView(RunTable):
    """A project's runs with their lineage; **open** shows a run's dashboard below the table.

    One anywidget (rule 72: marimo hosts anywidgets only): the opened run's :class:`Dashboard`
    is a widget of its own, named by the ``dashboard`` trait (``anywidget:<model id>`` on the
    wire) and rendered inside the view's own (``host.getWidget`` in the browser)."""

    #: the opened run's dashboard (None: none opened)
    dashboard = anywidget.WidgetTrait().tag(sync=True)

    def __init__(self, project: str | None = None, dir: str | os.PathLike[str] | None = None):
        self.dir = nbrun.Api(dir).dir
        self.project_name = project
        self.selected: list[str] = []
        # the rows go in the widget's initial state: an update sent while the browser is
        # still loading the widget's module can be lost
        rows = project_rows(project, self.dir)
        super().__init__(project=project or "", runs=rows, sweeps=sweep_groups(rows, self.dir))
        self.on_msg(self._on_message)
        # while a sweep runs, its agent adds runs from elsewhere: the view follows them
        self.sweep_watch = SweepWatch(
            self.refresh,
            lambda: sweeps_running(self.sweeps),
            lambda: trials_running(self.sweeps),
        )
        self.sweep_watch.poke()

    @property
    def table(self) -> ProjectView:
        """The view itself (the table and the opened dashboard are one widget since rule 72;
        kept for code written when the table was a child widget)."""
        return self

    def refresh(self) -> None:
        """Re-read the runs (and the overlay of the selected ones that still exist)."""
        rows = project_rows(self.project_name, self.dir)
        self.table.sweeps = sweep_groups(rows, self.dir)
        self.table.runs = rows
        self.sweep_watch.poke()
        present = {r["key"] for r in rows}
        keep = [k for k in self.selected if k in present]
        if keep != [r["key"] for r in self.table.overlay.get("runs", [])]:
            self.select(keep)

    def close(self) -> None:
        """Stop following the project's sweeps, then close the view."""
        watch = getattr(self, "sweep_watch", None)  # None: closed while being made
        if watch is not None:
            watch.stop()
        super().close()

    def _key(self, run_id: str) -> str:
        if "/" in run_id:
            return run_id
        rows = {r["id"]: r for r in self.table.runs}
        project = rows[run_id]["project"] if run_id in rows else self.project_name
        return f"{project}/{run_id}"

    def open_run(self, run_id: str) -> Dashboard:
        """Show the dashboard of run ``run_id`` (or ``"project/id"``) below the table and
        return it."""
        key = self._key(run_id)
        view = nbrun.Api(self.dir).run(key)
        self._close_dashboard()
        dashboard = Dashboard(view)
        self.dashboard = dashboard
        self.table.opened = key
        return dashboard

    def _close_dashboard(self) -> None:
        if self.dashboard is not None:
            old = self.dashboard
            self.dashboard = None
            old.close()
            self.table.opened = ""

    def select(self, keys: list[str]) -> None:
        """Overlay the runs ``"project/id"`` on one set of charts."""
        self.selected = [self._key(k) for k in keys]
        shown = self.selected[:OVERLAY_RUNS]
        data = overlay_data(shown, self.dir) if shown else {}
        if len(self.selected) > len(shown):
            data["left_out"] = len(self.selected) - len(shown)
        self.table.overlay = data

    def delete(self, keys: list[str], detach_forks: bool = False) -> list[str]:
        """Delete the runs ``"project/id"`` (forks before their parents; rule 40); returns
        the keys deleted. A refusal (e.g. forks reading a run) stops there and raises."""
        depth = {r["key"]: r["depth"] for r in self.table.runs}
        done: list[str] = []
        try:
            for key in sorted(map(self._key, keys), key=lambda k: -depth.get(k, 0)):
                if self.table.opened == key:
                    self._close_dashboard()
                nbrun.Api(self.dir).run(key).delete(detach_forks=detach_forks)
                done.append(key)
        finally:
            self.selected = [k for k in self.selected if k not in done]
            self.refresh()
        return done

    def move(self, keys: list[str], project: str, with_lineage: bool = False) -> list[str]:
        """Move the runs ``"project/id"`` to ``project`` (rule 40); returns the ids moved."""
        moved: list[str] = []
        try:
            for key in map(self._key, keys):
                if key.split("/", 1)[1] in moved:
                    continue  # moved with a run of its lineage
                moved += nbrun.Api(self.dir).run(key).move(project, with_lineage=with_lineage)
        finally:
            self.selected = []
            self.refresh()
        return moved

    # -- static snapshot (see ._snapshot) ------------------------------------------------------
    _display_id: str | None = None
    _snap_key: Any = None

    def snapshot(self) -> tuple[str, str]:
        """The runs table and overlaid charts as self-contained HTML (no scripts), and a text
        summary: what a saved notebook or an export shows without a kernel."""
        rows = list(self.table.runs)
        html = project_html(rows, self.project_name, self.dir, self.table.snapshot_id)
        html = with_sweeps(html, self.table.sweeps)
        return html, project_text(rows, self.project_name)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The widget view plus the static snapshot and a text summary (in marimo the widget
        only: marimo shows each extra output as a tab of its own, rule 72)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, meta = bundle
        if not in_marimo():
            data["text/html"], data["text/plain"] = self.snapshot()
        return data, meta

    def _ipython_display_(self) -> None:
        """Displayed in a notebook: the live view, then the static snapshot (kept current
        after every cell), which the live view hides while it shows (marimo: the view only)."""
        from IPython.display import display  # noqa: PLC0415 - the widget stack, on first use

        bundle = super()._repr_mimebundle_()
        if bundle is None:
            return
        widget, meta = bundle
        if in_marimo():
            display(widget, raw=True, metadata=meta)
            return
        self._display_id = self._display_id or f"nbrun-snapshot-{self.model_id}"
        self.table.snapshot_id = self._display_id
        widget["text/plain"] = "(the live nbrun project view: needs its kernel)"
        display(widget, raw=True, metadata=meta)
        html, text = self.snapshot()
        self._snap_key = self._rows_key()
        display({"text/html": html, "text/plain": text}, raw=True, display_id=self._display_id)
        watch_cells(self)

    def _rows_key(self) -> Any:
        return [(r["id"], r["state"], r["step"]) for r in self.table.runs]

    def refresh_snapshot(self, force: bool = False, from_cell: bool = False) -> bool:
        """Re-read the runs and replace the displayed snapshot when they changed (or
        ``force``). Returns whether an update was sent."""
        if self._display_id is None:
            return False
        self.refresh()
        key = self._rows_key()
        if not force and key == self._snap_key:
            return False
        self._snap_key = key
        publish_snapshot(self._display_id, *self.snapshot())
        return True

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        action = content.get("action")
        keys = content.get("keys")
        keys = [str(k) for k in keys] if isinstance(keys, list) else []
        try:
            # "refresh" and "select" leave the message alone: the selection is sent on a timer,
            # so it can reach the kernel just after a refused delete and would wipe its error
            if action == "refresh":
                self.refresh()
                return
            if action == "select":
                self.select(keys)
                return
            if action == "open":
                self.open_run(str(content.get("key") or content.get("id")))
            elif action == "delete":
                done = self.delete(keys, detach_forks=content.get("detach") is True)
                self.table.notice = f"deleted {len(done)} run(s): {', '.join(done)}"
            elif action == "move":
                to = content.get("to")
                moved = self.move(keys, to, with_lineage=content.get("lineage") is True)  # type: ignore[arg-type]
                self.table.notice = f"moved {len(moved)} run(s) to {to}: {', '.join(moved)}"
            else:
                return
            self.table.message = ""
        except Exception as exc:
            self.table.notice = ""
            self.table.message = f"{type(exc).__name__}: {exc}"


def project_to_html(
    project: str | None = None,
    path: str | os.PathLike[str] | None = None,
    dir: str | os.PathLike[str] | None = None,
) -> Any:
    """A project's runs (the table and one chart per metric with every run a line) as a
    self-contained HTML page (no scripts, no network): the text when ``path`` is None, else
    written there and the path returned."""
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(f"project_to_html(path={path!r}): pass a file path or None")
    root = nbrun.Api(dir).dir
    rows = project_rows(project, root)
    title = f"{project or 'all projects'} · nbrun"
    html = with_sweeps(
        project_html(rows, project, root, inline=True), sweep_groups(rows, root), True
    )
    trees = project_trees_html(rows, root, inline=True)  # one per family (rule 63)
    return write_page(page(title, html + trees), path)


def display_project(
    project: str | None = None, dir: str | os.PathLike[str] | None = None
) -> ProjectView:
    """A :class:`ProjectView` of ``project`` (all projects when None) under ``dir``."""
    return ProjectView(project, dir)
