"""The project view's sweeps (rule 69): the runs of each sweep grouped, with the sweep's
name, method, state, number of runs and best value of its metric per its goal, its parallel
coordinates (the swept parameters and the metric) and its best-so-far curve (the best value
of the metric after each trial, in trial order), as W&B's sweep page shows them.

:func:`sweep_group` builds one group from the project table's rows (pure);
:func:`sweep_groups` reads the project's sweeps; :func:`sweeps_html` is the static SVG of
the groups for snapshots and ``project_to_html``; :class:`SweepWatch` keeps a displayed
project view current while a sweep runs. Every string from run or sweep data is escaped in
the HTML here and written as text by the browser (js/lib/sweeps.js).
"""

from __future__ import annotations

import base64
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import nbrun

from ._snapshot import BORDER, FG2, esc, fmt, nice_ticks

#: goals W&B's sweep metric takes
GOALS = ("minimize", "maximize")
#: at most this many parameter axes in a sweep's parallel coordinates
MAX_AXES = 10
#: seconds between looks at the store while a sweep of the view runs
WATCH_EVERY = 1.0
#: the watch stops after this many looks in a row with no sweep run running
QUIET_LOOKS = 10


def row_value(cell: Any, goal: str) -> float | None:
    """A sweep run's value from its table summary cell (``_project.summary_cell``): the
    number, or for a ``define_metric`` summary its ``min`` (``minimize``) / ``max``
    (``maximize``), else ``last`` (rule 52). None unless a finite number."""
    if isinstance(cell, Mapping):
        parts = {str(k): v for k, v in cell.get("parts") or ()}
        cell = parts.get("min" if goal == "minimize" else "max", parts.get("last"))
    if isinstance(cell, bool) or not isinstance(cell, int | float):
        return None
    return float(cell) if math.isfinite(cell) else None


def best_so_far(values: Sequence[float | None], goal: str) -> list[float | None]:
    """After each trial (in order) the best value so far per ``goal``; None before the
    first trial with a value."""
    best: float | None = None
    out: list[float | None] = []
    for v in values:
        if v is not None and (best is None or (v > best if goal == "maximize" else v < best)):
            best = v
        out.append(best)
    return out


def param_axes(parameters: Any, prefix: str = "") -> list[str]:
    """The swept parameters of a sweep config's ``parameters``, flattened as the project
    table flattens config (``outer.inner``); a constant (``value``) is not an axis."""
    out: list[str] = []
    if not isinstance(parameters, Mapping):
        return out
    for name, spec in parameters.items():
        key = f"{prefix}{name}"
        if isinstance(spec, Mapping) and isinstance(spec.get("parameters"), Mapping):
            out += param_axes(spec["parameters"], key + ".")
        elif isinstance(spec, Mapping) and "value" in spec and len(spec) == 1:
            continue
        else:
            out.append(key)
    return out[:MAX_AXES]


def sweep_group(meta: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One sweep's group from its ``meta`` (``project``, ``id``, ``name``, ``method``,
    ``state``, ``config``) and its runs' project-table rows: ``trials`` in trial order
    (oldest run first: ``n``, ``key``, ``name``, ``color``, ``state``, ``params`` (axis ->
    value), ``value``, ``best`` so far), ``axes``, ``metric``/``goal`` (None without a
    metric), ``count`` and ``best`` (the best trial, or None)."""
    config = meta.get("config") or {}
    metric_spec = config.get("metric") if isinstance(config, Mapping) else None
    metric = goal = None
    if isinstance(metric_spec, Mapping) and isinstance(metric_spec.get("name"), str):
        metric = str(metric_spec["name"])
        goal = str(metric_spec.get("goal") or "minimize")
        goal = goal if goal in GOALS else "minimize"
    axes = param_axes(config.get("parameters") if isinstance(config, Mapping) else None)
    ordered = sorted(rows, key=lambda r: (r.get("created") or 0, str(r.get("id"))))
    values = [
        row_value((r.get("summary") or {}).get(metric), goal or "minimize") if metric else None
        for r in ordered
    ]
    bests = best_so_far(values, goal or "minimize")
    trials = []
    for n, (r, value, best) in enumerate(zip(ordered, values, bests, strict=True), start=1):
        cfg = r.get("config") or {}
        trials.append(
            {
                "n": n,
                "key": str(r.get("key")),
                "name": str(r.get("name")),
                "color": str(r.get("color") or "#888888"),
                "state": str(r.get("state")),
                "params": {a: cfg.get(a) for a in axes},
                "value": value,
                "best": best,
            }
        )
    best_trial = None
    if bests and bests[-1] is not None:
        best_trial = next(t for t in trials if t["value"] == bests[-1])
    return {
        "key": f"{meta.get('project')}/{meta.get('id')}",
        "id": str(meta.get("id")),
        "project": str(meta.get("project")),
        "name": str(meta.get("name") or meta.get("id")),
        "method": str(meta.get("method")),
        "state": str(meta.get("state")),
        "metric": metric,
        "goal": goal,
        "axes": axes,
        "count": len(trials),
        "best": best_trial,
        "trials": trials,
    }


def sweep_groups(
    rows: Sequence[Mapping[str, Any]], dir: str | os.PathLike[str] | None = None
) -> list[dict[str, Any]]:
    """The groups (see :func:`sweep_group`) of every sweep the ``rows`` have runs of, in
    the order of their first run."""
    by_sweep: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("sweep"):
            by_sweep.setdefault((str(r.get("project")), str(r["sweep"])), []).append(r)
    api = nbrun.Api(dir)
    out = []
    for (project, sweep_id), members in by_sweep.items():
        try:
            sw = api.sweep(f"{project}/{sweep_id}")
            meta = {
                "project": project,
                "id": sweep_id,
                "name": sw.name,
                "method": sw.method,
                "state": sw.state,
                "config": sw.config,
            }
        except nbrun.RunNotFoundError:  # deleted meanwhile: its runs still group
            meta = {"project": project, "id": sweep_id, "method": "?", "state": "?"}
        out.append(sweep_group(meta, members))
    return out


def sweeps_running(groups: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a sweep of ``groups`` may still add or change runs (``PENDING``, ``RUNNING``,
    or one of its runs running)."""
    return any(g.get("state") in ("PENDING", "RUNNING") or trials_running([g]) for g in groups)


def trials_running(groups: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a run of a sweep of ``groups`` is running now."""
    return any(t.get("state") == "running" for g in groups for t in g.get("trials") or ())


class SweepWatch:
    """Calls ``refresh`` every :data:`WATCH_EVERY` seconds from a daemon thread while a sweep
    may change (an agent adding runs in a thread, a process or on another machine): started
    by :meth:`poke` when ``may_change()``, it stops after :data:`QUIET_LOOKS` looks in a row
    with no run of a sweep running (``busy()``; a sweep left ``RUNNING`` by an agent that ended
    is not watched for ever), or at :meth:`stop`."""

    def __init__(
        self,
        refresh: Callable[[], None],
        may_change: Callable[[], bool],
        busy: Callable[[], bool],
    ) -> None:
        self._refresh = refresh
        self._may_change = may_change
        self._busy = busy
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Start watching if a sweep may change and no watch thread is alive."""
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            if not self._may_change():
                return
            self._thread = threading.Thread(
                target=self._loop, name="nbrun-sweep-watch", daemon=True
            )
            self._thread.start()

    def watching(self) -> bool:
        """Whether the watch thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        quiet = 0
        while quiet < QUIET_LOOKS and not self._stop.wait(WATCH_EVERY):
            try:
                self._refresh()
            except Exception:  # a store being replaced: look again next time
                continue
            quiet = 0 if self._busy() else quiet + 1

    def stop(self) -> None:
        """Stop watching (the widget was closed)."""
        self._stop.set()


# -- static SVG --------------------------------------------------------------------------------
PW, PH = 520, 230
BW, BH = 380, 230


def _svg_open(w: int, h: int, cls: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'role="img" class="{cls}" style="font:11px sans-serif" font-family="sans-serif" '
        f'font-size="11"><title>{esc(title)}</title>'
    )


def _scale(
    values: list[Any], top: float, bottom: float
) -> tuple[Callable[[Any], float], list[str]]:
    """A parallel axis: numbers linear from bottom (low) to top, the rest as sorted
    categories; returns (position of a value, the low and high labels)."""
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    mid = (top + bottom) / 2
    if values and len(nums) == len(values):
        lo, hi = min(nums), max(nums)
        return (lambda v: mid if hi == lo else bottom - (v - lo) / (hi - lo) * (bottom - top)), [
            fmt(lo),
            fmt(hi),
        ]
    cats = sorted({fmt(v) for v in values})
    return (
        lambda v: (
            mid if len(cats) < 2 else bottom - cats.index(fmt(v)) / (len(cats) - 1) * (bottom - top)
        )
    ), ([cats[0], cats[-1]] if cats else [])


def parallel_svg(group: Mapping[str, Any]) -> str:
    """The sweep's parallel coordinates: one axis per swept parameter and the metric last,
    one line per trial in its run's colour (hover: name and value)."""
    axes: list[str] = list(group.get("axes") or [])
    metric = group.get("metric")
    trials = list(group.get("trials") or [])
    cols = [*axes, *([metric] if metric else [])]
    out = [_svg_open(PW, PH, "nbrun-sweep-parallel", f"{group.get('name')}: parallel coordinates")]
    if len(cols) < 2 or not trials:
        out.append('<text x="20" y="40" fill="currentColor">too few axes or trials</text></svg>')
        return "".join(out)
    top, bottom = 36.0, PH - 28.0

    def get(t: Mapping[str, Any], c: str) -> Any:
        return t.get("value") if metric and c == metric and c not in axes else t["params"].get(c)

    scales = [
        _scale([get(t, c) for t in trials if get(t, c) is not None], top, bottom) for c in cols
    ]
    xs = [40 + i * (PW - 80) / (len(cols) - 1) for i in range(len(cols))]
    for x, c, (_, labels) in zip(xs, cols, scales, strict=True):
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="currentColor" '
            f'stroke-opacity="0.5"/><text x="{x:.1f}" y="16" text-anchor="middle" '
            f'fill="currentColor" font-weight="600">{esc(str(c)[:24])}</text>'
        )
        if labels:
            out.append(
                f'<text x="{x + 4:.1f}" y="{bottom + 14}" fill="currentColor">'
                f"{esc(labels[0])}</text>"
                f'<text x="{x + 4:.1f}" y="{top - 6}" fill="currentColor">{esc(labels[-1])}</text>'
            )
    for t in trials:
        pts = [
            f"{x:.1f},{f(get(t, c)):.1f}"
            for x, c, (f, _) in zip(xs, cols, scales, strict=True)
            if get(t, c) is not None
        ]
        if len(pts) < 2:
            continue
        out.append(
            f'<polyline fill="none" stroke="{esc(t["color"])}" stroke-width="1.6" '
            f'stroke-opacity="0.85" data-key="{esc(t["key"])}" points="{" ".join(pts)}">'
            f"<title>{esc(t['name'])} · {esc(metric or '')} {esc(fmt(t.get('value')))}</title>"
            "</polyline>"
        )
    out.append("</svg>")
    return "".join(out)


def best_svg(group: Mapping[str, Any]) -> str:
    """The best-so-far chart: each trial's value as a dot and the best value so far as a
    step line, against the trial number."""
    metric = group.get("metric")
    trials = list(group.get("trials") or [])
    title = f"best {metric} so far ({group.get('goal')})" if metric else "no metric"
    out = [_svg_open(BW, BH, "nbrun-sweep-best", title)]
    out.append(f'<text x="50" y="14" fill="currentColor" font-weight="600">{esc(title)}</text>')
    ys = [v for t in trials for v in (t.get("value"), t.get("best")) if v is not None]
    if not ys:
        out.append('<text x="50" y="60" fill="currentColor">no values yet</text></svg>')
        return "".join(out)
    left, right, top, bottom = 50.0, BW - 12.0, 24.0, BH - 30.0
    y0, y1 = float(min(ys)), float(max(ys))
    log = y0 > 0 and y1 / y0 >= 10  # a decade or more: one bad trial would flatten the rest
    if y0 == y1:
        y0, y1 = y0 - (abs(y0) * 0.05 or 0.5), y1 + (abs(y1) * 0.05 or 0.5)
    n = max(2, len(trials))

    def f(v: float) -> float:
        return math.log10(v) if log else v

    def px(i: float) -> float:
        return left + (i - 1) / (n - 1) * (right - left)

    def py(v: float) -> float:
        return bottom - (f(v) - f(y0)) / (f(y1) - f(y0)) * (bottom - top)

    for tv in [y0, math.sqrt(y0 * y1), y1] if log else nice_ticks(y0, y1):
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{py(tv):.1f}" y2="{py(tv):.1f}" '
            f'stroke="currentColor" stroke-opacity="0.15"/><text x="{left - 4}" '
            f'y="{py(tv) + 3.5:.1f}" text-anchor="end" fill="currentColor">{esc(fmt(tv))}</text>'
        )
    if log:
        out.append(f'<text x="{right}" y="14" text-anchor="end" fill="currentColor">log y</text>')
    out.append(
        f'<text x="{(left + right) / 2}" y="{BH - 4}" text-anchor="middle" '
        f'fill="currentColor">trial</text>'
    )
    for t in trials:
        if len(trials) <= 12 or t["n"] in (1, len(trials)) or t["n"] % 5 == 0:
            out.append(
                f'<text x="{px(t["n"]):.1f}" y="{bottom + 13}" text-anchor="middle" '
                f'fill="currentColor" fill-opacity="0.7">{t["n"]}</text>'
            )
    steps: list[str] = []
    for t in trials:
        if t.get("best") is None:
            continue
        if steps:
            steps.append(f"{px(t['n']):.1f},{float(steps[-1].split(',')[1]):.1f}")
        steps.append(f"{px(t['n']):.1f},{py(t['best']):.1f}")
    if steps:
        out.append(
            f'<polyline class="nbrun-sweep-bestline" fill="none" stroke="currentColor" '
            f'stroke-width="2" points="{" ".join(steps)}"/>'
        )
    for t in trials:
        if t.get("value") is not None:
            out.append(
                f'<circle cx="{px(t["n"]):.1f}" cy="{py(t["value"]):.1f}" r="3.5" '
                f'fill="{esc(t["color"])}"><title>trial {t["n"]}: {esc(t["name"])} · '
                f"{esc(metric)} {esc(fmt(t['value']))} · best so far {esc(fmt(t['best']))}"
                "</title></circle>"
            )
    out.append("</svg>")
    return "".join(out)


def sweep_summary(group: Mapping[str, Any]) -> str:
    """``name · method · state · N runs · best loss=0.1 (minimize)`` as plain text."""
    best = group.get("best")
    text = (
        f"sweep {group.get('name')} ({group.get('id')}) · {group.get('method')} · "
        f"{group.get('state')} · {group.get('count')} run(s)"
    )
    if best is not None:
        text += f" · best {group.get('metric')}={fmt(best['value'])}"
        text += f" ({group.get('goal')}, {best['name']})"
    return text


def sweeps_html(groups: Sequence[Mapping[str, Any]], inline: bool = False) -> str:
    """The sweeps as static HTML: per sweep a ``<details>`` (open; collapsible without
    scripts) with its summary line and its two charts. ``inline`` keeps the SVG inline (a
    page); otherwise each chart is a ``data:`` image that sanitising front ends keep."""
    parts = []
    for g in groups:
        charts = [parallel_svg(g), best_svg(g)]
        if not inline:
            charts = [_img(svg, str(g.get("name"))) for svg in charts]
        parts.append(
            f'<details open class="nbrun-snap-sweep" data-sweep="{esc(g.get("key"))}" '
            f'style="border:1px solid {BORDER};border-radius:4px;margin:6px 0;padding:4px 8px">'
            f'<summary style="cursor:pointer;font-weight:600">{esc(sweep_summary(g))}</summary>'
            f'<div style="display:flex;flex-wrap:wrap;gap:8px;color:{FG2}">{"".join(charts)}</div>'
            "</details>"
        )
    return "".join(parts)


def _img(svg: str, name: str) -> str:
    data = base64.b64encode(svg.replace("currentColor", "#767676").encode()).decode()
    return (
        f'<img class="nbrun-snap-chart" alt="{esc(name)} sweep chart" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


def with_sweeps(page_html: str, groups: Sequence[Mapping[str, Any]], inline: bool = False) -> str:
    """The project snapshot ``page_html`` (one outer ``<div>``) with the sweeps' section
    added after its runs; unchanged without sweeps."""
    if not groups or not page_html.endswith("</div>"):
        return page_html
    return page_html[: -len("</div>")] + sweeps_html(groups, inline) + "</div>"
