"""``Histogram``: counts and bin edges, stored inline in the history row (no file)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from ._base import Media, MediaFiles, register

MAX_BINS = 512


@register
class Histogram(Media):
    """A histogram for ``run.log``: ``Histogram(sequence=None, np_histogram=None,
    num_bins=64)``.

    ``sequence`` is any array-like of finite numbers (binned into ``num_bins`` bins, at most
    512, as W&B allows); ``np_histogram`` is a ``(counts, edges)`` pair such as
    ``numpy.histogram`` returns. ``.histogram`` holds the counts and ``.bins`` the edges
    (one more than the counts). The training thread only checks and copies the values; the
    binning happens on first use or on the writer thread.
    """

    _ref_type = "histogram"
    _kind = ""

    def __init__(
        self,
        sequence: Any = None,
        np_histogram: Any = None,
        num_bins: int = 64,
    ) -> None:
        super().__init__(None)
        if type(num_bins) is not int and not isinstance(num_bins, np.integer):
            raise TypeError(f"Histogram: num_bins={num_bins!r} must be an int from 1 to 512")
        if not 1 <= int(num_bins) <= MAX_BINS:
            raise ValueError(
                f"Histogram: num_bins={num_bins!r}; the maximum supported number of bins is "
                f"{MAX_BINS} (and at least 1)"
            )
        self.num_bins = int(num_bins)
        self._values: Any = None
        self._counts: list[float] | None = None
        self._edges: list[float] | None = None
        if np_histogram is not None:
            if sequence is not None:
                raise ValueError("Histogram: pass sequence or np_histogram, not both")
            self._take_np_histogram(np_histogram)
        elif sequence is not None:
            try:
                arr = np.array(sequence, dtype=np.float64).ravel()
            except (TypeError, ValueError):
                raise TypeError(
                    f"Histogram: sequence of type {type(sequence).__name__} is not numeric; "
                    "pass an array-like of numbers"
                ) from None
            if not np.isfinite(arr).all():
                raise ValueError(
                    "Histogram: sequence contains NaN or infinity; pass finite numbers"
                )
            self._values = arr
        else:
            raise ValueError("Histogram: pass sequence= or np_histogram=(counts, edges)")

    def _take_np_histogram(self, pair: Any) -> None:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                "Histogram: np_histogram must be a (counts, edges) pair as numpy.histogram "
                f"returns, got {type(pair).__name__}"
            )
        try:
            counts = np.array(pair[0], dtype=np.float64).ravel()
            edges = np.array(pair[1], dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError("Histogram: np_histogram counts and edges must be numeric") from None
        if len(edges) != len(counts) + 1:
            raise ValueError(
                f"Histogram: np_histogram has {len(counts)} counts and {len(edges)} edges; "
                "there must be one more edge than counts"
            )
        if len(counts) > MAX_BINS:
            raise ValueError(
                f"Histogram: np_histogram has {len(counts)} bins; the maximum supported number "
                f"of bins is {MAX_BINS}"
            )
        if not (np.isfinite(counts).all() and np.isfinite(edges).all()):
            raise ValueError("Histogram: np_histogram contains NaN or infinity")
        self._counts = [int(c) if c == int(c) else float(c) for c in counts.tolist()]
        self._edges = edges.tolist()

    def _bin(self) -> None:
        if self._counts is None:
            counts, edges = np.histogram(self._values, bins=self.num_bins)
            self._counts, self._edges = counts.tolist(), edges.tolist()

    @property
    def histogram(self) -> list[float]:
        """The counts, one per bin."""
        self._bin()
        return list(self._counts or [])

    @property
    def bins(self) -> list[float]:
        """The bin edges (one more than the counts)."""
        self._bin()
        return list(self._edges or [])

    def to_ref(self, files: MediaFiles) -> dict[str, Any]:
        self._bin()
        return {"_type": "histogram", "values": self._counts, "bins": self._edges}

    def _load_ref(self, ref: dict[str, Any]) -> None:
        values, bins = ref.get("values"), ref.get("bins")
        self._values = None
        self._counts = list(values) if isinstance(values, list) else []
        self._edges = list(bins) if isinstance(bins, list) else []
        self.num_bins = len(self._counts)

    def to_json(self) -> dict[str, Any]:
        """The stored form: ``{"_type": "histogram", "values": counts, "bins": edges}``."""
        self._bin()
        return {"_type": "histogram", "values": self.histogram, "bins": self.bins}

    def describe(self) -> str:
        """``Histogram (64 bins)``."""
        n = self.num_bins if self._counts is None else len(self._counts)
        return f"Histogram ({n} bins)"

    def _repr_html_(self) -> str:
        counts = self.histogram
        edges = self.bins
        top = max(counts) if counts else 0
        w = 300
        bar = w / max(1, len(counts))
        rects = "".join(
            f'<rect x="{i * bar:.2f}" y="{100 - (c / top * 100 if top else 0):.2f}" '
            f'width="{max(bar - 0.5, 0.5):.2f}" height="{(c / top * 100 if top else 0):.2f}" '
            'fill="#4c78a8"/>'
            for i, c in enumerate(counts)
        )
        label = html.escape(f"{edges[0]:.4g} .. {edges[-1]:.4g}") if edges else ""
        return (
            f'<svg width="{w}" height="100" viewBox="0 0 {w} 100">{rects}</svg><div>{label}</div>'
        )
