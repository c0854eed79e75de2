"""Downsampled reads for charts: per-bucket summaries (count, lowest and highest point) of
chunks' metrics, merged to a bounded number of buckets, and a byte-bounded cache of them."""

from __future__ import annotations

import math
import re
import struct
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._store import dumps, loads
from .codec import _layout
from .frames import _DTYPES, Columns, _decode_piece, _Num, _Piece
from .values import SYSTEM_KEYS

if TYPE_CHECKING:
    import numpy as np

# -- downsampled reads (charts) --------------------------------------------------------------
#: one bucket summary per row: points counted, then the lowest point (x, y, step) and the
#: highest point (x, y, step) of the metric in it, then the ``_runtime`` and ``_timestamp`` of
#: the lowest point's row and of the highest point's row (NaN where the row has none; the
#: dashboard's time axes); a float64 array of shape (buckets, 11)
BUCKET_COLUMNS = ("rows", "x_min", "y_min", "step_min", "x_max", "y_max", "step_max")
TIME_COLUMNS = ("runtime_min", "timestamp_min", "runtime_max", "timestamp_max")
#: the columns of a bucket's lowest point and of its highest point
_LO = [1, 2, 3, 7, 8]
_HI = [4, 5, 6, 9, 10]


def _floats(col: Any, n: int) -> np.ndarray:
    """A column (piece, array or list) as float64, NaN where a row has no number (None, bool,
    str, dict, media): the values a chart draws."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    if isinstance(col, _Num):
        out = col.values.astype(np.float64)
        if col.mask is not None:
            out[col.mask] = np.nan
        return out
    if isinstance(col, np.ndarray) and col.dtype.kind in "fiu":
        return col.astype(np.float64, copy=False)
    vals = col if len(col) == n else [None] * n
    return np.array([_number(v) for v in vals], dtype=np.float64)


def _number(v: Any) -> float:
    t = type(v)
    if t is float or t is int:
        return float(v)
    if v is None or t is bool or isinstance(v, (str, bytes, dict, list)):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def bucket_points(
    xs: np.ndarray,
    ys: np.ndarray,
    steps: np.ndarray,
    group: int,
    times: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Summaries of consecutive buckets of ``group`` finite points (see ``BUCKET_COLUMNS``);
    ``times``: the points' ``_runtime`` and ``_timestamp`` (None: NaN)."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    n = len(ys)
    nb = -(-n // group)
    pad = nb * group - n
    if group == 1:
        lo = hi = np.arange(n)
    else:
        base = np.arange(nb) * group
        lo = base + np.concatenate([ys, np.full(pad, np.inf)]).reshape(nb, group).argmin(axis=1)
        hi = base + np.concatenate([ys, np.full(pad, -np.inf)]).reshape(nb, group).argmax(axis=1)
    out = np.empty((nb, 11))
    out[:, 0] = group
    if pad:
        out[-1, 0] = group - pad
    _fill(out, lo, hi, xs, ys, steps, times)
    return out


def _fill(
    out: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    steps: np.ndarray,
    times: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    """Columns 1-10 of bucket summaries from the points at ``lo`` and ``hi``."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    out[:, 1], out[:, 2], out[:, 3] = xs[lo], ys[lo], steps[lo]
    out[:, 4], out[:, 5], out[:, 6] = xs[hi], ys[hi], steps[hi]
    if times is None:
        out[:, 7:] = np.nan
    else:
        out[:, 7], out[:, 8] = times[0][lo], times[1][lo]
        out[:, 9], out[:, 10] = times[0][hi], times[1][hi]


def column_buckets(
    cols: Mapping[str, Any], n: int, x: Callable[[str], str], group: int
) -> dict[str, np.ndarray]:
    """Bucket summaries of every metric with finite points in ``n`` rows of columns (chunk
    pieces, arrays or lists, nested dicts already flattened), each over its x column."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    steps = _floats(cols["_step"], n)
    floats: dict[str, np.ndarray] = {"_step": steps}
    out: dict[str, np.ndarray] = {}
    times = tuple(
        _floats(cols[k], n) if k in cols else np.full(n, np.nan) for k in ("_runtime", "_timestamp")
    )
    for key, col in cols.items():
        if key in SYSTEM_KEYS:
            continue
        ys = floats.get(key)
        if ys is None:
            ys = floats[key] = _floats(col, n)
        x_key = x(key)
        xs = floats.get(x_key)
        if xs is None:
            if x_key not in cols:
                continue
            xs = floats[x_key] = _floats(cols[x_key], n)
        ok = np.isfinite(ys) & np.isfinite(xs)
        if ok.all():
            out[key] = bucket_points(xs, ys, steps, group, (times[0], times[1]))
        elif ok.any():
            out[key] = bucket_points(xs[ok], ys[ok], steps[ok], group, (times[0][ok], times[1][ok]))
    return out


def chunk_buckets(
    data: bytes | str,
    x: Callable[[str], str],
    group: int,
    max_step: int | None = None,
    after: int | None = None,
) -> dict[str, np.ndarray]:
    """Bucket summaries of a chunk's metrics (rows with ``after < _step <= max_step``),
    decoded straight from its bytes; a chunk with nested dicts is flattened first."""
    cols = Columns()
    cols.add_chunk(data, max_step, after)
    if not cols.n:
        return {}
    if cols.nested:
        return column_buckets(cols.arrays(), cols.n, x, group)
    flat = cols.first_pieces()
    return column_buckets(flat, cols.n, x, group)


def chunks_buckets(
    items: list[tuple[bytes | str, int | None, int | None]], x: Callable[[str], str], group: int
) -> list[dict[str, np.ndarray]]:
    """:func:`chunk_buckets` of many chunks ``(data, max_step, after)`` at once: their columns
    are concatenated and bucketed in a few vectorised passes (buckets never straddle two
    chunks, so each chunk's summaries can be cached on their own)."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    out: list[dict[str, np.ndarray]] = [{} for _ in items]
    flat: list[tuple[int, dict[str, _Piece], int]] = []
    for i, (data, max_step, after) in enumerate(items):
        if max_step is None and after is None and not isinstance(data, str):
            lay = _layout(data)
            if lay.numeric:  # a whole chunk of numbers: views over its bytes, nothing to cut
                n = lay.n
                if n:
                    pieces = {k: _decode_piece(data, e, at, ln, n) for k, e, at, ln in lay.cols}
                    flat.append((i, pieces, n))
                continue
        cols = Columns()
        cols.add_chunk(data, max_step, after)
        if not cols.n:
            continue
        if cols.nested:
            out[i] = column_buckets(cols.arrays(), cols.n, x, group)
            continue
        flat.append((i, cols.first_pieces(), cols.n))
    if not flat:
        return out
    sizes = np.array([n for _, _, n in flat])
    nchunks = len(flat)
    # chunks of one size (most of a run's): buckets come from a (chunk, bucket, point) reshape
    uniform = int(sizes[0]) if bool((sizes == sizes[0]).all()) else 0
    cid: np.ndarray | None = None  # each point's chunk (the general pass)
    floats: dict[str, np.ndarray] = {"_step": _concat_floats([(p["_step"], n) for _, p, n in flat])}
    steps = floats["_step"]
    keys = list(dict.fromkeys(k for _, p, _ in flat for k in p if k not in SYSTEM_KEYS))

    def column(key: str) -> np.ndarray | None:
        if key not in floats:
            found = [(p.get(key), n) for _, p, n in flat]
            if all(piece is None for piece, _ in found):
                return None
            floats[key] = _concat_floats(found)
        return floats[key]

    rt, ts = (column(k) for k in ("_runtime", "_timestamp"))
    times = (
        np.full(len(steps), np.nan) if rt is None else rt,
        np.full(len(steps), np.nan) if ts is None else ts,
    )
    for key in keys:
        ys = column(key)
        xs = column(x(key))
        if ys is None or xs is None:
            continue
        ok = np.isfinite(ys)
        if xs is not steps:
            ok &= np.isfinite(xs)
        every = bool(ok.all())
        if every and uniform:  # the common case: no copies, no per-point chunk ids
            summary = _uniform_buckets(xs, ys, steps, times, nchunks, uniform, group)
            _spread(out, flat, key, summary, np.full(nchunks, len(summary) // nchunks))
            continue
        if not every and not ok.any():
            continue
        if cid is None:
            cid = np.repeat(np.arange(nchunks), sizes)
        if every:
            fy, fx, fs, fc, ft = ys, xs, steps, cid, times
        else:
            fy, fx, fs, fc = ys[ok], xs[ok], steps[ok], cid[ok]
            ft = (times[0][ok], times[1][ok])
        per_chunk = np.bincount(fc, minlength=nchunks)
        within = np.arange(len(fy)) - (np.cumsum(per_chunk) - per_chunk)[fc]
        nb = -(-per_chunk // group)
        first_bucket = np.cumsum(nb) - nb
        bid = first_bucket[fc] + within // group
        starts = np.flatnonzero(np.concatenate(([True], bid[1:] != bid[:-1])))
        if group == 1:
            lo = hi = np.arange(len(fy))
        else:
            lo = _first_where(fy == np.minimum.reduceat(fy, starts)[bid - bid[0]], bid)
            hi = _first_where(fy == np.maximum.reduceat(fy, starts)[bid - bid[0]], bid)
        summary = np.empty((len(starts), 11))
        summary[:, 0] = np.diff(np.append(starts, len(fy)))
        _fill(summary, lo, hi, fx, fy, fs, ft)
        _spread(out, flat, key, summary, nb)
    return out


def _concat_floats(pieces: list[tuple[_Piece | None, int]]) -> np.ndarray:
    """Pieces of a column (None: the chunk lacks it) as one float64 array, NaN where a row
    has no number; numbers without a mask are copied once, straight from the chunks' bytes."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    if all(type(p) is _Num and p.mask is None for p, _ in pieces):
        return np.concatenate([p.values for p, _ in pieces], dtype=np.float64)  # type: ignore[union-attr]
    return np.concatenate([np.full(n, np.nan) if p is None else _floats(p, n) for p, n in pieces])


def _uniform_buckets(
    xs: np.ndarray,
    ys: np.ndarray,
    steps: np.ndarray,
    times: tuple[np.ndarray, np.ndarray],
    nchunks: int,
    size: int,
    group: int,
) -> np.ndarray:
    """Bucket summaries of ``nchunks`` chunks of ``size`` finite points each, in order
    (``-(-size // group)`` per chunk, the last one of a chunk shorter when ``group`` does not
    divide ``size``): :func:`bucket_points` of every chunk at once."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    nb = -(-size // group)
    if group == 1:
        lo = hi = np.arange(len(ys))
    else:
        width = nb * group
        base = (np.arange(nchunks)[:, None] * size + np.arange(nb) * group).reshape(-1)
        grid = ys.reshape(nchunks, size)
        if width == size:
            cells = grid.reshape(-1, group)
            lo = base + cells.argmin(axis=1)
            hi = base + cells.argmax(axis=1)
        else:
            pad = np.full((nchunks, width), np.inf)
            pad[:, :size] = grid
            lo = base + pad.reshape(-1, group).argmin(axis=1)
            pad[:, size:] = -np.inf
            hi = base + pad.reshape(-1, group).argmax(axis=1)
    out = np.empty((len(lo), 11))
    out[:, 0] = group
    if nb * group != size:
        out[nb - 1 :: nb, 0] = size - (nb - 1) * group
    _fill(out, lo, hi, xs, ys, steps, times)
    return out


def _spread(
    out: list[dict[str, np.ndarray]],
    flat: list[tuple[int, dict[str, _Piece], int]],
    key: str,
    summary: np.ndarray,
    nb: np.ndarray,
) -> None:
    """Hand each chunk its ``nb`` consecutive rows of ``summary`` as metric ``key``."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    ends = np.cumsum(nb).tolist()
    start = 0
    for (i, _, _), end in zip(flat, ends, strict=True):
        if end > start:
            out[i][key] = summary[start:end]
        start = end


def _first_where(hit: np.ndarray, bid: np.ndarray) -> np.ndarray:
    """Per bucket (``bid`` nondecreasing, every bucket hit at least once), the index of its
    first True in ``hit``."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    idx = np.flatnonzero(hit)
    keep = np.concatenate(([True], bid[idx][1:] != bid[idx][:-1]))
    return idx[keep]


# -- stored whole-chunk summaries (rule 68) --------------------------------------------------
_SUMMARY_MAGIC = b"NBS1"
#: metric names of stored summaries by their header bytes (a run's repeat a handful)
_SUMMARY_KEYS: dict[bytes, list[str]] = {}


#: finds the first character a JSON number (or NaN, Infinity) starts with, if any
_NO_NUMBER = re.compile(rb"[-0-9NI]").search


def chunk_summary(data: bytes | str) -> bytes | None:
    """A chunk's stored summary (rule 68): its whole-chunk buckets, one per metric with a
    finite number, over ``_step`` (what :func:`chunks_buckets` makes of the chunk with a
    ``group`` of at least its rows), as bytes (see :func:`encode_summary`); None for a chunk
    with nested dicts (flattening them costs the writer more than it saves: charts read such a
    chunk) or in the old JSON form. The writer thread makes one for every chunk it writes, so
    all columns are summarised at once with a few array passes straight from the bytes; a JSON
    column is decoded only when it holds a number."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    if isinstance(data, str):
        return None
    lay = _layout(data)
    n = lay.n
    if lay.nested or not n:
        return None
    at = {k: (e, start, length) for k, e, start, length in lay.cols}
    keys = [k for k, _, _, _ in lay.cols if k not in SYSTEM_KEYS]
    if not keys:
        return _summary_bytes([], np.empty((0, 11)))
    first = at[keys[0]][1]
    if all(at[k][0] == "f8" for k in keys) and [at[k][1] for k in keys] == list(
        range(first, first + 8 * n * len(keys), 8 * n)
    ):  # the usual: float64 columns one after the other, a view over the bytes
        grid = np.frombuffer(data, "<f8", len(keys) * n, first).reshape(len(keys), n)
    else:
        found, cols = [], []
        for key in keys:
            e, start, length = at[key]
            if e == "js":
                raw = data[start : start + length]
                if _NO_NUMBER(raw) is None:  # no digit, minus, NaN or Infinity: no number
                    continue
                vals = loads(raw)
                if not any(type(v) is float or type(v) is int for v in vals):
                    continue  # text, flags, lists: no number to chart
                cols.append(_floats(vals, n))
            else:
                cols.append(_floats(_decode_piece(data, e, start, length, n), n))
            found.append(key)
        keys = found
        grid = np.stack(cols) if cols else np.empty((0, n))
    fin = np.isfinite(grid)
    if bool(fin.all()):
        rows = np.full(len(keys), n)
        lo, hi = grid.argmin(axis=1), grid.argmax(axis=1)
    else:  # the first of the lowest (highest) finite values
        rows = fin.sum(axis=1)
        lo = np.where(fin, grid, np.inf).argmin(axis=1)
        hi = np.where(fin, grid, -np.inf).argmax(axis=1)
        if not bool(rows.all()):
            some = rows > 0
            keys = [k for k, ok in zip(keys, some.tolist(), strict=True) if ok]
            grid, rows, lo, hi = grid[some], rows[some], lo[some], hi[some]
    out = np.empty((len(keys), 11))
    out[:, 0] = rows
    flat = grid.reshape(-1)
    base = np.arange(0, len(keys) * n, n)
    out[:, 2], out[:, 5] = flat[base + lo], flat[base + hi]
    _stamp(out, np.concatenate((lo, hi)), data, at, n)
    return _summary_bytes(keys, out)


def _stamp(
    out: np.ndarray, idx: np.ndarray, data: bytes, at: Mapping[str, tuple[str, int, int]], n: int
) -> None:
    """The x (the step), step, ``_runtime`` and ``_timestamp`` columns of ``k`` summaries of
    a chunk whose lowest points are the rows ``idx[:k]`` and highest ``idx[k:]``."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    k = len(out)
    for lo_col, hi_col, key in ((3, 6, "_step"), (7, 9, "_runtime"), (8, 10, "_timestamp")):
        if key not in at:
            out[:, lo_col] = out[:, hi_col] = np.nan
            continue
        e, start, length = at[key]
        if e == "js":
            vals = _floats(loads(data[start : start + length]), n)[idx]
        else:
            vals = np.frombuffer(data, _DTYPES[e], n, start + (n if e.endswith("m") else 0))
            vals = vals[idx].astype(np.float64)
            if e.endswith("m"):
                vals[np.frombuffer(data, np.bool_, n, start)[idx]] = np.nan
        out[:, lo_col], out[:, hi_col] = vals[:k], vals[k:]
    out[:, 1], out[:, 4] = out[:, 3], out[:, 6]


#: the JSON header of stored summaries by their metrics (a run repeats a handful)
_SUMMARY_HEADS: dict[tuple[str, ...], bytes] = {}


def _summary_bytes(keys: list[str], rows: np.ndarray) -> bytes:
    """:func:`encode_summary` of metrics ``keys`` with their rows of 11 float64."""
    return _summary_head(keys) + rows.astype("<f8", copy=False).tobytes()


def summary_bytes(keys: list[str], values: list[float]) -> bytes:
    """:func:`encode_summary` of metrics ``keys`` with their rows of 11 numbers, one after
    the other in ``values`` (the fast lane's writer has them as Python floats)."""
    return _summary_head(keys) + struct.pack(f"<{len(values)}d", *values)


def _summary_head(keys: list[str]) -> bytes:
    """The bytes of a stored summary before its rows: a JSON list of its metrics."""
    names = tuple(keys)
    head = _SUMMARY_HEADS.get(names)
    if head is None:
        raw = dumps(keys).encode()
        head = _SUMMARY_MAGIC + len(raw).to_bytes(4, "little") + raw
        if len(_SUMMARY_HEADS) >= 4096:
            _SUMMARY_HEADS.clear()
        _SUMMARY_HEADS[names] = head
    return head


def encode_summary(found: Mapping[str, np.ndarray]) -> bytes:
    """Whole-chunk buckets (one row of 11 per metric) as stored bytes: a JSON list of the
    metrics, then their rows as float64."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    rows = np.concatenate(list(found.values())) if found else np.empty((0, 11))
    return _summary_bytes(list(found), rows)


def decode_summary(data: bytes) -> dict[str, np.ndarray]:
    """The buckets of :func:`encode_summary`'s bytes (``ValueError`` when they are none)."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    data = bytes(data)
    if data[:4] != _SUMMARY_MAGIC:
        raise ValueError("not an nbrun chunk summary")
    hlen = int.from_bytes(data[4:8], "little")
    raw = data[8 : 8 + hlen]
    keys = _SUMMARY_KEYS.get(raw)
    if keys is None:
        keys = loads(raw)
        if len(_SUMMARY_KEYS) >= 4096:
            _SUMMARY_KEYS.clear()
        _SUMMARY_KEYS[raw] = keys
    rows = np.frombuffer(data, dtype="<f8", offset=8 + hlen).reshape(len(keys), 11)
    return {key: rows[i : i + 1] for i, key in enumerate(keys)}


def merge_buckets(parts: list[np.ndarray], cap: int, group: int = 1) -> tuple[int, np.ndarray]:
    """Merge bucket summaries (in step order) into at most about ``cap`` buckets of ``width``
    points each (a power of two, at least ``group``): each keeps its lowest and highest point,
    so a one-step spike survives any amount of downsampling. Returns ``(width, buckets)``."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    parts = [p for p in parts if len(p)]
    if not parts:
        return max(1, group), np.empty((0, 11))
    s = np.concatenate(parts) if len(parts) > 1 else parts[0]
    counts = s[:, 0]
    total = int(counts.sum())
    width = max(1, group)
    while -(-total // width) > cap:
        width *= 2
    if len(s) <= 1 or (width == group and bool((counts == group).all())):
        return width, s
    start = np.cumsum(counts) - counts
    bid = (start // width).astype(np.int64)
    change = np.concatenate(([True], bid[1:] != bid[:-1]))
    first = np.flatnonzero(change)
    rel = np.cumsum(change) - 1  # each summary's output bucket (a summary of whole chunks
    # may hold more points than ``width``: bucket numbers then skip some)
    lo = _first_where(s[:, 2] == np.minimum.reduceat(s[:, 2], first)[rel], bid)
    hi = _first_where(s[:, 5] == np.maximum.reduceat(s[:, 5], first)[rel], bid)
    out = np.empty((len(first), 11))
    out[:, 0] = np.add.reduceat(counts, first)
    out[:, _LO] = s[lo][:, _LO]
    out[:, _HI] = s[hi][:, _HI]
    return width, out


class BucketCache:
    """Bucket summaries of whole chunks, by the chunk's identity (store, run, segment, steps,
    rows and cumulative state: chunks never change once written; a rewritten one differs in
    one of those), bounded in bytes, least recently used first out."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: dict[Any, dict[str, np.ndarray]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> dict[str, np.ndarray] | None:
        """The summaries stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._items.pop(key, None)
            if value is not None:
                self._items[key] = value
            return value

    def put(self, key: Any, value: dict[str, np.ndarray]) -> None:
        """Store summaries, dropping the least recently used past ``max_bytes``."""
        size = sum(a.nbytes for a in value.values()) + 200
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= sum(a.nbytes for a in old.values()) + 200
            self._items[key] = value
            self.bytes += size
            while self.bytes > self.max_bytes and self._items:
                k = next(iter(self._items))
                self.bytes -= sum(a.nbytes for a in self._items.pop(k).values()) + 200
