"""The dashboard's System and Logs sections (issue 13): what they show, read through the run
view's public readers (``history(stream="system")`` and ``logs(last=...)``).

Traits the dashboard syncs (see ``js/dashboard/side.js``):

* ``system``: ``{"charts": [{"metric", "spec"}], "points": {metric: [[runtime, value], ...]}}``
  -- one chart per system metric (W&B's names), the same look as the metric charts, fed
  through the named dataset ``rows`` (``x``, ``y``); at most :data:`SYSTEM_POINTS` samples;
* ``logs``: ``{"lines": [[time, stream, step, text], ...], "more": bool, "state": state}``
  -- the last :data:`LOG_LINES` console lines (``more``: earlier lines exist). The browser
  writes every line with ``textContent``: run output never becomes markup.
"""

from __future__ import annotations

import math
from typing import Any

from ._charts import HEIGHT, SELF_COLOR, VEGA_LITE_SCHEMA, WIDTH

SYSTEM_POINTS = 500
LOG_LINES = 2000

#: system charts first in this order (W&B's System tab shows these first), the rest by name
_FIRST = (
    "system.cpu",
    "system.memory",
    "system.proc.memory.rssMB",
    "system.proc.cpu.threads",
    "system.disk.in",
    "system.disk.out",
    "system.network.sent",
    "system.network.recv",
)


def system_spec(metric: str) -> dict[str, Any]:
    """The Vega-Lite spec of one system chart: ``y`` over the run's ``_runtime`` (seconds),
    fed through the named dataset ``rows``. A plain dict, as Altair would write it (showing a
    dashboard never imports Altair)."""
    x_title = "runtime (s)"
    return {
        "config": {"view": {"continuousWidth": 300, "continuousHeight": 300, "stroke": "#ddd"}},
        "layer": [
            {
                "mark": {
                    "type": "line",
                    "clip": True,
                    "color": SELF_COLOR,
                    "point": False,
                    "strokeWidth": 1.6,
                },
                "encoding": {
                    "tooltip": [
                        {"field": "x", "format": ".1f", "title": x_title, "type": "quantitative"},
                        {"field": "y", "title": metric, "type": "quantitative"},
                    ],
                    "x": {
                        "field": "x",
                        "scale": {"nice": False, "zero": False},
                        "title": x_title,
                        "type": "quantitative",
                    },
                    "y": {
                        "field": "y",
                        "scale": {"zero": False},
                        "title": None,
                        "type": "quantitative",
                    },
                },
            }
        ],
        "autosize": {"resize": True, "type": "pad"},
        "data": {"name": "rows"},
        "height": HEIGHT // 2,
        "title": {"text": metric, "anchor": "start", "fontSize": 13},
        "width": WIDTH,
        "$schema": VEGA_LITE_SCHEMA,
    }


def _order(names: list[str]) -> list[str]:
    first = [n for n in _FIRST if n in names]
    return first + sorted(n for n in names if n not in _FIRST)


def system_payload(view: Any, specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``system`` trait of ``view``; ``specs`` caches chart specs by metric."""
    try:
        df = view.history(stream="system", samples=SYSTEM_POINTS)
    except Exception:  # a view without system metrics (disabled run, old store)
        return {"charts": [], "points": {}}
    names = _order([c for c in df.columns if c not in ("_runtime", "_timestamp")])
    xs = [float(x) for x in df["_runtime"]] if len(df) else []
    points: dict[str, list[list[float]]] = {}
    for name in names:
        pts = []
        for x, y in zip(xs, df[name], strict=True):
            if y is None:
                continue
            y = float(y)
            if math.isfinite(y) and math.isfinite(x):
                pts.append([x, y])
        points[name] = pts
    charts = []
    for name in names:
        if name not in specs:
            specs[name] = system_spec(name)
        charts.append({"metric": name, "spec": specs[name]})
    return {"charts": charts, "points": points}


def logs_payload(view: Any) -> dict[str, Any]:
    """The ``logs`` trait of ``view``: its last :data:`LOG_LINES` lines (``more``: earlier
    ones exist)."""
    state = getattr(view, "state", None)
    try:
        df = view.logs(last=LOG_LINES)
    except Exception:  # a view without console lines (disabled run, old store)
        return {"lines": [], "more": False, "state": state}
    lines = [
        [float(t), str(stream), int(step), str(text)]
        for t, stream, step, text in zip(
            df["time"], df["stream"], df["step"], df["text"], strict=True
        )
    ]
    return {"lines": lines, "more": len(lines) >= LOG_LINES, "state": state}
