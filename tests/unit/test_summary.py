"""Summary and metrics (run-semantics rules 26-28): last values, user-set values,
``define_metric`` aggregates and globs, step metrics and step sync."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import pytest

import nbrun
from tests.conftest import wait_for

P = "summ"


def _init(**kwargs: Any) -> nbrun.Run:
    kwargs.setdefault("project", P)
    kwargs.setdefault("reinit", "create_new")
    return nbrun.init(**kwargs)


def _stored(run_dir: Path, run: nbrun.Run) -> nbrun.StoredRun:
    return nbrun.Api(run_dir).run(f"{P}/{run.id}")


# -- rule 26: the summary -----------------------------------------------------------------------
def test_rule26_each_key_holds_its_last_written_value(run_dir: Path) -> None:
    run = _init()
    run.log({"loss": 3.0, "acc": 0.1})
    run.log({"loss": 2.0})
    run.log({"loss": 1.0, "lr": 0.5})
    assert dict(run.summary.items()) == {"loss": 1.0, "acc": 0.1, "lr": 0.5}
    assert run.summary["loss"] == 1.0
    assert "acc" in run.summary and len(run.summary) == 3
    run.finish()
    assert dict(_stored(run_dir, run).summary.items()) == {"loss": 1.0, "acc": 0.1, "lr": 0.5}


def test_rule26_pending_row_does_not_count_until_written(run_dir: Path) -> None:
    run = _init()
    run.log({"loss": 1.0})
    run.log({"loss": 0.5, "new": 1}, commit=False)
    assert run.summary["loss"] == 1.0
    assert "new" not in run.summary
    run.log({"loss": 0.2}, step=3)  # writes the pending row at step 1, then pends at 3
    assert run.summary["loss"] == 0.5 and run.summary["new"] == 1
    run.finish()
    assert run.summary["loss"] == 0.2


def test_rule26_user_set_value_is_replaced_by_the_next_log(run_dir: Path) -> None:
    run = _init()
    run.log({"loss": 1.0})
    run.summary["loss"] = 0.01
    run.summary["best_epoch"] = 3
    assert run.summary["loss"] == 0.01
    run.log({"loss": 0.7})
    assert run.summary["loss"] == 0.7
    assert run.summary["best_epoch"] == 3  # never logged: persists
    run.log({"other": 1})
    run.finish()
    stored = _stored(run_dir, run).summary
    assert stored["loss"] == 0.7
    assert stored["best_epoch"] == 3


def test_rule26_user_values_reach_the_store_while_running(run_dir: Path) -> None:
    run = _init(settings={"flush_interval": 0.05})
    run.summary["note"] = "hello"
    view = _stored(run_dir, run)
    wait_for(lambda: view.summary.get("note") == "hello")


def test_rule26_summary_is_readable_after_finish(run_dir: Path) -> None:
    run = _init()
    run.log({"loss": 0.3, "nested": {"a": 1}})
    run.summary["extra"] = "x"
    run.finish()
    # W&B raises here; nbrun keeps the summary readable
    assert run.summary["loss"] == 0.3
    assert run.summary["nested"] == {"a": 1}
    assert run.summary.get("extra") == "x"
    assert set(run.summary.keys()) == {"loss", "nested", "extra"}


def test_rule26_bad_summary_value_raises_naming_the_key(run_dir: Path) -> None:
    run = _init()
    with pytest.raises(TypeError, match="weird"):
        run.summary["weird"] = object()
    assert "weird" not in run.summary


# -- rule 27: define_metric -------------------------------------------------------------------
def test_rule27_define_metric_signature() -> None:
    params = list(inspect.signature(nbrun.Run.define_metric).parameters)
    assert params == [
        "self",
        "name",
        "step_metric",
        "step_sync",
        "hidden",
        "summary",
        "goal",
        "overwrite",
    ]


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ("min", {"min": 1.0}),
        ("max", {"max": 5.0}),
        ("mean", {"mean": 3.0}),
        ("first", {"first": 3.0}),
        ("last", {"last": 2.0}),
        ("min,max", {"min": 1.0, "max": 5.0}),
        ("first, last ,mean", {"first": 3.0, "last": 2.0, "mean": 3.0}),
    ],
)
def test_rule27_summary_aggregates_are_exactly_those_asked(
    run_dir: Path, ops: str, expected: dict[str, float]
) -> None:
    run = _init()
    run.define_metric("loss", summary=ops)
    for v in (3.0, 1.0, 5.0, 4.0, 2.0):
        run.log({"loss": v})
    assert run.summary["loss"] == expected
    run.finish()
    assert _stored(run_dir, run).summary["loss"] == expected


def test_rule27_best_uses_goal(run_dir: Path) -> None:
    run = _init()
    run.define_metric("loss", summary="best", goal="minimize")
    run.define_metric("acc", summary="best", goal="maximize")
    for loss, acc in ((3.0, 0.2), (1.0, 0.9), (2.0, 0.5)):
        run.log({"loss": loss, "acc": acc})
    assert run.summary["loss"] == {"best": 1.0}
    assert run.summary["acc"] == {"best": 0.9}


def test_rule27_none_removes_the_key(run_dir: Path) -> None:
    run = _init()
    run.define_metric("secret", summary="none")
    run.log({"secret": 1, "shown": 2})
    assert "secret" not in run.summary
    assert run.summary["shown"] == 2
    run.finish()
    assert "secret" not in _stored(run_dir, run).summary
    assert run.history()["secret"].tolist() == [1]  # still in history


def test_rule27_aggregates_cover_values_logged_before_the_call(run_dir: Path) -> None:
    run = _init(settings={"flush_interval": 60.0})
    for v in (4.0, 0.5, 9.0):
        run.log({"loss": v})
    run.define_metric("loss", summary="min,max,mean,first")
    assert run.summary["loss"] == {"min": 0.5, "max": 9.0, "mean": 4.5, "first": 4.0}
    run.log({"loss": 10.0})
    assert run.summary["loss"] == {"min": 0.5, "max": 10.0, "mean": 5.875, "first": 4.0}


def test_rule27_aggregates_cover_values_of_earlier_incarnations(run_dir: Path) -> None:
    run = _init(id="again")
    for v in (5.0, 1.0, 3.0):
        run.log({"loss": v})
    run.finish()
    run = _init(id="again", resume="allow")
    run.define_metric("loss", summary="min,max,first")
    assert run.summary["loss"] == {"min": 1.0, "max": 5.0, "first": 5.0}
    run.log({"loss": 0.5})
    run.finish()
    assert _stored(run_dir, run).summary["loss"] == {"min": 0.5, "max": 5.0, "first": 5.0}


def test_rule27_trailing_glob_matches_by_prefix(run_dir: Path) -> None:
    run = _init()
    run.define_metric("val/*", summary="max")
    run.log({"val/acc": 0.5, "val/f1": 0.1, "valx": 1.0, "train/acc": 0.3})
    run.log({"val/acc": 0.4, "val/f1": 0.2, "valx": 2.0, "train/acc": 0.35})
    assert run.summary["val/acc"] == {"max": 0.5}
    assert run.summary["val/f1"] == {"max": 0.2}
    assert run.summary["valx"] == 2.0  # not under the prefix
    assert run.summary["train/acc"] == 0.35


@pytest.mark.parametrize("name", ["va*l", "*loss", "a*b*"])
def test_rule27_star_not_at_the_end_raises_usageerror(run_dir: Path, name: str) -> None:
    run = _init()
    with pytest.raises(nbrun.UsageError) as err:
        run.define_metric(name, summary="min")
    assert repr(name) in str(err.value)
    assert run.metrics == {}


def test_rule27_lone_star_is_a_trailing_glob_matching_everything(run_dir: Path) -> None:
    run = _init()
    run.define_metric("*", summary="min")
    run.log({"a": 2.0, "b": 5.0})
    run.log({"a": 1.0, "b": 6.0})
    assert run.summary["a"] == {"min": 1.0}
    assert run.summary["b"] == {"min": 5.0}


def test_rule27_empty_name_raises_usageerror(run_dir: Path) -> None:
    run = _init()
    with pytest.raises(nbrun.UsageError, match="''"):
        run.define_metric("")


def test_rule27_unknown_op_raises_usageerror_naming_it(run_dir: Path) -> None:
    run = _init()
    with pytest.raises(nbrun.UsageError) as err:
        run.define_metric("loss", summary="min,median")
    assert "'median'" in str(err.value)
    assert "min, max, mean" in str(err.value)
    run.log({"loss": 1.0})
    assert run.summary["loss"] == 1.0  # nothing was defined


def test_rule27_unknown_goal_raises_usageerror(run_dir: Path) -> None:
    run = _init()
    with pytest.raises(nbrun.UsageError, match="'lower'"):
        run.define_metric("loss", summary="best", goal="lower")


def test_rule27_nan_makes_min_and_max_nan(run_dir: Path) -> None:
    run = _init()
    run.define_metric("loss", summary="min,max,last")
    for v in (2.0, math.nan, 1.0):
        run.log({"loss": v})
    s = run.summary["loss"]
    assert math.isnan(s["min"]) and math.isnan(s["max"])
    assert s["last"] == 1.0
    run.finish()
    stored = _stored(run_dir, run).summary["loss"]
    assert math.isnan(stored["min"]) and math.isnan(stored["max"])


def test_rule27_module_level_define_metric(run_dir: Path) -> None:
    run = nbrun.init(project=P)
    m = nbrun.define_metric("loss", summary="min")
    assert m.name == "loss"
    nbrun.log({"loss": 2.0})
    nbrun.log({"loss": 1.0})
    assert run.summary["loss"] == {"min": 1.0}
    run.finish()
    with pytest.raises(nbrun.UsageError, match=r"nbrun.init\(\)"):
        nbrun.define_metric("x")


def test_rule27_definitions_are_stored(run_dir: Path) -> None:
    run = _init()
    run.define_metric("loss", summary="min", goal="minimize", hidden=True)
    run.log({"loss": 1.0})
    run.finish()
    d = _stored(run_dir, run).metrics["loss"]
    assert d["summary"] == ["min"]
    assert d["goal"] == "minimize"
    assert d["hidden"] is True


# -- rule 28: step metrics -------------------------------------------------------------------
def test_rule28_step_metric_is_recorded_for_charts(run_dir: Path) -> None:
    run = _init()
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch")
    assert run.metrics["val/*"]["step_metric"] == "epoch"
    run.log({"epoch": 0})
    run.finish()
    assert _stored(run_dir, run).metrics["val/*"]["step_metric"] == "epoch"


def test_rule28_step_sync_inserts_the_last_seen_step_metric(run_dir: Path) -> None:
    run = _init()
    run.define_metric("val_loss", step_metric="epoch")
    run.log({"val_loss": 9.0})  # no epoch seen yet: nothing to insert
    run.log({"epoch": 1, "train_loss": 0.5})
    run.log({"val_loss": 0.4})  # gets epoch 1
    run.log({"train_loss": 0.3})  # not the metric: untouched
    run.log({"epoch": 2})
    run.log({"val_loss": 0.3, "epoch": 7})  # has its own epoch: kept
    run.finish()
    df = run.history()
    epochs = [None if math.isnan(v) else int(v) for v in df["epoch"]]
    assert epochs == [None, 1, 1, None, 2, 7]


def test_rule28_step_sync_defaults_true_only_with_a_step_metric(run_dir: Path) -> None:
    run = _init()
    m = run.define_metric("a", step_metric="epoch")
    assert m.step_sync is True
    assert run.define_metric("b").step_sync is None


def test_rule28_step_sync_false_inserts_nothing(run_dir: Path) -> None:
    run = _init()
    run.define_metric("val_loss", step_metric="epoch", step_sync=False)
    run.log({"epoch": 1})
    run.log({"val_loss": 0.4})
    run.finish()
    df = run.history()
    assert math.isnan(df["epoch"].iloc[1])


def test_rule28_step_sync_with_glob(run_dir: Path) -> None:
    run = _init()
    run.define_metric("val/*", step_metric="epoch")
    run.log({"epoch": 3})
    run.log({"val/acc": 0.5})
    run.log({"train/acc": 0.5})
    run.finish()
    df = run.history()
    assert df["epoch"].iloc[1] == 3
    assert math.isnan(df["epoch"].iloc[2])
