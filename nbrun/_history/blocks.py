"""The hot path's fast lane: rows of floats packed into a :class:`FloatBlock` by one C call
each, copied out as :class:`FloatRows` and encoded as a chunk with array work."""

from __future__ import annotations

import struct
import sys
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from .._store import Chunk, dumps
from .buckets import summary_bytes
from .codec import _MAGIC
from .values import SYSTEM_KEYS


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
            prev = agg.get(key)
            if prev is not None:
                lo = prev[0] if lo is None else lo if prev[0] is None else min(prev[0], lo)
                hi = prev[1] if hi is None else hi if prev[1] is None else max(prev[1], hi)
                agg[key] = [lo, hi, prev[2] + total, prev[3] + n, prev[4] or nan]
            else:
                agg[key] = [lo, hi, total, n, nan]
    after = {"last": last, "first": first, "agg": agg}
    chunk = (int(steps[0]), int(steps[-1]), n, data, dumps(after))
    return chunk, after, summary_bytes(found, summary)
