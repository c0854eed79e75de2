"""``nbrun.plot``: W&B's preset charts (``line``, ``scatter``, ``bar``, ``histogram``,
``line_series``, ``pr_curve``, ``roc_curve``, ``confusion_matrix``).

Each returns a :class:`Plot`: a :class:`~nbrun.Table` with the data plus a Vega-Lite spec that
draws it; log it like any value (``run.log({"pr": nbrun.plot.pr_curve(y, probas)})``). Read
back, ``.table`` and ``.spec`` give both; ``.vega_lite()`` is the spec with the data inlined.
"""

from __future__ import annotations

import copy
import html
import json
from typing import Any

import numpy as np

from ._base import Media, MediaFiles, Resolver, register
from ._table import Table

__all__ = [
    "Plot",
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "pr_curve",
    "roc_curve",
    "scatter",
]

_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


@register
class Plot(Media):
    """A chart: a :class:`Table` and a Vega-Lite spec whose data is the table's rows."""

    _ref_type = "plot-file"
    _kind = "plots"

    def __init__(self, table: Table, spec: dict[str, Any], title: str = "") -> None:
        super().__init__(None)
        if not isinstance(table, Table):
            raise TypeError(f"plot: table must be an nbrun.Table, got {type(table).__name__}")
        self._table: Table | None = table.logged_copy()
        self._spec: dict[str, Any] | None = copy.deepcopy(spec)
        self.title = title

    def _load(self) -> None:
        if self._table is not None:
            return
        with self._lock:
            if self._table is not None or self._path is None:
                return
            payload = json.loads(self._path.read_text(encoding="utf-8"))
            resolve = self._resolver or Resolver(self._path.parents[4], self._path.parents[3].name)
            t = payload.get("table", {})
            table = Table.from_cells(
                [str(c) for c in t.get("columns", [])],
                [[resolve(v) for v in row] for row in t.get("data", [])],
            )
            spec = payload.get("spec")
            self._spec = spec if isinstance(spec, dict) else {}
            self._table = table

    @property
    def table(self) -> Table:
        """The chart's data."""
        self._load()
        assert self._table is not None
        return self._table

    @property
    def spec(self) -> dict[str, Any]:
        """The Vega-Lite spec (its data is named ``table``; see :meth:`vega_lite`)."""
        self._load()
        return copy.deepcopy(self._spec or {})

    def vega_lite(self) -> dict[str, Any]:
        """The spec with the table's rows inlined as ``data.values`` (ready to render)."""
        spec = self.spec
        table = self.table
        rows = [
            {
                c: (v.describe() if isinstance(v, Media) else v)
                for c, v in zip(table.columns, r, strict=False)
            }
            for r in table.data
        ]
        spec["data"] = {"values": rows}
        return spec

    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        raise NotImplementedError  # to_ref writes the file itself

    def to_ref(self, files: MediaFiles) -> dict[str, Any]:
        with self._lock:
            if self._ref is not None and self._path is not None and self._resolver is None:
                same_project = str(self._ref.get("run", "")).split("/")[0]
                if same_project == files.owner.split("/")[0]:
                    return self._ref  # a run of this project owns it already: no copy
            table = self.table
            payload = {"spec": self._spec, "table": table._payload(files)}  # noqa: SLF001 - Table's cells as Table stores them
            data = json.dumps(payload, separators=(",", ":"), allow_nan=True).encode()
            sha, rel = files.put(data, self._kind, "plot.json")
            self._ref = {
                "_type": self._ref_type,
                "sha256": sha,
                "path": rel,
                "run": files.owner,
                "size": len(data),
                "title": self.title,
                "nrows": len(table.data),
            }
            return self._ref

    def _load_ref(self, ref: dict[str, Any]) -> None:
        self._table = None
        self._spec = None
        title = ref.get("title")
        self.title = title if isinstance(title, str) else ""

    def describe(self) -> str:
        """``Plot 'title'``."""
        return f"Plot {self.title!r}" if self.title else "Plot"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "application/vnd.vegalite.v5+json": self.vega_lite(),
            "text/plain": repr(self),
        }

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.describe())}</b>" + self.table._repr_html_()


def _need(table: Any, *names: str | None) -> Table:
    if not isinstance(table, Table):
        raise TypeError(f"plot: table must be an nbrun.Table, got {type(table).__name__}")
    for name in names:
        if name is not None and name not in table.columns:
            raise ValueError(f"plot: no column {name!r} in the table; columns: {table.columns!r}")
    return table


def _spec(mark: Any, encoding: dict[str, Any], title: str, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "$schema": _SCHEMA,
        "data": {"name": "table"},
        "mark": mark,
        "encoding": encoding,
        "width": 360,
        "height": 220,
    }
    if title:
        spec["title"] = title
    spec.update(extra)
    return spec


def line(
    table: Table,
    x: str,
    y: str,
    stroke: str | None = None,
    title: str = "",
    split_table: bool = False,
) -> Plot:
    """A line chart of column ``y`` against ``x`` (one line per value of ``stroke``)."""
    _need(table, x, y, stroke)
    enc: dict[str, Any] = {
        "x": {"field": x, "type": "quantitative"},
        "y": {"field": y, "type": "quantitative"},
    }
    if stroke is not None:
        enc["color"] = {"field": stroke, "type": "nominal"}
    return Plot(table, _spec("line", enc, title), title)


def scatter(table: Table, x: str, y: str, title: str = "", split_table: bool = False) -> Plot:
    """A scatter plot of column ``y`` against ``x``."""
    _need(table, x, y)
    enc = {"x": {"field": x, "type": "quantitative"}, "y": {"field": y, "type": "quantitative"}}
    return Plot(table, _spec("point", enc, title), title)


def bar(table: Table, label: str, value: str, title: str = "", split_table: bool = False) -> Plot:
    """A horizontal bar chart: one bar of ``value`` per ``label``."""
    _need(table, label, value)
    enc = {
        "y": {"field": label, "type": "nominal"},
        "x": {"field": value, "type": "quantitative"},
    }
    return Plot(table, _spec("bar", enc, title), title)


def histogram(table: Table, value: str, title: str = "", split_table: bool = False) -> Plot:
    """A histogram of column ``value``."""
    _need(table, value)
    enc = {
        "x": {"field": value, "type": "quantitative", "bin": {"maxbins": 30}},
        "y": {"aggregate": "count", "type": "quantitative"},
    }
    return Plot(table, _spec("bar", enc, title), title)


def line_series(
    xs: Any,
    ys: Any,
    keys: list[str] | None = None,
    title: str = "",
    xname: str = "x",
    split_table: bool = False,
) -> Plot:
    """Several lines on one chart: ``ys`` is a list of series; ``xs`` one shared x series or
    one per series; ``keys`` names the lines.

    With one shared ``xs``, every y series is plotted against it point by point, as W&B
    documents: a shorter series takes the first ``len(y)`` xs (W&B's ``basic_plots`` script
    logs 100 xs with series of 100 and 50 values). A series longer than the shared xs is a
    ``ValueError`` (its extra values would have no x); so is a per-series xs whose length
    differs from its series."""
    ys = [list(_plain(y)) for y in ys]
    xs_list = _plain(xs)
    shared = bool(xs_list) and not isinstance(xs_list[0], (list, tuple))
    if shared:
        xs_list = [list(xs_list)] * len(ys)
    if len(xs_list) != len(ys):
        raise ValueError(f"line_series: {len(xs_list)} x series for {len(ys)} y series")
    if keys is None:
        keys = [f"key_{i}" for i in range(len(ys))]
    if len(keys) != len(ys):
        raise ValueError(f"line_series: {len(keys)} keys for {len(ys)} series")
    table = Table(columns=["lineKey", "lineVal", "step"])
    for key, x, y in zip(keys, xs_list, ys, strict=True):
        if shared and len(y) > len(x):
            raise ValueError(
                f"line_series: series {key!r} has {len(y)} ys, more than the {len(x)} shared "
                "xs; give one x per y value"
            )
        if not shared and len(x) != len(y):
            raise ValueError(f"line_series: series {key!r} has {len(x)} xs and {len(y)} ys")
        for xv, yv in zip(x[: len(y)], y, strict=True):
            table.add_data(str(key), yv, xv)
    enc = {
        "x": {"field": "step", "type": "quantitative", "title": xname},
        "y": {"field": "lineVal", "type": "quantitative"},
        "color": {"field": "lineKey", "type": "nominal"},
    }
    return Plot(table, _spec("line", enc, title), title)


def _plain(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return [v.tolist() if hasattr(v, "tolist") else v for v in values]


def _labels_and_scores(
    y_true: Any, y_probas: Any, labels: Any, classes_to_plot: Any, what: str
) -> tuple[Any, Any, list[Any], list[int]]:
    truth = np.asarray(y_true)
    probas = np.asarray(y_probas, dtype=np.float64)
    if probas.ndim == 1:
        probas = np.stack([1 - probas, probas], axis=1)
    if truth.ndim != 1 or probas.ndim != 2 or len(truth) != len(probas) or len(truth) == 0:
        raise ValueError(
            f"{what}: y_true of shape {truth.shape} and y_probas of shape {probas.shape}; pass "
            "y_true (N,) and y_probas (N, classes)"
        )
    n_classes = probas.shape[1]
    names = list(labels) if labels is not None else list(range(n_classes))
    if len(names) != n_classes:
        raise ValueError(f"{what}: {len(names)} labels for {n_classes} classes of y_probas")
    plot = list(range(n_classes))
    if classes_to_plot is not None:
        plot = [int(c) for c in classes_to_plot]
    return truth, probas, names, plot


def _curve(truth: Any, scores: Any) -> tuple[Any, Any, Any, Any]:
    """Cumulative true / false positives at each distinct threshold (descending)."""
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    t = truth[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, len(s) - 1]
    tp = np.cumsum(t)[idx]
    fp = (idx + 1) - tp
    return tp, fp, t.sum(), len(t) - t.sum()


def _thin(*cols: Any, limit: int = 200) -> list[Any]:
    n = len(cols[0])
    if n <= limit:
        return [c.tolist() for c in cols]
    idx = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return [c[idx].tolist() for c in cols]


def pr_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: list[Any] | None = None,
    classes_to_plot: list[Any] | None = None,
    interp_size: int = 21,
    title: str = "Precision v. Recall",
    split_table: bool = False,
) -> Plot:
    """Precision-recall curves, one per class: ``y_true`` (N,) class indices, ``y_probas``
    (N, classes) scores."""
    truth, probas, names, plot = _labels_and_scores(
        y_true, y_probas, labels, classes_to_plot, "pr_curve"
    )
    table = Table(columns=["class", "recall", "precision"])
    for c in plot:
        tp, fp, pos, _neg = _curve((truth == c).astype(np.float64), probas[:, c])
        precision = tp / np.maximum(tp + fp, 1)
        recall = tp / pos if pos else np.zeros_like(tp)
        recall = np.r_[0.0, recall]
        precision = np.r_[1.0, precision]
        for r, p in zip(*_thin(recall, precision), strict=True):
            table.add_data(str(names[c]), r, p)
    enc = {
        "x": {"field": "recall", "type": "quantitative", "scale": {"domain": [0, 1]}},
        "y": {"field": "precision", "type": "quantitative", "scale": {"domain": [0, 1]}},
        "color": {"field": "class", "type": "nominal"},
    }
    return Plot(table, _spec({"type": "line", "interpolate": "step-after"}, enc, title), title)


def roc_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: list[Any] | None = None,
    classes_to_plot: list[Any] | None = None,
    title: str = "ROC",
    split_table: bool = False,
) -> Plot:
    """ROC curves, one per class: ``y_true`` (N,) class indices, ``y_probas`` (N, classes)."""
    truth, probas, names, plot = _labels_and_scores(
        y_true, y_probas, labels, classes_to_plot, "roc_curve"
    )
    table = Table(columns=["class", "fpr", "tpr"])
    for c in plot:
        tp, fp, pos, neg = _curve((truth == c).astype(np.float64), probas[:, c])
        tpr = np.r_[0.0, tp / pos if pos else np.zeros_like(tp)]
        fpr = np.r_[0.0, fp / neg if neg else np.zeros_like(fp)]
        for f, t in zip(*_thin(fpr, tpr), strict=True):
            table.add_data(str(names[c]), f, t)
    enc = {
        "x": {"field": "fpr", "type": "quantitative", "title": "False positive rate"},
        "y": {"field": "tpr", "type": "quantitative", "title": "True positive rate"},
        "color": {"field": "class", "type": "nominal"},
    }
    return Plot(table, _spec("line", enc, title), title)


def confusion_matrix(
    probs: Any = None,
    y_true: Any = None,
    preds: Any = None,
    class_names: list[str] | None = None,
    title: str = "Confusion Matrix Curve",
    split_table: bool = False,
) -> Plot:
    """A confusion matrix from ``y_true`` and either ``preds`` (class indices) or ``probs``
    (N, classes) scores (not both)."""
    if (probs is None) == (preds is None):
        raise ValueError("confusion_matrix: pass exactly one of probs= and preds=")
    if y_true is None:
        raise ValueError("confusion_matrix: y_true= is required")
    truth = np.asarray(y_true).astype(int).ravel()
    if probs is not None:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError(f"confusion_matrix: probs of shape {p.shape}; pass (N, classes)")
        guess = p.argmax(axis=1)
        n_classes = p.shape[1]
    else:
        guess = np.asarray(preds).astype(int).ravel()
        n_classes = int(max(truth.max(initial=0), guess.max(initial=0))) + 1
    if len(guess) != len(truth):
        raise ValueError(f"confusion_matrix: {len(truth)} labels and {len(guess)} predictions")
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    if len(names) < n_classes:
        raise ValueError(f"confusion_matrix: {len(names)} class_names for {n_classes} classes")
    counts = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(counts, (truth, guess), 1)
    table = Table(columns=["Actual", "Predicted", "nPredictions"])
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            table.add_data(str(a), str(b), int(counts[i, j]))
    enc = {
        "x": {"field": "Predicted", "type": "nominal"},
        "y": {"field": "Actual", "type": "nominal"},
        "color": {"field": "nPredictions", "type": "quantitative"},
    }
    return Plot(table, _spec("rect", enc, title), title)
