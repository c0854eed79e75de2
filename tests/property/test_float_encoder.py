"""The C encoder of the writer's float blocks (``nbrun/_fastlog.c``'s ``encode_floats``, rule
71) against the numpy one it replaces: for any sequence of blocks (any floats: NaN, infinities,
-0.0, huge and tiny, integers as floats; keys that come and go between blocks; blocks of one row
to a thousand) both give the same chunk, byte for byte, and the same cumulative state."""

from __future__ import annotations

import math
import os
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import nbrun._history.blocks as blocks_module
import nbrun._history.writer as writer_module
from nbrun._history import MAX_STEP, FloatBlock
from nbrun._history.blocks import (
    encode_float_chunk,
    encode_float_rows,
    encode_float_rows_c,
    encode_float_stats_c,
    extreme_points,
)
from tests.conftest import examples

PURE = os.environ.get("NBRUN_PURE_PYTHON", "") not in ("", "0")

FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 2.0**-1022]),
    st.integers(-(2**62), 2**62).map(float),  # integers as floats
    # NaNs with other payloads and signs: copied bit for bit
    st.integers(0, 2**51 - 1).map(
        lambda m: struct.unpack("<d", struct.pack("<Q", 0xFFF8 << 48 | m))[0]
    ),
)
KEYS = st.lists(
    st.sampled_from(["loss", "acc", "lr", "a/b", "é", "x" * 40]),
    min_size=1,
    max_size=5,
    unique=True,
)


@st.composite
def blocks(draw: Any) -> list[tuple[list[str], list[tuple[int, list[float], float, float]]]]:
    """Blocks in the order a writer seals them: each its own keys (a key may be missing from
    the next), rows of increasing steps."""
    out = []
    step = draw(st.integers(0, 1000))
    for _ in range(draw(st.integers(1, 4))):
        keys = draw(KEYS)
        n = draw(st.sampled_from([1, 2, 3, 63, 64, 65, 200, 1000]))
        values = draw(st.lists(FLOATS, min_size=len(keys), max_size=len(keys) * 3))
        rows = []
        for i in range(n):  # the drawn values, cycled: big blocks stay cheap to draw
            vals = [values[(i * len(keys) + j) % len(values)] for j in range(len(keys))]
            rows.append((step, vals, 0.001 * i, 1.8e9 + i))
            step = min(MAX_STEP, step + draw(st.sampled_from([1, 1, 7]))) if i < 3 else step + 1
        out.append((keys, rows))
    return out


def _encode_all(encoder: Any, seq: Any) -> list[Any]:
    state: dict[str, Any] = {}
    out = []
    for keys, rows in seq:
        block = FloatBlock(dict.fromkeys(keys, 0.0), max(len(rows), 1))
        for step, vals, runtime, now in rows:
            block.append(step, block.get(dict(zip(keys, vals, strict=True))), runtime, now)
        taken = block.take()
        assert taken is not None
        chunk, state = encoder(taken, state)
        out.append(chunk)
    out.append(state)
    return out


@pytest.fixture(autouse=True)
def _needs_the_extension() -> None:
    if blocks_module._encode_floats is None:
        if PURE:
            pytest.skip("NBRUN_PURE_PYTHON=1: the C encoder is switched off")
        pytest.fail("nbrun._fastlog is not built: run `python hatch_build.py`")


@hsettings(max_examples=examples(1.0), deadline=None)
@given(blocks())
@example([(["a"], [(0, [-0.0], 0.0, 1.0), (1, [0.0], 0.0, 1.0)])])
@example([(["a", "b"], [(5, [math.inf, math.nan], 0.0, 1.0), (6, [-math.inf, 1.0], 0.0, 1.0)])])
@example([(["a"], [(MAX_STEP, [math.nan], 0.0, 1.0)]), (["b"], [(MAX_STEP, [1e308], 0.0, 1.0)])])
def test_rule71_the_c_encoder_gives_the_python_encoders_bytes(seq: Any) -> None:
    c = _encode_all(encode_float_rows_c, seq)
    py = _encode_all(encode_float_rows, seq)
    for a, b in zip(c[:-1], py[:-1], strict=True):
        assert a[3] == b[3]  # the chunk's bytes
        assert a[:3] == b[:3] and a[4] == b[4]  # steps, rows, the state stored with it
    assert repr(c[-1]) == repr(py[-1])


@hsettings(max_examples=examples(0.5), deadline=None)
@given(blocks())
@example([(["a"], [(0, [math.inf], 0.0, 1.0), (1, [-0.0], 0.0, 1.0), (2, [0.0], 0.0, 1.0)])])
@example([(["a"], [(0, [math.nan], 0.0, 1.0), (1, [-math.inf], 0.0, 1.0)])])
def test_rule71_the_c_encoders_finite_extremes_are_numpys(seq: Any) -> None:
    """The count of finite values and the rows of the first lowest and highest of them (what
    a chunk's bucket summary needs) are numpy's ``isfinite`` / ``argmin`` / ``argmax``."""
    for keys, rows in seq:
        width = len(keys) + 3 if len(keys) > 1 else 5  # a single key is doubled
        block = FloatBlock(dict.fromkeys(keys, 0.0), len(rows))
        for step, vals, runtime, now in rows:
            block.append(step, block.get(dict(zip(keys, vals, strict=True))), runtime, now)
        words = tuple(range(1, len(keys) + 1))
        _, stats = blocks_module._encode_floats(bytes(block.data), width, (0,), words, b"")
        recs = np.frombuffer(bytes(block.data), dtype="<f8").reshape(len(rows), width)
        for word, got in zip(words, stats, strict=True):
            col = recs[:, word]
            fin = np.flatnonzero(np.isfinite(col))
            want = (len(fin), -1, -1)
            if len(fin):
                want = (len(fin), int(fin[col[fin].argmin()]), int(fin[col[fin].argmax()]))
            assert got[6:] == want


def test_rule71_the_writer_encodes_with_c_when_the_extension_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert writer_module.encode_block is blocks_module.encode_block
    seen: list[int] = []

    def c(rows: Any, state: Any) -> Any:
        seen.append(len(rows))
        return encode_float_stats_c(rows, state)

    monkeypatch.setattr(blocks_module, "encode_float_stats_c", c)
    block = FloatBlock({"a": 0.0, "b": 2.0}, 10)
    for step, (a, b) in enumerate([(1.0, 5.0), (-3.0, math.inf), (2.0, -0.0)]):
        block.append(step, block.get({"a": a, "b": b}), 0.1 * step, 100.0 + step)
    rows = block.take()
    assert rows is not None
    # the chunk, its state and its stored summary (rule 68) as numpy's reference makes them
    assert blocks_module.encode_block(rows, {}) == encode_float_chunk(rows, {})
    assert seen == [3]  # the C encoder made it


@pytest.mark.parametrize("width", [300, 1000])
def test_rule71_wide_blocks_encode_the_same(width: int) -> None:
    """Rows wider than the C log path takes (it hands rows of more than 256 keys to Python):
    their blocks still go through the C encoder, with the same bytes."""
    keys = [f"k{i}" for i in range(width)]
    rows = [(i, [float(i * j) - 0.5 for j in range(width)], 0.1 * i, 1.8e9 + i) for i in range(70)]
    rows[3][1][7] = math.nan
    seq = [(keys, rows)]
    assert repr(_encode_all(encode_float_rows_c, seq)) == repr(_encode_all(encode_float_rows, seq))


def test_rule71_the_c_encoder_refuses_what_is_not_whole_records() -> None:
    encode = blocks_module._encode_floats
    rec = bytes(24)  # one record of 3 words
    assert encode(rec * 2, 3, (0, 2), (1,), b"P")[0] == b"P" + bytes(32)
    with pytest.raises(TypeError, match="encode_floats"):
        encode(bytearray(rec), 3, (0,), (), b"")
    with pytest.raises(ValueError, match="whole records"):
        encode(rec[:-8], 3, (0,), (), b"")
    with pytest.raises(ValueError, match="word 3 outside a record of 3"):
        encode(rec, 3, (0, 3), (), b"")
    with pytest.raises(ValueError, match="word -1"):
        encode(rec, 3, (0,), (-1,), b"")


@hsettings(max_examples=examples(0.5), deadline=None)
@given(blocks())
def test_rule71_extreme_points_are_numpys(seq: Any) -> None:
    """:func:`extreme_points` from the C statistics gives what a numpy pass over the columns
    gives (count of finite values, first lowest and highest finite with their steps and times)."""
    for keys, rows in seq:
        block = FloatBlock(dict.fromkeys(keys, 0.0), len(rows))
        for step, vals, runtime, now in rows:
            block.append(step, block.get(dict(zip(keys, vals, strict=True))), runtime, now)
        taken = block.take()
        assert taken is not None
        _, _, stats = encode_float_stats_c(taken, {})
        width = len(block.names) + 1
        recs = np.frombuffer(taken.data, dtype="<f8").reshape(len(rows), width)
        steps = np.frombuffer(taken.data, dtype="<i8").reshape(len(rows), width)[:, 0]
        want_keys, want = [], []
        for key in keys:
            col = recs[:, block.names.index(key) + 1]
            fin = np.flatnonzero(np.isfinite(col))
            if not len(fin):
                continue
            lo, hi = int(fin[col[fin].argmin()]), int(fin[col[fin].argmax()])
            s0, s1 = float(steps[lo]), float(steps[hi])
            want_keys.append(key)
            want += [float(len(fin)), s0, float(col[lo]), s0, s1, float(col[hi]), s1]
            want += [
                float(recs[lo, -2]),
                float(recs[lo, -1]),
                float(recs[hi, -2]),
                float(recs[hi, -1]),
            ]
        got_keys, got = extreme_points(taken, stats)
        assert got_keys == want_keys
        assert repr(got) == repr(want)
