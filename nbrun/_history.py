"""History: value checks for ``log``, the in-memory buffer, the batched writer thread, the
columnar chunk format, and history as pandas DataFrames.

The hot path (``Run.log``) only calls :func:`clean_row` and appends finished rows to a
:class:`Writer`'s deque; encoding and disk work happen on the writer thread, in batches of at
most ``max_rows`` rows or every ``interval`` seconds.
"""

from __future__ import annotations

import bisect
import logging
import math
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
from .errors import StoreError, UsageError
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
    import numpy as np
    import pandas as pd

logger = logging.getLogger("nbrun")

SYSTEM_KEYS = ("_step", "_runtime", "_timestamp")
_SIMPLE = frozenset({float, int, str, bool, type(None)})
_STR = frozenset({str})
_FLOAT = frozenset({float})


# -- values (rules 21-23, 43) ---------------------------------------------------------------
#: the largest ``log`` step (rule 43): 2**53 - 1, the largest integer that every reader of a
#: step holds exactly (int64 in chunks and SQLite, float64 in chart buckets, a JavaScript
#: number in the browser, where a click on a chart names the step to fork from). ``_fastlog.c``
#: has the same number (``MAX_STEP``).
MAX_STEP = 2**53 - 1


def step_error(step: int, given: bool) -> UsageError:
    """The ``UsageError`` for a ``log`` step beyond :data:`MAX_STEP` (rule 43): ``given`` is
    False when the step is the run's own (``run.step`` moved past the limit)."""
    if given:
        return UsageError(
            f"log: step {step} is beyond the largest step nbrun stores, {MAX_STEP} (2**53 - 1, "
            "the largest integer charts and the browser hold exactly); use steps from 0 to "
            f"{MAX_STEP}"
        )
    return UsageError(
        f"log: the run is at step {step}, beyond the largest step nbrun stores, {MAX_STEP} "
        "(2**53 - 1): a row was written at the last step; start a new run to log more"
    )


def json_key(key: object) -> str | None:
    """The str key JSON gives a dict key (``0`` -> ``"0"``, ``True`` -> ``"true"``), or None."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, (int, float)):
        return repr(float(key)) if isinstance(key, float) else str(int(key))
    return None


#: the deepest nesting of lists and dicts a value may have (rule 43); a value that contains
#: itself is refused by the same count
MAX_DEPTH = 100
#: ints are stored as JSON text, which Python writes and reads up to 4300 digits (rule 43)
_INT_BOUND = 10**4300


def _check_int(key: str, value: int) -> None:
    if -_INT_BOUND < value < _INT_BOUND:
        return
    raise UsageError(
        f"log: value for {key!r} is an int of more than 4300 digits, which nbrun cannot store "
        "(ints are stored as text, which Python reads up to 4300 digits); log it as a float "
        "or a str"
    )


def _too_deep(key: str) -> TypeError:
    shown = repr(key) if len(key) <= 60 else f"{key[:60]!r}..."  # (a cycle's path repeats)
    return TypeError(
        f"log: value for {shown} nests lists or dicts more than {MAX_DEPTH} levels deep, or "
        "contains itself, which cannot be stored; log a flatter copy"
    )


def _convert(key: str, value: Any, json_keys: bool = False, depth: int = 0) -> Any:
    """Return a JSON-storable copy of ``value`` or raise ``TypeError`` naming ``key``.

    With ``json_keys`` (config, rule 7), non-str keys of nested dicts become the str keys JSON
    gives them; otherwise they are refused. Torch tensors (rule 23) become numbers (0-dim) or
    lists; torch is never imported here: a tensor can only exist when its caller imported it.
    ``depth`` counts the lists and dicts around ``value``: past :data:`MAX_DEPTH` (or a value
    that contains itself) is a ``TypeError`` (rule 43); an int beyond 4300 digits a
    ``UsageError``.
    """
    t = type(value)
    if t in _SIMPLE:
        if t is int and not -_INT_BOUND < value < _INT_BOUND:
            _check_int(key, value)
        return value
    if depth >= MAX_DEPTH and (t is dict or t is list or t is tuple or isinstance(value, Mapping)):
        raise _too_deep(key)
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
            out[k] = _convert(f"{key}.{k}", v, json_keys, depth + 1)
        return out
    if t is list or t is tuple:
        return [_convert(key, v, json_keys, depth + 1) for v in value]
    if isinstance(value, Media):
        return value.logged_copy()
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
            return _convert(key, plain, json_keys, depth)
    if module == "torch" or module.startswith("torch."):
        detach = getattr(value, "detach", None)
        if detach is not None and hasattr(value, "tolist"):
            try:
                plain = detach().cpu().tolist()
            except (RuntimeError, TypeError) as exc:  # e.g. a meta or sparse tensor
                raise TypeError(
                    f"log: value for {key!r} is a torch tensor that cannot be read: {exc}"
                ) from None
            return _convert(key, plain, json_keys, depth)
    if isinstance(value, float):  # float subclasses
        return float(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        _check_int(key, int(value))
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
        if int in types:  # rule 43: ints the store can read back
            for k, v in data.items():
                if type(v) is int and not -_INT_BOUND < v < _INT_BOUND:
                    _check_int(k, v)
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


class _Num:
    """A numeric piece of a column: float64 or int64 values and, when some rows have no
    value, a mask (True: missing). Views over the chunk's bytes until assembled."""

    __slots__ = ("mask", "values")

    def __init__(self, values: np.ndarray, mask: np.ndarray | None) -> None:
        self.values = values
        self.mask = mask

    def __len__(self) -> int:
        return len(self.values)

    def cut(self, lo: int, hi: int) -> _Num:
        mask = None if self.mask is None else self.mask[lo:hi]
        # a cut whose rows all have a value has no mask (an int column stays int64)
        return _Num(self.values[lo:hi], mask if mask is not None and mask.any() else None)

    def empty(self) -> bool:
        return len(self.values) == 0 or (self.mask is not None and bool(self.mask.all()))

    def tolist(self) -> list[Any]:
        values: list[Any] = self.values.tolist()
        if self.mask is not None:
            values = [None if m else v for v, m in zip(values, self.mask.tolist(), strict=True)]
        return values


#: one column's piece: numbers, or Python values (JSON-decoded, or rows not flushed yet)
_Piece = _Num | list[Any]


def _piece_len(piece: _Piece) -> int:
    return len(piece)


def _piece_empty(piece: _Piece) -> bool:
    if isinstance(piece, _Num):
        return piece.empty()
    return all(v is None for v in piece)


def _piece_list(piece: _Piece) -> list[Any]:
    return piece.tolist() if isinstance(piece, _Num) else piece


def _numeric_piece(col: list[Any]) -> _Piece:
    """Rows not flushed yet as the piece their chunk would decode to (numbers as arrays)."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    types = set(map(type, col))
    nums = types - {_NONE}
    if not nums or not nums <= _NUMBER:
        return col
    dtype = np.float64 if float in nums else np.int64
    try:
        if _NONE in types:
            mask = np.fromiter((v is None for v in col), bool, len(col))
            values = np.array([0 if v is None else v for v in col], dtype=dtype)
            return _Num(values, mask)
        return _Num(np.array(col, dtype=dtype), None)
    except OverflowError:  # ints beyond int64
        return col


def _decode_piece(data: bytes | memoryview, enc: str, start: int, length: int, n: int) -> _Piece:
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    if enc == "js":
        return loads(bytes(data[start : start + length]))
    dtype = _DTYPES[enc]
    if enc.endswith("m"):
        mask = np.frombuffer(data, dtype=np.bool_, count=n, offset=start)
        return _Num(np.frombuffer(data, dtype=dtype, count=n, offset=start + n), mask)
    return _Num(np.frombuffer(data, dtype=dtype, count=n, offset=start), None)


_DTYPES = {"f8": "<f8", "f8m": "<f8", "i8": "<i8", "i8m": "<i8"}


def decode_pieces(
    data: bytes | str, keep: Callable[[str], bool] | None = None
) -> tuple[dict[str, _Piece], list[str], list[str]]:
    """Like :func:`decode_chunk`, but numeric columns come back as numpy views over ``data``
    (no per-value Python objects); ``keep``: decode only ``_step`` and the keys it accepts."""
    if isinstance(data, str):
        cols, nested, media = decode_chunk(data)
        return (
            {k: _numeric_piece(v) for k, v in cols.items() if keep is None or _kept(k, keep)},
            nested,
            media,
        )
    lay = _layout(data)
    n = lay.n
    pieces = {
        key: _decode_piece(data, enc, start, length, n)
        for key, enc, start, length in lay.cols
        if keep is None or _kept(key, keep)
    }
    return pieces, lay.nested, lay.media


def _kept(key: str, keep: Callable[[str], bool]) -> bool:
    return key == "_step" or keep(key)


def key_filter(keys: Iterable[str] | str | None) -> Callable[[str], bool] | None:
    """Which stored columns ``history(keys=...)`` needs: the system columns, the keys asked
    for and the nested dicts they are flattened from; None (every column) when ``keys`` is
    None or holds a non-str (:func:`to_dataframe` refuses it)."""
    if keys is None:
        return None
    wanted = [keys] if isinstance(keys, str) else list(keys)
    if not all(isinstance(k, str) for k in wanted):
        return None
    exact = set(wanted) | set(SYSTEM_KEYS)
    roots = {w.split(".", 1)[0] for w in wanted if "." in w}

    def keep(key: str) -> bool:
        if key in exact:
            return True
        if key.split(".", 1)[0] not in roots:
            return False
        return any(w.startswith(key + ".") for w in wanted)

    return keep


def _steps_array(piece: _Piece) -> np.ndarray:
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    if isinstance(piece, _Num):
        return piece.values
    return np.asarray(piece, dtype=np.int64)


_LAZY: Any = object()  # a column still held as pieces (assembled at the end)


class Columns:
    """Columnar rows gathered from chunks (and in-memory rows), in step order.

    Each column is kept as the pieces its chunks decoded to (numpy views over the chunk bytes
    for numbers) and assembled once: :meth:`arrays` gives numpy arrays where the values are
    numbers (what pandas would infer from the values), :meth:`finish` gives Python lists."""

    def __init__(self, keep: Callable[[str], bool] | None = None) -> None:
        self._parts: dict[str, list[tuple[int, _Piece]]] = {"_step": []}
        self.nested: set[str] = set()
        self.media: set[str] = set()
        self.n = 0
        #: only ``_step`` and the columns it accepts are read (see :func:`key_filter`)
        self.keep = keep

    def _extend(self, pieces: Mapping[str, _Piece], n: int) -> None:
        for k, piece in pieces.items():
            parts = self._parts.get(k)
            if parts is None:
                parts = self._parts[k] = []
            parts.append((self.n, piece))
        self.n += n

    def add_chunk(
        self, data: bytes | str, max_step: int | None = None, after: int | None = None
    ) -> None:
        """Add a chunk's rows with ``after < _step <= max_step``."""
        import numpy as np  # noqa: PLC0415 - heavy library on first use

        pieces, nested, media = decode_pieces(data, self.keep)
        steps = _steps_array(pieces["_step"])
        total = len(steps)
        if total == 0:
            return
        lo = (
            0
            if after is None or steps[0] > after
            else int(np.searchsorted(steps, after, side="right"))
        )
        hi = (
            total
            if max_step is None or steps[-1] <= max_step
            else int(np.searchsorted(steps, max_step, side="right"))
        )
        if lo >= hi:
            return
        if lo or hi < total:  # keys only the cut-off rows had are not columns here
            cut = {
                k: (p.cut(lo, hi) if isinstance(p, _Num) else p[lo:hi]) for k, p in pieces.items()
            }
            pieces = {k: p for k, p in cut.items() if k == "_step" or not _piece_empty(p)}
        self.nested.update(nested)
        self.media.update(media)
        self._extend(pieces, hi - lo)

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Add row dicts (not yet flushed) in step order."""
        rows = list(rows)
        if not rows:
            return
        cols = build_columns(rows)
        if self.keep is not None:
            cols = {k: v for k, v in cols.items() if _kept(k, self.keep)}
        for k, col in cols.items():
            types = set(map(type, col))
            if dict in types:
                self.nested.add(k)
            if not types <= _SIMPLE and any(map(has_media, col)):
                self.media.add(k)
        self._extend({k: _numeric_piece(v) for k, v in cols.items()}, len(rows))

    def last_step(self) -> int | None:
        """The step of the last row, or None when there is none."""
        if not self.n:
            return None
        piece = self._parts["_step"][-1][1]
        return int(piece.values[-1]) if isinstance(piece, _Num) else int(piece[-1])

    def column(self, key: str) -> list[Any]:
        """Column ``key`` as a list padded with None (nested dicts not flattened)."""
        out: list[Any] = [None] * self.n
        for off, piece in self._parts.get(key, ()):
            out[off : off + _piece_len(piece)] = _piece_list(piece)
        return out

    @property
    def cols(self) -> dict[str, list[Any]]:
        """Every column as a padded list (nested dicts not flattened)."""
        return {k: self.column(k) for k in self._parts}

    def _array(self, key: str) -> Any:
        """Column ``key`` as one numpy array when its values are numbers (int64 when every row
        has an int, else float64 with NaN where a row has none); otherwise a list, as
        :meth:`column`, for pandas to infer."""
        import numpy as np  # noqa: PLC0415 - heavy library on first use

        parts = [(off, p) for off, p in self._parts.get(key, ()) if not _piece_empty(p)]
        if not parts or not all(isinstance(p, _Num) for _, p in parts):
            return self.column(key)
        nums: list[tuple[int, _Num]] = parts  # type: ignore[assignment]
        covered = sum([len(p.values) for _, p in nums])
        if covered == self.n and all([p.mask is None for _, p in nums]):
            # every row has a number: one concatenation (int64 only when all are ints)
            ints = all([p.values.dtype.kind == "i" for _, p in nums])
            return np.concatenate(
                [p.values for _, p in nums], dtype=np.int64 if ints else np.float64
            )
        out = np.full(self.n, np.nan)
        for off, p in nums:
            seg = out[off : off + len(p)]
            seg[:] = p.values
            if p.mask is not None:
                seg[p.mask] = np.nan
        return out

    def _assemble(self, media: Callable[[Any], Any] | None, arrays: bool) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(self._parts, _LAZY)
        for key in sorted(self.nested):
            if key in out:
                col = out.pop(key)
                self._flatten_into(out, key, self.column(key) if col is _LAZY else col)
        if media is not None and self.media:
            roots = tuple(self.media)
            prefixes = tuple(f"{r}." for r in roots)
            for key, col in out.items():
                if key in self.media or key.startswith(prefixes):
                    values = self.column(key) if col is _LAZY else col
                    out[key] = [v if v is None else media(v) for v in values]
        for key, col in out.items():
            if col is _LAZY:
                out[key] = self._array(key) if arrays else self.column(key)
        return out

    def finish(self, media: Callable[[Any], Any] | None = None) -> dict[str, list[Any]]:
        """Every column as a list padded to the full length, nested dicts flattened to dotted
        keys; ``media`` (a :class:`nbrun.media.Resolver`) turns stored references into media
        objects."""
        return self._assemble(media, arrays=False)

    def first_pieces(self) -> dict[str, Any]:
        """Each column's first decoded piece (for a single chunk of flat columns: the whole
        column, as decoded, without assembling it)."""
        return {k: parts[0][1] for k, parts in self._parts.items() if parts}

    def arrays(self, media: Callable[[Any], Any] | None = None) -> dict[str, Any]:
        """As :meth:`finish`, but numeric columns as numpy arrays (for :func:`to_dataframe`)."""
        return self._assemble(media, arrays=True)

    def _flatten_into(self, out: dict[str, Any], key: str, col: list[Any]) -> None:
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
            existing = out.get(sub)
            if existing is None:
                out[sub] = values
            else:  # a literal dotted key and a nested one: merge, nested fills gaps
                if existing is _LAZY:
                    existing = out[sub] = self.column(sub)
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
    cols: Mapping[str, Any], keys: Iterable[str] | None = None, samples: int | None = None
) -> pd.DataFrame:
    """Build the history DataFrame: ``_step`` first, user keys sorted, then ``_runtime`` and
    ``_timestamp``; rows sorted by step; ``keys`` keeps rows having any of those keys;
    ``samples`` keeps at most that many evenly spaced rows (first and last included).
    ``cols`` holds lists or numpy arrays (see :meth:`Columns.arrays`)."""
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
    data = {k: cols[k] if k in cols else [None] * n for k in order}
    df = pd.DataFrame(data, columns=order, copy=False)
    if keys is not None and user:
        df = df[df[user].notna().any(axis=1)]
    if samples is not None and len(df) > samples:
        idx = np.unique(np.linspace(0, len(df) - 1, samples).round().astype(int))
        df = df.iloc[idx]
    return df.reset_index(drop=True)


# -- downsampled reads (charts) --------------------------------------------------------------
#: one bucket summary per row: points counted, then the lowest point (x, y, step) and the
#: highest point (x, y, step) of the metric in it; a float64 array of shape (buckets, 7)
BUCKET_COLUMNS = ("rows", "x_min", "y_min", "step_min", "x_max", "y_max", "step_max")


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


def bucket_points(xs: np.ndarray, ys: np.ndarray, steps: np.ndarray, group: int) -> np.ndarray:
    """Summaries of consecutive buckets of ``group`` finite points (see ``BUCKET_COLUMNS``)."""
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
    out = np.empty((nb, 7))
    out[:, 0] = group
    if pad:
        out[-1, 0] = group - pad
    out[:, 1], out[:, 2], out[:, 3] = xs[lo], ys[lo], steps[lo]
    out[:, 4], out[:, 5], out[:, 6] = xs[hi], ys[hi], steps[hi]
    return out


def column_buckets(
    cols: Mapping[str, Any], n: int, x: Callable[[str], str], group: int
) -> dict[str, np.ndarray]:
    """Bucket summaries of every metric with finite points in ``n`` rows of columns (chunk
    pieces, arrays or lists, nested dicts already flattened), each over its x column."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    steps = _floats(cols["_step"], n)
    floats: dict[str, np.ndarray] = {"_step": steps}
    out: dict[str, np.ndarray] = {}
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
            out[key] = bucket_points(xs, ys, steps, group)
        elif ok.any():
            out[key] = bucket_points(xs[ok], ys[ok], steps[ok], group)
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
            summary = _uniform_buckets(xs, ys, steps, nchunks, uniform, group)
            _spread(out, flat, key, summary, np.full(nchunks, len(summary) // nchunks))
            continue
        if not every and not ok.any():
            continue
        if cid is None:
            cid = np.repeat(np.arange(nchunks), sizes)
        if every:
            fy, fx, fs, fc = ys, xs, steps, cid
        else:
            fy, fx, fs, fc = ys[ok], xs[ok], steps[ok], cid[ok]
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
        summary = np.empty((len(starts), 7))
        summary[:, 0] = np.diff(np.append(starts, len(fy)))
        summary[:, 1], summary[:, 2], summary[:, 3] = fx[lo], fy[lo], fs[lo]
        summary[:, 4], summary[:, 5], summary[:, 6] = fx[hi], fy[hi], fs[hi]
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
    xs: np.ndarray, ys: np.ndarray, steps: np.ndarray, nchunks: int, size: int, group: int
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
    out = np.empty((len(lo), 7))
    out[:, 0] = group
    if nb * group != size:
        out[nb - 1 :: nb, 0] = size - (nb - 1) * group
    out[:, 1], out[:, 2], out[:, 3] = xs[lo], ys[lo], steps[lo]
    out[:, 4], out[:, 5], out[:, 6] = xs[hi], ys[hi], steps[hi]
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


def merge_buckets(parts: list[np.ndarray], cap: int, group: int = 1) -> tuple[int, np.ndarray]:
    """Merge bucket summaries (in step order) into at most about ``cap`` buckets of ``width``
    points each (a power of two, at least ``group``): each keeps its lowest and highest point,
    so a one-step spike survives any amount of downsampling. Returns ``(width, buckets)``."""
    import numpy as np  # noqa: PLC0415 - heavy library on first use

    parts = [p for p in parts if len(p)]
    if not parts:
        return max(1, group), np.empty((0, 7))
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
    first = np.flatnonzero(np.concatenate(([True], bid[1:] != bid[:-1])))
    rel = bid - bid[0]
    lo = _first_where(s[:, 2] == np.minimum.reduceat(s[:, 2], first)[rel], bid)
    hi = _first_where(s[:, 5] == np.maximum.reduceat(s[:, 5], first)[rel], bid)
    out = np.empty((len(first), 7))
    out[:, 0] = np.add.reduceat(counts, first)
    out[:, 1:4] = s[lo, 1:4]
    out[:, 4:7] = s[hi, 4:7]
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
        backlog = self.enqueued - self.durable
        if backlog >= self.max_rows * 100 and self.error is None:
            self.flush()
        elif backlog >= self.max_rows * 10 and self.error is None:
            # falling behind: a real sleep hands the writer the GIL for a moment, once per
            # batch (well under a millisecond), rather than a flush wait of the whole backlog
            # later (about 100 ms for 100 batches)
            time.sleep(0.0005)

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
                bad = self._bad_rows(items)
                if bad:  # rows that can never be stored: drop them, keep the rest (rule 43)
                    items = self._drop(items, bad, exc)
                    with self._taken:
                        self._retry = items
                    self._side_retry = side
                    continue
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

    def _bad_rows(self, items: list[dict[str, Any] | FloatRows]) -> list[int]:
        """After a failed flush: the positions of the rows that fail on their own (their step
        or a value cannot be stored: a row-specific failure, rule 43), none when the failure
        is the store's (disk full, locked ...). Float rows are packed: they always fit."""
        bad = []
        for i, item in enumerate(items):
            if type(item) is not dict:
                continue
            step = item.get("_step")
            if type(step) is not int or not 0 <= step <= MAX_STEP:
                bad.append(i)
                continue
            try:
                self._encode([item])
            except (OSError, MemoryError, StoreError):  # its media files: the disk, not the row
                return []
            except Exception:  # any other failure of this row alone marks it
                bad.append(i)
        return bad

    def _drop(
        self, items: list[dict[str, Any] | FloatRows], bad: list[int], exc: BaseException
    ) -> list[dict[str, Any] | FloatRows]:
        """``items`` without the rows at ``bad``, counted as done, with a warning naming
        their steps and keys: one row that cannot be stored never sinks the others."""
        dropped = [cast(dict[str, Any], items[i]) for i in bad]
        keys = sorted({k for row in dropped for k in row if k not in SYSTEM_KEYS})
        msg = (
            f"nbrun: {len(dropped)} row(s) at step(s) "
            f"{', '.join(str(row.get('_step')) for row in dropped)} (keys {keys}) cannot be "
            f"stored in {self.store.path} ({type(exc).__name__}: {exc}) and were dropped; "
            "the other rows are written"
        )
        logger.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=1)
        with self._done:
            self.durable += len(dropped)  # done with: flush() and close() wait for no row
            self._done.notify_all()
        skip = set(bad)
        return [item for i, item in enumerate(items) if i not in skip]

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
