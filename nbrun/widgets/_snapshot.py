"""Static snapshots of a run (and of a project): self-contained HTML with hand-written SVG
charts, no scripts and no network, for the places a live widget cannot reach: a saved notebook
reopened without a kernel, ``jupyter nbconvert --to html``, GitHub's notebook view, and
``run.to_html()``.

Every string that comes from run data (names, config, summary, metric names) is escaped with
:func:`html.escape`: run data never becomes live markup. Colours follow the page: text, axes
and grid use ``currentColor`` and JupyterLab's ``--jp-*`` variables (with fallbacks), so a
snapshot reads in light and dark themes; lines keep their run colours.

Why hand-written SVG rather than rendering the Vega-Lite specs (vl-convert): a snapshot is
built whenever a dashboard is displayed or its run ends; polylines of the already downsampled
points take milliseconds and no dependency, where vl-convert is a 50+ MB wheel with a
JavaScript engine.
"""

from __future__ import annotations

import base64
import html
import math
import os
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nbrun

from ._assets import after_every_cell
from ._colors import run_color
from ._compare import focus_range
from ._data import SYSTEM_KEYS, MinMaxSeries, as_number, axis_title, step_metric_for
from ._feed import ChartFeed
from ._overview import overview
from ._protocols import RunLike, as_run_like
from ._snapmedia import media_panels
from ._tree import family_html

#: a chart's plot area and margins (px)
W, H = 420, 200
ML, MR, MT, MB = 56, 12, 24, 34
#: at most this many points per line in a snapshot (the dashboard's own cap is larger)
SNAP_POINTS = 400
#: at most this many charts, config and summary entries in a snapshot
MAX_CHARTS = 24
MAX_ENTRIES = 40
DASH_ARRAY = {"own": "", "inherited": "6 3", "ghost": "2 2"}
#: a chart whose values are all positive and span at least this many decades is drawn on a log
#: y axis, as the live charts start (issue 25: loss 25 -> 0.002 is flat on a linear axis)
LOG_DECADES = 3

FG = "var(--jp-ui-font-color1, currentColor)"
FG2 = "var(--jp-ui-font-color2, currentColor)"
BORDER = "var(--jp-border-color2, rgba(128,128,128,.35))"


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML and SVG (quotes included)."""
    return html.escape(str(value), quote=True)


def last_step_text(step: Any) -> str:
    """A run's last step as every view writes it ("last step 299": the step of its last row,
    the x of its last point); "—" before its first row."""
    return "—" if step is None else fmt(step)


def fmt(value: Any) -> str:
    """A value as short text: numbers with 4 significant digits, the rest as ``str``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    num = as_number(value)
    if num is not None and not isinstance(value, str):
        if float(num).is_integer() and abs(num) < 1e15:
            return str(int(num))
        return f"{num:.4g}"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k}: {fmt(v)}" for k, v in list(value.items())[:8])
        return "{" + inner + ("…" if len(value) > 8 else "") + "}"
    text = str(value)
    return text if len(text) <= 120 else text[:119] + "…"


def wants_log(ys: Sequence[float]) -> bool:
    """Whether values ``ys`` go on a log y axis: all positive, spanning :data:`LOG_DECADES`."""
    return bool(ys) and min(ys) > 0 and max(ys) / min(ys) >= 10**LOG_DECADES


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten within [lo, hi] (every other one past 6 decades)."""
    a, b = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    step = 1 if b - a <= 6 else 2
    return [10.0**k for k in range(a, b + 1, step)]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks: list[float] = []
    v = first
    while v <= hi + step * 1e-9 and len(ticks) < 20:
        ticks.append(round(v, 12))
        v += step
    return ticks


Line = tuple[Mapping[str, Any], Sequence[tuple[float, float]]]


def _thin(points: Sequence[tuple[float, float]], cap: int) -> Sequence[tuple[float, float]]:
    if len(points) <= cap:
        return points
    mm = MinMaxSeries(cap)
    mm.extend([p[0] for p in points], [p[1] for p in points], list(range(len(points))))
    return [(p[1], p[2]) for p in mm.points()]


#: text and axis colour of a chart drawn as an image (no page colour reaches inside an <img>):
#: a grey readable on light and dark backgrounds
IMG_INK = "#767676"
LEGEND_ROW = 15


def _ranges(
    lines: Sequence[Line], xs: list[float], ys: list[float]
) -> tuple[tuple[float, float], tuple[float, float], bool, bool]:
    """A chart's x and y ranges, whether y is logarithmic and whether x starts at a fork."""
    x0, x1 = min(xs), max(xs)
    log = wants_log(ys)
    # rule 66: where a fork is drawn with its parent, the steps after the earliest fork (the
    # lines are cut to them) with y fitted to what they show
    focus = focus_range(x0, x1, [pts[0][0] for meta, pts in lines if _at_fork(meta)])
    if focus is not None:
        x0, x1 = focus
        ys = [y for _, pts in lines for x, y in pts if x0 <= x <= x1] or ys
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if log:
        y0, y1 = y0 / 1.2, y1 * 1.2
    elif y1 == y0:
        pad = abs(y0) * 0.05 or 0.5
        y0, y1 = y0 - pad, y1 + pad
    return (x0, x1), (y0, y1), log, focus is not None


def svg_chart(title: str, x_title: str, lines: Sequence[Line], ink: str = "currentColor") -> str:
    """One chart as SVG: axes with ticks, a grid, one polyline per line (its colour, dash and
    opacity from its meta: ``color``, ``dash``, ``opacity``, ``label``) and a legend below.
    Text and axes are drawn in ``ink`` (the page's text colour by default)."""
    lines = [(meta, _thin(pts, SNAP_POINTS)) for meta, pts in lines if pts]
    xs = [x for _, pts in lines for x, _ in pts]
    ys = [y for _, pts in lines for _, y in pts]
    legend = lines[:8]
    tw, th = W + ML + MR, H + MT + MB + LEGEND_ROW * len(legend)
    color = "" if ink == "currentColor" else f"color:{ink};"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{tw}" height="{th}" '
        f'viewBox="0 0 {tw} {th}" role="img" class="nbrun-snap-chart" '
        f'data-metric="{esc(title)}" style="{color or "color:" + FG + ";"}font:11px sans-serif" '
        f'font-family="sans-serif" font-size="11" color="{esc(ink)}">',
        f"<title>{esc(title)}</title>",
        f'<text x="{ML}" y="14" fill="currentColor" font-size="13" font-weight="600">'
        f"{esc(title)}</text>",
    ]
    if xs:
        (x0, x1), (y0, y1), log, focus = _ranges(lines, xs, ys)
        ly0, ly1 = (math.log10(y0), math.log10(y1)) if log else (y0, y1)

        def px(x: float) -> float:
            return ML + (x - x0) / (x1 - x0) * W

        def py(y: float) -> float:
            v = math.log10(y) if log else y
            return MT + H - (v - ly0) / (ly1 - ly0) * H

        for t in log_ticks(y0, y1) if log else nice_ticks(y0, y1):
            yy = py(t)
            out.append(
                f'<line x1="{ML}" x2="{ML + W}" y1="{yy:.1f}" y2="{yy:.1f}" '
                f'stroke="currentColor" stroke-opacity="0.15"/>'
                f'<text x="{ML - 4}" y="{yy + 3.5:.1f}" text-anchor="end" fill="currentColor">'
                f"{esc(fmt(t))}</text>"
            )
        if log or focus:
            note = " · ".join(
                (["log y"] if log else []) + ([f"from step {fmt(x0)}"] if focus else [])
            )
            out.append(
                f'<text x="{ML + W}" y="14" text-anchor="end" fill="currentColor" '
                f'fill-opacity="0.7" class="nbrun-snap-scale">{esc(note)}</text>'
            )

        for t in nice_ticks(x0, x1):
            xx = px(t)
            out.append(
                f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{MT + H}" y2="{MT + H + 4}" '
                f'stroke="currentColor" stroke-opacity="0.6"/>'
                f'<text x="{xx:.1f}" y="{MT + H + 15}" text-anchor="middle" fill="currentColor">'
                f"{esc(fmt(t))}</text>"
            )
        # a fork's inherited part and archived segments first, thinner: under the lines they
        # repeat, so a parent's colour stays visible (issue 25)
        under = [ln for ln in lines if str(ln[0].get("dash", "own")) != "own"]
        for meta, pts in [*under, *(ln for ln in lines if str(ln[0].get("dash", "own")) == "own")]:
            coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in _in_plot(pts, px, py, x0))
            dash = DASH_ARRAY.get(str(meta.get("dash", "own")), "")
            out.append(
                f'<polyline fill="none" stroke="{esc(meta.get("color", "#4c78a8"))}" '
                f'stroke-width="{1.6 if dash == "" else 1.2}" '
                f'stroke-opacity="{float(meta.get("opacity", 1.0)):.2f}"'
                + (f' stroke-dasharray="{dash}"' if dash else "")
                + f' data-series="{esc(meta.get("label", ""))}" points="{coords}">'
                f"<title>{esc(meta.get('label', ''))}</title></polyline>"
            )
    else:
        out.append(
            f'<text x="{ML + W / 2}" y="{MT + H / 2}" text-anchor="middle" fill="currentColor" '
            f'fill-opacity="0.6">no values yet</text>'
        )
    out.append(
        f'<rect x="{ML}" y="{MT}" width="{W}" height="{H}" fill="none" stroke="currentColor" '
        f'stroke-opacity="0.35"/>'
        f'<text x="{ML + W / 2}" y="{MT + H + 28}" text-anchor="middle" fill="currentColor">'
        f"{esc(x_title)}</text>"
    )
    for n, (meta, _) in enumerate(legend):
        y = MT + H + MB + LEGEND_ROW * n + 4
        dash = DASH_ARRAY.get(str(meta.get("dash", "own")), "")
        out.append(
            f'<line x1="{ML}" x2="{ML + 18}" y1="{y - 4}" y2="{y - 4}" stroke-width="2.5" '
            f'stroke="{esc(meta.get("color", "#4c78a8"))}"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f'/><text x="{ML + 24}" y="{y}" fill="currentColor">'
            f"{esc(str(meta.get('label', ''))[:80])}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _in_plot(
    pts: Sequence[tuple[float, float]], px: Any, py: Any, x0: float
) -> list[tuple[float, float]]:
    """A line's points in pixels, cut at the plot's left edge ``x0`` (rule 66: a chart may
    start after the first steps; the point on the edge interpolated, its y kept in the plot)."""
    out: list[tuple[float, float]] = []
    prev: tuple[float, float] | None = None
    for x, y in pts:
        here = (px(x), py(y))
        if x >= x0:
            if prev is not None and not out and here[0] > prev[0]:
                t = (px(x0) - prev[0]) / (here[0] - prev[0])
                edge = prev[1] + (here[1] - prev[1]) * t
                out.append((px(x0), min(max(edge, MT), MT + H)))
            out.append(here)
        prev = here
    return out


def _at_fork(meta: Mapping[str, Any]) -> bool:
    """Whether a line starts at a fork drawn with its parent (rule 66): a fork of the run or
    of its parent, or the parent from the fork point on (a dashboard's series roles; the
    project view marks its forks "child")."""
    return meta.get("role") in {"child", "sibling", "parent"}


def svg_img(title: str, x_title: str, lines: Sequence[Line]) -> str:
    """The chart as an ``<img>`` of a ``data:`` SVG: notebook front ends show it even where
    they sanitise HTML (an untrusted notebook in JupyterLab strips inline ``<svg>``)."""
    svg = svg_chart(title, x_title, lines, ink=IMG_INK)
    data = base64.b64encode(svg.encode()).decode()
    return (
        f'<img class="nbrun-snap-chart" data-metric="{esc(title)}" alt="{esc(title)} chart" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


def _legend(series: Iterable[Mapping[str, Any]]) -> str:
    items = []
    for s in series:
        dash = s.get("dash", "own")
        bg = (
            esc(s.get("color", "#888"))
            if dash == "own"
            else f"repeating-linear-gradient(90deg,{esc(s.get('color', '#888'))} 0 4px,"
            "transparent 4px 7px)"
        )
        items.append(
            f'<span style="margin-right:14px;white-space:nowrap"><span style="display:inline-block;'
            f"width:16px;height:3px;vertical-align:middle;margin-right:4px;background:{bg};"
            f'opacity:{float(s.get("opacity", 1.0)):.2f}"></span>{esc(s.get("label", ""))}</span>'
        )
    return (
        f'<div class="nbrun-snap-legend" style="font-size:12px;margin:4px 0">{"".join(items)}</div>'
    )


def _table(title: str, rows: Sequence[tuple[Any, Any]], more: int = 0) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr><td style="padding:1px 10px 1px 0;font-family:monospace;color:{FG2};'
        f'vertical-align:top">{esc(k)}</td><td style="padding:1px 0;white-space:pre-wrap;'
        f'word-break:break-word">{esc(fmt(v))}</td></tr>'
        for k, v in rows
    )
    if more:
        body += f'<tr><td colspan="2" style="color:{FG2}">… {more} more</td></tr>'
    return (
        f'<div style="margin:0 18px 6px 0"><div style="font-weight:600;font-size:12px;'
        f'color:{FG2}">{esc(title)}</div><table style="border-collapse:collapse;font-size:12px;'
        f'color:{FG}">{body}</table></div>'
    )


def _entries(mapping: Mapping[str, Any] | None) -> tuple[list[tuple[Any, Any]], int]:
    items = list((mapping or {}).items())
    return items[:MAX_ENTRIES], max(0, len(items) - MAX_ENTRIES)


def _fmt_time(seconds: float) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}h {s // 60 % 60}m {s % 60}s" if s >= 3600 else f"{s // 60}m {s % 60}s"


def _wrap(kind: str, key: str, inner: str, snap_id: str = "") -> str:
    """The snapshot's outer box: theme colours with fallbacks; ``data-nbrun-snapshot`` (the
    display id) lets the live widget displayed with it hide it while the widget shows."""
    return (
        f'<div class="nbrun-snapshot" data-nbrun-{kind}="{esc(key)}" '
        f'data-nbrun-snapshot="{esc(snap_id)}" style="color:{FG};'
        "font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;max-width:100%;"
        f'overflow-x:auto">{inner}</div>'
    )


def dashboard_html(
    ov: Mapping[str, Any],
    series: Sequence[Mapping[str, Any]],
    charts: Sequence[tuple[str, str, Sequence[Line]]],
    snap_id: str = "",
    inline: bool = False,
    media: str = "",
) -> str:
    """The snapshot of a dashboard: its header, the charts (``(metric, x_title, lines)``), the
    media panels (``media``: HTML of :func:`._snapmedia.media_panels`), the legend and the
    overview tables, from the dashboard's own data. Charts are ``<img>`` of SVG (what
    sanitising front ends keep), or with ``inline`` SVG elements in the page's colours (the
    standalone page of :func:`to_html`)."""
    step = last_step_text(ov.get("last_step"))
    head = (
        f'<div style="display:flex;gap:10px;align-items:baseline;flex-wrap:wrap">'
        f'<b style="font-size:15px">{esc(ov.get("name", ""))}</b>'
        f'<span class="nbrun-snap-state" style="padding:1px 7px;border-radius:9px;'
        f'border:1px solid {BORDER};font-size:12px">{esc(ov.get("state", ""))}</span>'
        f'<span style="font-family:monospace;color:{FG2}">'
        f"{esc(ov.get('project', ''))}/{esc(ov.get('id', ''))}</span>"
        f"<span>last step {esc(step)} · {esc(_fmt_time(float(ov.get('runtime') or 0)))}</span>"
        f'<span style="color:{FG2};font-size:11px">snapshot '
        f"{esc(time.strftime('%Y-%m-%d %H:%M:%S'))}</span></div>"
    )
    draw = svg_chart if inline else svg_img
    svgs = "".join(draw(m, xt, lines) for m, xt, lines in charts[:MAX_CHARTS])
    more = len(charts) - MAX_CHARTS
    body = f'<div style="display:flex;flex-wrap:wrap;gap:8px">{svgs}</div>'
    if more > 0:
        body += f'<div style="color:{FG2}">… {more} more charts in the live dashboard</div>'
    body += media
    fp = ov.get("forked_from")
    tables = []
    run_rows: list[tuple[Any, Any]] = [("id", ov.get("id")), ("state", ov.get("state"))]
    if ov.get("tags"):
        run_rows.append(("tags", ", ".join(map(str, ov.get("tags") or []))))
    if ov.get("notes"):
        run_rows.append(("notes", ov.get("notes")))
    if fp:
        run_rows.append(("forked from", f"{fp.get('run_id')} at step {fp.get('step')}"))
    tables.append(_table("run", run_rows))
    if fp:
        diff = {k: f"{fmt(d.get('from'))} → {fmt(d.get('to'))}" for k, d in _diff(ov).items()}
        tables.append(_table(f"config changed vs parent {fp.get('run_id')}", *_entries(diff)))
    else:
        tables.append(_table("config", *_entries(ov.get("config"))))
    tables.append(_table("summary", *_entries(ov.get("summary"))))
    kids = [
        (c.get("id"), f"{c.get('name')} · at step {c.get('step')} · {c.get('state')}")
        for c in ov.get("children") or []
    ]
    tables.append(_table("forks", kids[:MAX_ENTRIES], max(0, len(kids) - MAX_ENTRIES)))
    overview = f'<div style="display:flex;flex-wrap:wrap">{"".join(tables)}</div>'
    return _wrap("run", str(ov.get("id", "")), head + body + overview, snap_id)


def _diff(ov: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for k, d in (ov.get("config_diff") or {}).items():
        out[k] = d if isinstance(d, Mapping) else {"from": None, "to": d}
    return out


def dashboard_text(ov: Mapping[str, Any]) -> str:
    """The text/plain of a dashboard: the run, its state and step, and its numeric summary."""
    step = last_step_text(ov.get("last_step"))
    lines = [
        f"nbrun run {ov.get('name')} ({ov.get('project')}/{ov.get('id')}): {ov.get('state')}, "
        f"last step {step}, runtime {_fmt_time(float(ov.get('runtime') or 0))}"
    ]
    fp = ov.get("forked_from")
    if fp:
        lines.append(f"  forked from {fp.get('run_id')} at step {fp.get('step')}")
    nums = [
        f"{k}={fmt(v)}"
        for k, v in (ov.get("summary") or {}).items()
        if as_number(v) is not None and not isinstance(v, bool | str)
    ]
    if nums:
        lines.append("  summary: " + ", ".join(nums[:12]))
    return "\n".join(lines)


def feed_charts(feed: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str, list[Line]]]]:
    """The series and ``(metric, x_title, lines)`` of a dashboard's chart feed."""
    series = feed.series_meta()
    meta = {s["key"]: s for s in series}
    charts = []
    for metric, x_key in feed.x_keys.items():
        lines: list[Line] = []
        for s in series:
            data = feed.data.get((metric, s["key"]))
            if data is not None and len(data):
                lines.append((meta[s["key"]], data.xy()))
        charts.append((metric, axis_title(x_key), lines))
    return series, charts


def run_snapshot(view: nbrun.RunView | RunLike, inline: bool = False) -> tuple[str, str]:
    """The snapshot HTML fragment and text/plain of a run (read from the store)."""
    run = as_run_like(view)
    feed = ChartFeed(run)
    try:
        feed.rebuild(run)
        series, charts = feed_charts(feed)
        media = media_panels(feed.media)
    finally:
        feed.close()
    ov = overview(run)
    return dashboard_html(ov, series, charts, inline=inline, media=media), dashboard_text(ov)


def page(title: str, fragment: str) -> str:
    """A self-contained HTML page around a snapshot: no scripts, no network; light or dark
    after the reader's system setting."""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><meta name='color-scheme' content='light dark'>"
        "<style>body{margin:16px;background:Canvas;color:CanvasText;"
        "font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}"
        ":root{--jp-ui-font-color1:#1f1f1f;--jp-ui-font-color2:#616161;"
        "--jp-border-color2:#ccc}@media (prefers-color-scheme: dark){:root{"
        "--jp-ui-font-color1:#e6e6e6;--jp-ui-font-color2:#aaa;--jp-border-color2:#555}}"
        "</style></head><body>\n"
        f"{fragment}\n<p style='font-size:11px;opacity:.6'>made by nbrun</p></body></html>\n"
    )


def write_page(text: str, path: str | os.PathLike[str] | None) -> str | Path:
    """Write ``text`` to ``path`` (returned as a :class:`~pathlib.Path`), or return it."""
    if path is None:
        return text
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def to_html(view: nbrun.RunView | RunLike, path: str | os.PathLike[str] | None = None) -> Any:
    """The run's snapshot (overview and charts as SVG) as a self-contained HTML page: the
    text when ``path`` is None, else written there and the path returned (what
    ``run.to_html(path)`` calls)."""
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(f"to_html(path={path!r}): pass a file path (str or PathLike) or None")
    run = as_run_like(view)
    fragment, _ = run_snapshot(run, inline=True)
    fragment += family_html(run, inline=True)  # the family tree, when there is one (rule 63)
    return write_page(page(f"{run.name} · nbrun run {run.path}", fragment), path)


# -- projects ---------------------------------------------------------------------------------
PROJECT_CHARTS = 6


def project_html(
    rows: Sequence[Mapping[str, Any]],
    project: str | None,
    root: Any,
    snap_id: str = "",
    inline: bool = False,
) -> str:
    """A project's snapshot: the runs table (lineage indented) and one chart per metric (up to
    :data:`PROJECT_CHARTS`) with every run a line in its own colour."""
    head = (
        f'<div style="font-weight:600;font-size:15px">{esc(project or "all projects")}: '
        f"{len(rows)} runs</div>"
    )
    cols = ["name", "id", "project", "state", "last step", "forked from", "changed", "summary"]
    th = "".join(
        f'<th style="text-align:left;border-bottom:1px solid {BORDER};padding:2px 10px 2px 0">'
        f"{esc(c)}</th>"
        for c in ["", *cols]
    )
    trs = []
    for r in rows:
        changed = ", ".join(
            f"{k}: {fmt(d.get('from'))}→{fmt(d.get('to'))}" if isinstance(d, Mapping) else k
            for k, d in (r.get("changed") or {}).items()
        )
        summary = ", ".join(f"{k}={fmt(v)}" for k, v in (r.get("summary") or {}).items())
        fork = f"{r['forked_from']} @{r['fork_step']}" if r.get("forked_from") else ""
        depth = int(r.get("depth") or 0)
        cells = [
            "  " * max(0, depth - 1) + ("└─" if depth else ""),
            r.get("name"),
            r.get("id"),
            r.get("project"),
            r.get("state"),
            last_step_text(r.get("step")),
            fork,
            changed,
            summary,
        ]
        sw = (
            f'<span style="display:inline-block;width:10px;height:10px;border-radius:2px;'
            f'background:{esc(_row_color(r))};margin-right:4px"></span>'
        )
        tds = "".join(
            f'<td style="padding:2px 10px 2px 0;vertical-align:top;white-space:pre-wrap">'
            f"{sw if i == 1 else ''}{esc(fmt(c) if c is not None else '')}</td>"
            for i, c in enumerate(cells)
        )
        trs.append(f'<tr data-run-id="{esc(r.get("id"))}">{tds}</tr>')
    table = (
        f'<table style="border-collapse:collapse;font-size:12px;color:{FG}">'
        f"<tr>{th}</tr>{''.join(trs)}</table>"
    )
    charts = _project_charts(rows, root)
    draw = svg_chart if inline else svg_img
    svgs = "".join(draw(m, xt, lines) for m, xt, lines in charts)
    legend = _legend(
        {"label": f"{r.get('name')} ({r.get('id')})", "color": _row_color(r)} for r in rows
    )
    body = (
        head
        + table
        + (
            legend + f'<div style="display:flex;flex-wrap:wrap;gap:8px">{svgs}</div>'
            if charts
            else ""
        )
    )
    return _wrap("project", project or "", body, snap_id)


def _row_color(row: Mapping[str, Any]) -> str:
    """A project row's colour: its family's (as the live table and its dashboard show it)."""
    color = row.get("color")
    return color if isinstance(color, str) and color else run_color(str(row.get("id")))


def _project_charts(
    rows: Sequence[Mapping[str, Any]], root: Any
) -> list[tuple[str, str, list[Line]]]:
    api = nbrun.Api(root)
    lines: dict[str, list[Line]] = {}
    x_titles: dict[str, str] = {}
    order: list[str] = []
    shown = {(r.get("project"), r.get("id")) for r in rows[:50]}
    fork_steps = {
        str(r.get("id")): float(r["fork_step"])
        for r in rows[:50]
        if r.get("fork_step") is not None and (r.get("project"), r.get("forked_from")) in shown
    }
    for r in rows[:50]:
        try:
            view = api.run(f"{r['project']}/{r['id']}")
            # the stored chunks' bucket summaries (cached per chunk): a long run costs what
            # its chart needs, not a read of every row
            frames = view.history_buckets(x=None, points=SNAP_POINTS)
        except Exception:  # a run deleted meanwhile: its row stays, without a line
            continue
        defs = view.metrics
        for m, frame in frames.items():
            if m in SYSTEM_KEYS or not len(frame):
                continue
            if m not in order:
                if len(order) >= PROJECT_CHARTS:
                    continue
                order.append(m)
            x_titles.setdefault(m, axis_title(step_metric_for(m, defs)))
            mm = MinMaxSeries.from_buckets(frame, SNAP_POINTS)
            # a fork drawn from its fork step on: its inherited part is its parent's line, and
            # drawn again on top it would hide the parent (issue 25)
            start = fork_steps.get(str(r.get("id")), -math.inf)
            role = "child" if start > -math.inf else "run"  # a fork starts the range (rule 66)
            meta = {"label": str(r.get("name")), "color": _row_color(r), "dash": "own"}
            meta["role"] = role
            pts = [(p[1], p[2]) for p in mm.points() if p[3] >= start]
            lines.setdefault(m, []).append((meta, pts))
    return [(m, x_titles[m], lines.get(m, [])) for m in order]


def project_text(rows: Sequence[Mapping[str, Any]], project: str | None) -> str:
    """The text/plain of a project view: one line per run."""
    out = [f"nbrun project {project or '(all projects)'}: {len(rows)} runs"]
    for r in rows[:30]:
        indent = "  " * (1 + int(r.get("depth") or 0))
        summary = ", ".join(f"{k}={fmt(v)}" for k, v in (r.get("summary") or {}).items())
        out.append(
            f"{indent}{r.get('name')} ({r.get('id')}) {r.get('state')} "
            f"last step {last_step_text(r.get('step'))}" + (f" · {summary}" if summary else "")
        )
    if len(rows) > 30:
        out.append(f"  … {len(rows) - 30} more")
    return "\n".join(out)


# -- keeping a displayed snapshot current -----------------------------------------------------
_displayed: weakref.WeakSet[Any] = weakref.WeakSet()


def publish_snapshot(display_id: str, html_text: str, text: str) -> None:
    """Replace the output shown with ``display_id`` (an ``update_display_data`` message)."""
    from IPython.display import update_display  # noqa: PLC0415 - the notebook stack, on use

    update_display({"text/html": html_text, "text/plain": text}, raw=True, display_id=display_id)


def watch_cells(widget: Any) -> None:
    """Refresh ``widget``'s snapshot after every cell the kernel runs (IPython's
    ``post_run_cell``), from the main thread. ``jupyter execute`` / nbclient apply an update
    of an earlier cell's output only when it comes with the cell that is running; JupyterLab
    applies it only while the displaying cell runs."""
    _displayed.add(widget)
    after_every_cell(_after_cell)


def _after_cell(*_args: Any) -> None:
    for widget in list(_displayed):
        try:
            widget.refresh_snapshot(from_cell=True)
            # the refresh may have sent data (new forks): empty nbclient's copy after it
            # (rule 64; the widgets' own hook ran before this one)
            clear = getattr(widget, "clear_saved_data", None)
            if clear is not None:
                clear()
        except Exception:  # a snapshot must never break the user's cell
            continue
