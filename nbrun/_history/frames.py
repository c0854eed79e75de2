"""Reading history: chunks decoded into column pieces (numpy views over the chunk bytes for
numbers), gathered in :class:`Columns` with rows not flushed yet, and the history DataFrame."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .._store import loads
from ..errors import UsageError
from ..media._base import has_media, is_ref
from .codec import _NONE, _layout, build_columns, decode_chunk
from .state import _NUMBER
from .values import _SIMPLE, SYSTEM_KEYS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


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
        return cast("_Num | list[Any]", loads(bytes(data[start : start + length])))
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
    return cast("pd.DataFrame", df.reset_index(drop=True))
