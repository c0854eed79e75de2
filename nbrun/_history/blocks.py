"""The hot path's fast lane: rows of floats packed into a :class:`FloatBlock` by one C call
each, copied out as :class:`FloatRows` and encoded as a chunk with array work."""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from .._store import Chunk, dumps
from .buckets import summary_bytes
from .codec import _MAGIC
from .values import SYSTEM_KEYS

_encode_floats: Any = None
"""``nbrun._fastlog.encode_floats`` (the C encoder of a block's rows, rule 71), or None when
the extension is not built or ``NBRUN_PURE_PYTHON=1``."""
if os.environ.get("NBRUN_PURE_PYTHON", "") in ("", "0"):
    try:
        from .. import _fastlog
    except ImportError:  # no C compiler at install time: numpy encodes
        pass
    else:
        _encode_floats = getattr(_fastlog, "encode_floats", None)  # None: an older build


# -- the hot path's fast lane: rows of floats --------------------------------------------------
class FloatBlock:
    """Rows with the same keys whose values (``_step`` aside) are all floats, as the hot path
    hands them to the writer: one record per row packed into :attr:`data` by one C call
    (``pack(*get(row))``: the step as int64, then the values as float64, in :attr:`names`
    order). Only the training thread appends, and it seals the block (puts it on the writer's
    queue) when it is full or a row does not fit. The writer copies whole records from
    :attr:`taken` on, of an open block too (a timed flush); an append is one C call, so
    ``len(data)`` always ends on a record. A row fits when it has the block's user keys
    (``size`` of them, ``get`` finds them all) and no ``_timestamp`` of its own."""

    __slots__ = ("data", "full", "get", "names", "order", "pack", "rec", "size", "taken")

    def __init__(self, row: dict[str, Any], max_rows: int) -> None:
        user = tuple(k for k in row if k not in SYSTEM_KEYS)
        self.order = (*user, *SYSTEM_KEYS)  # the keys as a written row has them
        fields = user if len(user) != 1 else user * 2  # itemgetter of one key gives no tuple
        self.get = itemgetter(*fields)  # a row's user values: pack(step, *get(row), rt, ts)
        self.names = (*fields, "_runtime", "_timestamp")  # the record's float64 fields
        fmt = struct.Struct(f"<q{len(self.names)}d")
        self.pack = fmt.pack
        self.rec = fmt.size
        self.full = fmt.size * max_rows  # bytes of a full block
        self.size = len(user)  # keys of a row that fits, before the stamps
        self.data = bytearray()
        self.taken = 0  # bytes

    def append(self, step: int, values: tuple[float, ...], runtime: float, now: float) -> bool:
        """Pack one record (``values`` as :attr:`get` gives them) onto :attr:`data`, in one C
        call; whether the block is full now (the hot path's contract, rule 71)."""
        data = self.data
        data += self.pack(step, *values, runtime, now)
        return len(data) >= self.full

    def take(self) -> FloatRows | None:
        """Copy the records not taken yet (writer thread); None if there are none."""
        end = len(self.data)
        lo = self.taken
        if end <= lo:
            return None
        self.taken = end
        return FloatRows(self, bytes(self.data[lo:end]))

    def rest(self) -> FloatRows:
        """A copy of the records not taken yet (for readers; nothing changes)."""
        return FloatRows(self, bytes(self.data[self.taken :]))


class FloatRows:
    """Records copied out of a :class:`FloatBlock`: the writer encodes them as one chunk with
    array work, and readers of rows not yet durable get them as dicts."""

    __slots__ = ("block", "data")

    def __init__(self, block: FloatBlock, data: bytes) -> None:
        self.block = block
        self.data = data

    def __len__(self) -> int:
        return len(self.data) // self.block.rec

    @property
    def last_step(self) -> int:
        """The step of the last record."""
        return int.from_bytes(
            self.data[-self.block.rec : -self.block.rec + 8], "little", signed=True
        )

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (keys in the order they were logged)."""
        names, order = self.block.names, self.block.order
        out = []
        for rec in struct.iter_unpack(f"<q{len(names)}d", self.data):
            row = dict(zip(names, rec[1:], strict=True))  # a doubled single key collapses
            row["_step"] = rec[0]
            out.append({k: row[k] for k in order})
        return out

    def split(self, size: int) -> list[FloatRows]:
        """Pieces of at most ``size`` rows."""
        step = size * self.block.rec
        if len(self.data) <= step:
            return [self]
        return [
            FloatRows(self.block, self.data[i : i + step]) for i in range(0, len(self.data), step)
        ]


# -- the C encoder (rule 71): the same chunk, the byte work off the GIL ------------------------
def _chunk_layout(rows: FloatRows) -> tuple[bytes, tuple[int, ...], dict[str, int]]:
    """What a chunk of ``rows`` is made of, apart from the values: its prefix (magic, header
    length, header), the record word of each column in :attr:`FloatBlock.order` (word 0 is the
    step), and each field's first word (a single key is doubled in the record)."""
    block = rows.block
    n = len(rows)
    index: dict[str, int] = {}
    for j, name in enumerate(block.names):
        index.setdefault(name, j + 1)
    header: list[list[Any]] = []
    words = []
    for i, key in enumerate(block.order):
        word = 0 if key == "_step" else index[key]
        header.append([key, "i8" if word == 0 else "f8", i * 8 * n, 8 * n])
        words.append(word)
    head = dumps({"n": n, "c": header, "d": []}).encode()
    return _MAGIC + len(head).to_bytes(4, "little") + head, tuple(words), index


Stats = tuple[float, float, float, bool, "float | None", "float | None", int, int, int]
"""A column's statistics as ``_fastlog.encode_floats`` gives them: first, last, Python's sum,
NaN seen, min and max of the values that are not NaN (None when all are), then the count of
finite values and the row of the first lowest and of the first highest finite one (-1 when
none is; what a chunk's bucket summary needs)."""


def _advance(state: Mapping[str, Any], n: int, stats: Mapping[str, Stats]) -> dict[str, Any]:
    """The cumulative state (:func:`advance_state`'s) after ``n`` rows of float columns with
    these statistics: the merge :func:`encode_float_rows` does."""
    last = dict(state.get("last", {}))
    first = dict(state.get("first", {}))
    agg = dict(state.get("agg", {}))
    for key, (head, tail, total, nan, lo, hi, *_) in stats.items():
        last[key] = tail
        if key not in first:
            first[key] = head
        agg[key] = _merged(agg.get(key), lo, hi, total, n, nan)
    return {"last": last, "first": first, "agg": agg}


def _merged(
    prev: list[Any] | None, lo: float | None, hi: float | None, total: float, n: int, nan: bool
) -> list[Any]:
    """A key's cumulative ``[lowest, highest, sum, count, saw NaN]`` in the state after a
    chunk whose own are ``lo``, ``hi``, ``total``, ``n``, ``nan`` (``prev``: before it)."""
    if prev is None:
        return [lo, hi, total, n, nan]
    lo = prev[0] if lo is None else lo if prev[0] is None else min(prev[0], lo)
    hi = prev[1] if hi is None else hi if prev[1] is None else max(prev[1], hi)
    return [lo, hi, prev[2] + total, prev[3] + n, prev[4] or nan]


def encode_float_rows_c(rows: FloatRows, state: Mapping[str, Any]) -> tuple[Chunk, dict[str, Any]]:
    """:func:`encode_float_rows`'s chunk and state, byte for byte, with the byte work
    (columns, sums, extremes) done by ``nbrun/_fastlog.c`` with the GIL released (rule 71)."""
    chunk, after, _ = encode_float_stats_c(rows, state)
    return chunk, after


def encode_float_stats_c(
    rows: FloatRows, state: Mapping[str, Any]
) -> tuple[Chunk, dict[str, Any], dict[str, Stats]]:
    """:func:`encode_float_rows_c` and each user key's :data:`Stats` (for
    :func:`extreme_points`)."""
    if _encode_floats is None:
        raise RuntimeError("nbrun._fastlog is not built (or NBRUN_PURE_PYTHON=1)")
    n, width = len(rows), len(rows.block.names) + 1
    prefix, words, index = _chunk_layout(rows)
    keys = [key for key in index if key not in SYSTEM_KEYS]
    data, found = _encode_floats(rows.data, width, words, tuple(index[k] for k in keys), prefix)
    stats = dict(zip(keys, found, strict=True))
    after = _advance(state, n, stats)
    rec = rows.block.rec
    first = int.from_bytes(rows.data[:8], "little", signed=True)
    last = int.from_bytes(rows.data[-rec : -rec + 8], "little", signed=True)
    return (first, last, n, data, dumps(after)), after, stats


def extreme_points(rows: FloatRows, stats: Mapping[str, Stats]) -> tuple[list[str], list[float]]:
    """For each key with a finite value, in the chunk's order: the key, and its count of finite
    values, then its first lowest finite value as (step, value, step) and its first highest as
    (step, value, step), then the ``_runtime`` and ``_timestamp`` of the lowest and of the
    highest (floats, flat): numpy's ``argmin`` / ``argmax`` over the finite values, read from
    the records at the rows :func:`encode_float_stats_c` found, without numpy."""
    width = len(rows.block.names) + 1
    index: dict[str, int] = {}
    for j, name in enumerate(rows.block.names):
        index.setdefault(name, j + 1)
    data = rows.data
    found: list[str] = []
    out: list[float] = []
    for key, st in stats.items():
        count, at_lo, at_hi = st[6], st[7], st[8]
        if not count:
            continue
        lo, hi = 8 * width * at_lo, 8 * width * at_hi
        s0 = float(_I8.unpack_from(data, lo)[0])
        s1 = float(_I8.unpack_from(data, hi)[0])
        v0 = _F8.unpack_from(data, lo + 8 * index[key])[0]
        v1 = _F8.unpack_from(data, hi + 8 * index[key])[0]
        found.append(key)
        out += [float(count), s0, v0, s0, s1, v1, s1]
        out += _F8X2.unpack_from(data, lo + 8 * (width - 2))
        out += _F8X2.unpack_from(data, hi + 8 * (width - 2))
    return found, out


_I8, _F8, _F8X2 = struct.Struct("<q"), struct.Struct("<d"), struct.Struct("<2d")


def encode_block(rows: FloatRows, state: Mapping[str, Any]) -> tuple[Chunk, dict[str, Any], bytes]:
    """What the writer encodes a block's rows with: the chunk, the state after it and the
    chunk's stored summary (rule 68). :func:`encode_float_stats_c` + :func:`extreme_points`
    when the extension is built (and ``NBRUN_PURE_PYTHON`` is not set), else
    :func:`encode_float_chunk` (numpy), their reference (rule 71)."""
    if _encode_floats is not None:
        chunk, after, stats = encode_float_stats_c(rows, state)
        found, summary = extreme_points(rows, stats)
        return chunk, after, summary_bytes(found, summary)
    return encode_float_chunk(rows, state)


def _sum(col: Any) -> float:
    """``sum()`` of a float64 array as Python sums the same floats as a list (left to right
    until 3.12, compensated since), so the fast lane's state equals the generic path's."""
    if sys.version_info < (3, 12):
        return float(col.cumsum()[-1])
    return sum(col.tolist())


def _extreme(col: Any, lowest: bool) -> float:
    """``min`` / ``max`` of a NaN-free float64 array with Python's rule for ties of 0.0 and
    -0.0 (the first one wins), as the generic path computes it on a list."""
    value = float(col.min() if lowest else col.max())
    if value == 0.0:
        value = (min if lowest else max)(col.tolist())
    return value


def encode_float_rows(rows: FloatRows, state: Mapping[str, Any]) -> tuple[Chunk, dict[str, Any]]:
    """One chunk (the same bytes :func:`encode_columns` writes for these columns) and the
    cumulative state after it, from rows of floats, with array work instead of per-value
    Python: float64 columns and the int64 ``_step`` column."""
    chunk, after, _ = encode_float_chunk(rows, state)
    return chunk, after


def encode_float_chunk(
    rows: FloatRows, state: Mapping[str, Any]
) -> tuple[Chunk, dict[str, Any], bytes]:
    """:func:`encode_float_rows` and the chunk's stored summary (rule 68; the bytes
    :func:`~.buckets.chunk_summary` makes of the chunk), found in the same pass over each
    column as the state's lowest and highest values (the writer thread's cost per row)."""
    import numpy as np  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

    block = rows.block
    n, w = len(rows), len(block.names)
    recs = np.frombuffer(rows.data, dtype="<f8").reshape(n, w + 1)
    cols = recs[:, 1:].T.astype("<f8", order="C")
    steps = np.frombuffer(rows.data, dtype="<i8").reshape(n, w + 1)[:, 0]
    index: dict[str, int] = {}
    for j, name in enumerate(block.names):
        index.setdefault(name, j)
    header: list[list[Any]] = []
    parts: list[bytes] = []
    offset = 0
    for key in block.order:
        if key == "_step":
            enc, buf = "i8", steps.astype("<i8").tobytes()
        else:
            enc, buf = "f8", cols[index[key]].tobytes()
        header.append([key, enc, offset, len(buf)])
        parts.append(buf)
        offset += len(buf)
    head = dumps({"n": n, "c": header, "d": []}).encode()
    data = b"".join([_MAGIC, len(head).to_bytes(4, "little"), head, *parts])

    last = dict(state.get("last", {}))
    first = dict(state.get("first", {}))
    agg = dict(state.get("agg", {}))
    rts, tss = cols[index["_runtime"]], cols[index["_timestamp"]]
    found: list[str] = []
    summary: list[float] = []  # per metric: the row of its whole-chunk bucket
    with np.errstate(all="ignore"):  # inf - inf, NaN: as Python's sum, no warnings
        for key, j in index.items():
            if key in SYSTEM_KEYS:
                continue
            col = cols[j]
            last[key] = float(col[-1])
            if key not in first:
                first[key] = float(col[0])
            total = _sum(col)
            nan = False
            lo: float | None
            hi: float | None
            if total - total == 0:  # a finite sum: every value is finite
                at_lo, at_hi = int(col.argmin()), int(col.argmax())  # the first of equals,
                lo, hi = float(col[at_lo]), float(col[at_hi])  # as Python's min and max
                rows_ = n
            else:
                fin = np.flatnonzero(np.isfinite(col))
                rows_ = len(fin)
                if rows_:
                    sub = col[fin]
                    at_lo, at_hi = int(fin[sub.argmin()]), int(fin[sub.argmax()])
                if total != total:
                    col = col[~np.isnan(col)]
                    nan = len(col) < n
                lo = _extreme(col, True) if len(col) else None
                hi = _extreme(col, False) if len(col) else None
            if rows_:
                s0, s1 = float(steps[at_lo]), float(steps[at_hi])
                found.append(key)
                summary += [rows_, s0, float(cols[j][at_lo]), s0, s1, float(cols[j][at_hi]), s1]
                summary += [float(rts[at_lo]), float(tss[at_lo])]
                summary += [float(rts[at_hi]), float(tss[at_hi])]
            agg[key] = _merged(agg.get(key), lo, hi, total, n, nan)
    after = {"last": last, "first": first, "agg": agg}
    chunk = (int(steps[0]), int(steps[-1]), n, data, dumps(after))
    return chunk, after, summary_bytes(found, summary)
