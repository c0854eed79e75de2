"""The C fast path of ``Run.log`` (``nbrun/_fastlog.c``, issue 16) against the Python path.

Every hot-path rule test here runs on both paths (the ``log_path`` fixture): ``c`` is
``Run.log`` as installed (the extension's ``LogMethod`` in front of ``Run._log``), ``python``
is ``Run._log`` alone, what ``NBRUN_PURE_PYTHON=1`` or an install without a C compiler gives.
The equivalence tests replay the same random sequences of calls on both paths with the same
clock and compare what is stored byte for byte."""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import nbrun
import nbrun._history.blocks as blocks_module
import nbrun._history.writer as writer_module
from nbrun import _run
from nbrun._history import MAX_STEP, FloatBlock, Writer
from nbrun._history.blocks import encode_float_chunk
from nbrun._summary import Summary
from nbrun.errors import UsageError
from tests.conftest import python_env

P = "fastlog"
PURE = os.environ.get("NBRUN_PURE_PYTHON", "") not in ("", "0")


def _use(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "python":
        monkeypatch.setattr(_run.Run, "log", _run.Run._log)
        return
    if _run._fastlog is None:
        if PURE:
            pytest.skip("NBRUN_PURE_PYTHON=1: the C path is switched off")
        pytest.fail("nbrun._fastlog is not built: run `python hatch_build.py` (needs a C compiler)")
    assert isinstance(_run.Run.__dict__["log"], _run._fastlog.LogMethod)


@pytest.fixture(params=["c", "python"])
def log_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which implementation ``Run.log`` is for this test."""
    _use(request.param, monkeypatch)
    return request.param


def _init(**kwargs: Any) -> nbrun.Run:
    kwargs.setdefault("project", P)
    kwargs.setdefault("reinit", "create_new")
    kwargs.setdefault("settings", {"stats": False, "console": "off"})
    return nbrun.init(**kwargs)


def _rows(run: Any) -> list[dict[str, Any]]:
    """Rows without the engine's time columns, missing values dropped."""
    df = run.history().drop(columns=["_runtime", "_timestamp"])
    return [
        {k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))}
        for rec in df.to_dict("records")
    ]


# -- the common case and its rules, on both paths -------------------------------------------
def test_a_loop_of_float_rows_is_stored_as_logged(run_dir: Path, log_path: str) -> None:
    run = _init(settings={"stats": False, "console": "off", "flush_rows": 100})
    for i in range(350):  # several blocks sealed when full
        run.log({"loss": 1.0 / (i + 1), "acc": i * 0.5}, step=i)
    assert run.step == 349
    run.finish()
    rows = _rows(nbrun.Api(run_dir).run(f"{P}/{run.id}"))
    assert rows == [{"_step": i, "loss": 1.0 / (i + 1), "acc": i * 0.5} for i in range(350)]
    assert dict(run.summary) == {"loss": 1.0 / 350, "acc": 349 * 0.5}


def test_a_single_key_row(run_dir: Path, log_path: str) -> None:
    run = _init()
    for i in range(5):
        run.log({"x": i + 0.5})
    assert run.step == 5
    run.finish()
    assert _rows(run) == [{"_step": i, "x": i + 0.5} for i in range(5)]
    assert run.summary["x"] == 4.5


def test_rule20_step_commit_and_merges(run_dir: Path, log_path: str) -> None:
    run = _init()
    run.log({"a": 1.0, "b": 1.0}, step=0)
    run.log({"a": 2.0}, step=0)  # same step: merged, the later value wins
    assert run.step == 0 and run.history().empty
    run.log({"a": 3.0, "b": 3.0}, step=2)  # a larger step writes the pending row first
    assert run.step == 2
    assert _rows(run) == [{"_step": 0, "a": 2.0, "b": 1.0}]
    run.log({"a": 4.0, "b": 4.0})  # no step: merged into step 2 and written
    assert run.step == 3
    run.log({"a": 5.0, "b": 5.0}, commit=False)
    run.log({"b": 6.0}, commit=False)
    assert run.step == 3
    run.log({"a": 7.0, "b": 7.0}, step=9, commit=True)  # pending at 3 first, then 9 at once
    assert run.step == 10
    run.log({"a": 8.0, "b": 8.0}, step=10, commit=True)
    assert run.step == 11
    assert _rows(run) == [
        {"_step": 0, "a": 2.0, "b": 1.0},
        {"_step": 2, "a": 4.0, "b": 4.0},
        {"_step": 3, "a": 5.0, "b": 6.0},
        {"_step": 9, "a": 7.0, "b": 7.0},
        {"_step": 10, "a": 8.0, "b": 8.0},
    ]
    assert run.summary["a"] == 8.0


def test_rule20_smaller_step_is_dropped_with_a_warning(run_dir: Path, log_path: str) -> None:
    run = _init()
    run.log({"a": 1.0}, step=5)
    run.log({"a": 2.0}, step=6)
    with pytest.warns(UserWarning, match="step 3 dropped.*step 6"):
        run.log({"a": 99.0}, step=3)
    with pytest.warns(UserWarning, match="step 5 dropped"):
        run.log({"a": 99.0}, step=5)
    assert run.step == 6
    run.finish()
    assert _rows(run) == [{"_step": 5, "a": 1.0}, {"_step": 6, "a": 2.0}]
    assert run.summary["a"] == 2.0


def test_rule20_finish_writes_the_pending_row(run_dir: Path, log_path: str) -> None:
    run = _init()
    for i in range(3):
        run.log({"a": float(i)}, step=i)
    run.finish()
    assert _rows(run) == [{"_step": i, "a": float(i)} for i in range(3)]


def test_rule21_engine_keys_and_step_types(run_dir: Path, log_path: str) -> None:
    run = _init()
    run.log({"a": 1.0, "_step": 50.0, "_runtime": 3.0})  # the engine's keys: dropped
    run.log({"a": 2.0, "_timestamp": 123.0})  # a timestamp of its own is kept
    with pytest.raises(TypeError, match="step"):
        run.log({"a": 3.0}, step=2.5)  # type: ignore[arg-type]
    run.log({"a": 4.0}, step=np.int64(2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bool"):
        run.log({"a": 5.0}, step=True)
    run.log({"a": 6.0}, step=3, commit=1)  # type: ignore[arg-type]  # any true commit writes
    run.finish()
    df = run.history()
    assert df["_step"].tolist() == [0, 1, 2, 3]
    assert df["a"].tolist() == [1.0, 2.0, 4.0, 6.0]
    assert df["_timestamp"].tolist()[1] == 123.0
    assert (df["_runtime"] >= 0).all() and (df["_runtime"] < 600).all()


def test_rule23_a_rejected_call_changes_nothing(run_dir: Path, log_path: str) -> None:
    run = _init()
    run.log({"a": 1.0, "b": 1.0}, step=0)
    run.log({"a": 2.0, "b": 2.0}, step=1)  # the block exists now
    for bad in ({"a": 1.0, "b": object()}, {"a": 1.0, 3: 2.0}, [("a", 1.0)]):
        with pytest.raises(TypeError):
            run.log(bad, step=5)  # type: ignore[arg-type]
    assert run.step == 1
    assert run._pending == {"a": 2.0, "b": 2.0}
    assert run.history()["_step"].tolist() == [0]
    run.finish()
    assert _rows(run) == [{"_step": 0, "a": 1.0, "b": 1.0}, {"_step": 1, "a": 2.0, "b": 2.0}]


def test_rule24_log_after_finish_raises(run_dir: Path, log_path: str) -> None:
    run = _init()
    run.log({"a": 1.0})
    run.finish()
    with pytest.raises(UsageError, match="cannot log"):
        run.log({"a": 2.0})
    with pytest.raises(UsageError, match="cannot log"):
        run.log({"a": 2.0}, step=9)


def test_values_beyond_plain_floats(run_dir: Path, log_path: str) -> None:
    class F(float):
        pass

    run = _init()
    values = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-310, F(2.5), np.float64(3.5)]
    for i, v in enumerate(values):
        run.log({"v": v, "w": float(i)})
    run.finish()
    got = nbrun.Api(run_dir).run(f"{P}/{run.id}").history()["v"].tolist()
    assert len(got) == len(values)
    for g, v in zip(got, values, strict=True):
        assert (math.isnan(g) and math.isnan(v)) or (
            g == v and math.copysign(1, g) == math.copysign(1, v)
        )
    assert type(run.summary["v"]) is float and run.summary["v"] == 3.5


def test_a_dict_subclass_and_keys_that_change(run_dir: Path, log_path: str) -> None:
    class D(dict):  # type: ignore[type-arg]
        pass

    run = _init()
    for i in range(4):
        run.log(D(a=float(i), b=1.0) if i % 2 else {"a": float(i), "b": 1.0})
    for i in range(4, 8):
        run.log({"a": float(i)} if i < 6 else {"c": float(i), "a": 0.0})
    run.log({"a": 1.0, "n": 3})  # an int: the generic path
    run.finish()
    assert _rows(run)[-3:] == [
        {"_step": 6, "c": 6.0, "a": 0.0},
        {"_step": 7, "c": 7.0, "a": 0.0},
        {"_step": 8, "a": 1.0, "n": 3},
    ]
    assert dict(run.summary) == {"a": 1.0, "b": 1.0, "c": 7.0, "n": 3}


def test_summaries_set_by_hand_and_aggregates(run_dir: Path, log_path: str) -> None:
    run = _init()
    run.log({"loss": 3.0, "acc": 0.1})
    run.log({"loss": 1.0, "acc": 0.2})
    run.summary["loss"] = 99.0
    run.summary["note"] = 1.0
    assert run.summary["loss"] == 99.0
    run.log({"loss": 2.0, "acc": 0.3})  # a logged value replaces the one set by hand
    assert run.summary["loss"] == 2.0 and run.summary["note"] == 1.0
    run.define_metric("acc", summary="max")
    run.log({"loss": 0.5, "acc": 0.05})
    run.log({"loss": 0.7, "acc": 0.04})
    run.finish()
    assert run.summary["acc"] == {"max": 0.3}
    assert run.summary["loss"] == 0.7


def test_step_metric_sync_and_feeds(run_dir: Path, log_path: str) -> None:
    run = _init()
    run.log({"epoch": 0.0, "loss": 1.0})
    run.define_metric("val/*", step_metric="epoch")
    run.log({"val/acc": 0.5, "loss": 0.5})  # epoch is synced into the row
    run.finish()
    assert _rows(run)[-1] == {"_step": 1, "val/acc": 0.5, "loss": 0.5, "epoch": 0.0}


# -- the C path: taken when it should be, and a refusal changes nothing ---------------------
def _state(run: nbrun.Run) -> tuple[Any, ...]:
    w = run._writer
    block = w.block
    return (
        run._step,
        dict(run._pending),
        run._floats,
        dict(run.summary._last),
        w.enqueued,
        None if block is None else bytes(block.data),
    )


def test_the_c_path_takes_the_common_case_and_nothing_else(run_dir: Path) -> None:
    if _run._fastlog is None:
        if PURE:
            pytest.skip("NBRUN_PURE_PYTHON=1: the C path is switched off")
        pytest.fail("nbrun._fastlog is not built: run `python hatch_build.py`")
    fast = _run._fastlog.log
    run = _init()
    run.log({"a": 0.0, "b": 0.0}, step=0)
    run.log({"a": 1.0, "b": 1.0}, step=1)  # the Python path opened a block for these keys
    assert run._writer.block is not None
    before = _state(run)
    assert fast(run, {"a": 2.0, "b": 2.0}, 2, None) is True
    assert run._step == 2 and run._pending == {"a": 2.0, "b": 2.0}
    assert run.summary._last == {"a": 1.0, "b": 1.0}
    assert run._writer.enqueued == before[4] + 1
    assert len(run._writer.block.data) == len(before[5]) + run._writer.block.rec  # type: ignore[union-attr,arg-type]
    assert fast(run, {"a": 2.5}, None, False) is True  # merged, nothing written
    assert fast(run, {"b": 2.5}, None, None) is True  # merged and written
    assert run._step == 3 and run._pending == {}
    assert run.summary._last == {"a": 2.5, "b": 2.5}

    class F(float):
        pass

    refused: list[tuple[Any, Any, Any]] = [
        ({"a": 1.0, "b": 1}, 4, None),  # an int
        ({"a": 1.0, "b": None}, 4, None),
        ({"a": 1.0, "b": F(1.0)}, 4, None),
        ({"a": 1.0, "b": np.float64(1.0)}, 4, None),
        ({"a": 1.0, "_timestamp": 1.0}, 4, None),
        ({"a": 1.0, "_step": 1.0}, 4, None),
        ({}, 4, None),
        ({"a": 1.0, "c": 1.0}, None, None),  # other keys than the block's
        ({"a": 1.0}, None, None),  # fewer keys than the block's
        ({"a": 1.0, "b": 1.0}, 1, None),  # a smaller step (warned about)
        ({"a": 1.0, "b": 1.0}, 2**70, None),
        ({"a": 1.0, "b": 1.0}, 2**53, None),  # beyond MAX_STEP (rule 43): Python raises
        ({"a": 1.0, "b": 1.0}, 2**63 - 1, True),
        ({"a": 1.0, "b": 1.0}, 4.0, None),
        ({"a": 1.0, "b": 1.0}, True, None),
        ({"a": 1.0, "b": 1.0}, None, 1),
        ([("a", 1.0)], 4, None),
    ]
    state = _state(run)
    for data, step, commit in refused:
        assert fast(run, data, step, commit) is False, (data, step, commit)
        assert _state(run) == state, (data, step, commit)
    assert fast(run, {"a": 7.0}, None, False) is True
    state = _state(run)
    assert fast(run, {"a": 1.0, "b": 1.0}, 9, True) is False  # two rows in one call
    assert _state(run) == state
    run.summary["x"] = 1.0  # a value set by hand: the Python path takes the summary
    assert fast(run, {"a": 1.0, "b": 1.0}, None, None) is False
    del run.summary["x"]
    assert fast(run, {"a": 1.0, "b": 1.0}, None, None) is True
    run.define_metric("a", summary="min")
    assert fast(run, {"a": 1.0, "b": 1.0}, None, None) is False
    assert fast(run, {"a": 1.0, "b": 1.0}, 9, False) is True  # merging needs no summary
    run.finish()
    assert fast(run, {"a": 1.0, "b": 1.0}, None, None) is False


def test_log_method_looks_like_the_python_method() -> None:
    if _run._fastlog is None:
        pytest.skip("the C extension is not built") if PURE else pytest.fail("not built")
    log = _run.Run.__dict__["log"]
    assert log.__wrapped__ is _run.Run._log
    assert log.__doc__ == _run.Run._log.__doc__ and log.__name__ == "_log"
    import inspect

    assert list(inspect.signature(_run.Run.log).parameters) == ["self", "data", "step", "commit"]


def test_unknown_keyword_arguments_raise_as_python_does(run_dir: Path, log_path: str) -> None:
    run = _init()
    with pytest.raises(TypeError, match="unexpected keyword argument 'stp'"):
        run.log({"a": 1.0}, stp=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'step'"):
        run.log({"a": 1.0}, 3, step=3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        run.log()  # type: ignore[call-arg]
    run.log({"a": 1.0}, 0, False)
    run.log(data={"a": 2.0}, step=1, commit=None)
    run.finish()
    assert _rows(run) == [{"_step": 0, "a": 1.0}, {"_step": 1, "a": 2.0}]


# -- equivalence: the same calls on both paths store the same bytes -------------------------
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows' clock: counts on the calling thread, constant elsewhere (the writer's snapshots),
    so both paths see the same times for the same rows."""
    main = threading.get_ident()
    count = [0]

    def clock() -> float:
        if threading.get_ident() != main:
            return 1.8e9
        count[0] += 1
        return 1.8e9 + count[0] * 0.001

    monkeypatch.setattr(_run.run, "time", SimpleNamespace(time=clock, monotonic=time.monotonic))
    if _run._fastlog is not None:
        _run._fastlog.set_clock(clock)


def _replay(run_id: str, seed: int, n: int, metric: bool, calm: bool = False) -> list[Any]:
    """A random training script's calls on the current path; what each returned or raised.

    Where the writer's batches (and so the chunks) end depends on when its thread runs, on
    either path, so it runs only at points the script decides: with ``metric``, blocks are
    never full (1,000 rows) and the writer runs when ``define_metric`` flushes half-way and
    at ``finish``; without, blocks of 37 rows are sealed as the calls go and the writer waits
    (on its lock) until the calls are done. ``calm``: keys and value types change ten times
    less often, so blocks grow long enough for the block encoder (64 rows and more)."""
    q = 0.1 if calm else 1.0
    rnd = random.Random(seed)
    settings = {
        "stats": False,
        "console": "off",
        "flush_rows": 1000 if metric else 37,
        "flush_interval": 600.0,
    }
    run = _init(id=run_id, settings=settings)
    if not metric:
        run._writer._taken.acquire()
    out: list[Any] = []
    key_sets = [("loss",), ("loss", "acc"), ("loss", "acc", "lr"), ("a", "b", "c", "d", "e")]
    keys = key_sets[1]
    step = 0
    for i in range(n):
        r = rnd.random()
        if r < 0.02 * q:
            keys = rnd.choice(key_sets)
        data: dict[str, Any] = {k: rnd.choice([rnd.random(), -0.0, math.inf]) for k in keys}
        if r < 0.01 * q:
            data[keys[0]] = rnd.choice([1, None, "x", np.float64(2.0), True])
        elif r < 0.015 * q:
            data["_timestamp"] = 5.0
        elif r < 0.02 * q:
            data = {keys[0]: 1.0} if rnd.random() < 0.5 else {**data, "extra": 1.0}
        elif r < 0.025 * q:
            data[keys[-1]] = object()
        kwargs: dict[str, Any] = {}
        s = rnd.random()
        if s < 0.7:
            step += rnd.choice([1, 1, 1, 0, 2])
            kwargs["step"] = step - (5 if rnd.random() < 0.02 else 0)
        if rnd.random() < 0.15:
            kwargs["commit"] = rnd.choice([True, False, None])
        if metric and i == 3 * n // 4:
            run.define_metric(keys[0], summary="min,max,mean")
        if i == n // 3:
            run.summary["loss"] = 1.0  # replaced by the next row with a loss
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                run.log(data, **kwargs)
                result: Any = ("ok", run.step, dict(run._pending))
            except TypeError as exc:
                result = ("TypeError", str(exc))
        out.append((result, [str(w.message) for w in caught]))
        step = max(step, run.step)
    if not metric:
        if run._pending:
            run._write_pending()  # as finish() does first, while the writer still waits
        run._writer._taken.release()
    run.finish()
    store = run._store
    chunks = store.run_chunks(run._key)
    out.append(("chunks", chunks))
    out.append(("summary", dict(run.summary)))
    return out


@pytest.mark.parametrize(
    ("seed", "metric", "calm"),
    [(1, False, False), (2, False, False), (3, True, False), (4, True, False), (5, True, True)],
)
def test_rule71_both_paths_store_the_same_bytes(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, seed: int, metric: bool, calm: bool
) -> None:
    try:
        results = {}
        for path in ("c", "python"):
            with monkeypatch.context() as m:
                _fixed_clock(m)
                _use(path, m)
                # each path with its own block encoder (rule 71): C with the extension, numpy
                # without it (NBRUN_PURE_PYTHON=1, no compiler); each also makes the chunk's
                # stored summary (rule 68)
                encoder = blocks_module.encode_block if path == "c" else encode_float_chunk
                encoded: list[int] = []

                def encode(rows: Any, state: Any, encoder: Any = encoder, n: Any = encoded) -> Any:
                    n.append(len(rows))
                    return encoder(rows, state)

                m.setattr(writer_module, "encode_block", encode)
                before = _run._fastlog.counts() if _run._fastlog is not None else (0, 0)
                results[path] = _replay(
                    f"eq{seed}{path}", seed, 1500 if calm else 400, metric, calm
                )
                if path == "c":
                    taken, passed = (
                        a - b for a, b in zip(_run._fastlog.counts(), before, strict=True)
                    )
                    assert taken > 100 and passed > 20  # both paths had their share
                else:
                    assert _run._fastlog is None or _run._fastlog.counts() == before
                if calm:  # long blocks: the block encoder wrote chunks
                    assert encoded and max(encoded) >= 64
                h = nbrun.Api(run_dir).run(f"{P}/eq{seed}{path}").history()
                results[path].append(h.to_dict("list"))
    finally:
        if _run._fastlog is not None:
            _run._fastlog.set_clock(None)
    c, py = results["c"], results["python"]
    assert len(c) == len(py)
    for i, (a, b) in enumerate(zip(c, py, strict=True)):
        assert repr(a) == repr(b), f"call {i} differs"


# -- rule 43: steps the store can hold, on both paths --------------------------------------
def test_rule43_a_step_beyond_the_limit_is_refused_and_changes_nothing(
    run_dir: Path, log_path: str
) -> None:
    assert MAX_STEP == 2**53 - 1
    run = _init()
    run.log({"a": 0.0, "b": 0.0}, step=0)
    run.log({"a": 1.0, "b": 1.0}, step=1)  # the block exists now
    state = _state(run)
    for step in (MAX_STEP + 1, 2**63 - 1, 2**63, 2**70, np.uint64(2**63)):
        with pytest.raises(UsageError, match=f"step {int(step)} .*{MAX_STEP}"):
            run.log({"a": 2.0, "b": 2.0}, step=step)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match=f"step {int(step)} .*{MAX_STEP}"):
            run.log({"a": 2.0, "b": 2.0}, step=step, commit=True)  # type: ignore[arg-type]
        assert _state(run) == state, step
    run.log({"a": 3.0, "b": 3.0}, step=MAX_STEP, commit=True)  # the last step: stored
    assert run.step == MAX_STEP + 1
    state = _state(run)
    for kwargs in ({}, {"commit": False}, {"step": MAX_STEP + 1}):
        with pytest.raises(UsageError, match=f"{MAX_STEP + 1}.*{MAX_STEP}"):
            run.log({"a": 4.0, "b": 4.0}, **kwargs)  # type: ignore[arg-type]
        assert _state(run) == state, kwargs
    run.finish()
    rows = [{"_step": 0, "a": 0.0, "b": 0.0}, {"_step": 1, "a": 1.0, "b": 1.0}]
    rows.append({"_step": MAX_STEP, "a": 3.0, "b": 3.0})
    assert _rows(run) == rows
    stored = nbrun.Api(run_dir).run(f"{P}/{run.id}")
    assert stored.state == "finished" and _rows(stored) == rows


# -- the layout the C code relies on (issue 24) ----------------------------------------------
OWNERS = {"Run": _run.Run, "Summary": Summary, "Writer": Writer, "FloatBlock": FloatBlock}


def _fastlog_module() -> Any:
    if _run._fastlog is None:
        if PURE:
            pytest.skip("NBRUN_PURE_PYTHON=1: the C path is switched off")
        pytest.fail("nbrun._fastlog is not built: run `python hatch_build.py`")
    return _run._fastlog


def test_the_layout_the_c_code_reads_is_there_and_no_warning_is_raised() -> None:
    fastlog = _fastlog_module()
    layout = fastlog.LAYOUT
    assert {owner for owner, _, _ in layout} == set(OWNERS)
    assert {kind for _, kind, _ in layout} == {"dict", "attr", "method"}
    assert ("Run", "dict", "_pending") in layout and ("FloatBlock", "attr", "full") in layout
    assert _run.run.fastlog_layout_gaps(layout, OWNERS) == []
    assert isinstance(_run.Run.__dict__["log"], fastlog.LogMethod)  # the C path is installed
    code = (
        "import nbrun._run.run as r\n"
        "assert isinstance(r.Run.__dict__['log'], r._fastlog.LogMethod)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", code],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "_fastlog" not in done.stderr


def test_a_renamed_attribute_is_named_by_the_check() -> None:
    fastlog = _fastlog_module()
    slots = tuple(n if n != "full" else "capacity" for n in FloatBlock.__slots__)
    block = type("FloatBlock", (), {"__slots__": slots, "append": FloatBlock.append})
    assert _run.run.fastlog_layout_gaps(fastlog.LAYOUT, {**OWNERS, "FloatBlock": block}) == [
        "FloatBlock.full"
    ]
    init = _run.Run.__init__.__code__
    names = tuple("_t0_clock" if n == "_t0_wall" else n for n in init.co_names)
    renamed = type("Run", (_run.Run,), {})
    renamed.__init__ = type(_run.Run.__init__)(init.replace(co_names=names), vars(_run.run))
    gaps = _run.run.fastlog_layout_gaps(fastlog.LAYOUT, {**OWNERS, "Run": renamed})
    assert gaps == ["Run._t0_wall"]
    # a property in place of the instance dict's entry: the C code reads the dict
    summary = type("Summary", (OWNERS["Summary"],), {"has_aggregates": property(lambda s: False)})
    gaps = _run.run.fastlog_layout_gaps(fastlog.LAYOUT, {**OWNERS, "Summary": summary})
    assert gaps == ["Summary.has_aggregates"]
    writer = type("Writer", (OWNERS["Writer"],), {"seal": None})
    assert _run.run.fastlog_layout_gaps(fastlog.LAYOUT, {**OWNERS, "Writer": writer}) == [
        "Writer.seal"
    ]


def test_rule71_the_contract_operations_are_checked_too() -> None:
    """The operations the C code does in place of the Python path's method calls are part of
    the layout: a renamed or removed one is named (the C code would no longer match)."""
    fastlog = _fastlog_module()
    assert {(o, n) for o, k, n in fastlog.LAYOUT if k == "method"} == {
        ("Summary", "observe_floats"),
        ("Writer", "append_floats"),
        ("Writer", "seal"),
        ("FloatBlock", "append"),
    }
    for owner, name in (("Summary", "observe_floats"), ("Writer", "append_floats")):
        cls = OWNERS[owner]
        methods = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
        methods[name + "_renamed"] = methods.pop(name)
        copy = type(owner, cls.__bases__, methods)
        gaps = _run.run.fastlog_layout_gaps(fastlog.LAYOUT, {**OWNERS, owner: copy})
        assert gaps == [f"{owner}.{name}"]


@pytest.mark.parametrize(
    ("sources", "old", "new", "named"),
    [
        ("_run/*.py", "_t0_wall", "_t0_clock", "Run._t0_wall"),
        # a contract operation (rule 71): the Python path's method, renamed where it is defined
        # and called; the C code, built from the old names, must not stand in for it
        ("*/*.py", "append_floats", "append_row", "Writer.append_floats"),
    ],
)
def test_rule71_a_renamed_attribute_warns_at_import_and_log_runs_the_python_path(
    tmp_path: Path, sources: str, old: str, new: str, named: str
) -> None:
    """A copy of the package with an attribute of the layout renamed in its source (the built
    extension unchanged): importing it warns naming the attribute, and ``log`` is the Python
    path, which still logs."""
    _fastlog_module()
    pkg = Path(nbrun.__file__).parent
    copy = tmp_path / "src" / "nbrun"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.glob(sources):
        path.write_text(path.read_text().replace(old, new))
    runs = str(tmp_path / "runs")
    code = (
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    import nbrun\n"
        "    from nbrun._run import run as r\n"
        f"assert r.__file__.startswith({str(copy)!r}), r.__file__\n"
        "msgs = [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)]\n"
        "print(msgs)\n"
        "assert r.Run.log is r.Run._log\n"
        "before = r._fastlog.counts()\n"
        f"run = nbrun.init(project='p', dir={runs!r},\n"
        "                  settings={'stats': False, 'console': 'off'})\n"
        "for i in range(50):\n"
        "    run.log({'a': float(i), 'b': 1.0})\n"
        "run.finish()\n"
        "assert r._fastlog.counts() == before\n"
        f"assert len(nbrun.Api({runs!r}).run('p/' + run.id).history()) == 50\n"
    )
    env = python_env()
    env["PYTHONPATH"] = str(copy.parent) + os.pathsep + env["PYTHONPATH"]
    for var in ("NBRUN_STORE", "NBRUN_DIR", "NBRUN_PURE_PYTHON"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    msgs = [m for m in eval(done.stdout.strip().splitlines()[-1]) if "_fastlog" in m]
    assert len(msgs) == 1
    assert named in msgs[0] and "slower Python path" in msgs[0]
