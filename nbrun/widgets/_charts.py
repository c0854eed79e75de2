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

from ._colors import family_colors, run_color
from ._data import MAX_POINTS, MinMaxSeries, axis_title, step_metric_for, xy_arrays
from ._marks import event_layers
from ._protocols import ArchiveLike, HistorySource, RowFeed, RunLike, as_run_like
from ._tree import family_root

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
DASHES = {"own": [1, 0], "inherited": [6, 3], "ghost": [2, 3]}
#: line widths by role: this run's own rows thickest
WIDTHS = {"self": 2.6, "inherited": 2.0, "ghost": 1.8}
OTHER_WIDTH = 1.5
#: the selection marker: a neutral dark ring in a white halo, distinct from every run colour
#: and readable on light and dark backgrounds
SELECT_COLOR = "#111111"
SELECT_HALO = "#ffffff"
#: config keys of a fork's diff sent to the legend (the label shows the first few)
MAX_DIFF_KEYS = 8
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
    name: str = ""  # the run's name (the legend builds its label from it)
    diff: dict[str, Any] | None = None  # a fork's config changes: {key: [from, to]}
    parent_id: str | None = None  # the run a fork's line is compared with (rule 67)

    @property
    def width(self) -> float:
        """Stroke width: this run's own rows thickest, other runs thin."""
        return WIDTHS.get(self.role, OTHER_WIDTH)

    def meta(self) -> dict[str, Any]:
        """The JSON the front end gets for this series."""
        return {
            "name": self.name,
            "width": self.width,
            "diff": self.diff,
            "key": self.key,
            "label": self.label,
            "role": self.role,
            "color": self.color,
            "run_id": self.run_id,
            "dash": self.dash,
            "opacity": self.opacity,
            "pickable": self.pickable,
            "fork_step": self.fork_step,
            "parent_id": self.parent_id,
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


def family_ids(view: RunLike, limit: int = 200) -> list[str]:
    """Ids of the run's whole family, oldest first: the root it was forked from (through
    every fork point) and every fork below that root."""
    root: RunLike = family_root(nbrun.Api(view.root), view, limit)
    found: list[tuple[float, str]] = []
    todo: list[RunLike] = [root]
    done: set[str] = set()
    while todo and len(done) < limit:
        run = todo.pop()
        if run.id in done:
            continue
        done.add(run.id)
        found.append((float(getattr(run, "created", 0) or 0), run.id))
        try:
            todo.extend(run.children())
        except Exception:  # a view that cannot list children still gets its own colour
            pass
    if view.id not in done:
        found.append((float(getattr(view, "created", 0) or 0), view.id))
    return [rid for _, rid in sorted(found)]


def fork_diff(run: RunLike) -> dict[str, Any] | None:
    """A fork's config changes against its parent, ``{key: [from, to]}`` (a few keys), for
    the legend's label; None for a run that is not a fork."""
    if run.forked_from is None:
        return None
    try:
        diff = run.config_diff or {}
    except Exception:
        return None
    out: dict[str, Any] = {}
    for key, change in list(diff.items())[:MAX_DIFF_KEYS]:
        if isinstance(change, dict):
            out[str(key)] = [_label_value(change.get("from")), _label_value(change.get("to"))]
    return out


def _label_value(value: Any) -> Any:
    """A config value as the legend shows it: numbers, bools and None as they are, anything
    else as short text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return short(value, 24)


def colour_group(view: RunLike, family: list[str]) -> list[str]:
    """The runs ``view``'s colour is picked among, oldest first: its family; for a run alone
    in its family that is a sweep's trial, the sweep's runs (by creation), so a sweep's trials
    are told apart as a family's runs are (:func:`~nbrun.widgets._colors.family_colors`), in
    its dashboard as in the project view (rule 69)."""
    sweep = getattr(view, "sweep_id", None)
    if len(family) > 1 or not sweep:
        return family
    try:
        runs = nbrun.Api(view.root).sweep(f"{view.project}/{sweep}").runs
    except (nbrun.RunNotFoundError, nbrun.UsageError):
        return family
    ids = [r.id for r in sorted(runs, key=lambda r: (r.created or 0, r.id))]
    return ids if view.id in ids else family


def lineage_sources(view: RunLike, colors: dict[str, str] | None = None) -> list[Source]:
    """The sources of a run's charts: itself (with its inherited part), its parent after the
    fork point, its sibling forks, its own forks, and its archived segments (ghosts).

    Every line has its run's colour (``colors``, by run id: by default
    :func:`~nbrun.widgets._colors.family_colors` of the run's family), whoever's dashboard
    shows it."""
    if colors is None:
        colors = family_colors(colour_group(view, family_ids(view)))

    def color(run_id: str) -> str:
        return colors.get(run_id) or run_color(run_id)

    sources: list[Source] = []
    fp = view.forked_from
    own = color(view.id)
    me = Series(
        f"self:{view.id}",
        f"this · {short(view.name)}",
        "self",
        own,
        view.id,
        pickable=True,
        fork_step=fp.step if fp else None,
        name=str(view.name),
        diff=fork_diff(view),
        parent_id=fp.run_id if fp else None,
    )
    src = Source(view, me, run=view)
    if fp is not None:
        src.split = Series(
            f"inherited:{view.id}",
            f"inherited ≤ step {fp.step}",
            "inherited",
            own,
            view.id,
            dash="inherited",
            pickable=True,
            name=str(view.name),
        )
        src.split_step = fp.step
    sources.append(src)
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
                        color(parent.id),
                        parent.id,
                        opacity=0.85,
                        fork_step=None,
                        name=str(parent.name),
                        diff=fork_diff(parent),
                    ),
                    min_step=fp.step,
                )
            )
            for sib in parent.children():
                if sib.id == view.id or sib.forked_from is None:
                    continue
                sources.append(fork_source(sib, "sibling", color(sib.id)))
    for child in view.children():
        if child.forked_from is not None:
            sources.append(fork_source(child, "child", color(child.id)))
    for arch in view.archives():
        sources.append(ghost_source(view, arch, own))
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
        name=str(run.name),
        diff=fork_diff(run),
        parent_id=fp.run_id,
    )
    return Source(run, series, run=run, min_step=step)


def ghost_source(view: RunLike, arch: ArchiveLike, color: str | None = None) -> Source:
    """An archived segment of ``view``, dotted in its run's colour."""
    label = f"archived #{arch.index} · steps {arch.from_step}-{arch.to_step} ({arch.reason})"
    series = Series(
        f"ghost:{view.id}:{arch.index}",
        label,
        "ghost",
        color or run_color(view.id),
        view.id,
        dash="ghost",
        opacity=0.8,
        name=str(view.name),
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


def has_buckets(source: Source) -> bool:
    """Whether the source's view reads downsampled bucket summaries (``history_buckets``)."""
    return callable(getattr(source.view, "history_buckets", None))


def source_buckets(
    source: Source, x: Any = None, points: int = MAX_POINTS
) -> list[tuple[Series, dict[str, pd.DataFrame]]]:
    """Each series of a source with its metrics downsampled (``view.history_buckets``): a
    fork's inherited part and its own rows apart, a parent or fork from its fork point on.
    ``x``: the x column choice passed on (None: each run's ``define_metric`` step metrics)."""
    view: Any = source.view
    if source.split is not None:
        step = source.split_step
        return [
            (source.split, view.history_buckets(x=x, points=points, max_step=step)),
            (source.series, view.history_buckets(x=x, points=points, min_step=step + 1)),
        ]
    if source.min_step >= 0:
        frames = view.history_buckets(x=x, points=points, min_step=source.min_step)
    else:
        frames = view.history_buckets(x=x, points=points)
    return [(source.series, frames)]


def last_bucket_step(parts: list[tuple[Series, dict[str, pd.DataFrame]]]) -> int | None:
    """The last step with a point in downsampled series (None: no points)."""
    steps = [
        int(max(f["step_min"].max(), f["step_max"].max()))
        for _, frames in parts
        for f in frames.values()
        if len(f)
    ]
    return max(steps) if steps else None


def lineage_frame(view: RunLike, key: str, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Long-format, downsampled data of metric ``key`` for every line of the run's lineage:
    columns ``series, role, x, y, step, color, dash, opacity``. Each line is read as bucket
    summaries (``history_buckets``): the stored chunks' summaries are cached, so drawing a
    long run again costs little."""
    x_key = step_metric_for(key, view.metrics)
    parts = []
    for source in lineage_sources(view):
        if not has_buckets(source):
            parts += _frame_rows(source, key, x_key, max_points)
            continue
        x = None if source.run is not None else {key: x_key}
        for ser, frames in source_buckets(source, x, max_points):
            frame = frames.get(key)
            if frame is None or not len(frame):
                continue
            mm = MinMaxSeries.from_buckets(frame, max_points)
            for _, px, py, step in mm.points():
                parts.append((ser.label, ser.role, px, py, step, ser.color, ser.dash, ser.opacity))
    out: pd.DataFrame = pd.DataFrame(
        parts, columns=["series", "role", "x", "y", "step", "color", "dash", "opacity"]
    )
    return out


def _frame_rows(source: Source, key: str, x_key: str, max_points: int) -> list[tuple[Any, ...]]:
    """The long-format rows of a source read as a whole DataFrame (a view without
    ``history_buckets``)."""
    wanted = [key] if x_key == "_step" else [key, x_key]
    df = source_history(source, wanted)
    xs, ys, steps = xy_arrays(df, key, x_key)
    groups: dict[str, tuple[Series, list[int]]] = {}
    for n, s in enumerate(steps):
        ser = source.series_for(s)
        groups.setdefault(ser.key, (ser, []))[1].append(n)
    rows = []
    for ser, idx in groups.values():
        mm = MinMaxSeries(max_points)
        mm.extend([xs[i] for i in idx], [ys[i] for i in idx], [steps[i] for i in idx])
        for _, x, y, step in mm.points():
            rows.append((ser.label, ser.role, x, y, step, ser.color, ser.dash, ser.opacity))
    return rows


def chart(view: nbrun.RunView | RunLike, key: str, max_points: int = MAX_POINTS) -> alt.Chart:
    """A plain ``alt.Chart`` of metric ``key`` over ``_step`` (or its step_metric) with the
    run's lineage: inherited part dashed, parent and forks in their own colours, archived rows
    dotted and faded. Long histories are downsampled keeping each bucket's min and max."""
    import altair as alt  # noqa: PLC0415 - loaded on first use: displaying a dashboard never pays for it

    from ._altair import use_offline_renderer  # noqa: PLC0415 - imports Altair: chart() only

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
    chart: alt.Chart = (
        alt.Chart(df)
        .mark_line()
        .encode(
            x=alt.X("x:Q", title=axis_title(x_key)),
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
    return chart


#: the Vega-Lite schema of the bundled Vega-Lite (``package.json``)
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"


def _q(field: str, **extra: Any) -> dict[str, Any]:
    """A quantitative Vega-Lite field encoding."""
    return {"field": field, "type": "quantitative", **extra}


def _nominal(field: str, **extra: Any) -> dict[str, Any]:
    """A nominal Vega-Lite field encoding."""
    return {"field": field, "type": "nominal", **extra}


def _layer(name: str, data: str, mark: dict[str, Any], **enc: Any) -> dict[str, Any]:
    """One layer of a dashboard chart: ``mark`` over the named dataset ``data``."""
    return {"name": name, "data": {"name": data}, "mark": mark, "encoding": enc}


def _line_layers(
    x: dict[str, Any], y: dict[str, Any], color: dict[str, Any]
) -> list[dict[str, Any]]:
    """The series' lines (faded unless the legend highlights their run) and the points a
    click picks."""
    dash = _nominal(
        "g", legend=None, scale={"domain": list(DASHES), "range": list(DASHES.values())}
    )
    faded = {"test": "hl !== '' && datum.r !== hl", "value": 0.12}
    return [
        _layer(
            "lines",
            "rows",
            {"type": "line", "clip": True},
            x=x,
            y=y,
            color=color,
            strokeDash=dash,
            strokeWidth=_q("w", scale=None),
            opacity={**_q("o", scale=None), "condition": faded},
            detail=_nominal("d"),
            order=_q("step"),
        ),
        {
            **_layer(
                "picks",
                "rows",
                {
                    "type": "point",
                    "filled": True,
                    "size": 18,
                    "cursor": "pointer",
                    "clip": True,
                },
                x=x,
                y=y,
                color=color,
                # faded with their line when another run is highlighted (the legend, a tree node)
                opacity={"condition": {**faded, "value": 0.06}, "value": 0.55},
            ),
            "transform": [{"filter": "datum.p"}],
        },
    ]


def _hover_layers(
    x: dict[str, Any], y: dict[str, Any], color: dict[str, Any]
) -> list[dict[str, Any]]:
    """The nearest-step read-out: a rule and one dot per series."""
    return [
        _layer(
            "hoverrule",
            "hover",
            {"type": "rule", "color": "#888888", "strokeWidth": 1, "opacity": 0.8, "clip": True},
            x=x,
        ),
        _layer(
            "hoverdots",
            "hover",
            {
                "type": "point",
                "filled": True,
                "size": 50,
                "stroke": SELECT_HALO,
                "strokeWidth": 1.2,
                "opacity": 1,
                "clip": True,
            },
            x=x,
            y=y,
            color=color,
        ),
    ]


def _fork_layers(
    x: dict[str, Any], y: dict[str, Any], color: dict[str, Any]
) -> list[dict[str, Any]]:
    """Fork points: a diamond each, with the number of forks made there."""
    return [
        _layer(
            "forkmarks",
            "forks",
            {
                "type": "point",
                "shape": "diamond",
                "size": 110,
                "filled": True,
                "stroke": SELECT_HALO,
                "strokeWidth": 1,
                "opacity": 1,
                "clip": True,
            },
            x=x,
            y=y,
            color=color,
            tooltip=[_nominal("label", title="fork")],
        ),
        _layer(
            "forkcounts",
            "forks",
            {
                "type": "text",
                "align": "left",
                "dx": 7,
                "dy": -7,
                "fontSize": 11,
                "fontWeight": "bold",
                "clip": True,
            },
            x=x,
            y=y,
            text=_nominal("count"),
            color=color,
        ),
    ]


def _selection_layers(x: dict[str, Any], y: dict[str, Any]) -> list[dict[str, Any]]:
    """Checkpoint marks a selection snaps to, and the selected point: a rule, a halo and a
    ring."""
    return [
        _layer(
            "ckptmarks",
            "ckpts",
            {
                "type": "point",
                "shape": "triangle-up",
                "size": 36,
                "filled": True,
                "color": "#888888",
                "opacity": 0.8,
                "clip": True,  # outside the x range shown (rule 66) they are not drawn
            },
            x=x,
            y={"value": HEIGHT - 4},
            tooltip=_nominal("label"),
            description=_nominal("label"),
        )
        | {"transform": [{"calculate": "'checkpoint at step ' + datum.step", "as": "label"}]},
        _layer(
            "selrule",
            "selected",
            {
                "type": "rule",
                "color": SELECT_COLOR,
                "strokeDash": [3, 3],
                "opacity": 0.7,
                "clip": True,
            },
            x=x,
        ),
        _layer(
            "selhalo",
            "selected",
            {
                "type": "point",
                "size": 170,
                "color": SELECT_HALO,
                "strokeWidth": 5,
                "filled": False,
                "opacity": 0.9,
                "clip": True,
            },
            x=x,
            y=y,
        ),
        _layer(
            "selring",
            "selected",
            {
                "type": "point",
                "size": 170,
                "color": SELECT_COLOR,
                "strokeWidth": 2.2,
                "filled": False,
                "opacity": 1,
                "clip": True,
            },
            x=x,
            y=y,
        ),
    ]


def dashboard_spec(metric: str, x_title: str) -> dict[str, Any]:
    """The Vega-Lite spec of one dashboard chart (a plain dict: no Altair import or schema
    validation on the way to the first chart), fed later through named datasets:
    ``rows`` (``s, d, r, i, x, y, step, c, g, o, w, p, k``: series, line, run id, index, x, y,
    step, colour, dash, opacity, width, point drawn, pickable), ``forks`` (``x, y, c, label,
    count``), ``ckpts`` (``x, step``: checkpoints a selection snaps to), ``selected``
    (``x, y``) and ``hover`` (``x, y, c``: the nearest-step read-out).

    Signals the browser sets: ``xdom`` / ``ydom`` (the x and y domains: the lines' extent,
    zoomed or outlier-free; positive at first so a log scale starts valid) and ``hl`` (the
    run id the legend highlights, "" for none)."""
    # the domains are the browser's (xdom / ydom, from the lines' rows): Vega computing them
    # over every layer's dataset warned "Infinite extent" for each empty one (issue 25)
    x = _q("x", title=x_title, scale={"nice": False, "zero": False, "domain": {"expr": "xdom"}})
    y = _q("y", title=None, scale={"nice": False, "zero": False, "domain": {"expr": "ydom"}})
    color = _nominal("c", scale=None)
    layers = [
        *_line_layers(x, y, color),
        *_hover_layers(x, y, color),
        *_fork_layers(x, y, color),
        *event_layers(x, y, color),  # PBT exploits and recoveries (rule 70)
        *_selection_layers(x, y),
    ]
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "params": [
            {"name": "xdom", "value": [1, 10]},
            {"name": "ydom", "value": [1, 10]},
            {"name": "hl", "value": ""},
        ],
        "layer": layers,
        "width": WIDTH,
        "height": HEIGHT,
        "title": {"text": metric, "anchor": "start", "fontSize": 13},
        "autosize": {"type": "pad", "resize": True},
        # the view's outline comes from the theme config the front end passes (lib/theme.js)
    }
