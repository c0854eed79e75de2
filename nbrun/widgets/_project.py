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

STATIC = Path(__file__).parent / "static"


#: at most this many summary values per run in the table
SUMMARY_COLUMNS = 8


def summary_columns(summary: Any) -> dict[str, float]:
    """A run's numeric summary values by column name, in the summary's order: a
    ``define_metric(summary="min,last")`` value ``{"min": a, "last": b}`` becomes the columns
    ``key.min`` and ``key.last`` (W&B's names); values that are not numbers are left out."""
    out: dict[str, float] = {}
    for key, value in jsonable(dict(summary)).items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[key if sub is None else f"{key}.{sub}"] = v
    return out


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
            summary = summary_columns(r.summary)
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
                    "summary": dict(list(summary.items())[:SUMMARY_COLUMNS]),
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


def display_project(
    project: str | None = None, dir: str | os.PathLike[str] | None = None
) -> ProjectView:
    """A :class:`ProjectView` of ``project`` (all projects when None) under ``dir``."""
    return ProjectView(project, dir)
