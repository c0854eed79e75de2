"""The media panels of a static snapshot (rule 65): each media key of the run as its live
panel shows it at the last step — images as PNG thumbnails, a table's first rows, a histogram as
bars — in plain HTML (``<img>`` of ``data:`` URLs, escaped text, no scripts), so a saved
notebook, nbconvert's export and ``run.to_html()`` show them without a kernel.

Video, audio, HTML, plots and 3-D objects are named with their description only (the live
dashboard plays and draws them). A snapshot carries at most :data:`BUDGET` characters of
images: past that, the panel says how many more the live dashboard shows. Panels are built once
per key and step (a snapshot is rebuilt every few seconds while a run is live).
"""

from __future__ import annotations

import base64
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from ._media import MediaIndex

#: at most this many media keys, images per key and table rows / columns in a snapshot
MAX_KEYS = 12
MAX_IMAGES = 4
MAX_ROWS, MAX_COLS = 8, 8
#: thumbnail size (px) and the most characters of image data in one snapshot
THUMB = 128
BUDGET = 250_000
BAR = "#4c78a8"
INK = "#767676"
BORDER = "var(--jp-border-color2, rgba(128,128,128,.35))"
FG2 = "var(--jp-ui-font-color2, currentColor)"
_IMAGE_PREFIXES = ("data:image/png;base64,", "data:image/gif;base64,")

_cache: weakref.WeakKeyDictionary[MediaIndex, dict[tuple[str, int], tuple[str, int]]] = (
    weakref.WeakKeyDictionary()
)


def _esc(value: Any) -> str:
    text = str(value)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        text = text.replace(a, b)
    return text


def _img(src: Any, alt: Any, cls: str) -> str:
    """An ``<img>`` of a PNG/GIF ``data:`` URL built by nbrun (anything else is left out)."""
    if not isinstance(src, str) or not src.startswith(_IMAGE_PREFIXES):
        return ""
    a = _esc(alt or "")
    return (
        f'<img class="{cls}" src="{src}" alt="{a}" title="{a}" '
        f'style="max-width:{THUMB}px;max-height:{THUMB}px;margin:2px">'
    )


def _images(items: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for item in items[:MAX_IMAGES]:
        pic = _img(item.get("src"), item.get("caption"), "nbrun-snap-image")
        cap = item.get("caption")
        label = f'<div style="font-size:11px;color:{FG2}">{_esc(cap)}</div>' if cap else ""
        out.append(f'<div style="display:inline-block;vertical-align:top">{pic}{label}</div>')
    if len(items) > MAX_IMAGES:
        out.append(f'<div style="color:{FG2}">… {len(items) - MAX_IMAGES} more images</div>')
    return "".join(out)


def _table(item: Mapping[str, Any]) -> str:
    cols = list(item.get("columns") or [])[:MAX_COLS]
    head = "".join(f'<th style="text-align:left;padding:1px 6px">{_esc(c)}</th>' for c in cols)
    rows = []
    for row in list(item.get("rows") or [])[:MAX_ROWS]:
        cells = []
        for cell in list(row)[:MAX_COLS]:
            inner = _img(cell.get("src"), cell.get("text"), "nbrun-snap-cell") or _esc(
                cell.get("text", "")
            )
            cells.append(f'<td style="padding:1px 6px">{inner}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    total = int(item.get("total") or 0)
    more = f'<div style="font-size:11px;color:{FG2}">{total} rows</div>' if total > MAX_ROWS else ""
    return (
        f'<table class="nbrun-snap-table" style="border-collapse:collapse;font-size:12px">'
        f"<tr>{head}</tr>{''.join(rows)}</table>{more}"
    )


def _histogram(item: Mapping[str, Any]) -> str:
    """The bars of one histogram as an ``<img>`` of SVG (kept by sanitising front ends)."""
    counts = [float(c) for c in item.get("counts") or []]
    bins = [float(b) for b in item.get("bins") or []]
    if not counts or len(bins) < 2:
        return ""
    w, h, top = 300, 110, max(counts) or 1.0
    bw = w / len(counts)
    bars = "".join(
        f'<rect x="{i * bw:.1f}" y="{h - 14 - c / top * (h - 20):.1f}" '
        f'width="{max(bw - 1, 0.5):.1f}" height="{c / top * (h - 20):.1f}" fill="{BAR}"/>'
        for i, c in enumerate(counts)
    )
    labels = (
        f'<text x="0" y="{h - 2}" font-size="10" fill="{INK}">{bins[0]:.4g}</text>'
        f'<text x="{w}" y="{h - 2}" font-size="10" fill="{INK}" text-anchor="end">'
        f"{bins[-1]:.4g}</text>"
    )
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">{bars}{labels}</svg>'
    data = base64.b64encode(svg.encode()).decode()
    return (
        f'<img class="nbrun-snap-hist" alt="histogram" width="{w}" height="{h}" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


def _content(kind: str, items: Sequence[Mapping[str, Any]]) -> str:
    if kind == "image":
        return _images(items)
    if kind == "table" and items:
        return _table(items[0])
    if kind == "histogram" and items:
        return _histogram(items[0])
    described = "; ".join(str(i.get("text", "")) for i in items[:MAX_IMAGES])
    return (
        f'<div style="font-size:12px;color:{FG2}">{_esc(described)} '
        "(shown in the live dashboard)</div>"
    )


def _panel(index: MediaIndex, key: str, kind: str, step: int) -> tuple[str, int]:
    """One key's panel at ``step`` and the characters of image data it holds."""
    try:
        payload = index.payload(key, step, THUMB)
        inner = _content(kind, list(payload.get("items") or []))
    except Exception as exc:  # an unreadable file: the panel says so
        inner = f'<div style="color:{FG2}">{_esc(type(exc).__name__)}: {_esc(exc)}</div>'
    head = (
        f'<div style="font-size:12px;margin-bottom:3px"><b>{_esc(key)}</b> '
        f'<span style="color:{FG2}">· {_esc(kind)} · step {step}</span></div>'
    )
    html = (
        f'<div class="nbrun-snap-panel" data-key="{_esc(key)}" data-kind="{_esc(kind)}" '
        f'style="border:1px solid {BORDER};border-radius:4px;padding:6px;max-width:440px;'
        f'overflow:hidden">{head}{inner}</div>'
    )
    return html, len(html) if "base64," in html else 0


def media_panels(index: MediaIndex) -> str:
    """The snapshot's media section: one panel per media key (at most :data:`MAX_KEYS`) at
    its last step, or "" for a run without media."""
    meta = index.meta()
    if not meta:
        return ""
    cache = _cache.setdefault(index, {})
    panels, used, skipped = [], 0, 0
    for entry in meta[:MAX_KEYS]:
        key, kind, steps = str(entry["key"]), str(entry["kind"]), entry["steps"]
        if not steps:
            continue
        at = int(steps[-1])
        if (key, at) not in cache:
            cache[key, at] = _panel(index, key, kind, at)
        html, weight = cache[key, at]
        if used + weight > BUDGET:
            skipped += 1
            continue
        used += weight
        panels.append(html)
    more = len(meta) - MAX_KEYS + skipped
    tail = (
        f'<div style="color:{FG2};font-size:12px">… {more} more media panels in the live '
        "dashboard</div>"
        if more > 0
        else ""
    )
    return (
        f'<div class="nbrun-snap-media" style="display:flex;flex-wrap:wrap;gap:8px;'
        f'margin:6px 0">{"".join(panels)}</div>{tail}'
    )
