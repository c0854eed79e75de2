"""The chunk codec: rows transposed into columns and columns encoded as one binary chunk (a
small JSON header, numbers as raw float64/int64, the rest as JSON), decoded back to lists."""

from __future__ import annotations

import bisect
import sys
from array import array
from operator import itemgetter
from typing import Any, cast

from .._store import Chunk, dumps, loads
from ..media._base import has_media


# -- chunks --------------------------------------------------------------------------------
def build_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Transpose rows (in step order) into columns; a key missing in a row gives None."""
    first_keys = rows[0].keys()
    if all(r.keys() == first_keys for r in rows):
        keys = list(first_keys)
        if len(keys) == 1:
            return {keys[0]: [r[keys[0]] for r in rows]}
        return dict(
            zip(keys, map(list, zip(*map(itemgetter(*keys), rows), strict=True)), strict=True)
        )
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen[k] = None
    return {k: [r.get(k) for r in rows] for k in seen}


_MAGIC = b"NBC1"
_NONE = type(None)
_INTS = frozenset({int})
_FLOATS = (frozenset({float}), frozenset({float, int}))
_SWAP = sys.byteorder != "little"


def _encode_column(col: list[Any], types: set[type]) -> tuple[str, bytes]:
    """One column as bytes: float64 / int64 arrays (with a missing-value mask when the column
    has None), or JSON for anything else (str, bool, dict, list, mixed)."""
    try:
        if types in _FLOATS:
            arr = array("d", col)
            enc, mask = "f8", b""
        elif types == _INTS:
            arr = array("q", col)
            enc, mask = "i8", b""
        elif _NONE in types and len(types) > 1 and types <= {float, int, _NONE}:
            mask = bytes([v is None for v in col])
            if float in types:
                arr = array("d", [0.0 if v is None else v for v in col])
                enc = "f8m"
            else:
                arr = array("q", [0 if v is None else v for v in col])
                enc = "i8m"
        else:
            return "js", dumps(col).encode()
    except OverflowError:  # ints beyond int64
        return "js", dumps(col).encode()
    if _SWAP:
        arr.byteswap()
    return enc, mask + arr.tobytes()


def encode_columns(cols: dict[str, list[Any]], state: str | None = None) -> Chunk:
    """Encode columns as one chunk ``(first, last, n, data, state)``: ``data`` is a small JSON
    header and the columns' bytes (numbers as raw float64/int64, the rest as JSON)."""
    steps = cols["_step"]
    n = len(steps)
    header: list[list[Any]] = []
    nested: list[str] = []
    media: list[str] = []
    parts: list[bytes] = []
    offset = 0
    for key, col in cols.items():
        types = set(map(type, col))
        if dict in types:
            nested.append(key)
        if (dict in types or list in types) and any(map(has_media, col)):
            media.append(key)
        enc, buf = _encode_column(col, types)
        header.append([key, enc, offset, len(buf)])
        parts.append(buf)
        offset += len(buf)
    meta: dict[str, Any] = {"n": n, "c": header, "d": nested}
    if media:
        meta["m"] = media  # keys holding media references (read back as media objects)
    head = dumps(meta).encode()
    data = b"".join([_MAGIC, len(head).to_bytes(4, "little"), head, *parts])
    return steps[0], steps[-1], n, data, state


def _decode_column(enc: str, buf: memoryview, n: int) -> list[Any]:
    if enc == "js":
        return cast("list[Any]", loads(bytes(buf)))
    masked = enc.endswith("m")
    arr = array("d" if enc.startswith("f8") else "q")
    arr.frombytes(buf[n:] if masked else buf)
    if _SWAP:
        arr.byteswap()
    values: list[Any] = arr.tolist()
    if masked:
        values = [None if m else v for v, m in zip(values, buf[:n], strict=True)]
    return values


class _Layout:
    """A binary chunk's parsed header: its row count and, per column, ``(key, encoding,
    start, length)`` with ``start`` counted from the chunk's first byte. Chunks with the same
    header bytes (same keys, encodings and row count: most chunks of a run) share one."""

    __slots__ = ("cols", "media", "n", "nested", "numeric")

    def __init__(self, head: dict[str, Any], base: int) -> None:
        self.n: int = head["n"]
        self.cols: list[tuple[str, str, int, int]] = [
            (key, enc, base + off, length) for key, enc, off, length in head["c"]
        ]
        self.nested: list[str] = head["d"]
        self.media: list[str] = head.get("m", [])
        #: every column numbers (no JSON), no nested dicts: decoded without Python values
        self.numeric = not self.nested and all(enc != "js" for _, enc, _, _ in self.cols)


#: parsed headers by their bytes (a run's chunks repeat a handful of headers)
_LAYOUTS: dict[bytes, _Layout] = {}
_LAYOUTS_MAX = 4096


def _layout(data: bytes | memoryview) -> _Layout:
    """A binary chunk's header, parsed once per distinct header."""
    if data[:4] != _MAGIC:
        raise ValueError("not an nbrun history chunk")
    hlen = int.from_bytes(data[4:8], "little")
    raw = data[8 : 8 + hlen]
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    lay = _LAYOUTS.get(raw)
    if lay is None:
        if len(_LAYOUTS) >= _LAYOUTS_MAX:
            _LAYOUTS.clear()
        lay = _LAYOUTS[raw] = _Layout(loads(raw), 8 + hlen)
    return lay


def decode_chunk(data: bytes | str) -> tuple[dict[str, list[Any]], list[str], list[str]]:
    """A chunk's columns, the keys holding nested dicts and the keys holding media."""
    if isinstance(data, str):  # the JSON form (kept readable)
        payload = loads(data)
        return payload["c"], payload.get("d", []), payload.get("m", [])
    view = memoryview(data)
    lay = _layout(view)
    n = lay.n
    cols = {
        key: _decode_column(enc, view[start : start + length], n)
        for key, enc, start, length in lay.cols
    }
    return cols, list(lay.nested), list(lay.media)


def split_columns(
    data: bytes, step: int
) -> tuple[dict[str, list[Any]] | None, dict[str, list[Any]] | None]:
    """Split a chunk's columns into the rows with ``_step <= step`` and those after it."""
    cols, _, _ = decode_chunk(data)
    steps = cols["_step"]
    cut = bisect.bisect_right(steps, step)

    def part(lo: int, hi: int) -> dict[str, list[Any]] | None:
        if lo >= hi:
            return None
        out = {k: v[lo:hi] for k, v in cols.items()}
        return {k: v for k, v in out.items() if k == "_step" or any(x is not None for x in v)}

    return part(0, cut), part(cut, len(steps))
