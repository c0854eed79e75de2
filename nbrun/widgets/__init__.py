"""nbrun's notebook widgets: a run dashboard with live offline charts and a project view.

``display_run(run)`` (what ``run.display()`` calls) returns a :class:`Dashboard`: the run's
overview, one chart per metric with its lineage (parent, sibling and child forks, archived
rows), click-a-step selection and Fork / Rewind / Stop buttons. ``chart(run, key)`` (what
``run.chart(key)`` calls) returns a plain ``altair.Chart``. ``display_project(project)``
returns a :class:`ProjectView`. ``tree(run, metric=None)`` (what ``run.tree()`` calls) returns a
:class:`FamilyTree`: the run's family, forks and rewinds at their steps, coloured by a
metric. The front end is one ESM file per widget under ``static/``, built from ``js/`` with
Vega, Vega-Lite and vega-embed bundled in: nothing is loaded from the internet.
"""

from __future__ import annotations

from ._charts import chart, dashboard_spec
from ._dashboard import Dashboard, display_run
from ._data import MAX_POINTS, MinMaxSeries
from ._project import ProjectView, RunTable, display_project, project_to_html
from ._snapshot import to_html
from ._tree_widget import FamilyTree, tree

__all__ = [
    "MAX_POINTS",
    "Dashboard",
    "FamilyTree",
    "MinMaxSeries",
    "ProjectView",
    "RunTable",
    "chart",
    "dashboard_spec",
    "display_project",
    "display_run",
    "project_to_html",
    "to_html",
    "tree",
]
