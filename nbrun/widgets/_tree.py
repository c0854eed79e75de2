"""A run's family as a tree (rules 62-63): its runs and archived segments as nodes, forks and
rewinds as edges at their steps, each node coloured by a metric.

Three steps, each a plain function: :func:`read_family` reads the family from the store through
the public run views (the root the run descends from, every fork below it, every run's archived
segments), :func:`tree_layout` places it (pure: a JSON-able dict of pixel positions, colours,
labels and the legend) and :func:`tree_svg` draws that layout as static SVG. The live widgets
(``js/tree/``) draw the same layout in the browser, so the widget, the snapshots and
``to_html`` show one picture.

The layout is layered: x is the step (one scale for the family), y one row per node in
depth-first order with a node's branches below it, the latest branch first, so the connector of
an earlier branch passes left of the lanes between (they start later). A row holds only its
node's lane, its mark and its label: nothing overlaps, whatever the family's size.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nbrun

from ._data import as_number, flatten_row

#: most nodes a tree shows (the rest are counted in ``more``)
MAX_NODES = 400
#: row height, axis band, left margin, plot width, legend band (px)
ROW, TOP, LEFT, PLOT_W, LEGEND_H = 20, 30, 14, 560, 46
#: estimated width of one label character at 11 px (for the layout's extent)
CHAR_W = 6.4
#: the colour scale, low values first: mid-luminance hues readable on light and dark backgrounds
RAMP = ("#3b6fd6", "#2aa198", "#8fb83a", "#e9a23b", "#d9483b")
#: a node with no value of the metric
MISSING = "#9e9e9e"
#: a metric whose positive values span this many decades gets a log scale (as the charts)
LOG_DECADES = 3
EDGE_KINDS = ("fork", "rewind")


@dataclass(frozen=True)
class TreeNode:
    """One node of a family: a run (``kind="run"``, ``key`` its id) or an archived segment of
    one (``kind="archive"``, ``key`` ``"<run id>#<index>"``).

    ``parent`` is the key of the node it branches from (None: a root), ``edge`` how (``"fork"``
    or ``"rewind"``) and ``at_step`` at which step; its lane spans ``first_step`` to
    ``last_step``; ``values`` are its metrics' values (a run's summary, an archive's last
    logged values)."""

    key: str
    kind: str
    run_id: str
    name: str
    state: str
    parent: str | None
    edge: str | None
    at_step: int | None
    first_step: int
    last_step: int
    created: float = 0.0
    index: int | None = None
    reason: str = ""
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A family read from the store: its nodes, the metrics that can colour it (most common
    first among the focus run's), the chosen ``metric``, the run the view was opened from
    (``focus``) and how many nodes were left out past :data:`MAX_NODES` (``more``)."""

    nodes: tuple[TreeNode, ...]
    metrics: tuple[str, ...]
    metric: str | None
    focus: str
    more: int = 0

    @property
    def size(self) -> int:
        """Nodes in the tree."""
        return len(self.nodes)


# -- reading --------------------------------------------------------------------------------
def _numeric(summary: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in flatten_row(summary).items():
        num = as_number(v)
        if num is not None and not isinstance(v, str) and not k.startswith("_"):
            out[k] = float(num)
    return out


def family_root(api: nbrun.Api, view: Any, limit: int) -> Any:
    """The root of ``view``'s family: up through every fork point to a run with none (or to
    a parent that is gone, or after ``limit`` runs, or where the chain comes back on itself)."""
    root, seen = view, {view.id}
    while root.forked_from is not None and len(seen) < limit:
        try:
            up = api.run(f"{root.project}/{root.forked_from.run_id}")
        except nbrun.RunNotFoundError:
            break
        if up.id in seen:
            break
        seen.add(up.id)
        root = up
    return root


def _members(root: Any, focus: Any, limit: int) -> tuple[list[Any], int]:
    """The runs below ``root`` (itself first), at most ``limit``; and how many more there were."""
    out: list[Any] = []
    todo, done = [root], set()
    more = 0
    while todo:
        run = todo.pop(0)
        if run.id in done:
            continue
        done.add(run.id)
        if len(out) >= limit:
            more += 1
            continue
        out.append(run)
        try:
            todo.extend(run.children())
        except Exception:  # a run deleted meanwhile has no children to list
            continue
    if focus.id not in done:
        out.append(focus)
    return out, more


def _attach(archives: Mapping[str, Sequence[Any]], run_id: str, step: int, after: int) -> str:
    """The node a branch at ``step`` of ``run_id`` grows from: the run itself, or the first
    archived segment (index above ``after``, the run's archive count when the branch was made)
    that moved the row at ``step`` (its cut is below it), as the history readers do (rule 16)."""
    for arch in archives.get(run_id, ()):
        if arch.index > after and arch.cut_step < step:
            return f"{run_id}#{arch.index}"
    return run_id


def _run_node(run: Any, archives: Mapping[str, Sequence[Any]], ids: set[str]) -> TreeNode:
    rec = run.record()
    fp = run.forked_from
    parent = edge = at = None
    first = 0
    if fp is not None:
        at = first = int(fp.step)
        if fp.run_id in ids:
            parent = _attach(archives, fp.run_id, at, int(rec.forked_from_seg or 0))
            edge = "fork"
    last = max(first, int(run.step) - 1)
    return TreeNode(
        key=run.id,
        kind="run",
        run_id=run.id,
        name=str(rec.name or run.id),
        state=str(run.state),
        parent=parent,
        edge=edge,
        at_step=at,
        first_step=first,
        last_step=last,
        created=float(rec.created or 0.0),
        values=_numeric(rec.summary or {}),
    )


def _archive_node(
    run: Any, arch: Any, archives: Mapping[str, Sequence[Any]], ids: set[str]
) -> TreeNode:
    """An archived segment: it branches where its rows continued from: the run's lineage of
    then when the cut is before its fork point (a rewind into the parent, an id started
    again), else the run at the cut (or a later segment that moved that row)."""
    fp = arch.forked_from
    cut = int(arch.cut_step)
    if fp is not None and cut < int(fp.step):
        at, edge = int(fp.step), "fork"
        parent = _attach(archives, fp.run_id, at, 0) if fp.run_id in ids else None
    else:
        at, edge = max(cut, 0), "rewind"
        later = [a for a in archives.get(run.id, ()) if a.index > arch.index]
        parent = _attach({run.id: later}, run.id, cut, 0) if cut >= 0 else run.id
    last = at if arch.to_step is None else max(at, int(arch.to_step))
    return TreeNode(
        key=f"{run.id}#{arch.index}",
        kind="archive",
        run_id=run.id,
        name=str(run.name or run.id),
        state="archived",
        parent=parent,
        edge=edge if parent is not None else None,
        at_step=at,
        first_step=at,
        last_step=last,
        created=float(arch.created or 0.0),
        index=int(arch.index),
        reason=str(arch.reason or ""),
    )


#: archived segments' last values, by (store, project, run, index, created, metric): never change
_ARCHIVE_VALUES: dict[tuple[Any, ...], float | None] = {}


def _archive_value(arch: Any, root: str, metric: str) -> float | None:
    key = (root, arch.project, arch.run_id, arch.index, arch.created, metric)
    if key not in _ARCHIVE_VALUES:
        value = None
        try:
            df = arch.history(keys=[metric])
            if metric in df:
                col = [as_number(v) for v in df[metric].tolist()]
                finite = [v for v in col if v is not None]
                value = float(finite[-1]) if finite else None
        except Exception:  # a damaged or vanished segment shows without a value
            value = None
        if len(_ARCHIVE_VALUES) > 4096:
            _ARCHIVE_VALUES.clear()
        _ARCHIVE_VALUES[key] = value
    return _ARCHIVE_VALUES[key]


def _metric_order(nodes: Sequence[TreeNode], focus: str) -> tuple[str, ...]:
    """The metrics some node has a value of: the focus run's in its summary's order, then the
    others by how many nodes have them."""
    first = next((n for n in nodes if n.key == focus), None)
    own = list(first.values) if first is not None else []
    counts: dict[str, int] = {}
    for n in nodes:
        for k in n.values:
            counts[k] = counts.get(k, 0) + 1
    rest = sorted((k for k in counts if k not in own), key=lambda k: (-counts[k], k))
    return tuple(own + rest)


def read_family(view: Any, metric: str | None = None, limit: int = MAX_NODES) -> Family:
    """The family of ``view`` (a live run or a stored view): the root it descends from through
    its fork points, every fork below it and every run's archived segments, at most ``limit``
    nodes. ``metric`` colours the nodes; None picks the first numeric metric of the run's
    summary (rule 62). A metric no node has is a ``UsageError`` naming the ones there are."""
    api = nbrun.Api(view.root)
    root = family_root(api, view, limit)
    runs, more = _members(root, view, limit)
    ids = {r.id for r in runs}
    archives: dict[str, list[Any]] = {}
    for run in runs:
        try:
            archives[run.id] = list(run.archives())
        except Exception:  # deleted meanwhile
            archives[run.id] = []
    nodes: list[TreeNode] = []
    for run in runs:
        try:
            nodes.append(_run_node(run, archives, ids))
        except nbrun.RunNotFoundError:
            continue
        for arch in archives[run.id]:
            if len(nodes) >= limit:
                more += 1
                continue
            nodes.append(_archive_node(run, arch, archives, ids))
    metrics = _metric_order(nodes, view.id)
    if metric is None:
        metric = metrics[0] if metrics else None
    elif not isinstance(metric, str) or metric not in metrics:
        have = ", ".join(repr(m) for m in metrics[:20]) or "none"
        raise nbrun.UsageError(
            f"tree(metric={metric!r}): no run of the family has a numeric value of it; "
            f"pass one of: {have} (or None for the first)"
        )
    if metric is not None:
        by_key = {f"{a.run_id}#{a.index}": a for arcs in archives.values() for a in arcs}
        nodes = [
            _with_value(n, metric, by_key.get(n.key), view.root) if n.kind == "archive" else n
            for n in nodes
        ]
    return Family(tuple(nodes), metrics, metric, view.id, more)


def _with_value(node: TreeNode, metric: str, arch: Any, root: str) -> TreeNode:
    if arch is None:
        return node
    value = _archive_value(arch, root, metric)
    values = {} if value is None else {metric: value}
    return dataclasses.replace(node, values=values)


# -- layout ---------------------------------------------------------------------------------
def _order(nodes: Sequence[TreeNode]) -> list[tuple[TreeNode, int]]:
    """Depth-first order with depths: each node's branches below it, the latest branch first
    (then the oldest made first); nodes whose parent is not in the tree are roots."""
    keys = {n.key for n in nodes}
    kids: dict[str | None, list[TreeNode]] = {}
    for n in nodes:
        parent = n.parent if n.parent in keys and n.parent != n.key else None
        kids.setdefault(parent, []).append(n)
    for group in kids.values():
        group.sort(key=lambda n: (-(n.at_step if n.at_step is not None else -1), n.created))
    roots = sorted(kids.get(None, []), key=lambda n: n.created)
    out: list[tuple[TreeNode, int]] = []
    seen: set[str] = set()
    stack = [(n, 0) for n in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        if node.key in seen:
            continue
        seen.add(node.key)
        out.append((node, depth))
        stack.extend((c, depth + 1) for c in reversed(kids.get(node.key, [])))
    for n in nodes:  # a loop of parents (never written by nbrun) still shows every node
        if n.key not in seen:
            out.append((n, 0))
    return out


def nice_steps(lo: float, hi: float, count: int = 6) -> list[float]:
    """About ``count`` round step values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def ramp_color(t: float) -> str:
    """The colour at ``t`` in [0, 1] of :data:`RAMP` (interpolated in RGB)."""
    t = min(1.0, max(0.0, t)) * (len(RAMP) - 1)
    i = min(int(t), len(RAMP) - 2)
    f = t - i
    a, b = RAMP[i], RAMP[i + 1]
    rgb = [round(int(a[k : k + 2], 16) * (1 - f) + int(b[k : k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def fmt_value(value: float | None) -> str:
    """A metric value as a label shows it (4 significant digits)."""
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _scale(values: Iterable[float]) -> tuple[float, float, bool]:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return 0.0, 1.0, False
    lo, hi = min(vals), max(vals)
    log = lo > 0 and hi / lo >= 10**LOG_DECADES
    return lo, hi, log


def _t(value: float, lo: float, hi: float, log: bool) -> float:
    if hi == lo:
        return 0.5
    if log:
        return (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    return (value - lo) / (hi - lo)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def node_label(node: TreeNode) -> str:
    """What a node's label says: its name (and id), and where it branched."""
    if node.kind == "archive":
        steps = (
            f"{node.first_step + 1}-{node.last_step}" if node.last_step > node.first_step else ""
        )
        what = "replaced" if node.reason == "replaced" else f"rewound @{node.at_step}"
        return f"archived #{node.index} of {_short(node.name, 24)} · {what}" + (
            f" · steps {steps}" if steps else ""
        )
    name = _short(node.name, 28)
    text = name if node.name == node.run_id else f"{name} ({node.run_id})"
    if node.edge == "fork":
        text += f" · fork @{node.at_step}"
    return text


def node_title(node: TreeNode, metric: str | None) -> str:
    """A node's tooltip: name, id, state, steps, branch point and metric value."""
    lines = [node.name, f"id {node.run_id}" + (f" · archived #{node.index}" if node.index else "")]
    start = node.first_step + 1 if node.kind == "archive" else node.first_step
    lines.append(f"{node.state} · steps {start}-{node.last_step}")
    if node.edge is not None:
        word = "forked" if node.edge == "fork" else "rewound"
        lines.append(f"{word} from {node.parent} at step {node.at_step}")
    if metric is not None:
        lines.append(f"{metric} = {fmt_value(node.values.get(metric))}")
    return "\n".join(lines)


def _legend(
    metric: str | None, lo: float, hi: float, log: bool, missing: int, y: float
) -> dict[str, Any]:
    stops = [[round(i / (len(RAMP) - 1), 3), c] for i, c in enumerate(RAMP)]
    return {
        "x": LEFT,
        "y": y,
        "w": 160,
        "h": 10,
        "label": metric or "",
        "lo": fmt_value(lo) if metric else "",
        "hi": fmt_value(hi) if metric else "",
        "log": log,
        "stops": stops,
        "missing": missing,
        "missing_color": MISSING,
    }


def tree_layout(family: Family) -> dict[str, Any]:
    """The family placed for drawing (see the module's docstring): nodes with their row, lane
    (``x0``..``x1`` at ``y``), colour and label; edges with their step and connector; the step
    axis; the colour legend; the picture's ``width`` and ``height``. JSON-able."""
    metric = family.metric
    order = _order(family.nodes)
    steps = [s for n, _ in order for s in (n.first_step, n.last_step)]
    s0, s1 = (min(0, *steps), max(steps)) if steps else (0, 1)
    s1 = max(s1, s0 + 1)

    def px(step: float) -> float:
        return round(LEFT + (step - s0) / (s1 - s0) * PLOT_W, 1)

    values = [n.values[metric] for n, _ in order if metric is not None and metric in n.values]
    lo, hi, log = _scale(values)
    rows: dict[str, int] = {}
    nodes: list[dict[str, Any]] = []
    right: float = LEFT + PLOT_W + 40  # the axis title
    for row, (n, depth) in enumerate(order):
        rows[n.key] = row
        value = n.values.get(metric) if metric is not None else None
        color = MISSING if value is None else ramp_color(_t(value, lo, hi, log))
        label = node_label(n)
        x1 = px(n.last_step)
        right = max(right, x1 + 10 + len(label) * CHAR_W)
        nodes.append(
            {
                "key": n.key,
                "kind": n.kind,
                "run_id": n.run_id,
                "name": n.name,
                "state": n.state,
                "parent": n.parent,
                "edge": n.edge,
                "at_step": n.at_step,
                "first_step": n.first_step,
                "last_step": n.last_step,
                "depth": depth,
                "row": row,
                "y": TOP + row * ROW + ROW / 2,
                "x0": px(n.first_step),
                "x1": x1,
                "color": color,
                "value": value,
                "value_text": fmt_value(value),
                "label": label,
                "title": node_title(n, metric),
                "focus": n.key == family.focus,
            }
        )
    by_key = {d["key"]: d for d in nodes}
    edges = []
    for d in nodes:
        parent = by_key.get(d["parent"]) if d["parent"] is not None else None
        if parent is None or d["at_step"] is None:
            continue
        x = px(d["at_step"])
        # a branch before the parent's own lane starts (a fork of inherited rows): a stub
        stub = [x, parent["x0"]] if x < parent["x0"] else None
        edges.append(
            {
                "from": parent["key"],
                "to": d["key"],
                "kind": d["edge"],
                "step": d["at_step"],
                "x": x,
                "y0": parent["y"],
                "y1": d["y"],
                "stub": stub,
            }
        )
    height = TOP + len(nodes) * ROW + LEGEND_H
    missing = sum(1 for d in nodes if d["value"] is None)
    return {
        "metric": metric,
        "metrics": list(family.metrics),
        "focus": family.focus,
        "more": family.more,
        "width": math.ceil(right + 8),
        "height": height,
        "row": ROW,
        "axis": {
            "y": TOP - 8,
            "x0": LEFT,
            "x1": LEFT + PLOT_W,
            "title": "step",
            "ticks": [{"x": px(t), "label": fmt_value(t)} for t in nice_steps(s0, s1)],
        },
        "nodes": nodes,
        "edges": edges,
        "legend": _legend(metric, lo, hi, log, missing, height - LEGEND_H + 16),
    }


# -- static SVG -----------------------------------------------------------------------------
def esc(value: Any) -> str:
    """``value`` as text safe inside SVG and HTML (quotes too)."""
    return html.escape(str(value), quote=True)


def _svg_edges(layout: Mapping[str, Any]) -> list[str]:
    out = []
    for e in layout["edges"]:
        dash = ' stroke-dasharray="3 3"' if e["kind"] == "rewind" else ""
        if e["stub"]:
            a, b = e["stub"]
            out.append(
                f'<line x1="{a}" x2="{b}" y1="{e["y0"]}" y2="{e["y0"]}" stroke="currentColor" '
                'stroke-opacity="0.35" stroke-dasharray="2 3"/>'
            )
        x, y1 = e["x"], e["y1"]
        out.append(
            f'<polyline class="nbrun-tree-edge" data-kind="{esc(e["kind"])}" data-step="'
            f'{esc(e["step"])}" points="{x},{e["y0"]} {x},{y1 - 4} {x + 4},{y1}" fill="none" '
            f'stroke="currentColor" stroke-opacity="0.55" stroke-width="1.2"{dash}/>'
        )
    return out


def _svg_nodes(layout: Mapping[str, Any]) -> list[str]:
    """Each node's lane (with its tooltip), its mark (a round rect) and its label. Only the
    plainest SVG elements (line, rect, text, title): a snapshot holds nothing else."""
    out = []
    for n in layout["nodes"]:
        archived = n["kind"] == "archive"
        key, color = esc(n["key"]), esc(n["color"])
        dash = ' stroke-dasharray="3 2"' if archived else ""
        r = 5 if n["focus"] else 4
        out.append(
            f'<line class="nbrun-tree-node" data-key="{key}" data-kind="{esc(n["kind"])}" '
            f'x1="{n["x0"]}" x2="{n["x1"]}" y1="{n["y"]}" y2="{n["y"]}" stroke="{color}" '
            f'stroke-width="{3.5 if n["focus"] else 2.5}" stroke-linecap="round"{dash} '
            f'stroke-opacity="{0.6 if archived else 1}"><title>{esc(n["title"])}</title></line>'
            f'<rect x="{n["x1"] - r}" y="{n["y"] - r}" width="{2 * r}" height="{2 * r}" '
            f'rx="{r}" fill="{"none" if archived else color}" stroke="{color}" '
            'stroke-width="1.5"/>'
            f'<text x="{n["x1"] + 9}" y="{n["y"] + 4}" fill="currentColor" data-key="{key}"'
            + (' font-weight="600"' if n["focus"] else "")
            + f">{esc(n['label'])}</text>"
        )
    return out


def _svg_legend(layout: Mapping[str, Any]) -> list[str]:
    """The legend: the metric, the colour scale as a bar of steps, its ends, "no value"."""
    lg = layout["legend"]
    if not lg["label"]:
        return [
            f'<text x="{lg["x"]}" y="{lg["y"] + 9}" fill="currentColor" fill-opacity="0.7">'
            "no numeric metric to colour by</text>"
        ]
    x, y, w, h = lg["x"], lg["y"], lg["w"], lg["h"]
    out = [
        f'<text class="nbrun-tree-legend" x="{x}" y="{y - 3}" fill="currentColor">'
        f"colour: {esc(lg['label'])}{' (log scale)' if lg['log'] else ''}</text>",
    ]
    parts = 32
    for i in range(parts):
        out.append(
            f'<rect x="{x + w * i / parts:.2f}" y="{y}" width="{w / parts + 0.3:.2f}" '
            f'height="{h}" fill="{ramp_color((i + 0.5) / parts)}"/>'
        )
    out += [
        f'<text x="{x}" y="{y + h + 11}" fill="currentColor">{esc(lg["lo"])}</text>',
        f'<text x="{x + w}" y="{y + h + 11}" text-anchor="end" fill="currentColor">'
        f"{esc(lg['hi'])}</text>",
    ]
    if lg["missing"]:
        out.append(
            f'<rect x="{x + w + 16}" y="{y + h / 2 - 4}" width="8" height="8" rx="4" '
            f'fill="{esc(lg["missing_color"])}"/>'
            f'<text x="{x + w + 28}" y="{y + h / 2 + 4}" fill="currentColor">no value</text>'
        )
    return out


def tree_svg(layout: Mapping[str, Any], ink: str = "currentColor") -> str:
    """The layout drawn as SVG (what the live widget draws too): text and connectors in
    ``ink`` (the page's text colour by default), lanes and marks in their node's colour.
    Run data is escaped."""
    w, h = layout["width"], layout["height"]
    ax = layout["axis"]
    colour = "" if ink == "currentColor" else f"color:{esc(ink)};"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'role="img" class="nbrun-tree-svg" style="{colour}font:11px sans-serif" '
        'font-family="sans-serif" font-size="11">',
        f"<title>family tree{esc(' coloured by ' + layout['metric']) if layout['metric'] else ''}"
        "</title>",
        f'<line x1="{ax["x0"]}" x2="{ax["x1"]}" y1="{ax["y"]}" y2="{ax["y"]}" '
        'stroke="currentColor" stroke-opacity="0.4"/>'
        f'<text x="{ax["x1"] + 8}" y="{ax["y"] + 4}" fill="currentColor" fill-opacity="0.75">'
        f"{esc(ax['title'])}</text>",
    ]
    for t in ax["ticks"]:
        out.append(
            f'<line x1="{t["x"]}" x2="{t["x"]}" y1="{ax["y"] - 3}" y2="{h - LEGEND_H}" '
            'stroke="currentColor" stroke-opacity="0.08"/>'
            f'<text x="{t["x"]}" y="{ax["y"] - 6}" text-anchor="middle" fill="currentColor" '
            f'fill-opacity="0.75">{esc(t["label"])}</text>'
        )
    out += _svg_edges(layout) + _svg_nodes(layout) + _svg_legend(layout)
    if layout.get("more"):
        out.append(
            f'<text x="{ax["x1"]}" y="{h - 8}" text-anchor="end" fill="currentColor">'
            f"… {int(layout['more'])} more not shown</text>"
        )
    out.append("</svg>")
    return "".join(out)


#: text colour of a tree drawn as an image (no page colour reaches inside an <img>)
IMG_INK = "#767676"


def tree_html(layout: Mapping[str, Any], inline: bool = False) -> str:
    """A snapshot's family tree section: a heading and the SVG, inline (a standalone page) or
    as an ``<img>`` of it (what sanitising notebook front ends keep)."""
    n = len(layout["nodes"])
    metric = layout["metric"]
    head = (
        '<div style="font-weight:600;font-size:12px;margin:8px 0 2px">family tree of '
        f"{esc(layout['nodes'][0]['name']) if n else ''} · {n} node{'s' if n != 1 else ''}"
        + (f" · coloured by {esc(metric)}" if metric else "")
        + "</div>"
    )
    if inline:
        body = tree_svg(layout)
    else:
        data = base64.b64encode(tree_svg(layout, ink=IMG_INK).encode()).decode()
        body = (
            f'<img class="nbrun-snap-tree" alt="family tree of {n} nodes" '
            f'src="data:image/svg+xml;base64,{data}">'
        )
    box = (
        '<div class="nbrun-tree-snapshot" style="max-width:100%;overflow-x:auto;'
        "font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif\">"
    )
    return f"{box}{head}{body}</div>"


def family_html(view: Any, inline: bool = False, metric: str | None = None) -> str:
    """The family tree section of ``view``'s snapshot, or "" when the run has no family (no
    fork, no parent, no archived segment) or it cannot be read."""
    try:
        family = read_family(view, metric)
    except Exception:  # a snapshot never fails for its tree
        return ""
    if family.size < 2:
        return ""
    return tree_html(tree_layout(family), inline)


def dashboard_tree(view: Any, metric: str | None = None) -> dict[str, Any]:
    """The layout of ``view``'s family for its dashboard's Tree panel: {} when the run has no
    family; a ``metric`` the family does not have falls back to the first one."""
    try:
        family = read_family(view, metric or None)
    except nbrun.UsageError:
        family = read_family(view, None)
    return tree_layout(family) if family.size >= 2 else {}


#: most family trees a project page shows
MAX_TREES = 12


def project_trees_html(rows: Sequence[Mapping[str, Any]], root: Any, inline: bool = False) -> str:
    """The family trees of a project's runs (``project_rows``: parents before their forks,
    ``depth`` 0 for a root): one per root that has forks or archived segments, at most
    :data:`MAX_TREES`."""
    groups: list[list[Mapping[str, Any]]] = []
    for row in rows:
        if int(row.get("depth") or 0) == 0 or not groups:
            groups.append([])
        groups[-1].append(row)
    api = nbrun.Api(root)
    out: list[str] = []
    for group in groups:
        if len(group) < 2 and not any(r.get("archives") for r in group):
            continue
        if len(out) >= MAX_TREES:
            break
        head = group[0]
        try:
            view = api.run(f"{head['project']}/{head['id']}")
        except nbrun.RunNotFoundError:  # deleted meanwhile
            continue
        out.append(family_html(view, inline))
    return "".join(out)
