"""``history_buckets`` (issue 16): a run's metrics as min/max bucket summaries, read straight
from the chunks and cached per chunk; checked against the full history it summarises."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import nbrun
from nbrun._history import chunk_buckets, chunks_buckets, encode_columns
from nbrun._lineage import BUCKETS
from tests.conftest import examples


def _check(frame: pd.DataFrame, history: pd.DataFrame, key: str, x: str = "_step") -> None:
    """The buckets partition the finite points of ``key`` in step order, each keeping the
    lowest and the highest point of its rows."""
    ok = history[key].notna() & history[x].notna()
    pts = history[ok]
    ys = pts[key].to_numpy(float)
    fin = np.isfinite(ys) & np.isfinite(pts[x].to_numpy(float))
    pts, ys = pts[fin], ys[fin]
    assert int(frame["rows"].sum()) == len(pts)
    start = 0
    for row in frame.itertuples():
        part = pts.iloc[start : start + row.rows]
        start += row.rows
        assert row.y_min == part[key].min() and row.y_max == part[key].max()
        lo = part.iloc[int(np.argmin(part[key].to_numpy(float)))]
        hi = part.iloc[int(np.argmax(part[key].to_numpy(float)))]
        assert (row.step_min, row.x_min) == (lo["_step"], lo[x])
        assert (row.step_max, row.x_max) == (hi["_step"], hi[x])


def test_buckets_summarise_the_history_and_keep_a_spike(tmp_path: Any) -> None:
    with nbrun.init(project="p", dir=tmp_path) as run:
        for i in range(30_000):
            row: dict[str, Any] = {"loss": 1 / (i + 1) + (9.0 if i == 12_345 else 0.0)}
            if i % 3 == 0:
                row["acc"] = i % 97
            if i == 500:
                row["loss"] = math.nan
            row["nested"] = {"a": float(i % 11)} if i % 2 else {"b": "text"}
            run.log(row)
    view = nbrun.Api(str(tmp_path)).run(f"p/{run.id}")
    out = view.history_buckets(points=200)
    assert list(out) == ["acc", "loss", "nested.a"]  # strings are no metric
    hist = view.history()
    for key, frame in out.items():
        assert len(frame) <= 100
        _check(frame, hist, key)
    assert out["loss"]["y_max"].max() == 9.0 + 1 / 12_346  # the one-step spike survives
    assert out["acc"]["y_max"].dtype == np.float64 and out["acc"]["rows"].sum() == 10_000


def test_step_ranges_lineage_and_x_column(tmp_path: Any) -> None:
    with nbrun.init(project="p", dir=tmp_path) as parent:
        for i in range(5000):
            parent.log({"loss": float((i * 37) % 101), "epoch": i // 100})
    with nbrun.init(project="p", dir=tmp_path, fork_from=f"{parent.id}?_step=2999") as child:
        for _ in range(1000):
            child.log({"loss": -1.0})
    view = nbrun.Api(str(tmp_path)).run(f"p/{child.id}")
    hist = view.history()
    _check(view.history_buckets(points=64)["loss"], hist, "loss")
    own = view.history_buckets(points=64, lineage=False)["loss"]
    assert own["rows"].sum() == 1000 and own["y_max"].max() == -1.0
    part = view.history_buckets(points=64, min_step=1000, max_step=2999)["loss"]
    _check(part, hist[(hist._step >= 1000) & (hist._step <= 2999)], "loss")
    by_epoch = view.history_buckets(x="epoch", points=64)
    assert by_epoch["loss"].attrs["x"] == "epoch"
    _check(by_epoch["loss"], hist[hist["_step"] <= 2999], "loss", x="epoch")  # child: no epoch


def test_cached_summaries_follow_new_rows_and_rewinds(tmp_path: Any) -> None:
    """A second read uses the cache and gives the same; rows logged since (flushed or not)
    and a rewind that rewrote the history are seen, never stale summaries."""
    run = nbrun.init(project="p", dir=tmp_path)
    for i in range(3000):
        run.log({"y": float(i)})
    run.flush()
    first = run.history_buckets(points=40)["y"]
    assert BUCKETS.bytes > 0
    pd.testing.assert_frame_equal(first, run.history_buckets(points=40)["y"])
    for i in range(3000, 3500):
        run.log({"y": float(i)})
    _check(run.history_buckets(points=40)["y"], run.history(), "y")  # not all flushed yet
    run.finish()
    rewound = nbrun.init(project="p", dir=tmp_path, resume_from=f"{run.id}?_step=1999")
    for _ in range(200):
        rewound.log({"y": -5.0})
    rewound.finish()
    view = nbrun.Api(str(tmp_path)).run(f"p/{run.id}")
    now = view.history_buckets(points=40)["y"]
    _check(now, view.history(), "y")
    assert now["rows"].sum() == 2200 and now["y_min"].min() == -5.0
    ghost = view.archives()[0].history_buckets(points=40)["y"]
    assert ghost["rows"].sum() == 1500 and ghost["y_min"].min() == 2000.0


@pytest.mark.parametrize("points", [3, "10", 2.5])
def test_bad_points_are_refused(tmp_path: Any, points: Any) -> None:
    with nbrun.init(project="p", dir=tmp_path) as run:
        run.log({"y": 1.0})
    with pytest.raises(nbrun.UsageError, match="points="):
        run.history_buckets(points=points)


FLOATS = st.one_of(
    st.floats(-1e6, 1e6), st.sampled_from([0.0, 1.0, -1.0]), st.just(math.nan), st.none()
)


@st.composite
def batches(draw: Any) -> tuple[list[tuple[bytes, int | None, int | None]], int]:
    """Encoded chunks of a few metrics, often all of one size (the batched reshape path),
    sometimes cut by a step range; and a bucket group."""
    group = draw(st.sampled_from([1, 2, 3, 4, 16]))
    # a size the group divides (whole buckets only) or any size
    size = group * draw(st.integers(1, 3)) if draw(st.booleans()) else draw(st.integers(1, 40))
    uniform = draw(st.booleans())
    clean = draw(st.booleans())  # no cut, no missing value: the reshape path when uniform
    step = 0
    items: list[tuple[bytes, int | None, int | None]] = []
    for _ in range(draw(st.integers(1, 5))):
        n = size if uniform else draw(st.integers(1, 40))
        steps = list(range(step, step + n))
        step += n + draw(st.integers(0, 2))
        cols: dict[str, list[Any]] = {"_step": steps, "_runtime": [s / 10 for s in steps]}
        for key in draw(st.lists(st.sampled_from(["y", "z", "k"]), unique=True)):
            if key == "k":  # ints (int64 column), the x column of "z" below
                cols[key] = [s * 3 for s in steps]
            else:
                values = st.floats(-1e6, 1e6) if clean else FLOATS
                cols[key] = draw(st.lists(values, min_size=n, max_size=n))
        cut = not clean and draw(st.booleans())
        lo = steps[0] + draw(st.integers(-1, n)) if cut else None
        hi = steps[-1] - draw(st.integers(-1, n)) if cut else None
        items.append((encode_columns(cols)[3], hi, lo))
    return items, group


@hsettings(max_examples=examples(0.5))
@given(batches())
def test_batched_buckets_equal_each_chunks_own(case: Any) -> None:
    """Bucketing many chunks in one pass (the reshape of equal-sized chunks, the general
    pass with gaps and NaN, cuts) gives exactly each chunk's own bucket summaries."""
    items, group = case
    x = {"z": "k"}.get
    pick = lambda key: x(key) or "_step"  # noqa: E731
    together = chunks_buckets(items, pick, group)
    for (data, hi, lo), got in zip(items, together, strict=True):
        alone = chunk_buckets(data, pick, group, hi, lo)
        assert sorted(got) == sorted(alone)
        for key, arr in alone.items():
            np.testing.assert_array_equal(got[key], arr)
