"""Stored whole-chunk bucket summaries (rule 68, issue 24 item 5): what the writer stores
beside each chunk equals what the chunk's rows give, and a chart read from them equals the
chart read from the chunks, for random runs with NaN, None, ints, text and nested dicts, and
forks and rewinds that cut chunks."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import nbrun
from nbrun._history import (
    FloatBlock,
    advance_state,
    build_columns,
    chunk_summary,
    chunks_buckets,
    decode_summary,
    empty_state,
    encode_columns,
    encode_float_chunk,
    encode_summary,
)
from nbrun._lineage import BUCKETS
from nbrun._store import DB_NAME, dumps
from nbrun._views import Archive
from tests.conftest import examples

VALUES = st.one_of(
    st.floats(-1e6, 1e6),
    st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf]),
    st.just(math.nan),
    st.none(),
    st.integers(-(2**40), 2**40),
    st.sampled_from(["text", True]),
    st.builds(lambda v: {"a": v}, st.floats(-10, 10)),
)


@st.composite
def chunk_rows(draw: Any) -> list[dict[str, Any]]:
    """Rows of one chunk: steps with gaps, a few keys, each sometimes missing."""
    n = draw(st.integers(1, 30))
    keys = draw(st.lists(st.sampled_from(["y", "z", "w"]), min_size=1, unique=True))
    floats_only = draw(st.booleans())  # numeric chunks: the summary's array path
    step = draw(st.integers(0, 100))
    rows = []
    for i in range(n):
        step += draw(st.integers(1, 3))
        row: dict[str, Any] = {"_step": step, "_runtime": i / 7, "_timestamp": 1e9 + i}
        for key in keys:
            if floats_only:
                row[key] = draw(st.one_of(st.floats(-1e3, 1e3), st.just(math.nan)))
            elif draw(st.booleans()):
                row[key] = draw(VALUES)
        rows.append(row)
    return rows


# -- rule 68 -----------------------------------------------------------------------------------
@hsettings(max_examples=examples(1.0), deadline=None)
@given(chunk_rows())
def test_rule68_a_stored_summary_equals_the_chunks_own_buckets(rows: list[dict[str, Any]]) -> None:
    """One bucket per metric of the whole chunk: the same numbers (lowest and highest point,
    their steps, rows, their rows' _runtime and _timestamp) as bucketing the chunk's rows."""
    data = encode_columns(build_columns(rows), None)[3]
    want = chunks_buckets([(data, None, None)], lambda _k: "_step", len(rows))[0]
    stored = chunk_summary(data)
    if stored is None:  # nested dicts: such chunks are charted from their rows
        assert any(type(r.get(k)) is dict for r in rows for k in r)
        return
    got = decode_summary(stored)
    assert decode_summary(encode_summary(got)).keys() == got.keys()
    assert sorted(got) == sorted(want)
    for key, arr in want.items():
        assert arr.shape == (1, 11)
        np.testing.assert_array_equal(got[key], arr)  # NaN == NaN, -0.0 == 0.0 per position
        assert np.array_equal(np.signbit(got[key]), np.signbit(arr))


def _drop_summaries(root: Path) -> None:
    conn = sqlite3.connect(root / "nbrun" / DB_NAME)
    conn.execute("DELETE FROM history_summaries")
    conn.commit()
    conn.close()


def _charts(view: Any, points: int, **cut: Any) -> dict[str, pd.DataFrame]:
    BUCKETS._items.clear()  # read from the store, not from this process's cache
    BUCKETS.bytes = 0
    out: dict[str, pd.DataFrame] = view.history_buckets(points=points, **cut)
    return out


@st.composite
def families(draw: Any) -> dict[str, Any]:
    """A run of random rows, perhaps rewound (cutting a chunk) and continued, and a fork
    from a step inside a chunk."""
    n = draw(st.integers(30, 120))
    values = draw(st.lists(VALUES, min_size=n, max_size=n))
    ints = draw(st.booleans())  # a column of ints
    rewind = draw(st.none() | st.integers(5, n - 5))
    last = n - 1 if rewind is None else rewind + 20  # the run's last step when forked
    fork = draw(st.none() | st.integers(0, last))
    return {"values": values, "ints": ints, "rewind": rewind, "fork": fork}


def _log(run: Any, values: list[Any], ints: bool, start: int) -> None:
    for i, v in enumerate(values):
        row: dict[str, Any] = {"y": v, "s": float((i * 7) % 13)}
        if ints:
            row["k"] = i * 3
        run.log(row, step=start + i)


@hsettings(max_examples=examples(0.1), deadline=None)
@given(families())
def test_rule68_charts_from_stored_summaries_equal_charts_from_the_chunks(
    fam: dict[str, Any],
) -> None:
    """Every view of the family (the run, its archive, the fork with its inherited part,
    ranges cutting chunks) charts the same from stored summaries as from the chunks alone,
    at a bucket width spanning whole chunks (the summaries' case) and finer."""
    settings = {"flush_rows": 7, "flush_interval": 60.0}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        values = fam["values"]
        with nbrun.init(project="p", dir=root, id="a", settings=settings) as run:
            _log(run, values, fam["ints"], 0)
        if fam["rewind"] is not None:
            step = fam["rewind"]
            spec = f"a?_step={step}"
            with nbrun.init(project="p", dir=root, resume_from=spec, settings=settings) as run:
                _log(run, values[::-1][:20], fam["ints"], step + 1)
        if fam["fork"] is not None:
            spec = f"a?_step={fam['fork']}"
            with nbrun.init(
                project="p", dir=root, id="f", fork_from=spec, settings=settings
            ) as run:
                _log(run, values[:25], fam["ints"], fam["fork"] + 1)
        conn = sqlite3.connect(root / "nbrun" / DB_NAME)
        stored = conn.execute("SELECT COUNT(*) FROM history_summaries").fetchone()[0]
        conn.close()
        assert stored > 0
        api = nbrun.Api(str(root))
        views: list[Any] = [api.run("p/a"), *api.run("p/a").archives()]
        if fam["fork"] is not None:
            views.append(api.run("p/f"))
        reads = [
            (view, points, cut)
            for view in views
            for points in (4, 8, 64)  # 4: buckets of 128+ rows, whole chunks of 7
            for cut in ({}, {"min_step": 10}, {"max_step": 40})
            if not cut or not isinstance(view, Archive)  # archives take no step range
        ]
        before = [_charts(view, points, **cut) for view, points, cut in reads]
        _drop_summaries(root)
        after = [_charts(view, points, **cut) for view, points, cut in reads]
        for (view, points, cut), got, want in zip(reads, before, after, strict=True):
            assert sorted(got) == sorted(want), (view, points, cut)
            for key in want:
                pd.testing.assert_frame_equal(got[key], want[key], obj=f"{view} {key} {cut}")


@st.composite
def float_blocks(draw: Any) -> list[dict[str, Any]]:
    """Rows of the fast lane (same keys, floats only), with ties of 0.0 / -0.0, NaN, inf."""
    keys = draw(st.lists(st.sampled_from(["y", "z", "w"]), min_size=1, unique=True))
    value = st.one_of(
        st.floats(-1e3, 1e3),
        st.sampled_from([0.0, -0.0, 1.0]),
        st.sampled_from([math.nan, math.inf, -math.inf]),
    )
    n = draw(st.integers(1, 40))
    return [
        {**{k: draw(value) for k in keys}, "_step": 3 * i, "_runtime": i / 3, "_timestamp": 1e9}
        for i in range(n)
    ]


@hsettings(max_examples=examples(1.0), deadline=None)
@given(float_blocks())
def test_rule68_the_fast_lane_summary_is_the_chunks_summary(rows: list[dict[str, Any]]) -> None:
    """The writer summarises a block of floats while encoding it (one pass per column with
    the state): the same bytes as summarising the chunk it wrote, and the same state."""
    block = FloatBlock(rows[0], 1000)
    for row in rows:
        values = block.get(row)
        block.data += block.pack(row["_step"], *values, row["_runtime"], row["_timestamp"])
    taken = block.take()
    assert taken is not None
    chunk, state, summary = encode_float_chunk(taken, empty_state())
    assert summary == chunk_summary(chunk[3])
    want_state = advance_state(empty_state(), build_columns(rows))
    assert chunk[3] == encode_columns(build_columns(rows), None)[3]
    for key, agg in want_state["agg"].items():  # lowest and highest found in that same pass
        lo, hi, _, count, nan = state["agg"][key]
        assert dumps([lo, hi, count, nan]) == dumps([agg[0], agg[1], agg[3], agg[4]])
