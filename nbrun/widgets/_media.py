"""Media panels of the run dashboard: which keys hold media at which steps, and the content of
one key at one step, sent to the browser only when it asks for it (the visible step).

The contract with ``js/dashboard/media.js``:

* trait ``media``: ``[{"key", "kind", "steps": [...]}, ...]`` — one entry per media key of the
  run's history (lineage included), the steps that have a value, ascending;
* browser -> Python: ``{"action": "media", "req": n, "key": k, "step": s, "size": px}``
  (``"dist": true`` also asks for a histogram key's distribution over steps);
* Python -> browser: ``{"type": "media", "req": n, "key": k, "step": s, "kind": kind,
  "items": [...], "dist": {...}?, "error": str?}``. Image items carry a PNG/GIF thumbnail as a
  ``data:`` URL built here, captions as plain text; HTML is sent as text for a sandboxed
  iframe; plot specs are rebuilt from a whitelist (no stored spec reaches the browser as is).
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbrun.media as media

#: largest file sent to the browser as a data URL (video, audio, html)
MAX_INLINE = 8 * 1024 * 1024
#: table rows shown per step
MAX_TABLE_ROWS = 50
#: steps shown in a histogram key's distribution
MAX_DIST_STEPS = 60

_KINDS = {
    "Image": "image",
    "Histogram": "histogram",
    "Table": "table",
    "Video": "video",
    "Audio": "audio",
    "Html": "html",
    "Object3D": "object3d",
    "Plot": "plot",
}
_MARKS = frozenset({"line", "point", "bar", "rect", "area", "tick", "circle", "square"})
_TYPES = frozenset({"quantitative", "nominal", "ordinal", "temporal"})
_CHANNELS = ("x", "y", "x2", "y2", "color")
_VIDEO_MIME = {"mp4": "video/mp4", "webm": "video/webm", "ogg": "video/ogg"}
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac"}


def kind_of(value: Any) -> str | None:
    """The panel kind of a history value (a media object, a stored reference or a list of
    them), or None."""
    if isinstance(value, list):
        return kind_of(value[0]) if value else None
    if isinstance(value, media.Media):
        for cls in type(value).__mro__:
            if cls.__name__ in _KINDS and cls.__module__.startswith("nbrun.media"):
                return _KINDS[cls.__name__]
        return None
    if media.is_ref(value):
        kind = str(value["_type"]).split("-")[0].lower()
        return "object3d" if kind == "object3d" else kind
    return None


class MediaIndex:
    """The media keys of a run and, per key, its values by step."""

    def __init__(self, view: Any) -> None:
        runs = Path(view.root) / "nbrun" / "runs"  # <dir>/nbrun/runs/<project>/<id>/media/...
        self._resolve = media.Resolver(runs, view.project)
        self._values: dict[str, dict[int, Any]] = {}
        self._steps: dict[str, list[int]] = {}
        self._kinds: dict[str, str] = {}

    # -- building ---------------------------------------------------------------------------
    def add_columns(self, cols: Any) -> bool:
        """Take the media of history columns (a DataFrame or a dict of lists with ``_step``);
        returns whether the index changed."""
        if "_step" not in cols:
            return False
        steps = [int(s) for s in cols["_step"]]
        changed = False
        for key in cols:
            if key.startswith("_"):
                continue
            column = list(cols[key])
            for step, value in zip(steps, column, strict=True):
                if value is None or (isinstance(value, float) and value != value):
                    continue
                kind = kind_of(value)
                if kind is None:
                    continue
                changed |= self._put(key, kind, step, value)
        return changed

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> bool:
        """Take the media of flattened rows; returns whether the index changed."""
        changed = False
        for row in rows:
            step = row.get("_step")
            if step is None:
                continue
            for key, value in row.items():
                if key.startswith("_"):
                    continue
                kind = kind_of(value)
                if kind is not None:
                    changed |= self._put(key, kind, int(step), value)
        return changed

    def _put(self, key: str, kind: str, step: int, value: Any) -> bool:
        values = self._values.setdefault(key, {})
        self._kinds.setdefault(key, kind)
        new = step not in values
        values[step] = value
        if new:
            bisect.insort(self._steps.setdefault(key, []), step)
        return new

    def meta(self) -> list[dict[str, Any]]:
        """The ``media`` trait: one entry per key, sorted by key."""
        return [
            {"key": k, "kind": self._kinds[k], "steps": list(self._steps[k])}
            for k in sorted(self._values)
        ]

    # -- content ----------------------------------------------------------------------------
    def _value(self, key: str, step: int) -> tuple[int, Any]:
        steps = self._steps.get(key)
        if not steps:
            raise KeyError(f"no media under {key!r}")
        i = bisect.bisect_right(steps, step) - 1
        at = steps[max(i, 0)]
        value = self._values[key][at]
        value = self._resolve(value) if isinstance(value, (dict, list)) else value
        return at, value

    def payload(self, key: str, step: int, size: int = 160, dist: bool = False) -> dict[str, Any]:
        """What the browser shows for ``key`` at the media step at or before ``step``."""
        at, value = self._value(key, step)
        kind = self._kinds[key]
        values = value if isinstance(value, list) else [value]
        out: dict[str, Any] = {"key": key, "step": at, "kind": kind}
        out["items"] = [_item(kind, v, size) for v in values]
        if dist and kind == "histogram":
            out["dist"] = self.distribution(key)
        return out

    def distribution(self, key: str) -> dict[str, Any]:
        """A histogram key over (at most :data:`MAX_DIST_STEPS`) steps: rectangles
        ``[step, lo, hi, count / max count at that step]``."""
        steps = self._steps.get(key, [])
        if len(steps) > MAX_DIST_STEPS:
            idx = {
                round(i * (len(steps) - 1) / (MAX_DIST_STEPS - 1)) for i in range(MAX_DIST_STEPS)
            }
            steps = [steps[i] for i in sorted(idx)]
        rects: list[list[float]] = []
        for step in steps:
            h = self._resolve(self._values[key][step])
            if isinstance(h, list):
                h = h[0] if h else None
            if not isinstance(h, media.Histogram):
                continue
            counts, bins = h.histogram, h.bins
            top = max(counts) if counts else 0
            for c, lo, hi in zip(counts, bins, bins[1:], strict=False):
                rects.append([step, lo, hi, (c / top) if top else 0.0])
        return {"rects": rects, "steps": steps}


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _item(kind: str, obj: Any, size: int) -> dict[str, Any]:
    """One media object as browser data (everything textual stays text)."""
    if isinstance(obj, media.UnreadableMedia) or not isinstance(obj, media.Media):
        return {"text": f"unreadable media: {getattr(obj, 'reason', type(obj).__name__)}"}
    value: Any = obj  # the attributes used below depend on the kind
    caption = value.caption
    item: dict[str, Any] = {"caption": caption, "text": value.describe()}
    try:
        if kind == "image":
            item["src"] = _data_url("image/png", value.thumbnail(size))
            item["width"], item["height"] = value.width, value.height
        elif kind == "histogram":
            item["counts"], item["bins"] = value.histogram, value.bins
        elif kind == "table":
            item.update(_table(value, min(size, 96)))
        elif kind == "plot":
            item["spec"] = safe_spec(value.spec)
            item["values"] = _rows(value.table, MAX_TABLE_ROWS * 40)
            item["title"] = value.title
        elif kind in ("video", "audio", "html"):
            data = value.file_bytes()
            if len(data) > MAX_INLINE:
                item["too_large"] = len(data)
            elif kind == "html":
                item["html"] = data.decode("utf-8", errors="replace")
            elif kind == "video":
                fmt = value.format
                if fmt == "gif":
                    item["src"] = _data_url("image/gif", data)
                else:
                    item["video"] = _data_url(_VIDEO_MIME.get(fmt, "video/mp4"), data)
                item["fps"] = value.fps
            else:
                item["audio"] = _data_url(_AUDIO_MIME.get(value.format, "audio/wav"), data)
    except Exception as exc:  # a missing or damaged file: say so in the panel
        item["error"] = f"{type(exc).__name__}: {exc}"
    return item


def _rows(table: Any, limit: int) -> list[dict[str, Any]]:
    cols = table.columns
    out = []
    for row in table.data[:limit]:
        out.append({c: _plain(v) for c, v in zip(cols, row, strict=False)})
    return out


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, media.Media):
        return v.describe()
    return str(v)


def _table(table: Any, size: int) -> dict[str, Any]:
    cols = list(table.columns)
    rows = []
    for row in table.data[:MAX_TABLE_ROWS]:
        cells = []
        for v in row:
            if isinstance(v, media.Image):
                cells.append({"src": _data_url("image/png", v.thumbnail(size)), "text": v.caption})
            elif isinstance(v, list) and v and all(isinstance(x, media.Image) for x in v):
                cells.append({"src": _data_url("image/png", v[0].thumbnail(size))})
            else:
                cells.append({"text": _text(v)})
        rows.append(cells)
    return {"columns": cols, "rows": rows, "total": len(table.data)}


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, media.Media):
        return v.describe()
    return str(v)


def safe_spec(spec: Any) -> dict[str, Any]:
    """A Vega-Lite spec rebuilt from a stored one, keeping only a mark, x/y/color encodings of
    named fields and plain sizes: no expressions, URLs, handlers or HTML can come through."""
    out: dict[str, Any] = {"data": {"name": "table"}}
    if not isinstance(spec, Mapping):
        spec = {}
    mark = spec.get("mark")
    if isinstance(mark, Mapping):
        mtype = mark.get("type")
        interp = mark.get("interpolate")
        mark = {"type": mtype if mtype in _MARKS else "point"}
        if interp in ("linear", "step-after", "step-before", "monotone"):
            mark["interpolate"] = interp
    else:
        mark = mark if mark in _MARKS else "point"
    out["mark"] = mark
    enc: dict[str, Any] = {}
    for ch, e in (spec.get("encoding") or {}).items():
        if ch not in _CHANNELS or not isinstance(e, Mapping):
            continue
        clean: dict[str, Any] = {}
        if isinstance(e.get("field"), str):
            clean["field"] = e["field"]
        if e.get("type") in _TYPES:
            clean["type"] = e["type"]
        if e.get("aggregate") == "count":
            clean["aggregate"] = "count"
        if isinstance(e.get("title"), str):
            clean["title"] = e["title"]
        b = e.get("bin")
        if isinstance(b, Mapping) and isinstance(b.get("maxbins"), int):
            clean["bin"] = {"maxbins": max(1, min(int(b["maxbins"]), 200))}
        scale = e.get("scale")
        if isinstance(scale, Mapping):
            dom = scale.get("domain")
            if isinstance(dom, list) and len(dom) == 2 and all(_num(d) for d in dom):
                clean["scale"] = {"domain": list(dom)}
        if clean:
            enc[ch] = clean
    out["encoding"] = enc
    title = spec.get("title")
    if isinstance(title, str):
        out["title"] = title
    for dim in ("width", "height"):
        v = spec.get(dim)
        out[dim] = int(v) if _num(v) and 20 <= v <= 2000 else 300
    return out


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


__all__ = ["MediaIndex", "kind_of", "safe_spec"]
