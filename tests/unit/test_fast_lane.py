"""The writer's fast lane for rows of floats (issue 16): rows packed into a FloatBlock on the hot
path come back exactly as the generic path stores them (same chunk bytes, same cumulative
state), in order with rows of other shapes, and are visible to readers before they are durable."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun._history import (
    FloatBlock,
    advance_state,
    build_columns,
    empty_state,
    encode_columns,
    encode_float_rows,
)
from nbrun._store import dumps

P = "fast"


def _block_rows(rows: list[dict[str, Any]]) -> tuple[FloatBlock, Any]:
    block = FloatBlock(rows[0], 1000)
    for row in rows:
        values = block.get(row)
        block.data += block.pack(row["_step"], *values, row["_runtime"], row["_timestamp"])
    taken = block.take()
    assert taken is not None
    return block, taken


@pytest.mark.parametrize(
    "values",
    [
        [0.5, -1.25, 3.0, 1e300, -0.0],
        [0.0, -0.0, 0.0],  # ties of 0.0 and -0.0: Python keeps the first
        [-0.0, 0.0],
        [math.nan, 1.0, -2.0],
        [math.inf, -math.inf, 2.0],
        [math.nan, math.nan],
    ],
)
def test_float_rows_encode_to_the_generic_chunk_and_state(values: list[float]) -> None:
    rows = [
        {"loss": v, "acc": float(i), "_step": 10 + i, "_runtime": 0.1 * i, "_timestamp": 1e9 + i}
        for i, v in enumerate(values)
    ]
    prior = advance_state(empty_state(), build_columns([{"loss": 7.0, "_step": 0}]))
    _, taken = _block_rows(rows)
    chunk, state = encode_float_rows(taken, prior)
    cols = build_columns(rows)
    want_state = advance_state(prior, cols)
    want = encode_columns(cols, dumps(want_state))
    assert chunk == want
    assert dumps(state) == dumps(want_state)


@pytest.mark.parametrize("keys", [("a",), ("a", "b")])
def test_float_rows_read_back_as_the_dicts_logged(keys: tuple[str, ...]) -> None:
    rows = [{**dict.fromkeys(keys, 1.5), "_step": 3, "_runtime": 0.5, "_timestamp": 9.0}]
    rows.append({**dict.fromkeys(keys, -2.0), "_step": 4, "_runtime": 0.75, "_timestamp": 10.0})
    _, taken = _block_rows(rows)
    assert taken.rows() == rows
    assert list(taken.rows()[0]) == list(rows[0])
    assert taken.last_step == 4
    assert [len(p) for p in taken.split(1)] == [1, 1]


def test_mixed_rows_keep_their_order_and_values(run_dir: Path) -> None:
    run = nbrun.init(project=P, settings={"flush_interval": 60.0, "flush_rows": 100})
    expected = []
    for i in range(250):
        if i % 50 == 7:
            row: dict[str, Any] = {"loss": float(i), "epoch": i // 50, "tag": "x"}
        elif i >= 200:
            row = {"loss": float(i), "val": -float(i)}
        else:
            row = {"loss": float(i)}
        run.log(row, step=i)
        expected.append({"_step": i, **row})
    run.log({"loss": math.nan}, step=250)
    run.finish()
    expected.append({"_step": 250, "loss": math.nan})
    df = nbrun.Api(run_dir).run(f"{P}/{run.id}").history()
    assert list(df["_step"]) == list(range(251))
    for want, got in zip(expected, df.to_dict("records"), strict=True):
        for key, value in want.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(got[key])
            else:
                assert got[key] == value, (key, want, got)
        assert got["_runtime"] >= 0 and got["_timestamp"] > 0
    assert df["epoch"].dropna().tolist() == [0, 1, 2, 3, 4]
    summary = nbrun.Api(run_dir).run(f"{P}/{run.id}").summary
    assert math.isnan(summary["loss"]) and summary["val"] == -249.0


def test_rows_in_the_open_block_are_read_before_they_are_durable(run_dir: Path) -> None:
    run = nbrun.init(project=P, settings={"flush_interval": 60.0, "flush_rows": 1000})
    for i in range(30):
        run.log({"loss": i * 0.5, "lr": 0.1}, step=i)
    run.log({"loss": 99.0, "lr": 0.1})  # commits step 29's row merged with these values
    df = run.history()
    assert list(df["_step"]) == list(range(30))
    assert df["loss"].iloc[-1] == 99.0 and df["loss"].iloc[3] == 1.5
    assert run.summary["loss"] == 99.0
    run.finish()
    assert list(nbrun.Api(run_dir).run(f"{P}/{run.id}").history()["loss"])[:2] == [0.0, 0.5]


def test_a_rejected_log_leaves_the_block_untouched(run_dir: Path) -> None:
    run = nbrun.init(project=P, settings={"flush_interval": 60.0})
    for i in range(5):
        run.log({"loss": float(i)}, step=i)
    with pytest.raises(TypeError):
        run.log({"loss": object()}, step=5)
    run.finish()
    df = nbrun.Api(run_dir).run(f"{P}/{run.id}").history()
    assert list(df["_step"]) == [0, 1, 2, 3, 4]
    assert list(df["loss"]) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_a_timestamp_of_its_own_is_kept(run_dir: Path) -> None:
    run = nbrun.init(project=P, settings={"flush_interval": 60.0})
    run.log({"loss": 1.0}, step=0)
    run.log({"loss": 2.0, "_timestamp": 5.0}, step=1)
    run.log({"loss": 3.0}, step=2)
    run.finish()
    df = nbrun.Api(run_dir).run(f"{P}/{run.id}").history()
    assert list(df["loss"]) == [1.0, 2.0, 3.0]
    assert df["_timestamp"].iloc[1] == 5.0 and df["_timestamp"].iloc[2] > 1e9
