"""The project view: a table of a project's runs with their lineage; open one to see its
dashboard below the table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets

import nbrun

from ._dashboard import Dashboard
from ._overview import jsonable
from ._snapshot import page, project_html, project_text, publish_snapshot, watch_cells, write_page

STATIC = Path(__file__).parent / "static"


def project_rows(project: str | None, dir: str | os.PathLike[str] | None = None) -> list[dict]:
    """One dict per run, parents before their forks (depth-first, oldest first), with
    ``depth`` for the lineage indent."""
    runs = nbrun.Api(dir).runs(project)
    by_parent: dict[str | None, list[nbrun.StoredRun]] = {}
    ids = {r.id for r in runs}
    for r in runs:
        fp = r.forked_from
        parent = fp.run_id if fp is not None and fp.run_id in ids else None
        by_parent.setdefault(parent, []).append(r)
    out: list[dict[str, Any]] = []

    def visit(parent: str | None, depth: int) -> None:
        for r in by_parent.get(parent, []):
            fp = r.forked_from
            summary = {
                k: v
                for k, v in jsonable(dict(r.summary)).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            out.append(
                {
                    "id": r.id,
                    "project": r.project,
                    "name": str(r.name),
                    "state": r.state,
                    "step": int(r.step),
                    "runtime": float(r.runtime),
                    "created": r.created,
                    "tags": [str(t) for t in (r.tags or ())],
                    "forked_from": fp.run_id if fp is not None else None,
                    "fork_step": fp.step if fp is not None else None,
                    "changed": jsonable(r.config_diff or {}) if fp is not None else {},
                    "archives": len(r.archives()),
                    "summary": dict(list(summary.items())[:4]),
                    "depth": depth,
                }
            )
            visit(r.id, depth + 1)

    visit(None, 0)
    return out


class RunTable(anywidget.AnyWidget):
    """The table half of :class:`ProjectView`; clicking **open** sends ``{"action": "open",
    "id": RUN_ID}``."""

    _esm = STATIC / "project.js"
    project = traitlets.Unicode("").tag(sync=True)
    runs: traitlets.List[Any] = traitlets.List().tag(sync=True)
    opened = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    #: the display id of the static snapshot shown with the project view (the view hides it)
    snapshot_id = traitlets.Unicode("").tag(sync=True)


class ProjectView(ipywidgets.VBox):
    """A project's runs with their lineage; **open** shows a run's dashboard below."""

    def __init__(self, project: str | None = None, dir: str | os.PathLike[str] | None = None):
        self.dir = nbrun.Api(dir).dir
        self.project_name = project
        self.table = RunTable(project=project or "")
        self.holder = ipywidgets.Box()
        self.dashboard: Dashboard | None = None
        super().__init__(children=[self.table, self.holder])
        self.table.on_msg(self._on_message)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the runs."""
        self.table.runs = project_rows(self.project_name, self.dir)

    def open_run(self, run_id: str) -> Dashboard:
        """Show the dashboard of run ``run_id`` below the table and return it."""
        rows = {r["id"]: r for r in self.table.runs}
        project = rows[run_id]["project"] if run_id in rows else self.project_name
        view = nbrun.Api(self.dir).run(f"{project}/{run_id}")
        if self.dashboard is not None:
            self.dashboard.close()
        self.dashboard = Dashboard(view)
        self.holder.children = [self.dashboard]
        self.table.opened = run_id
        return self.dashboard

    # -- static snapshot (see ._snapshot) ------------------------------------------------------
    _display_id: str | None = None
    _snap_key: Any = None

    def snapshot(self) -> tuple[str, str]:
        """The runs table and overlaid charts as self-contained HTML (no scripts), and a text
        summary: what a saved notebook or an export shows without a kernel."""
        rows = list(self.table.runs)
        html = project_html(rows, self.project_name, self.dir, self.table.snapshot_id)
        return html, project_text(rows, self.project_name)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view plus the static snapshot and a text summary."""
        data = super()._repr_mimebundle_(**kwargs)
        if data is None:
            return None
        data["text/html"], data["text/plain"] = self.snapshot()
        return data

    def _ipython_display_(self) -> None:
        """Displayed in a notebook: the live view, then the static snapshot (kept current
        after every cell), which the live view hides while it shows."""
        from IPython.display import display  # noqa: PLC0415 - the widget stack, on first use

        self._display_id = self._display_id or f"nbrun-snapshot-{self.model_id}"
        self.table.snapshot_id = self._display_id
        widget = super()._repr_mimebundle_()
        if widget is not None:
            widget["text/plain"] = "(the live nbrun project view: needs its kernel)"
            display(widget, raw=True)
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
        try:
            if action == "open":
                self.open_run(str(content.get("id")))
                self.table.message = ""
            elif action == "refresh":
                self.refresh()
                self.table.message = ""
        except Exception as exc:
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
    return write_page(page(title, project_html(rows, project, root, inline=True)), path)


def display_project(
    project: str | None = None, dir: str | os.PathLike[str] | None = None
) -> ProjectView:
    """A :class:`ProjectView` of ``project`` (all projects when None) under ``dir``."""
    return ProjectView(project, dir)
