"""History: value checks for ``log``, the in-memory buffer, the batched writer thread, the
columnar chunk format, and history as pandas DataFrames.

The hot path (``Run.log``) only calls :func:`clean_row` and appends finished rows to a
:class:`Writer`'s deque; encoding and disk work happen on the writer thread, in batches of at
most ``max_rows`` rows or every ``interval`` seconds.
"""

from __future__ import annotations

import bisect
import logging
import struct
import sys
import threading
import time
import warnings
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

from ._store import Chunk, Side, Store, dumps, loads
from .errors import UsageError
from .media._base import (
    Media,
    MediaFiles,
    figure_image,
    has_media,
    is_figure,
    is_ref,
    media_seen,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("nbrun")

SYSTEM_KEYS = ("_step", "_runtime", "_timestamp")
_SIMPLE = frozenset({float, int, str, bool, type(None)})
_STR = frozenset({str})
_FLOAT = frozenset({float})


# -- values (rules 21-23) -------------------------------------------------------------------
def json_key(key: object) -> str | None:
    """The str key JSON gives a dict key (``0`` -> ``"0"``, ``True`` -> ``"true"``), or None."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, (int, float)):
        return repr(float(key)) if isinstance(key, float) else str(int(key))
    return None


def _convert(key: str, value: Any, json_keys: bool = False) -> Any:
    """Return a JSON-storable copy of ``value`` or raise ``TypeError`` naming ``key``.

    With ``json_keys`` (config, rule 7), non-str keys of nested dicts become the str keys JSON
    gives them; otherwise they are refused. Torch tensors (rule 23) become numbers (0-dim) or
    lists; torch is never imported here: a tensor can only exist when its caller imported it.
    """
    t = type(value)
    if t in _SIMPLE:
        return value
    if t is dict or isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                jk = json_key(k) if json_keys else None
                if jk is None:
                    raise TypeError(
                        f"log: key {k!r} inside {key!r} is a {type(k).__name__}; keys must be str"
                    )
                k = jk
            out[k] = _convert(f"{key}.{k}", v, json_keys)
        return out
    if t is list or t is tuple:
        return [_convert(key, v, json_keys) for v in value]
    if isinstance(value, Media):
        return value._logged_copy()
    if is_figure(value):
        try:
            return figure_image(value)
        except Exception as exc:
            raise TypeError(
                f"log: the matplotlib figure for {key!r} cannot be drawn: {exc}"
            ) from exc
    module = getattr(t, "__module__", "") or ""
    if module == "numpy" or module.startswith("numpy."):
        if hasattr(value, "tolist"):
            if getattr(value, "dtype", None) is not None and value.dtype.kind in "OVSUMm":
                if value.dtype.kind not in "SU":
                    raise TypeError(
                        f"log: value for {key!r} is a numpy {value.dtype} "
                        f"{t.__name__}, which cannot be stored; use numeric, bool or str data"
                    )
            plain = value.tolist()
            if type(plain) is t:  # np.longdouble.tolist() returns itself
                if value.dtype.kind != "f":
                    raise TypeError(
                        f"log: value for {key!r} is a numpy {value.dtype} {t.__name__}, which "
                        "cannot be stored; use numeric, bool or str data"
                    )
                return float(value)
            return _convert(key, plain, json_keys)
    if module == "torch" or module.startswith("torch."):
        detach = getattr(value, "detach", None)
        if detach is not None and hasattr(value, "tolist"):
            try:
                plain = detach().cpu().tolist()
            except (RuntimeError, TypeError) as exc:  # e.g. a meta or sparse tensor
                raise TypeError(
                    f"log: value for {key!r} is a torch tensor that cannot be read: {exc}"
                ) from None
            return _convert(key, plain, json_keys)
    if isinstance(value, float):  # float subclasses
        return float(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise TypeError(
        f"log: value for {key!r} is a {t.__module__}.{t.__qualname__}, which cannot be stored; "
        "allowed: bool, int, float, str, None, numpy scalars and arrays, torch tensors, nbrun "
        "media (Image, Histogram, Table, Video, Audio, Html, Object3D, nbrun.plot charts), "
        "matplotlib figures, lists and dicts of those"
    )


def clean_row(data: object) -> dict[str, Any]:
    """Check a ``log`` payload and return what to merge into the pending row.

    Raises ``TypeError`` before anything is logged when the payload is not a mapping with
    ``str`` keys or holds a value that cannot be stored. ``_step`` and ``_runtime`` keys are
    dropped: both are the engine's (rule 21).
    The common case (str keys, plain scalar values) costs two C-level passes and returns
    ``data`` itself, which the caller copies.
    """
    return clean_log(data)[0]


def clean_log(data: object) -> tuple[dict[str, Any], bool]:
    """:func:`clean_row` for the hot path: also says whether every value is a ``float`` (such
    rows go to the writer's :class:`FloatBlock`)."""
    if type(data) is not dict:
        if not isinstance(data, Mapping):
            raise TypeError(
                f"log: data must be a mapping of str keys to values, got {type(data).__name__}"
            )
        data = dict(data)
    if not _STR.issuperset(map(type, data)):
        for k in data:
            if type(k) is not str:
                raise TypeError(f"log: key {k!r} is a {type(k).__name__}; keys must be str")
    types = set(map(type, data.values()))
    if types <= _SIMPLE:
        if "_step" in data or "_runtime" in data:
            data = {k: v for k, v in data.items() if k != "_step" and k != "_runtime"}
        # a row with a _timestamp of its own takes the generic path (blocks stamp their own)
        return data, types == _FLOAT and "_timestamp" not in data
    return {k: _convert(k, v) for k, v in data.items() if k != "_step" and k != "_runtime"}, False


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
        return loads(bytes(buf))
    masked = enc.endswith("m")
    arr = array("d" if enc.startswith("f8") else "q")
    arr.frombytes(buf[n:] if masked else buf)
    if _SWAP:
        arr.byteswap()
    values: list[Any] = arr.tolist()
    if masked:
        values = [None if m else v for v, m in zip(values, buf[:n], strict=True)]
    return values


def decode_chunk(data: bytes | str) -> tuple[dict[str, list[Any]], list[str], list[str]]:
    """A chunk's columns, the keys holding nested dicts and the keys holding media."""
    if isinstance(data, str):  # the JSON form (kept readable)
        payload = loads(data)
        return payload["c"], payload.get("d", []), payload.get("m", [])
    view = memoryview(data)
    if bytes(view[:4]) != _MAGIC:
        raise ValueError("not an nbrun history chunk")
    hlen = int.from_bytes(view[4:8], "little")
    head = loads(bytes(view[8 : 8 + hlen]))
    base = 8 + hlen
    n = head["n"]
    cols = {
        key: _decode_column(enc, view[base + off : base + off + length], n)
        for key, enc, off, length in head["c"]
    }
    return cols, head["d"], head.get("m", [])


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


class Columns:
    """Columnar rows gathered from chunks (and in-memory rows), in step order."""

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {"_step": []}
        self.nested: set[str] = set()
        self.media: set[str] = set()
        self.n = 0

    def _extend(self, cols: Mapping[str, list[Any]], n: int) -> None:
        for k, v in cols.items():
            col = self.cols.get(k)
            if col is None:
                self.cols[k] = [None] * self.n + list(v)
            else:
                if len(col) < self.n:
                    col.extend([None] * (self.n - len(col)))
                col.extend(v)
        self.n += n

    def add_chunk(self, data: bytes, max_step: int | None = None, after: int | None = None) -> None:
        """Add a chunk's rows with ``after < _step <= max_step``."""
        cols, nested, media = decode_chunk(data)
        steps = cols["_step"]
        lo = 0 if after is None or steps[0] > after else bisect.bisect_right(steps, after)
        hi = (
            len(steps)
            if max_step is None or steps[-1] <= max_step
            else bisect.bisect_right(steps, max_step)
        )
        if lo >= hi:
            return
        if lo or hi < len(steps):  # keys only the cut-off rows had are not columns here
            cols = {k: v[lo:hi] for k, v in cols.items()}
            cols = {k: v for k, v in cols.items() if k == "_step" or any(x is not None for x in v)}
        self.nested.update(nested)
        self.media.update(media)
        self._extend(cols, hi - lo)

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Add row dicts (not yet flushed) in step order."""
        rows = list(rows)
        if not rows:
            return
        cols = build_columns(rows)
        for k, col in cols.items():
            types = set(map(type, col))
            if dict in types:
                self.nested.add(k)
            if not types <= _SIMPLE and any(map(has_media, col)):
                self.media.add(k)
        self._extend(cols, len(rows))

    def finish(self, media: Callable[[Any], Any] | None = None) -> dict[str, list[Any]]:
        """Pad every column to the full length and flatten nested dicts to dotted keys;
        ``media`` (a :class:`nbrun.media.Resolver`) turns stored references into media
        objects."""
        for col in self.cols.values():
            if len(col) < self.n:
                col.extend([None] * (self.n - len(col)))
        for key in sorted(self.nested):
            if key in self.cols:
                self._flatten_into(key, self.cols.pop(key))
        if media is not None and self.media:
            roots = tuple(self.media)
            prefixes = tuple(f"{r}." for r in roots)
            for key, col in self.cols.items():
                if key in self.media or key.startswith(prefixes):
                    self.cols[key] = [v if v is None else media(v) for v in col]
        return self.cols

    def _flatten_into(self, key: str, col: list[Any]) -> None:
        flat: dict[str, list[Any]] = {}
        n = len(col)
        for i, value in enumerate(col):
            if type(value) is dict and not is_ref(value):
                for sub, v in _flatten_dict(key, value):
                    target = flat.get(sub)
                    if target is None:
                        target = flat[sub] = [None] * n
                    target[i] = v
            elif value is not None:
                target = flat.get(key)
                if target is None:
                    target = flat[key] = [None] * n
                target[i] = value
        for sub, values in flat.items():
            existing = self.cols.get(sub)
            if existing is None:
                self.cols[sub] = values
            else:  # a literal dotted key and a nested one: merge, nested fills gaps
                for i, v in enumerate(values):
                    if existing[i] is None:
                        existing[i] = v


def _flatten_dict(prefix: str, value: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    for k, v in value.items():
        name = f"{prefix}.{k}"
        if type(v) is dict and not is_ref(v):
            yield from _flatten_dict(name, v)
        else:
            yield name, v


def to_dataframe(
    cols: dict[str, list[Any]], keys: Iterable[str] | None = None, samples: int | None = None
) -> pd.DataFrame:
    """Build the history DataFrame: ``_step`` first, user keys sorted, then ``_runtime`` and
    ``_timestamp``; rows sorted by step; ``keys`` keeps rows having any of those keys;
    ``samples`` keeps at most that many evenly spaced rows (first and last included)."""
    import numpy as np  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light
    import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

    if samples is not None and (type(samples) is not int or samples < 1):
        raise UsageError(f"history: samples={samples!r}; pass a positive int or None")
    user = sorted(k for k in cols if k not in SYSTEM_KEYS)
    if keys is not None:
        if isinstance(keys, str):
            keys = [keys]
        wanted = list(dict.fromkeys(keys))
        for k in wanted:
            if not isinstance(k, str):
                raise UsageError(f"history: key {k!r} must be a str")
        user = [k for k in wanted if k not in SYSTEM_KEYS]
    order = ["_step", *user, "_runtime", "_timestamp"]
    n = len(cols["_step"])
    data = {k: cols.get(k, [None] * n) for k in order}
    df = pd.DataFrame(data, columns=order)
    if keys is not None and user:
        df = df[df[user].notna().any(axis=1)]
    if samples is not None and len(df) > samples:
        idx = np.unique(np.linspace(0, len(df) - 1, samples).round().astype(int))
        df = df.iloc[idx]
    return df.reset_index(drop=True)


# -- cumulative state ------------------------------------------------------------------------
def empty_state() -> dict[str, Any]:
    """The cumulative state of an empty history."""
    return {"last": {}, "first": {}, "agg": {}}


_NUMBER = frozenset({int, float})


def advance_state(state: Mapping[str, Any], cols: Mapping[str, list[Any]]) -> dict[str, Any]:
    """The cumulative state after more rows (columns in step order): per key the last and
    first non-None value, and ``[min, max, sum, count, has_nan]`` over its numbers. Stored with
    every history chunk, it gives the summary at any step without reading the history."""
    last = dict(state.get("last", {}))
    first = dict(state.get("first", {}))
    agg = dict(state.get("agg", {}))
    for key, col in cols.items():
        if key in SYSTEM_KEYS:
            continue
        value = col[-1]
        if value is None:
            value = next((v for v in reversed(col) if v is not None), None)
            if value is None:
                continue
        last[key] = value
        if key not in first:
            first[key] = next(v for v in col if v is not None)
        types = set(map(type, col))
        if types <= _NUMBER:
            nums = col
        elif types & _NUMBER:
            nums = [v for v in col if type(v) is float or type(v) is int]
        else:
            continue
        total = sum(nums)
        nan = False
        if total != total:
            clean = [v for v in nums if v == v]
            nan = len(clean) < len(nums)
        else:
            clean = nums
        lo = min(clean) if clean else None
        hi = max(clean) if clean else None
        prev = agg.get(key)
        if prev is not None:
            lo = prev[0] if lo is None else lo if prev[0] is None else min(prev[0], lo)
            hi = prev[1] if hi is None else hi if prev[1] is None else max(prev[1], hi)
            agg[key] = [lo, hi, prev[2] + total, prev[3] + len(nums), prev[4] or nan]
        else:
            agg[key] = [lo, hi, total, len(nums), nan]
    return {"last": last, "first": first, "agg": agg}


# -- live feeds ----------------------------------------------------------------------------
def column_rows(cols: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Rows (dicts without missing keys) from finished columns, in order."""
    keys = list(cols)
    return [
        {k: cols[k][i] for k in keys if cols[k][i] is not None} for i in range(len(cols["_step"]))
    ]


class RowFeed:
    """Rows written since the feed was opened; :meth:`drain` returns and forgets them.
    ``on_close`` is called once by :meth:`close` (the run stops feeding it)."""

    def __init__(
        self,
        initial: Iterable[dict[str, Any]] = (),
        on_close: Callable[[RowFeed], None] | None = None,
    ) -> None:
        self._rows: deque[dict[str, Any]] = deque(initial)
        self._on_close = on_close
        self.closed = False

    def append(self, row: dict[str, Any]) -> None:
        """Called by the run for every written row."""
        self._rows.append(row)

    def drain(self) -> list[dict[str, Any]]:
        """Return the rows written since the last drain (non-blocking)."""
        rows = self._rows
        return [rows.popleft() for _ in range(len(rows))]

    def close(self) -> None:
        """Stop receiving rows."""
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close(self)


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
            if total != total:
                col = col[~np.isnan(col)]
                nan = len(col) < n
            lo = _extreme(col, True) if len(col) else None
            hi = _extreme(col, False) if len(col) else None
            prev = agg.get(key)
            if prev is not None:
                lo = prev[0] if lo is None else lo if prev[0] is None else min(prev[0], lo)
                hi = prev[1] if hi is None else hi if prev[1] is None else max(prev[1], hi)
                agg[key] = [lo, hi, prev[2] + total, prev[3] + n, prev[4] or nan]
            else:
                agg[key] = [lo, hi, total, n, nan]
    after = {"last": last, "first": first, "agg": agg}
    return (int(steps[0]), int(steps[-1]), n, data, dumps(after)), after


_MIN_BLOCK_CHUNK = 64  # fewer rows of floats than this join the dict rows' chunk
_SLICE_S = 0.0007  # the writer's longest stretch of Python between GIL releases (about)


def _breathe(since: float) -> float:
    """Let the training thread run when the writer has used ``_SLICE_S`` of CPU (this thread's
    clock, so time spent waiting for the GIL does not count) since ``since``; return the clock
    at the start of the writer's new stretch.

    CPython hands the GIL over only after the waiting thread's switch interval (5 ms) or when
    the holder blocks; ``time.sleep(0)`` is not enough (the holder takes it straight back and
    the waiter starts a new interval), so a short real sleep ends the writer's stretch and
    bounds what a ``log`` call waits for it."""
    now = time.thread_time()
    if now - since < _SLICE_S:
        return since
    time.sleep(0.0001)
    return time.thread_time()


# -- the writer ----------------------------------------------------------------------------
class Writer:
    """Background thread that flushes a run's rows to the store in batches.

    The producer (``Run.log``, inlined for speed) appends finished rows to :attr:`queue`,
    adds one to :attr:`enqueued` per row, and calls :meth:`wake` once ``max_rows`` wait.
    ``snapshot()`` is called on the writer thread after each batch is taken and returns the
    run columns to write in the same transaction (summary, heartbeat, ...). ``state`` is the
    cumulative history state (see :func:`advance_state`) before the first row; the writer stores
    it, advanced, with every chunk, so a fork or a rewind finds the summary at any step without
    reading history. ``on_stop`` is called once when another process or the widget asked the
    run to stop. ``take_side()``, when given, is called on the writer thread once per flush and
    returns the system samples and console lines to write in the same transaction (kept and
    retried, like rows, when a write fails).
    """

    def __init__(
        self,
        store: Store,
        key: int,
        snapshot: Callable[[], dict[str, Any]],
        on_stop: Callable[[], None],
        state: dict[str, Any] | None = None,
        interval: float = 1.0,
        max_rows: int = 1000,
        take_side: Callable[[], Side] | None = None,
        files: MediaFiles | None = None,
    ) -> None:
        # the fast lane encodes with numpy: import it here, on the thread that calls init,
        # not on the writer thread, where the import would hold the GIL while the loop runs
        import numpy  # noqa: F401, PLC0415 - loaded on first use: `import nbrun` stays light

        self.store = store
        self.files = files
        self._take_side = take_side
        self._side_retry: Side | None = None
        self._passes = [0, 0]  # flush passes started, finished (see sync)
        self.key = key
        self.queue: deque[dict[str, Any] | FloatBlock] = deque()
        self.block: FloatBlock | None = None  # the open block the hot path appends to
        self._fast_after = 0  # no new block before this many rows (see put)
        self._all = False  # flush()/sync() want the open block's rows too
        self.max_rows = max_rows
        self.interval = interval
        self.enqueued = 0
        self.durable = 0
        self.last_durable_step = -1
        self._snapshot = snapshot
        self._on_stop = on_stop
        self.state: dict[str, Any] = state if state is not None else empty_state()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._closing = False
        # rows taken from the queue, not durable yet
        self._retry: list[dict[str, Any] | FloatRows] = []
        self._taken = threading.Lock()  # moves rows queue -> _retry atomically for readers
        self._warned = False
        self.failures = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name=f"nbrun-writer-{key}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask for a flush now (a full batch is waiting)."""
        if not self._wake.is_set():
            self._wake.set()

    def put(self, row: dict[str, Any], floats: bool) -> None:
        """Hand a finished row to the writer (the hot path, training thread only). ``floats``
        says every value but ``_step`` is a float: such rows go into a :class:`FloatBlock`
        (one C-level pack), others onto the queue as they are. A block is sealed (put on the
        queue, before the row after it) when full or when a row does not fit it. When a block
        ends short (rows of changing keys), float rows take the generic path for the next
        ``max_rows`` rows: short blocks cost more than they save."""
        block = self.block
        queue = self.queue
        if floats and len(row) > 3 and self.enqueued >= self._fast_after:
            if block is not None and block.size + 3 == len(row):
                try:
                    values = block.get(row)
                except KeyError:
                    pass
                else:
                    data = block.data
                    data += block.pack(row["_step"], *values, row["_runtime"], row["_timestamp"])
                    self.enqueued += 1
                    if len(data) >= block.full:
                        self.seal()
                    return
            if block is None or not self._short(block):
                new = FloatBlock(row, self.max_rows)
                new.data += new.pack(
                    row["_step"], *new.get(row), row["_runtime"], row["_timestamp"]
                )
                if block is not None:
                    queue.append(block)
                self.block = new
                self.enqueued += 1
                return
        if block is not None:
            self._short(block)
            queue.append(block)
            self.block = None
        queue.append(row)
        self.enqueued += 1
        if len(queue) >= self.max_rows:
            self.wake()
            self._bound()

    def _short(self, block: FloatBlock) -> bool:
        """Whether ``block``, ending now, is short; if so, no new block for a while."""
        if len(block.data) >= block.rec * _MIN_BLOCK_CHUNK:
            return False
        self._fast_after = self.enqueued + self.max_rows
        return True

    def seal(self) -> None:
        """Put the open block on the queue (hot path: it is full) and wake the writer."""
        block = cast(FloatBlock, self.block)
        self.queue.append(block)  # on the queue first, then no longer open: a reader
        self.block = None  # of pending_rows sees it in one place or both, never in neither
        self.wake()
        self._bound()

    def _bound(self) -> None:
        """The backlog bound (hot path): past ``100 * max_rows`` rows not durable, wait for a
        flush. A tight loop can starve the writer of the GIL; this bounds the memory."""
        if self.enqueued - self.durable >= self.max_rows * 100 and self.error is None:
            self.flush()

    @property
    def backlog(self) -> int:
        """Rows handed to the writer and not durable yet."""
        return self.enqueued - self.durable

    def pending_rows(self) -> list[dict[str, Any]]:
        """Rows queued, being written or awaiting retry: not durable yet, in order. A row
        leaves this list only once it is durable, so a reader that reads the store after this
        misses none (it may see a row in both: dedupe by step)."""
        with self._taken:
            block = self.block  # before the queue: a block sealed meanwhile is in one of them
            items = [*self._retry, *list(self.queue)]
            if block is not None and not any(item is block for item in items):
                items.append(block.rest())
        out: list[dict[str, Any]] = []
        for item in items:
            if type(item) is dict:
                out.append(item)
            elif isinstance(item, FloatBlock):
                out.extend(item.rest().rows())
            elif isinstance(item, FloatRows):
                out.extend(item.rows())
        return out

    def _loop(self) -> None:
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                closing = self._closing
                with self._done:
                    self._passes[0] += 1
                    started = self._passes[0]
                try:
                    self._flush_once()
                finally:
                    with self._done:
                        self._passes[1] = started
                        self._done.notify_all()
                if closing:
                    break
        finally:
            self.store.close_thread_connection()

    def _take(self) -> list[dict[str, Any] | FloatRows]:
        """Move rows from the queue (and, when asked or idle, the open block) to the retry
        list, at most ``10 * max_rows``; return that list (under ``_taken``)."""
        q = self.queue
        want_all, self._all = self._all, False
        idle = not q
        with self._taken:
            items = self._retry
            take = min(len(q), max(0, self.max_rows * 10 - len(items)))  # a block counts one
            batch: list[Any] = [q.popleft() for _ in range(take)]
            if FloatBlock in set(map(type, batch)):
                batch = [i.take() if type(i) is FloatBlock else i for i in batch]
                batch = [i for i in batch if i is not None]
            items.extend(batch)
            block = self.block  # read before checking the queue: see FloatBlock
            if block is not None and not q and (idle or want_all or self._closing):
                rows = block.take()
                if rows is not None:
                    items.append(rows)
        return items

    def _encode(
        self, items: list[dict[str, Any] | FloatRows]
    ) -> tuple[list[Chunk], dict[str, Any], int, int]:
        """Chunks of at most ``max_rows`` rows for ``items`` in order, the state after them,
        the last step and the number of rows. Rows of floats are encoded with array work; a
        short run of them joins the dict rows around it (one chunk rather than many)."""
        chunks: list[Chunk] = []
        state = self.state
        run: list[dict[str, Any]] = []
        convert = (
            self.files.convert_row if self.files is not None and media_seen() else None
        )  # media files are written (temp + rename) before the rows that refer to them

        since = time.thread_time()

        def flush_run(state: dict[str, Any]) -> dict[str, Any]:
            nonlocal since
            for i in range(0, len(run), self.max_rows):
                cols = build_columns(run[i : i + self.max_rows])
                state = advance_state(state, cols)
                chunks.append(encode_columns(cols, dumps(state)))
                since = _breathe(since)
            run.clear()
            return state

        if FloatRows not in set(map(type, items)):  # dict rows only: no per-row Python here
            dicts = cast(list[dict[str, Any]], items)
            run.extend(dicts if convert is None else map(convert, dicts))
            state = flush_run(state)
            return chunks, state, dicts[-1]["_step"] if dicts else -1, len(dicts)
        last_step = -1
        count = 0
        for item in items:
            if isinstance(item, FloatRows):
                count += len(item) - 1
                last_step = item.last_step
                if len(item) < _MIN_BLOCK_CHUNK:
                    run.extend(item.rows())
                    continue
                state = flush_run(state)
                for piece in item.split(self.max_rows):
                    chunk, state = encode_float_rows(piece, state)
                    chunks.append(chunk)
                    since = _breathe(since)
            else:
                last_step = item["_step"]
                run.append(convert(item) if convert is not None else item)
        state = flush_run(state)
        return chunks, state, last_step, count + len(items)

    def _flush_once(self) -> None:
        q = self.queue
        while True:
            items = self._take()
            side = self._side()
            try:
                chunks, state, last_step, count = self._encode(items)
                stop = self.store.flush(self.key, chunks, self._snapshot(), side)
            except Exception as exc:  # disk full, read-only, locked for too long ...
                self._retry = items
                self._side_retry = side
                self._report(exc)  # before waking flush(): its False comes after the warning
                with self._done:
                    self.failures += 1
                    self._done.notify_all()
                return
            with self._taken:
                self._retry = []
            self.error = None
            if self._warned:
                logger.warning("nbrun: writing to %s works again", self.store.path)
                self._warned = False
            self.state = state
            with self._done:
                self.durable += count
                if items:
                    self.last_durable_step = last_step
                self._done.notify_all()
            if stop:
                self._on_stop()
            if not q or (
                self._closing is False
                and len(q) < self.max_rows
                and type(q[0]) is not FloatBlock  # a sealed block is a full batch
            ):
                return

    def _side(self) -> Side | None:
        """System samples and console lines to write now: those of a failed flush first."""
        old, self._side_retry = self._side_retry, None
        new = self._take_side() if self._take_side is not None else None
        if old is None or new is None:
            return new if old is None else old
        return (
            old[0] + new[0],
            old[1] + new[1],
            new[2] if new[2] is not None else old[2],
        )

    def pending_side(self) -> Side | None:
        """System samples and console lines not written yet (for a last write at finish)."""
        return self._side()

    def sync(self, timeout: float = 5.0) -> bool:
        """Wait until a flush pass that started after this call has ended, so everything
        handed to the writer before it (rows, samples, lines) was written; False on timeout
        or when the writer thread has ended."""
        deadline = time.monotonic() + timeout
        self._all = True
        with self._done:
            target = self._passes[0] + 1
            while self._passes[1] < target:
                if not self._thread.is_alive():
                    return False
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(min(0.5, remaining))
        return True

    def _report(self, exc: BaseException) -> None:
        self.error = exc
        if not self._warned:
            self._warned = True
            msg = (
                f"nbrun: could not write to {self.store.path}: {exc}. Rows stay in memory and "
                "are retried every second; training goes on."
            )
            logger.warning(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=1)

    def flush(self, timeout: float | None = None) -> bool:
        """Make every row queued so far durable; False if ``timeout`` passed first or a write
        failed (the rows stay queued and are retried)."""
        target = self.enqueued
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            failures = self.failures
            while self.durable < target:
                if not self._thread.is_alive() or self.failures > failures:
                    return False
                self._all = True
                self._wake.set()
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Flush everything and end the thread; False if rows could not be written."""
        ok = self.flush(timeout)
        self._closing = True
        self._wake.set()
        self._thread.join(timeout if timeout is not None else None)
        return ok and self.durable >= self.enqueued

    @property
    def alive(self) -> bool:
        """Whether the writer thread is running."""
        return self._thread.is_alive()
