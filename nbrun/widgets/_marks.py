"""Marks of what happened to a run on the dashboard's charts (rule 70): each exploit of
population-based training (``nbrun.pbt``: a fork whose ``metadata["pbt"]["exploit"]`` names
the donor, the checkpoint step and the perturbations) on the fork's line and on the donor's,
and each recovery by rewind (``nbrun.Recover``: an alert titled ``recovered by rewind``) on
the recovered run's line at the checkpoint it went back to. Each mark has a short tag drawn
beside it (``PBT``, ``R``) and a hover text saying what happened.

Like the fork marks (``ChartFeed.fork_marks``) the marks go in the ``_base`` snapshot, as
``events``: per metric ``[x, y, colour, label, step, run id, tag]``; the browser moves them
to the point of that step as drawn (js/dashboard/events.js). Nothing here is live markup: the
labels are Vega text and tooltips.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ._data import MinMaxSeries, as_number


class FeedLike(Protocol):
    """What :func:`event_marks` reads of a ``ChartFeed`` (not imported: the feed imports
    this module)."""

    @property
    def sources(self) -> Sequence[Any]:
        """The chart's sources (``_charts.Source``: ``series``, ``split``, ``run``)."""
        ...

    @property
    def data(self) -> Mapping[tuple[str, str], MinMaxSeries]:
        """The kept points per (metric, series key)."""
        ...

    @property
    def x_keys(self) -> Mapping[str, str]:
        """The charts' metrics (and their x keys)."""
        ...


#: the alert title of a recovery by rewind (nbrun._training.RECOVERED; rule 60)
RECOVERED = "recovered by rewind"
#: tags drawn beside the marks
PBT_TAG = "PBT"
RECOVER_TAG = "R"
#: the mark colour's halo and the tag text offset
HALO = "#ffffff"

_CHECKPOINT_STEP = re.compile(r"rewound to the checkpoint at step (\d+)")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def perturbation_text(perturbations: Mapping[str, Any]) -> str:
    """``lr 0.1→0.125 (x1.25), opt sgd→adam`` from PBT's perturbation notes."""
    parts = []
    for key, note in perturbations.items():
        if not isinstance(note, Mapping):
            continue
        text = f"{key} {_fmt(note.get('from'))}→{_fmt(note.get('to'))}"
        if isinstance(note.get("factor"), int | float):
            text += f" (x{_fmt(note['factor'])})"
        parts.append(text)
    return ", ".join(parts) or "no perturbation"


def pbt_events(
    run_id: str, name: str, metadata: Mapping[str, Any] | None
) -> list[tuple[str, int, str]]:
    """The exploit that made run ``run_id`` (a PBT fork), as ``(run id, step, label)`` for
    the fork's line and the donor's line; empty for other runs."""
    pbt = (metadata or {}).get("pbt")
    exploit = pbt.get("exploit") if isinstance(pbt, Mapping) else None
    if not isinstance(exploit, Mapping) or not isinstance(exploit.get("step"), int):
        return []
    step = int(exploit["step"])
    donor = str(exploit.get("donor"))
    donor_name = str(exploit.get("donor_name") or donor)
    change = perturbation_text(exploit.get("perturbations") or {})
    replaced = exploit.get("replaced_name") or exploit.get("replaced")
    tail = f"; {change}" + (f"; replaced {replaced}" if replaced else "")
    return [
        (run_id, step, f"PBT exploit at step {step}: copied {donor_name} ({donor}){tail}"),
        (donor, step, f"PBT exploit at step {step}: {name} ({run_id}) copied this run{tail}"),
    ]


def recover_events(run_id: str, alerts: Sequence[Mapping[str, Any]]) -> list[tuple[str, int, str]]:
    """Each recovery by rewind of run ``run_id`` (its alerts titled :data:`RECOVERED`) as
    ``(run id, step, label)``: at the checkpoint step it was rewound to, the alert's text
    (metric, value and step that diverged, the config update) as the label."""
    out = []
    for alert in alerts:
        if alert.get("title") != RECOVERED:
            continue
        text = str(alert.get("text") or "")
        found = _CHECKPOINT_STEP.search(text)
        if found is None:
            continue
        out.append((run_id, int(found.group(1)), f"recovered by rewind: {text}"))
    return out


def _near(series: Sequence[MinMaxSeries], step: int) -> tuple[Any, Any, Any] | None:
    points = [p for s in series if (p := s.nearest(step)) is not None]
    if not points:
        return None
    x, y, at = min((p[:3] for p in points), key=lambda p: (abs(p[2] - step), p[2]))
    return x, y, at


def event_marks(feed: FeedLike) -> dict[str, list[list[Any]]]:
    """Per metric of ``feed``'s charts, ``[x, y, colour, label, step, run id, tag]`` of every
    PBT exploit and recovery of the runs drawn (see the module docstring)."""
    keys: dict[str, list[str]] = {}
    colors: dict[str, str] = {}
    events: dict[tuple[str, int, str], str] = {}
    for src in feed.sources:
        ser = src.series
        if ser.role == "ghost":
            continue
        keys.setdefault(ser.run_id, []).extend(
            k for k in (ser.key, src.split.key if src.split else None) if k
        )
        colors.setdefault(ser.run_id, ser.color)
        run = src.run
        if run is None:
            continue
        for rid, step, label in pbt_events(ser.run_id, str(ser.name), run.metadata):
            events[(rid, step, label)] = PBT_TAG
        try:
            alerts = run.alerts
        except Exception:  # a run deleted meanwhile: no marks of it
            continue
        for rid, step, label in recover_events(ser.run_id, alerts):
            events[(rid, step, label)] = RECOVER_TAG
    out: dict[str, list[list[Any]]] = {m: [] for m in feed.x_keys}
    for (rid, step, label), tag in events.items():
        for metric in feed.x_keys:
            series = [feed.data[(metric, k)] for k in keys.get(rid, []) if (metric, k) in feed.data]
            near = _near(series, step)
            if near is None:
                continue
            x, y, at = near
            out[metric].append([as_number(x), as_number(y), colors[rid], label, at, rid, tag])
    return out


def event_layers(
    x: dict[str, Any], y: dict[str, Any], color: dict[str, Any]
) -> list[dict[str, Any]]:
    """The Vega-Lite layers of the ``events`` dataset (``x, y, c, label, tag``): a square
    with a halo in the run's colour just above the point, hover text ``label``, and ``tag``
    written beside it."""
    return [
        {
            "name": "eventmarks",
            "data": {"name": "events"},
            "mark": {
                "type": "point",
                "shape": "square",
                "size": 70,
                "yOffset": -12,  # just above the point: its fork diamond stays visible
                "filled": True,
                "stroke": HALO,
                "strokeWidth": 1.2,
                "opacity": 1,
                "clip": True,
                "cursor": "help",
            },
            "encoding": {
                "x": x,
                "y": y,
                "color": color,
                "tooltip": [{"field": "label", "type": "nominal", "title": "what happened"}],
                "description": {"field": "label", "type": "nominal"},
            },
        },
        {
            "name": "eventtags",
            "data": {"name": "events"},
            "mark": {
                "type": "text",
                "align": "left",
                "baseline": "middle",
                "dx": 7,
                "dy": -12,
                "fontSize": 10,
                "fontWeight": "bold",
                "clip": True,
            },
            "encoding": {
                "x": x,
                "y": y,
                "text": {"field": "tag", "type": "nominal"},
                "color": color,
            },
        },
    ]
