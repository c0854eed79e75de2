"""Logging (run-semantics rules 20-25): the pending-row step rules, payload checks, values,
nested keys, errors after finish, and history as pandas DataFrames."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nbrun
from nbrun.errors import UsageError
from tests.conftest import BACKENDS, python_env, wait_for, where

P = "hist"


def _init(**kwargs: Any) -> nbrun.Run:
    kwargs.setdefault("project", P)
    kwargs.setdefault("reinit", "create_new")
    return nbrun.init(**kwargs)


def _rows(run: nbrun.Run, lineage: bool = True) -> list[dict[str, Any]]:
    """Written rows without the engine's time columns, missing values dropped."""
    df = run.history(lineage=lineage).drop(columns=["_runtime", "_timestamp"])
    out = []
    for rec in df.to_dict("records"):
        out.append({k: v for k, v in rec.items() if not _missing(v)})
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _stored(run_dir: Path, run: nbrun.Run) -> nbrun.StoredRun:
    return nbrun.Api(run_dir).run(f"{P}/{run.id}")


# -- rule 20: the pending row -------------------------------------------------------------------
def test_rule20_log_without_step_writes_a_row_and_advances_step(run_dir: Path) -> None:
    run = _init()
    assert run.step == 0
    run.log({"a": 1})
    assert run.step == 1
    run.log({"a": 2})
    assert run.step == 2
    assert _rows(run) == [{"_step": 0, "a": 1}, {"_step": 1, "a": 2}]


def test_rule20_log_with_step_does_not_commit(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1}, step=5)
    assert run.step == 5
    run.flush()
    assert run.history().empty  # the pending row is not written
    assert "a" not in run.summary
    assert _stored(run_dir, run).history().empty


def test_rule20_larger_step_writes_the_pending_row_first(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1}, step=5)
    run.log({"b": 2}, step=6)
    assert run.step == 6
    assert _rows(run) == [{"_step": 5, "a": 1}]
    run.finish()
    assert _rows(run) == [{"_step": 5, "a": 1}, {"_step": 6, "b": 2}]


def test_rule20_same_step_collects_values_later_value_wins(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1, "b": 1}, step=0)
    run.log({"a": 2}, step=0)
    run.log({"c": 3}, step=0)
    run.log({"d": 4})  # step=None: commit defaults to True, into the pending row
    assert _rows(run) == [{"_step": 0, "a": 2, "b": 1, "c": 3, "d": 4}]
    assert run.step == 1


def test_rule20_commit_false_without_step_keeps_the_row_pending(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1}, commit=False)
    run.log({"b": 2}, commit=False)
    assert run.step == 0
    assert run.history().empty
    run.log({"c": 3})
    assert _rows(run) == [{"_step": 0, "a": 1, "b": 2, "c": 3}]
    assert run.step == 1


def test_rule20_commit_true_with_step_writes_at_once(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1}, step=3, commit=True)
    assert run.step == 4
    assert _rows(run) == [{"_step": 3, "a": 1}]
    assert run.summary["a"] == 1


def test_rule20_gaps_are_allowed(run_dir: Path) -> None:
    run = _init()
    for s in (0, 10, 100):
        run.log({"x": s}, step=s)
    run.finish()
    assert [r["_step"] for r in _rows(run)] == [0, 10, 100]


def test_rule20_smaller_step_is_dropped_whole_with_a_warning_naming_both(
    run_dir: Path,
) -> None:
    run = _init()
    run.log({"a": 1}, step=5)
    with pytest.warns(UserWarning) as rec:
        run.log({"a": 99, "b": 2}, step=3)
    msg = str(rec[0].message)
    assert "3" in msg and "5" in msg
    assert run.step == 5
    run.finish()
    assert _rows(run) == [{"_step": 5, "a": 1}]  # nothing of the dropped call


def test_rule20_step_equal_to_a_written_row_is_dropped(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1})
    run.log({"a": 2})  # rows 0 and 1 written, run.step == 2
    with pytest.warns(UserWarning, match="1") as rec:
        run.log({"a": 3}, step=1)
    assert "2" in str(rec[0].message)
    run.finish()
    assert _rows(run) == [{"_step": 0, "a": 1}, {"_step": 1, "a": 2}]


def test_rule20_no_warning_for_the_current_step(run_dir: Path) -> None:
    run = _init()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.log({"a": 1}, step=0)
        run.log({"b": 1}, step=0)


def test_rule20_step_advances_by_one_per_written_row(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1}, step=7)
    assert run.step == 7
    run.log({"a": 2})  # writes row 7
    assert run.step == 8
    run.log({"a": 3})
    assert run.step == 9
    assert [r["_step"] for r in _rows(run)] == [7, 8]


def test_rule20_finish_writes_the_pending_row(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1})
    run.log({"a": 2, "b": 3}, commit=False)
    run.finish()
    assert _rows(run) == [{"_step": 0, "a": 1}, {"_step": 1, "a": 2, "b": 3}]
    assert _rows(_stored(run_dir, run)) == _rows(run)  # type: ignore[arg-type]


def test_rule20_module_level_log_follows_the_same_rules(run_dir: Path) -> None:
    run = nbrun.init(project=P)
    nbrun.log({"a": 1}, step=2)
    nbrun.log({"b": 1}, step=2)
    nbrun.log({"c": 1})
    nbrun.finish()
    assert _rows(run) == [{"_step": 2, "a": 1, "b": 1, "c": 1}]


# -- rule 21: payload and step types, engine keys --------------------------------------------
@pytest.mark.parametrize("bad", [[("a", 1)], "a=1", 3, None, {1: 2}, {("a",): 1}])
def test_rule21_data_must_be_a_mapping_with_str_keys(run_dir: Path, bad: Any) -> None:
    run = _init()
    run.log({"ok": 1}, commit=False)
    with pytest.raises(TypeError) as err:
        run.log(bad)
    assert type(bad).__name__ in str(err.value) or repr(next(iter(bad))) in str(err.value)
    run.finish()
    assert _rows(run) == [{"_step": 0, "ok": 1}]


@pytest.mark.parametrize("bad", [1.0, "3", True, 2.5, np.float64(3.0)])
def test_rule21_step_must_be_an_int(run_dir: Path, bad: Any) -> None:
    run = _init()
    with pytest.raises(TypeError, match="step"):
        run.log({"a": 1}, step=bad)
    assert run.step == 0
    run.finish()
    assert run.history().empty


def test_rule21_numpy_int_step_is_an_int(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1}, step=np.int64(4), commit=True)
    assert _rows(run) == [{"_step": 4, "a": 1}]


def test_rule21_step_key_in_data_is_ignored(run_dir: Path) -> None:
    run = _init()
    run.log({"_step": 100, "a": 1})
    run.log({"_step": -3, "a": 2})
    assert [r["_step"] for r in _rows(run)] == [0, 1]
    assert "_step" not in run.summary


def test_rule21_user_timestamp_is_kept_runtime_is_the_engines(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1, "_timestamp": 1234.5, "_runtime": 99999.0})
    run.log({"a": 2})
    df = run.history()
    assert df["_timestamp"].iloc[0] == 1234.5
    assert df["_timestamp"].iloc[1] == pytest.approx(time.time(), abs=60)
    assert (df["_runtime"] < 60).all()
    assert "_runtime" not in run.summary


def test_rule21_every_row_carries_step_runtime_timestamp(run_dir: Path) -> None:
    before = time.time()
    run = _init()
    run.log({"a": 1})
    run.log({"b": 1})
    run.log({})
    df = run.history()
    assert len(df) == 3
    for col in ("_step", "_runtime", "_timestamp"):
        assert df[col].notna().all(), col
    assert list(df["_step"]) == [0, 1, 2]
    assert (df["_runtime"] >= 0).all()
    assert df["_runtime"].is_monotonic_increasing
    assert (df["_timestamp"] >= before - 1).all()
    assert (df["_timestamp"] <= time.time() + 1).all()


# -- rule 22: nested keys ------------------------------------------------------------------
def test_rule22_nested_dicts_flatten_in_history_stay_nested_in_summary(
    run_dir: Path,
) -> None:
    run = _init()
    run.log({"acc": {"top1": 0.5, "top5": 0.9}, "deep": {"a": {"b": 1}}})
    run.finish()
    df = run.history()
    assert {"acc.top1", "acc.top5", "deep.a.b"} <= set(df.columns)
    assert "acc" not in df.columns
    assert df["acc.top1"].iloc[0] == 0.5
    assert df["deep.a.b"].iloc[0] == 1
    assert run.summary["acc"] == {"top1": 0.5, "top5": 0.9}
    assert run.summary["deep"] == {"a": {"b": 1}}
    stored = _stored(run_dir, run)
    assert stored.summary["acc"] == {"top1": 0.5, "top5": 0.9}
    assert stored.history()["acc.top5"].iloc[0] == 0.9


def test_rule22_dotted_and_slash_keys_are_ordinary(run_dir: Path) -> None:
    run = _init()
    run.log({"a.b": 1, "train/loss": 0.5, "val/x.y": 2})
    run.finish()
    df = run.history()
    assert {"a.b", "train/loss", "val/x.y"} <= set(df.columns)
    assert run.summary["a.b"] == 1
    assert run.summary["train/loss"] == 0.5
    assert "a" not in run.summary and "train" not in run.summary


# -- rule 23: values -------------------------------------------------------------------------
def test_rule23_scalar_values_round_trip(run_dir: Path) -> None:
    run = _init()
    values = {"b": True, "i": 7, "f": 0.25, "s": "text", "nan": math.nan, "inf": math.inf}
    run.log({**values, "ninf": -math.inf})
    run.finish()
    stored = _stored(run_dir, run)
    for view in (run, stored):
        s = view.summary
        assert s["b"] is True
        assert s["i"] == 7 and type(s["i"]) is int
        assert s["f"] == 0.25
        assert s["s"] == "text"
        assert math.isnan(s["nan"])
        assert s["inf"] == math.inf
        assert s["ninf"] == -math.inf
        row = view.history().iloc[0]
        assert row["i"] == 7 and row["s"] == "text" and bool(row["b"]) is True
        assert math.isnan(row["nan"]) and row["inf"] == math.inf and row["ninf"] == -math.inf


def test_rule23_none_is_accepted(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1.0})
    run.log({"a": None, "b": 2})
    run.finish()
    df = run.history()
    assert len(df) == 2
    assert _missing(df["a"].iloc[1])
    assert df["b"].iloc[1] == 2


def test_rule23_numpy_scalars_arrays_and_lists(run_dir: Path) -> None:
    run = _init()
    run.log(
        {
            "f32": np.float32(0.5),
            "i64": np.int64(3),
            "b": np.bool_(True),
            "arr": np.arange(3),
            "mat": np.array([[1.0, 2.0], [3.0, 4.0]]),
            "lst": [1, "x", None],
        }
    )
    run.finish()
    for view in (run, _stored(run_dir, run)):
        s = view.summary
        assert s["f32"] == 0.5
        assert s["i64"] == 3
        assert s["b"] is True
        assert s["arr"] == [0, 1, 2]
        assert s["mat"] == [[1.0, 2.0], [3.0, 4.0]]
        assert s["lst"] == [1, "x", None]
        row = view.history().iloc[0]
        assert list(row["arr"]) == [0, 1, 2]


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(object(), "object"), ({1, 2}, "set"), (b"bytes", "bytes"), (1 + 2j, "complex")],
)
def test_rule23_unstorable_value_raises_typeerror_naming_key_and_type_and_logs_nothing(
    run_dir: Path, value: Any, type_name: str
) -> None:
    run = _init()
    run.log({"kept": 1})
    with pytest.raises(TypeError) as err:
        run.log({"good": 2, "bad_key": value})
    assert "bad_key" in str(err.value)
    assert type_name in str(err.value)
    # not even into the pending row: the next row holds no 'good'
    run.log({"after": 3})
    run.finish()
    assert _rows(run) == [{"_step": 0, "kept": 1}, {"_step": 1, "after": 3}]
    assert "good" not in run.summary
    assert _rows(_stored(run_dir, run)) == _rows(run)  # type: ignore[arg-type]


def test_rule23_unstorable_nested_value_rejects_the_whole_call(run_dir: Path) -> None:
    run = _init()
    with pytest.raises(TypeError, match="inner"):
        run.log({"a": 1, "outer": {"inner": object()}}, step=4)
    assert run.step == 0  # the step of a rejected call is not taken either
    run.finish()
    assert run.history().empty


def test_rule23_rejected_call_with_larger_step_does_not_write_the_pending_row(
    run_dir: Path,
) -> None:
    run = _init()
    run.log({"a": 1}, step=2)
    with pytest.raises(TypeError):
        run.log({"b": object()}, step=3)
    assert run.step == 2
    run.flush()
    assert run.history().empty
    run.finish()
    assert _rows(run) == [{"_step": 2, "a": 1}]


def test_rule23_numpy_object_array_is_rejected(run_dir: Path) -> None:
    run = _init()
    with pytest.raises(TypeError, match="arr"):
        run.log({"arr": np.array([object()], dtype=object)})
    run.finish()
    assert run.history().empty


# -- rule 24: log after finish, module-level log without a run ---------------------------------
def test_rule24_log_after_finish_raises_usageerror(run_dir: Path) -> None:
    run = _init(id="done1")
    run.log({"a": 1})
    run.finish()
    with pytest.raises(nbrun.UsageError, match=r"Run \(done1\) is finished"):
        run.log({"a": 2})
    assert _rows(run) == [{"_step": 0, "a": 1}]


def test_rule24_module_log_without_active_run_raises_usageerror(run_dir: Path) -> None:
    assert nbrun.run is None
    with pytest.raises(nbrun.UsageError, match=r"call nbrun.init\(\) first"):
        nbrun.log({"a": 1})
    run = nbrun.init(project=P)
    run.finish()
    with pytest.raises(nbrun.UsageError, match=r"call nbrun.init\(\) first"):
        nbrun.log({"a": 1})


# -- rule 25: history DataFrames -------------------------------------------------------------
def test_rule25_history_is_a_dataframe_indexed_by_row_sorted_by_step(run_dir: Path) -> None:
    run = _init()
    for s in (3, 5, 9):
        run.log({"loss": 1.0 / s, "other": s}, step=s, commit=True)
    run.log({"loss": 0.0})
    run.finish()
    for view in (run, _stored(run_dir, run)):
        df = view.history()
        assert isinstance(df, pd.DataFrame)
        assert isinstance(df.index, pd.RangeIndex) and list(df.index) == [0, 1, 2, 3]
        assert list(df["_step"]) == [3, 5, 9, 10]
        assert set(df.columns) == {"_step", "loss", "other", "_runtime", "_timestamp"}
        assert df["loss"].tolist() == [1 / 3, 1 / 5, 1 / 9, 0.0]
        assert _missing(df["other"].iloc[3])


def test_rule25_history_keys_selects_columns(run_dir: Path) -> None:
    run = _init()
    run.log({"a": 1, "b": 2})
    run.log({"b": 3})
    run.log({"a": 4, "c": 5})
    df = run.history(keys=["a"])
    assert set(df.columns) == {"_step", "a", "_runtime", "_timestamp"}
    assert df["a"].tolist() == [1, 4]  # only rows having 'a'
    assert list(df["_step"]) == [0, 2]
    df2 = run.history(keys="b")
    assert df2["b"].tolist() == [2, 3]


def test_rule25_history_lineage_false_gives_only_own_rows(run_dir: Path) -> None:
    src = _init(id="src")
    for i in range(5):
        src.log({"x": i})
    src.finish()
    fork = _init(fork_from="src?_step=2")
    fork.log({"x": 100})
    fork.finish()
    assert fork.history()["_step"].tolist() == [0, 1, 2, 3]
    own = fork.history(lineage=False)
    assert own["_step"].tolist() == [3]
    assert own["x"].tolist() == [100]
    stored = _stored(run_dir, fork)
    assert stored.history(lineage=False)["_step"].tolist() == [3]
    assert stored.history()["_step"].tolist() == [0, 1, 2, 3]


def test_rule25_history_samples_downsamples(run_dir: Path) -> None:
    run = _init()
    for i in range(200):
        run.log({"x": i})
    run.finish()
    full = run.history()
    assert len(full) == 200
    small = run.history(samples=10)
    assert 2 <= len(small) <= 10
    assert small["_step"].is_monotonic_increasing
    assert small["_step"].iloc[0] == 0 and small["_step"].iloc[-1] == 199
    assert isinstance(small.index, pd.RangeIndex)
    assert len(run.history(samples=1000)) == 200


def test_rule25_history_of_a_live_run_includes_unflushed_rows(run_dir: Path) -> None:
    run = _init(settings={"flush_interval": 60.0, "flush_rows": 100000})
    for i in range(10):
        run.log({"x": i})
    assert run.history()["x"].tolist() == list(range(10))


def test_writer_flushes_on_its_one_second_timer_by_default(run_dir: Path) -> None:
    """One row (far below ``flush_rows``), no flush call: the writer's timer writes it. How
    soon depends on the machine's load, so the one second is checked as the setting."""
    run = _init()
    assert run.settings.flush_interval == 1.0
    run.log({"x": 1})
    view = _stored(run_dir, run)
    wait_for(lambda: len(view.history()) == 1, timeout=30)
    assert view.history()["x"].tolist() == [1]


def test_writer_flushes_a_full_batch_without_waiting_for_the_interval(run_dir: Path) -> None:
    run = _init(settings={"flush_interval": 60.0, "flush_rows": 1000})
    for i in range(1000):
        run.log({"x": i})
    view = _stored(run_dir, run)
    wait_for(lambda: view.step == 1000, timeout=60)


# -- rule 43: what the store can hold -----------------------------------------------------
_SCRIPT_STEP = """
import sys, nbrun
run = nbrun.init(project="p", dir=sys.argv[1], id="r", settings={"stats": False})
run.log({"a": 1.0})
run.log({"s": "x"})
try:
    run.log({"a": 2.0}, step=2**63 - 1, commit=True)
except nbrun.UsageError as exc:
    print("refused:", exc)
run.log({"a": 3.0})
run.log({"s": "y"})
"""


def test_rule43_a_step_sqlite_cannot_store_is_refused_and_the_run_finishes(
    run_dir: Path,
) -> None:
    """On the old code the step was accepted and every later flush failed: no row was stored
    and a script that exited 0 read ``crashed``."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT_STEP, str(run_dir)],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "refused: log: step 9223372036854775807 " in done.stdout
    assert "9007199254740991" in done.stdout
    assert "could not" not in done.stderr
    stored = nbrun.Api(run_dir).run("p/r")
    assert stored.state == "finished"
    assert _rows(stored) == [  # type: ignore[arg-type]
        {"_step": 0, "a": 1.0},
        {"_step": 1, "s": "x"},
        {"_step": 2, "a": 3.0},
        {"_step": 3, "s": "y"},
    ]


@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule43_one_row_that_cannot_be_stored_does_not_sink_the_batch(run_dir: Path) -> None:
    """A row that reaches the writer and cannot be stored (here an int JSON cannot write,
    handed to the writer directly: ``log`` refuses it) is dropped with a warning naming its
    step; the rows of the same batch before and after it are written. On the old code every
    flush failed: no row was stored and the run read ``crashed``."""
    run = _init(settings={"stats": False, "flush_interval": 3600})
    run.log({"a": 1.0})
    run.log({"s": "x"})
    run._writer.put({"_step": 2, "_runtime": 0.0, "_timestamp": 0.0, "bad": 10**5000}, False)
    run.log({"a": 3.0}, step=3)
    run.log({"s": "y"})
    with pytest.warns(RuntimeWarning, match=r"step\(s\) 2 \(keys \['bad'\]\) cannot be stored"):
        run.finish()
    rows = [
        {"_step": 0, "a": 1.0},
        {"_step": 1, "s": "x"},
        {"_step": 3, "a": 3.0, "s": "y"},
    ]
    stored = nbrun.Api(where(run_dir)).run(f"{P}/{run.id}")
    assert stored.state == "finished"
    assert _rows(stored) == rows  # type: ignore[arg-type]


def _cycle_list() -> list[Any]:
    value: list[Any] = [1.0]
    value.append(value)
    return value


def _cycle_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1.0}
    value["self"] = value
    return value


def _deep_list() -> Any:
    value: Any = 1.0
    for _ in range(10_000):
        value = [value]
    return value


def _deep_dict() -> Any:
    value: Any = 1.0
    for _ in range(10_000):
        value = {"k": value}
    return value


_RECURSIVE = [_cycle_list, _cycle_dict, _deep_list, _deep_dict]


@pytest.mark.parametrize("make", _RECURSIVE, ids=lambda f: f.__name__)
def test_rule43_a_recursive_or_too_deep_value_is_a_typeerror_naming_the_key(
    run_dir: Path, make: Any
) -> None:
    run = _init()
    run.log({"kept": 1.0})
    with pytest.raises(TypeError, match=r"'bad.*more than 100 levels deep, or contains itself"):
        run.log({"good": 2.0, "bad": make()}, step=5)
    assert run.step == 1
    with pytest.raises(TypeError, match=r"'s.*more than 100 levels deep"):
        run.summary["s"] = make()
    with pytest.raises(UsageError, match=r"config: value for 'c.*more than 100 levels deep"):
        run.config["c"] = make()
    with pytest.raises(UsageError, match=r"config: value for 'c.*more than 100 levels deep"):
        run.config.update({"c": make()})
    run.log({"after": 3.0})  # the run goes on
    nested: Any = 1.0
    for _ in range(99):  # the deepest value allowed
        nested = [nested]
    run.log({"nested": nested})
    run.finish()
    stored = _stored(run_dir, run)
    assert stored.state == "finished"
    assert _rows(stored) == [  # type: ignore[arg-type]
        {"_step": 0, "kept": 1.0},
        {"_step": 1, "after": 3.0},
        {"_step": 2, "nested": nested},
    ]
    assert "s" not in stored.summary and "good" not in stored.summary
    assert "c" not in stored.config


def test_rule43_an_int_the_store_cannot_read_back_is_refused(run_dir: Path) -> None:
    """Ints are stored as JSON text, which Python reads up to 4300 digits; the old code
    accepted more, then every flush failed and the run read ``crashed``."""
    run = _init()
    run.log({"kept": 10**4299})
    for bad in (10**4300, -(10**4300), [1, 10**5000], {"in": 10**5000}):
        with pytest.raises(UsageError, match=r"'bad.*more than 4300 digits"):
            run.log({"good": 2.0, "bad": bad})
        with pytest.raises(UsageError, match=r"'s.*more than 4300 digits"):
            run.summary["s"] = bad
        with pytest.raises(UsageError, match=r"config: value for 'c.*more than 4300 digits"):
            run.config["c"] = bad
    run.log({"after": 3})
    run.finish()
    stored = _stored(run_dir, run)
    assert stored.state == "finished"
    assert _rows(stored) == [{"_step": 0, "kept": 10**4299}, {"_step": 1, "after": 3}]  # type: ignore[arg-type]


def test_rule43_init_with_a_config_it_cannot_store_creates_no_run(run_dir: Path) -> None:
    cyclic: dict[str, Any] = {"x": 1}
    cyclic["self"] = cyclic
    for config, message in ((cyclic, "100 levels deep"), ({"n": 10**5000}, "4300 digits")):
        with pytest.raises(UsageError, match=message):
            nbrun.init(project=P, config=config)
    assert nbrun.run is None
    assert not (run_dir / "nbrun" / "nbrun.db").exists() or not list(nbrun.Api(run_dir).runs())
