"""``Table``: rows and named columns whose cells may hold media; stored as one JSON file."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Media, MediaFiles, Resolver, register

_DEFAULT_COLUMNS = ["Input", "Output", "Expected"]
_SIMPLE = (str, int, float, bool, type(None))


def cell(value: Any, where: str) -> Any:
    """A private, storable copy of a table cell; ``where`` names it in errors.

    A cell takes what ``run.log`` takes (rule 23): numbers, str, bool, None, media, numpy
    scalars and arrays and torch tensors (a 0-dim tensor as its number, others as nested
    lists; torch is never imported here), and lists, tuples and dicts of those."""
    if isinstance(value, _SIMPLE):
        return value
    if isinstance(value, Media):
        return value.logged_copy()
    t = type(value)
    module = getattr(t, "__module__", "") or ""
    if module == "numpy" or module.startswith("numpy."):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and dtype.kind in "biufSU" and hasattr(value, "tolist"):
            plain = value.tolist()
            if type(plain) is t:  # np.longdouble.tolist() returns itself
                return float(value)
            return cell(plain, where)
        raise TypeError(
            f"Table: {where} holds a numpy {dtype if dtype is not None else t.__name__}"
        )
    if (module == "torch" or module.startswith("torch.")) and hasattr(value, "detach"):
        try:
            plain = value.detach().cpu().tolist()
        except (RuntimeError, TypeError) as exc:  # e.g. a meta or sparse tensor
            raise TypeError(
                f"Table: {where} is a torch tensor that cannot be read: {exc}"
            ) from None
        return cell(plain, where)
    if isinstance(value, (list, tuple)):
        return [cell(v, where) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"Table: {where} has a dict key {k!r}; keys must be str")
            out[k] = cell(v, where)
        return out
    raise TypeError(
        f"Table: {where} is a {module}.{t.__qualname__}; allowed cells: what run.log takes "
        "(numbers, str, bool, None, numpy scalars and arrays, torch tensors, nbrun media such "
        "as Image), and lists or dicts of those"
    )


@register
class Table(Media):
    """A table for ``run.log``: ``Table(columns=None, data=None, rows=None, dataframe=None)``.

    ``columns`` names the columns (W&B's default ``["Input", "Output", "Expected"]``);
    ``data`` (or ``rows``) is a list of rows; ``dataframe`` a pandas DataFrame. Cells may hold
    media objects (an ``Image`` per row, ...). ``add_data(*row)``, ``add_column(name, data)``,
    ``get_column(name, convert_to=None)`` and ``get_dataframe()`` work as in W&B. A logged
    table is a snapshot: rows added afterwards go into the next log.
    """

    _ref_type = "table-file"
    _kind = "tables"

    def __init__(
        self,
        columns: list[str] | None = None,
        data: Any = None,
        rows: Any = None,
        dataframe: Any = None,
        dtype: Any = None,
        optional: Any = True,
        allow_mixed_types: bool = False,
        log_mode: str | None = None,
    ) -> None:
        super().__init__(None)
        if data is not None and rows is not None:
            raise ValueError("Table: pass data= or rows=, not both")
        data = rows if data is None else data
        self._loaded = True
        self.columns = []
        self.data = []
        if dataframe is not None:
            if data is not None:
                raise ValueError("Table: pass data= or dataframe=, not both")
            cols = [str(c) for c in dataframe.columns]
            self._set_columns(cols)
            for row in dataframe.itertuples(index=False, name=None):
                self.add_data(*row)
            return
        if columns is None:
            width = len(data[0]) if data is not None and len(data) else 3
            columns = _DEFAULT_COLUMNS if width == 3 else [f"c{i}" for i in range(width)]
        self._set_columns(columns)
        if data is not None:
            module = getattr(type(data), "__module__", "") or ""
            if module.startswith("numpy"):
                data = data.tolist()
            if not isinstance(data, (list, tuple)):
                raise TypeError(f"Table: data must be a list of rows, got {type(data).__name__}")
            for row in data:
                if not isinstance(row, (list, tuple)) and not module.startswith("numpy"):
                    raise TypeError(
                        f"Table: row {row!r} is a {type(row).__name__}; each row is a list"
                    )
                self.add_data(*row)

    @property
    def columns(self) -> list[str]:
        """The column names."""
        self._load()
        return self._columns

    @columns.setter
    def columns(self, value: list[str]) -> None:
        self._columns = value

    @property
    def data(self) -> list[list[Any]]:
        """The rows (lists of cell values)."""
        self._load()
        return self._data

    @data.setter
    def data(self, value: list[list[Any]]) -> None:
        self._data = value

    def _set_columns(self, columns: Any) -> None:
        if isinstance(columns, str) or not isinstance(columns, (list, tuple)):
            raise TypeError(f"Table: columns={columns!r} must be a list of str")
        names = []
        for c in columns:
            if not isinstance(c, str):
                raise TypeError(f"Table: column name {c!r} must be a str")
            if c in names:
                raise ValueError(f"Table: column name {c!r} appears twice")
            names.append(c)
        self.columns = names

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            assert self._path is not None
            payload = json.loads(self._path.read_text(encoding="utf-8"))
            resolve = self._resolver or Resolver(self._path.parents[4], self._path.parents[3].name)
            cols = payload.get("columns", [])
            rows = payload.get("data", [])
            self._columns = [str(c) for c in cols]
            self._data = [[resolve(v) for v in row] for row in rows]
            self._loaded = True

    # -- W&B's API --------------------------------------------------------------------------
    def add_data(self, *data: Any) -> None:
        """Add a row (one value per column)."""
        self._load()
        if len(data) != len(self.columns):
            raise ValueError(
                f"Table: a row of {len(data)} values for {len(self.columns)} columns "
                f"{self.columns!r}; give one value per column"
            )
        n = len(self.data)
        self._path = self._ref = None  # changed: no longer the stored table
        self.data.append(
            [cell(v, f"row {n}, column {c!r}") for v, c in zip(data, self.columns, strict=True)]
        )

    add_row = add_data

    def add_column(self, name: str, data: Any, optional: bool = False) -> None:
        """Add a column with one value per existing row."""
        self._load()
        if not isinstance(name, str):
            raise TypeError(f"Table: column name {name!r} must be a str")
        if name in self.columns:
            raise ValueError(f"Table: column {name!r} already exists")
        values = list(data.tolist() if hasattr(data, "tolist") else data)
        if self.data and len(values) != len(self.data):
            raise ValueError(
                f"Table: column {name!r} has {len(values)} values for {len(self.data)} rows"
            )
        self._path = self._ref = None  # changed: no longer the stored table
        if not self.data:
            self.data = [[] for _ in values]
        for i, (row, v) in enumerate(zip(self.data, values, strict=True)):
            row.append(cell(v, f"row {i}, column {name!r}"))
        self.columns.append(name)

    def get_column(self, name: str, convert_to: str | None = None) -> Any:
        """The values of a column (``convert_to="numpy"`` gives a numpy array)."""
        self._load()
        if name not in self.columns:
            raise KeyError(f"Table: no column {name!r}; columns: {self.columns!r}")
        i = self.columns.index(name)
        values = [row[i] for row in self.data]
        if convert_to == "numpy":
            return np.array(values)
        if convert_to is not None:
            raise ValueError(f"Table: convert_to={convert_to!r}; allowed: None, 'numpy'")
        return values

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame (media cells stay media objects)."""
        import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

        self._load()
        return pd.DataFrame([list(r) for r in self.data], columns=list(self.columns))

    def __len__(self) -> int:
        self._load()
        return len(self.data)

    # -- storage ----------------------------------------------------------------------------
    def _raw_copy_ok(self, files: MediaFiles) -> bool:
        # a table read from an artifact names the artifact's files; one stored into an
        # artifact must carry its cells' files: both are encoded again, cell by cell
        return self._resolver is None and not files.standalone

    @classmethod
    def from_cells(
        cls, columns: list[str], data: list[list[Any]], caption: str | None = None
    ) -> Table:
        """A table of cells that were already checked and copied (a table's snapshot, cells
        read back from a stored file): taken as they are, not checked or copied again."""
        table: Table = cls.__new__(cls)
        Media.__init__(table, caption)
        table.columns = columns
        table.data = data
        table._loaded = True
        return table

    def logged_copy(self) -> Table:
        self._load()
        copy: Table = Table.from_cells(
            list(self.columns), [list(r) for r in self.data], self.caption
        )
        copy._path, copy._ref = self._path, self._ref
        copy._resolver = self._resolver
        return copy

    def _payload(self, files: MediaFiles | None) -> dict[str, Any]:
        rows = self.data if files is None else [[files.convert(v) for v in r] for r in self.data]
        return {"columns": self.columns, "data": rows}

    def _encode_with(self, files: MediaFiles) -> tuple[bytes, str, dict[str, Any]]:
        data = json.dumps(self._payload(files), separators=(",", ":"), allow_nan=True)
        extra = {"ncols": len(self.columns), "nrows": len(self.data)}
        return data.encode(), "table.json", extra

    _files: MediaFiles | None = None

    def to_ref(self, files: MediaFiles) -> dict[str, Any]:
        self._files = files
        try:
            return super().to_ref(files)
        finally:
            self._files = None

    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        assert self._files is not None  # only called from to_ref
        return self._encode_with(self._files)

    def _load_ref(self, ref: dict[str, Any]) -> None:
        self._columns, self._data = [], []
        self._loaded = False
        self._nrows = ref.get("nrows")
        self._ncols = ref.get("ncols")

    def describe(self) -> str:
        """``Table 10x3``."""
        if not self._loaded:
            return f"Table {self._nrows}x{self._ncols}"
        return f"Table {len(self.data)}x{len(self.columns)}"

    def _repr_html_(self) -> str:
        self._load()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = []
        for row in self.data[:100]:
            body.append("<tr>" + "".join(f"<td>{_cell_html(v)}</td>" for v in row) + "</tr>")
        more = len(self.data) - 100
        tail = f"<p>… {more} more rows</p>" if more > 0 else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}"


def _cell_html(value: Any) -> str:
    thumb = getattr(value, "thumbnail", None)
    if thumb is not None:
        data = base64.b64encode(thumb(64)).decode()
        return f'<img src="data:image/png;base64,{data}" alt="image">'
    if isinstance(value, Media):
        return html.escape(value.describe())
    return html.escape(str(value))
