"""The numpy read path of history (issue 16): chunks decoded straight into arrays must give
exactly the DataFrame the per-value path gives (pandas inferring from Python lists), for any
mix of types, missing keys, rows not flushed yet, nested dicts and step cuts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import nbrun
from nbrun._history import Columns, build_columns, encode_columns, key_filter, to_dataframe
from tests.conftest import examples

VALUES = st.one_of(
    st.none(),
    st.integers(-(2**62), 2**62),
    st.integers(2**63, 2**64),  # beyond int64: stored as JSON
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.floats(-1, 1) | st.none(), max_size=2),
)
KEYS = st.sampled_from(["x", "y", "z", "z.a", "n"])


@st.composite
def histories(draw: Any) -> list[list[dict[str, Any]]]:
    """Chunks of rows with increasing steps; each row a few keys of random types."""
    step = 0
    chunks = []
    for _ in range(draw(st.integers(1, 4))):
        rows = []
        for _ in range(draw(st.integers(1, 6))):
            row = {k: draw(VALUES) for k in draw(st.lists(KEYS, max_size=3, unique=True))}
            row["_step"] = step
            row["_runtime"] = float(step)
            step += draw(st.integers(1, 3))
            rows.append(row)
        chunks.append(rows)
    return chunks


def _frames(cols: Columns) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = to_dataframe(cols.arrays())
    # the reference: every column as a Python list, pandas infers the dtypes
    slow = to_dataframe(cols.finish())
    return fast, slow


@hsettings(max_examples=examples(0.5))
@given(histories(), st.integers(0, 3), st.integers(-1, 40), st.integers(0, 40))
def test_arrays_give_the_same_frame_as_lists(
    chunks: list[list[dict[str, Any]]], unflushed: int, after: int, upto: int
) -> None:
    """Same columns, dtypes and values (NaN where a row has no value) whatever the mix."""
    stored, extra = chunks[: len(chunks) - min(unflushed, len(chunks) - 1)], []
    for rows in chunks[len(stored) :]:
        extra += rows
    for lo, hi in ((None, None), (after, upto)):
        a, b = Columns(), Columns()
        for rows in stored:
            data = encode_columns(build_columns(rows))[3]
            a.add_chunk(data, hi, lo)
            b.add_chunk(data, hi, lo)
        a.add_rows(extra)
        b.add_rows(extra)
        fast, slow = _frames(a)
        pd.testing.assert_frame_equal(fast, _frames(b)[1])
        assert list(fast.dtypes) == list(slow.dtypes)


def test_numeric_columns_are_arrays_of_the_users_dtype(tmp_path: Any) -> None:
    """Ints stay int64, ints with gaps become float64 with NaN, a float column with a missing
    key is float64, bools stay bools, strings strings; rows not flushed yet read the same."""
    run = nbrun.init(project="p", dir=tmp_path)
    for i in range(2500):
        row: dict[str, Any] = {"i": i, "f": i / 2, "flag": i % 2 == 0, "name": f"n{i}"}
        if i % 7:
            row["gappy"] = i
        if i == 2400:
            row["late"] = 1.5
        run.log(row)
    df = run.history()  # the last rows may not be flushed yet
    run.finish()
    again = nbrun.Api(str(tmp_path)).run(f"p/{run.id}").history()
    for frame in (df, again):
        assert frame["_step"].dtype == np.int64
        assert frame["i"].dtype == np.int64
        assert frame["f"].dtype == np.float64
        assert frame["gappy"].dtype == np.float64
        assert np.isnan(frame["gappy"][0]) and frame["gappy"][1] == 1.0
        assert frame["flag"].dtype == np.bool_
        assert frame["name"].tolist()[:2] == ["n0", "n1"]  # strings, as pandas infers them
        assert frame["late"].isna().sum() == 2499 and frame["late"][2400] == 1.5
        assert frame["i"].tolist() == list(range(2500))
    pd.testing.assert_frame_equal(df, again)


@pytest.mark.parametrize("keys", [None, ["f"], ["missing"]])
def test_keys_and_samples_on_arrays(tmp_path: Any, keys: list[str] | None) -> None:
    """``keys`` keeps rows having one of them (a missing key: a column of None and no row);
    ``samples`` keeps evenly spaced rows."""
    with nbrun.init(project="p", dir=tmp_path) as run:
        for i in range(3000):
            run.log({"f": float(i)} if i % 2 else {"g": i})
    df = run.history(keys=keys, samples=100)
    if keys == ["missing"]:
        assert len(df) == 0 and list(df.columns) == ["_step", "missing", "_runtime", "_timestamp"]
    elif keys == ["f"]:
        assert len(df) == 100 and (df["_step"] % 2 == 1).all()
    else:
        assert len(df) == 100 and df["_step"].iloc[-1] == 2999


@hsettings(max_examples=examples(0.5))
@given(
    histories(),
    st.integers(0, 3),
    st.lists(st.sampled_from(["z.a", "z.b", "x", "z", "n.q", "_runtime"]), min_size=1, max_size=3),
)
@example(  # a nested dict and a literal dotted key feed one flattened column
    [[{"z": {"a": 1.0}, "_step": 0, "_runtime": 0.0}, {"z.a": 2.0, "_step": 1, "_runtime": 1.0}]],
    0,
    ["z.a"],
)
def test_keys_read_only_their_columns_and_give_the_same_frame(
    chunks: list[list[dict[str, Any]]], unflushed: int, keys: list[str]
) -> None:
    """``history(keys=...)`` decodes only ``_step``, the system columns, the keys asked for and
    the nested dicts they flatten from (literal dotted keys too), and gives the frame that
    reading every column and then picking gives."""
    stored, extra = chunks[: len(chunks) - min(unflushed, len(chunks) - 1)], []
    for rows in chunks[len(stored) :]:
        extra += rows
    every, some = Columns(), Columns(key_filter(keys))
    for rows in stored:
        data = encode_columns(build_columns(rows))[3]
        every.add_chunk(data)
        some.add_chunk(data)
    every.add_rows(extra)
    some.add_rows(extra)
    pd.testing.assert_frame_equal(
        to_dataframe(some.arrays(), keys), to_dataframe(every.arrays(), keys)
    )
    wanted = set(keys) | {"_step", "_runtime", "_timestamp"}
    assert all(k in wanted or any(w.startswith(k + ".") for w in keys) for k in some._parts)
