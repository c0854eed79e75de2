"""Chart specs of a run's metrics with their lineage.

:func:`chart` returns a plain ``alt.Chart`` (data inline) that a user can customise or save;
:func:`dashboard_spec` returns the layered Vega-Lite spec the dashboard embeds once and then
feeds through named datasets (``rows``, ``forks``, ``selected``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

import nbrun

from ._data import MAX_POINTS, MinMaxSeries, step_metric_for, xy_arrays
from ._protocols import ArchiveLike, HistorySource, RowFeed, RunLike, as_run_like

if TYPE_CHECKING:
    import altair as alt

SELF_COLOR = "#4c78a8"
PARENT_COLOR = "#f58518"
GHOST_COLOR = "#9e9e9e"
OTHER_COLORS = (
    "#54a24b",
    "#e45756",
    "#b279a2",
    "#72b7b2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#bab0ac",
)
#: line styles: own rows solid, inherited rows dashed, archived rows dotted
DASHES = {"own": [1, 0], "inherited": [6, 3], "ghost": [2, 2]}
WIDTH, HEIGHT = 420, 220


@dataclass
class Series:
    """One line on the charts: a run (or part of one) or an archived segment."""

    key: str
    label: str
    role: str  # self | inherited | parent | sibling | child | ghost
    color: str
    run_id: str
    dash: str = "own"  # own | inherited | ghost
    opacity: float = 1.0
    pickable: bool = False  # its points can be clicked to select a step
    fork_step: int | None = None  # where this line branches off (forks)

    def meta(self) -> dict[str, Any]:
        """The JSON the front end gets for this series."""
        return {
            "key": self.key,
            "label": self.label,
            "role": self.role,
            "color": self.color,
            "run_id": self.run_id,
            "dash": self.dash,
            "opacity": self.opacity,
            "pickable": self.pickable,
            "fork_step": self.fork_step,
        }


@dataclass
class Source:
    """Where the rows of one or two series come from, and how to keep reading them."""

    view: HistorySource  # the rows drawn: a run (with its lineage) or an archived segment
    series: Series
    run: RunLike | None = None  # the run they belong to (followed while live); None: archived
    min_step: int = -1  # rows with a smaller step are not drawn (forks start at their point)
    split: Series | None = None  # rows <= split_step go to this series (a fork's inherited part)
    split_step: int = -1
    feed: RowFeed | None = None  # new rows of ``run`` while it is live
    live: bool = False
    last_step: int = -1
    new_metrics: bool = False  # rows brought metrics that have no chart yet

    def series_for(self, step: int) -> Series:
        """The series a row of this step belongs to."""
        if self.split is not None and step <= self.split_step:
            return self.split
        return self.series


def short(text: Any, limit: int = 40) -> str:
    """A label-sized string."""
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def lineage_sources(view: RunLike) -> list[Source]:
    """The sources of a run's charts: itself (with its inherited part), its parent after the
    fork point, its sibling forks, its own forks, and its archived segments (ghosts)."""
    sources: list[Source] = []
    fp = view.forked_from
    me = Series(
        f"self:{view.id}",
        f"this · {short(view.name)}",
        "self",
        SELF_COLOR,
        view.id,
        pickable=True,
        fork_step=fp.step if fp else None,
    )
    src = Source(view, me, run=view)
    if fp is not None:
        src.split = Series(
            f"inherited:{view.id}",
            f"inherited ≤ step {fp.step}",
            "inherited",
            SELF_COLOR,
            view.id,
            dash="inherited",
            pickable=True,
        )
        src.split_step = fp.step
    sources.append(src)
    colors = iter(OTHER_COLORS * 100)
    api = nbrun.Api(view.root)
    if fp is not None:
        try:
            parent = api.run(f"{view.project}/{fp.run_id}")
        except nbrun.RunNotFoundError:
            parent = None
        if parent is not None and not diverged_after_fork(view, parent, fp.step):
            sources.append(
                Source(
                    parent,
                    run=parent,
                    series=Series(
                        f"parent:{parent.id}",
                        f"parent · {short(parent.name)}",
                        "parent",
                        PARENT_COLOR,
                        parent.id,
                        opacity=0.85,
                        fork_step=None,
                    ),
                    min_step=fp.step,
                )
            )
            for sib in parent.children():
                if sib.id == view.id or sib.forked_from is None:
                    continue
                sources.append(fork_source(sib, "sibling", next(colors)))
    for child in view.children():
        if child.forked_from is not None:
            sources.append(fork_source(child, "child", next(colors)))
    for arch in view.archives():
        sources.append(ghost_source(view, arch))
    return sources


def diverged_after_fork(view: RunLike, parent: RunLike, step: int) -> bool:
    """Whether ``parent`` was rewound to before the fork point ``step`` after ``view`` forked
    from it: its rows past that point are then not what the fork continued from, and its line
    ends at the fork point (it is not drawn past it)."""
    born = getattr(view, "created", None) or getattr(view, "start_time", None)
    if not isinstance(born, int | float):
        return False
    return any(
        a.created >= born and a.from_step is not None and a.from_step <= step
        for a in parent.archives()
    )


def fork_source(run: RunLike, role: str, color: str) -> Source:
    """A fork of the run (``role`` child or sibling) drawn from its fork point on."""
    fp = run.forked_from
    if fp is None:
        raise ValueError(f"run {run.id} is not a fork")
    step = fp.step
    word = "fork" if role == "child" else "sibling"
    series = Series(
        f"{role}:{run.id}",
        f"{word} · {short(run.name)} @{step}",
        role,
        color,
        run.id,
        opacity=0.9,
        fork_step=step,
    )
    return Source(run, series, run=run, min_step=step)


def ghost_source(view: RunLike, arch: ArchiveLike) -> Source:
    """An archived segment of ``view`` drawn faded."""
    label = f"archived #{arch.index} · steps {arch.from_step}-{arch.to_step} ({arch.reason})"
    series = Series(
        f"ghost:{view.id}:{arch.index}",
        label,
        "ghost",
        GHOST_COLOR,
        view.id,
        dash="ghost",
        opacity=0.45,
    )
    return Source(arch, series)


def source_history(source: Source, keys: list[str] | None = None) -> pd.DataFrame:
    """The rows of a source as a DataFrame (lineage stitched for runs: a run's ``history``
    includes what it inherited by default)."""
    view = source.view
    df = view.history(keys=keys) if keys else view.history()
    if source.min_step >= 0 and len(df):
        df = df[df["_step"] >= source.min_step]
    return df


def lineage_frame(view: RunLike, key: str, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Long-format, downsampled data of metric ``key`` for every line of the run's lineage:
    columns ``series, role, x, y, step, color, dash, opacity``."""
    x_key = step_metric_for(key, view.metrics)
    wanted = [key] if x_key == "_step" else [key, x_key]
    parts = []
    for source in lineage_sources(view):
        df = source_history(source, wanted)
        xs, ys, steps = xy_arrays(df, key, x_key)
        groups: dict[str, tuple[Series, list[int]]] = {}
        for n, s in enumerate(steps):
            ser = source.series_for(s)
            groups.setdefault(ser.key, (ser, []))[1].append(n)
        for ser, idx in groups.values():
            mm = MinMaxSeries(max_points)
            mm.extend([xs[i] for i in idx], [ys[i] for i in idx], [steps[i] for i in idx])
            for _, x, y, step in mm.points():
                parts.append((ser.label, ser.role, x, y, step, ser.color, ser.dash, ser.opacity))
    return pd.DataFrame(
        parts, columns=["series", "role", "x", "y", "step", "color", "dash", "opacity"]
    )


def chart(view: nbrun.RunView | RunLike, key: str, max_points: int = MAX_POINTS) -> alt.Chart:
    """A plain ``alt.Chart`` of metric ``key`` over ``_step`` (or its step_metric) with the
    run's lineage: inherited part dashed, parent and forks in their own colours, archived rows
    dotted and faded. Long histories are downsampled keeping each bucket's min and max."""
    import altair as alt  # noqa: PLC0415 - loaded on first use: displaying a dashboard never pays for it

    if not isinstance(key, str) or not key:
        raise nbrun.UsageError(f"chart({key!r}): pass a metric name such as 'loss'")
    run = as_run_like(view)
    df = lineage_frame(run, key, max_points)
    x_key = step_metric_for(key, run.metrics)
    if df.empty:
        have = [c for c in run.history().columns if not c.startswith("_")]
        raise nbrun.UsageError(
            f"chart({key!r}): run {run.id} has no numeric values of {key!r}; its metrics are {have}"
        )
    labels = list(dict.fromkeys(df["series"]))
    colors = [df.loc[df["series"] == s, "color"].iloc[0] for s in labels]
    return (
        alt.Chart(df)
        .mark_line()
        .encode(
            x=alt.X("x:Q", title=x_key),
            y=alt.Y("y:Q", title=key, scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", scale=alt.Scale(domain=labels, range=colors), title=None),
            strokeDash=alt.StrokeDash(
                "dash:N",
                scale=alt.Scale(domain=list(DASHES), range=list(DASHES.values())),
                legend=None,
            ),
            opacity=alt.Opacity("opacity:Q", scale=None),
            order="step:Q",
            tooltip=["series:N", "step:Q", "y:Q"],
        )
        .properties(title=key, width=WIDTH, height=HEIGHT)
    )


#: the Vega-Lite schema of the bundled Vega-Lite (``package.json``); specs name it as Altair does
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"


def _q(field: str, **extra: Any) -> dict[str, Any]:
    """A quantitative Vega-Lite field encoding."""
    return {"field": field, "type": "quantitative", **extra}


def _nominal(field: str, **extra: Any) -> dict[str, Any]:
    """A nominal Vega-Lite field encoding."""
    return {"field": field, "type": "nominal", **extra}


def dashboard_spec(metric: str, x_title: str) -> dict[str, Any]:
    """The Vega-Lite spec of one dashboard chart, fed later through named datasets:
    ``rows`` (``s, i, x, y, step, c, g, o, p, k``), ``forks`` (``x, y, c, label``),
    ``ckpts`` (``x, step``: checkpoints a selection snaps to) and ``selected`` (``x, y``).

    A plain dict (the spec Altair would write for the same layers, see
    ``tests/test_widgets.py``): showing a dashboard never imports Altair, whose import costs
    seconds in a fresh kernel (issue 15); :func:`chart` still returns an ``alt.Chart``."""
    x = _q("x", title=x_title, scale={"nice": False, "zero": False})
    y = _q("y", title=None, scale={"zero": False})
    color = _nominal("c", scale=None)
    dash = _nominal(
        "g", legend=None, scale={"domain": list(DASHES), "range": list(DASHES.values())}
    )
    layers: list[dict[str, Any]] = [
        {
            "data": {"name": "rows"},
            "mark": {"type": "line", "clip": True, "strokeWidth": 1.6},
            "encoding": {
                "color": color,
                "detail": _nominal("s"),
                "opacity": _q("o", scale=None),
                "order": _q("step"),
                "strokeDash": dash,
                "x": x,
                "y": y,
            },
            "name": "lines",
        },
        {
            "data": {"name": "rows"},
            "mark": {
                "type": "point",
                "cursor": "pointer",
                "filled": True,
                "opacity": 0.55,
                "size": 18,
            },
            "encoding": {
                "color": color,
                "tooltip": [_q("step", title="step"), _q("y", title=metric)],
                "x": x,
                "y": y,
            },
            "name": "picks",
            "transform": [{"filter": "datum.p"}],
        },
        {
            "data": {"name": "forks"},
            "mark": {
                "type": "point",
                "filled": True,
                "opacity": 1,
                "shape": "diamond",
                "size": 110,
                "stroke": "white",
                "strokeWidth": 1,
            },
            "encoding": {
                "color": color,
                "tooltip": [_nominal("label", title="fork")],
                "x": x,
                "y": y,
            },
            "name": "forkmarks",
        },
        {
            "data": {"name": "ckpts"},
            "mark": {
                "type": "point",
                "color": "#777",
                "filled": True,
                "opacity": 0.8,
                "shape": "triangle-up",
                "size": 36,
            },
            "encoding": {
                "tooltip": [_q("step", title="checkpoint at step")],
                "x": x,
                "y": {"value": HEIGHT - 4},
            },
            "name": "ckptmarks",
        },
        {
            "data": {"name": "selected"},
            "mark": {"type": "rule", "color": "#d62728", "strokeDash": [3, 3]},
            "encoding": {"x": x},
            "name": "selrule",
        },
        {
            "data": {"name": "selected"},
            "mark": {
                "type": "point",
                "color": "#d62728",
                "filled": False,
                "size": 170,
                "strokeWidth": 2.5,
            },
            "encoding": {"x": x, "y": y},
            "name": "selring",
        },
    ]
    return {
        "config": {"view": {"continuousWidth": 300, "continuousHeight": 300, "stroke": "#ddd"}},
        "layer": layers,
        "autosize": {"resize": True, "type": "pad"},
        "height": HEIGHT,
        "title": {"text": metric, "anchor": "start", "fontSize": 13},
        "width": WIDTH,
        "$schema": VEGA_LITE_SCHEMA,
    }
