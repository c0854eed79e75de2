"""Altair specs of a run's metrics with their lineage.

:func:`chart` returns a plain ``alt.Chart`` (data inline) that a user can customise or save;
:func:`dashboard_spec` returns the layered Vega-Lite spec the dashboard embeds once and then
feeds through named datasets (``rows``, ``forks``, ``selected``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

import nbrun

from ._altair import use_offline_renderer
from ._data import MAX_POINTS, MinMaxSeries, step_metric_for, xy_arrays
from ._protocols import ArchiveLike, HistorySource, RowFeed, RunLike, as_run_like

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
        if parent is not None:
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
    use_offline_renderer()  # draw with nbrun's bundled Vega, not Altair's CDN (issue 15)
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


def dashboard_spec(metric: str, x_title: str) -> dict[str, Any]:
    """The Vega-Lite spec of one dashboard chart, fed later through named datasets:
    ``rows`` (``s, i, x, y, step, c, g, o, p, k``), ``forks`` (``x, y, c, label``),
    ``ckpts`` (``x, step``: checkpoints a selection snaps to) and ``selected`` (``x, y``)."""
    rows = alt.Data(name="rows")
    x = alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False, nice=False))
    y = alt.Y("y:Q", title=None, scale=alt.Scale(zero=False))
    lines = (
        alt.Chart(rows, name="lines")
        .mark_line(strokeWidth=1.6, clip=True)
        .encode(
            x=x,
            y=y,
            color=alt.Color("c:N", scale=None),
            strokeDash=alt.StrokeDash(
                "g:N",
                scale=alt.Scale(domain=list(DASHES), range=list(DASHES.values())),
                legend=None,
            ),
            opacity=alt.Opacity("o:Q", scale=None),
            detail="s:N",
            order="step:Q",
        )
    )
    points = (
        alt.Chart(rows, name="picks")
        .transform_filter("datum.p")
        .mark_point(filled=True, size=18, opacity=0.55, cursor="pointer")
        .encode(
            x=x,
            y=y,
            color=alt.Color("c:N", scale=None),
            tooltip=[alt.Tooltip("step:Q", title="step"), alt.Tooltip("y:Q", title=metric)],
        )
    )
    forks = (
        alt.Chart(alt.Data(name="forks"), name="forkmarks")
        .mark_point(
            shape="diamond", size=110, filled=True, stroke="white", strokeWidth=1, opacity=1
        )
        .encode(
            x=x,
            y=y,
            color=alt.Color("c:N", scale=None),
            tooltip=[alt.Tooltip("label:N", title="fork")],
        )
    )
    ckpts = (
        alt.Chart(alt.Data(name="ckpts"), name="ckptmarks")
        .mark_point(shape="triangle-up", size=36, filled=True, color="#777", opacity=0.8)
        .encode(
            x=x,
            y=alt.value(HEIGHT - 4),
            tooltip=[alt.Tooltip("step:Q", title="checkpoint at step")],
        )
    )
    sel = alt.Data(name="selected")
    rule = alt.Chart(sel, name="selrule").mark_rule(color="#d62728", strokeDash=[3, 3]).encode(x=x)
    ring = (
        alt.Chart(sel, name="selring")
        .mark_point(size=170, color="#d62728", strokeWidth=2.5, filled=False)
        .encode(x=x, y=y)
    )
    layered = (
        alt.layer(lines, points, forks, ckpts, rule, ring).properties(
            title=alt.TitleParams(metric, anchor="start", fontSize=13),
            width=WIDTH,
            height=HEIGHT,
            autosize=alt.AutoSizeParams(type="pad", resize=True),
        )
        # the view's outline comes from the theme config the front end passes (lib/theme.js)
    )
    return layered.to_dict(validate=True)
