"""Fork and rewind with first-class lineage: run semantics section 2 (rules 12-19), plus rule 11
(``resume=None`` on an existing id archives the old history)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbrun
from nbrun import _lineage
from nbrun._store import Store
from tests.conftest import BACKENDS, python_env, wait_for, where

FAST = {"flush_interval": 0.05}


# -- helpers ---------------------------------------------------------------------------------
def make(
    run_id: str,
    values: list[Any] | range,
    project: str = "p",
    key: str = "x",
    finish: bool = True,
    **kwargs: Any,
) -> nbrun.Run:
    """A run ``run_id`` logging ``{key: v}`` once per value (steps 0, 1, ...)."""
    kwargs.setdefault("settings", FAST)
    run = nbrun.init(project=project, id=run_id, reinit="create_new", **kwargs)
    for v in values:
        run.log({key: v})
    if finish:
        run.finish()
    return run


def fork(spec: str, project: str = "p", **kwargs: Any) -> nbrun.Run:
    kwargs.setdefault("settings", FAST)
    return nbrun.init(project=project, fork_from=spec, reinit="create_new", **kwargs)


def rewind(spec: str, project: str = "p", **kwargs: Any) -> nbrun.Run:
    kwargs.setdefault("settings", FAST)
    return nbrun.init(project=project, resume_from=spec, reinit="create_new", **kwargs)


def rows(df: pd.DataFrame, key: str = "x") -> list[tuple[int, Any]]:
    """``(step, value)`` pairs of one key (rows lacking it skipped)."""
    out = []
    for step, v in zip(df["_step"], df[key] if key in df else [None] * len(df), strict=True):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out.append((int(step), v))
    return out


def steps(df: pd.DataFrame) -> list[int]:
    return [int(s) for s in df["_step"]]


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The lineage suite runs on SQLite and on PostgreSQL."""
    return str(request.param)


def db_counts(run_dir: Path) -> tuple[int, int, int]:
    """(history chunks, history rows over all segments, runs) straight from the database."""
    conn = Store.open(where(run_dir))._conn
    chunks, n = conn.execute("SELECT COUNT(*), COALESCE(SUM(n), 0) FROM history").fetchone()
    runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    return int(chunks), int(n), int(runs)


def snapshot(view: Any) -> dict[str, Any]:
    """Everything of a stored run that a fork must leave alone."""
    return {
        "history": view.history().to_dict("list"),
        "own": view.history(lineage=False).to_dict("list"),
        "summary": dict(view.summary),
        "config": dict(view.config),
        "state": view.state,
        "step": view.step,
        "name": view.name,
        "tags": view.tags,
        "notes": view.notes,
        "forked_from": view.forked_from,
        "archives": [(a.index, a.from_step, a.to_step, a.rows) for a in view.archives()],
        "starting_step": view.starting_step,
        "resumed": view.resumed,
    }


# -- rule 12: the spec syntax --------------------------------------------------------------
BAD_SPECS = [
    "abc?_step=-5",
    "abc?_step=1.5",
    "abc?_step=nan",
    "abc?_step=inf",
    "abc?_step=1e3",
    "abc?_step=+5",
    "abc?_step= 5",
    "abc?_step=5 ",
    "abc?_step=0x10",
    "abc?_step=",
    "abc?_step=5&x=1",
    "abc?_step=5?_step=6",
    "abc?_step=\u0663",  # an Arabic-Indic digit: int() would take it, the rule does not
    "",
    "abc",
    "abc?",
    "abc?step=5",
    "abc_step=5",
    "abc?_STEP=5",
    "?_step=5",
    "abc ?_step=5x",
    "abc?_step=5\n",
]


@pytest.mark.parametrize("what", ["fork_from", "resume_from"])
@pytest.mark.parametrize("spec", BAD_SPECS)
def test_bad_spec_quotes_the_string_and_shows_the_form(run_dir: Path, what: str, spec: str) -> None:
    make("abc", range(10))
    with pytest.raises(nbrun.UsageError) as err:
        nbrun.init(project="p", reinit="create_new", **{what: spec})
    msg = str(err.value)
    assert repr(spec) in msg
    assert "?_step=" in msg.replace(repr(spec), "")  # the form is shown, not only quoted
    assert what in msg
    assert db_counts(run_dir)[2] == 1  # nothing was created


@pytest.mark.parametrize("value", [5, 1.5, b"abc?_step=5", ["abc?_step=5"]])
def test_non_string_spec_is_a_usage_error_showing_the_form(run_dir: Path, value: Any) -> None:
    with pytest.raises(nbrun.UsageError, match=r"RUN_ID\?_step=N"):
        nbrun.init(project="p", fork_from=value)


@pytest.mark.parametrize("spec", ["a/b?_step=3", "a,b?_step=3", " abc?_step=3", "abc ?_step=3"])
def test_bad_run_id_inside_spec_quotes_the_string(run_dir: Path, spec: str) -> None:
    with pytest.raises(nbrun.UsageError) as err:
        nbrun.init(project="p", fork_from=spec)
    msg = str(err.value)
    assert repr(spec) in msg
    assert "?_step=" in msg.replace(repr(spec), "")  # rule 12: anything else shows the form


def test_spec_from_environment_is_parsed_as_strictly(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make("abc", range(10))
    monkeypatch.setenv("NBRUN_FORK_FROM", "abc?_step=-1")
    with pytest.raises(nbrun.UsageError, match=r"'abc\?_step=-1'"):
        nbrun.init(project="p")
    monkeypatch.setenv("NBRUN_FORK_FROM", "abc?_step=3")
    run = nbrun.init(project="p", settings=FAST)
    assert run.forked_from == nbrun.ForkPoint("abc", 3) and run.step == 4


def test_parse_spec_valid_forms() -> None:
    assert _lineage.parse_spec("abc?_step=0", "fork_from") == nbrun.ForkPoint("abc", 0)
    assert _lineage.parse_spec("a-b_c.d?_step=007", "fork_from") == nbrun.ForkPoint("a-b_c.d", 7)
    big = "r?_step=123456789012345678901234567890"
    assert _lineage.parse_spec(big, "fork_from").step == 123456789012345678901234567890
    assert str(nbrun.ForkPoint("abc", 200)) == "abc?_step=200"


# -- rule 13: the source -------------------------------------------------------------------
@pytest.mark.parametrize("what", ["fork_from", "resume_from"])
def test_source_must_exist_in_the_same_project(run_dir: Path, what: str) -> None:
    make("abc", range(5), project="other")
    with pytest.raises(nbrun.RunNotFoundError, match=r"'abc'.*'p'"):
        nbrun.init(project="p", **{what: "abc?_step=2"})
    with pytest.raises(nbrun.RunNotFoundError):
        nbrun.init(project="p", **{what: "nope?_step=0"})
    assert db_counts(run_dir)[2] == 1


@pytest.mark.parametrize("what", ["fork_from", "resume_from"])
def test_step_beyond_the_last_names_the_last_step(run_dir: Path, what: str) -> None:
    make("abc", range(10))
    with pytest.raises(nbrun.UsageError, match=r"up to 9") as err:
        nbrun.init(project="p", **{what: "abc?_step=10"})
    assert "'abc?_step=10'" in str(err.value)
    with pytest.raises(nbrun.UsageError, match=r"up to 9"):
        nbrun.init(project="p", **{what: "abc?_step=99999999999999999999999"})
    assert db_counts(run_dir)[2] == 1
    assert nbrun.Api(where(run_dir)).run("p/abc").archives() == []


def test_source_without_rows_has_no_valid_step(run_dir: Path) -> None:
    make("empty", [])
    with pytest.raises(nbrun.UsageError, match="none yet"):
        fork("empty?_step=0")
    with pytest.raises(nbrun.UsageError, match="none yet"):
        rewind("empty?_step=0")


def test_step_in_a_gap_is_valid(run_dir: Path) -> None:
    src = nbrun.init(project="p", id="g", settings=FAST)
    src.log({"x": 0})
    src.log({"x": 1})
    src.log({"x": 5}, step=5, commit=True)
    src.finish()
    f = fork("g?_step=3")
    assert f.step == f.starting_step == 4
    f.log({"x": 40})
    assert rows(f.history()) == [(0, 0), (1, 1), (4, 40)]
    assert dict(f.summary) == {"x": 40}
    f.finish()
    r = rewind("g?_step=3")
    assert r.step == 4
    assert rows(r.history()) == [(0, 0), (1, 1)]
    assert rows(r.archives()[0].history()) == [(5, 5)]


def test_last_step_of_a_fork_without_own_rows_is_its_fork_point(run_dir: Path) -> None:
    make("a", range(10))
    b = fork("a?_step=6", id="b")
    b.finish()
    assert nbrun.Api(where(run_dir)).run("p/b").step == 7
    with pytest.raises(nbrun.UsageError, match="up to 6"):
        fork("b?_step=7")
    c = fork("b?_step=6")
    assert c.step == 7 and rows(c.history()) == [(i, i) for i in range(7)]


def test_pending_row_is_not_a_logged_step(run_dir: Path) -> None:
    src = make("a", range(5), finish=False)
    src.log({"x": 99}, step=5)  # commit defaults to False with a step: pending, not written
    with pytest.raises(nbrun.UsageError, match="up to 4"):
        fork("a?_step=5")
    f = fork("a?_step=4")
    assert rows(f.history()) == [(i, i) for i in range(5)]


# -- rule 14: exclusivity and ids ----------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"fork_from": "a?_step=1", "resume_from": "a?_step=1"},
        {"fork_from": "a?_step=1", "resume": "allow"},
        {"fork_from": "a?_step=1", "resume": True},
        {"resume_from": "a?_step=1", "resume": "must"},
        {"resume_from": "a?_step=1", "resume": "never"},
        {"fork_from": "a?_step=1", "resume_from": "a?_step=1", "resume": "auto"},
        # exclusivity is checked before parsing: even bad specs report it
        {"fork_from": "bad", "resume_from": "worse"},
    ],
)
def test_fork_resume_from_and_resume_are_mutually_exclusive(
    run_dir: Path, kwargs: dict[str, Any]
) -> None:
    make("a", range(5))
    with pytest.raises(nbrun.UsageError, match="mutually exclusive"):
        nbrun.init(project="p", **kwargs)
    assert db_counts(run_dir)[2] == 1
    assert nbrun.Api(where(run_dir)).run("p/a").archives() == []


def test_exclusivity_counts_environment_variables(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make("a", range(5))
    monkeypatch.setenv("NBRUN_RESUME", "allow")
    with pytest.raises(nbrun.UsageError, match="mutually exclusive"):
        nbrun.init(project="p", fork_from="a?_step=1")


def test_fork_with_the_source_id_points_to_resume_from(run_dir: Path) -> None:
    make("a", range(5))
    with pytest.raises(nbrun.UsageError, match="resume_from") as err:
        fork("a?_step=2", id="a")
    assert "'a?_step=2'" in str(err.value)
    assert nbrun.Api(where(run_dir)).run("p/a").archives() == []
    assert db_counts(run_dir)[2] == 1


def test_resume_from_with_another_id_is_refused(run_dir: Path) -> None:
    make("a", range(5))
    make("b", range(5))
    with pytest.raises(nbrun.UsageError, match=r"resume_from.*id='b'"):
        rewind("a?_step=2", id="b")
    api = nbrun.Api(where(run_dir))
    assert api.run("p/a").archives() == [] and api.run("p/b").archives() == []
    run = rewind("a?_step=2", id="a")  # the same id is fine
    assert run.id == "a"


def test_resume_from_without_id_takes_the_source_id(run_dir: Path) -> None:
    make("a", range(5))
    run = rewind("a?_step=2")
    assert run.id == "a" and run.resumed
    assert db_counts(run_dir)[2] == 1


# -- rule 15: the first own step -----------------------------------------------------------
@pytest.mark.parametrize("n", [0, 3, 9])
def test_fork_and_rewind_start_at_n_plus_one(run_dir: Path, n: int) -> None:
    make("a", range(10))
    f = fork(f"a?_step={n}")
    assert f.step == f.starting_step == n + 1
    f.log({"y": 1})
    assert steps(f.history(lineage=False)) == [n + 1]
    with pytest.warns(UserWarning, match=rf"step {n}\b.*step {n + 2}"):
        f.log({"y": 2}, step=n)  # step N belongs to the source: dropped with a warning
    f.finish()
    stored = nbrun.Api(where(run_dir)).run(f"p/{f.id}")
    assert stored.starting_step == n + 1 and stored.step == n + 2

    r = rewind(f"a?_step={n}")
    assert r.step == r.starting_step == n + 1
    r.log({"y": 1})
    assert steps(r.history())[-1] == n + 1


# -- rule 16: the fork's history -------------------------------------------------------------
def test_fork_history_is_source_rows_then_own_rows_and_source_is_untouched(run_dir: Path) -> None:
    src = make(
        "a",
        range(10),
        config={"lr": 0.1},
        tags=("base",),
        notes="the source",
        group="g",
        job_type="train",
        name="source-run",
    )
    api = nbrun.Api(where(run_dir))
    before = snapshot(api.run("p/a"))
    chunks, total, _ = db_counts(run_dir)
    f = fork("a?_step=4", config={"lr": 0.5})
    for i in range(3):
        f.log({"x": 100 + i, "z": i})
    df = f.history()
    assert steps(df) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert rows(df) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 100), (6, 101), (7, 102)]
    assert rows(df, "z") == [(5, 0), (6, 1), (7, 2)]
    assert rows(f.history(lineage=False)) == [(5, 100), (6, 101), (7, 102)]
    f.finish()
    # the same through a stored view
    stored = api.run(f"p/{f.id}")
    assert rows(stored.history()) == rows(df)
    assert rows(stored.history(lineage=False)) == [(5, 100), (6, 101), (7, 102)]
    # the source: not changed in any way
    after = snapshot(api.run("p/a"))
    assert after == before
    assert src.state == "finished"
    # the parent's rows were not copied: only the fork's own 3 rows were added
    chunks2, total2, _ = db_counts(run_dir)
    assert total2 == total + 3
    assert chunks2 - chunks <= 3


def test_fork_history_has_no_column_of_keys_only_later_source_rows_had(run_dir: Path) -> None:
    src = nbrun.init(project="p", id="a", settings=FAST)
    src.log({"x": 0})
    src.log({"x": 1, "late": 5})  # same chunk as step 0
    src.finish()
    f = fork("a?_step=0")
    assert list(f.history().columns) == ["_step", "x", "_runtime", "_timestamp"]
    f.finish()
    view = nbrun.Api(where(run_dir)).run(f"p/{f.id}")
    assert "late" not in view.history().columns and dict(view.summary) == {"x": 0}


def test_forks_of_forks_stitch_through_the_whole_lineage(run_dir: Path) -> None:
    make("a", range(10))  # a: 0..9
    b = fork("a?_step=7", id="b")  # b: a0..7, own 8..12
    for i in range(8, 13):
        b.log({"x": 100 + i})
    b.finish()
    c = fork("b?_step=10", id="c")  # c: a0..7, b8..10, own 11..14
    for i in range(11, 15):
        c.log({"x": 200 + i})
    c.finish()
    d = fork("c?_step=5", id="d")  # into c's inherited region, from a: a0..5, own 6..7
    d.log({"x": 306})
    d.log({"x": 307})
    d.finish()
    e = fork("d?_step=6", id="e")  # depth 4: a0..5, d6, own 7
    e.log({"x": 407})
    e.finish()
    g = fork("c?_step=12", id="g")  # depth 3: a0..7, b8..10, c11..12, own 13
    g.log({"x": 513})
    g.finish()

    api = nbrun.Api(where(run_dir))
    a_rows = [(i, i) for i in range(10)]
    expected = {
        "b": a_rows[:8] + [(i, 100 + i) for i in range(8, 13)],
        "c": a_rows[:8]
        + [(i, 100 + i) for i in range(8, 11)]
        + [(i, 200 + i) for i in (11, 12, 13, 14)],
        "d": [*a_rows[:6], (6, 306), (7, 307)],
        "e": [*a_rows[:6], (6, 306), (7, 407)],
        "g": [*a_rows[:8], (8, 108), (9, 109), (10, 110), (11, 211), (12, 212), (13, 513)],
    }
    for rid, want in expected.items():
        view = api.run(f"p/{rid}")
        assert rows(view.history()) == want, rid
        assert steps(view.history()) == [s for s, _ in want], rid
        assert dict(view.summary) == {"x": want[-1][1]}, rid
    assert rows(api.run("p/e").history(lineage=False)) == [(7, 407)]
    assert rows(api.run("p/d").history(lineage=False)) == [(6, 306), (7, 307)]
    assert api.run("p/d").forked_from == nbrun.ForkPoint("c", 5)
    assert [r.id for r in api.run("p/c").children()] == ["d", "g"]
    assert [r.id for r in api.run("p/a").children()] == ["b"]
    assert api.run("p/e").children() == []


def test_fork_of_a_live_source_flushes_rows_still_in_memory(run_dir: Path) -> None:
    # the writer would not flush by itself for a minute: every row is still in memory
    src = make("a", [], finish=False, settings={"flush_interval": 60.0, "flush_rows": 10_000})
    for i in range(50):
        src.log({"x": i})
    assert len(src._writer.pending_rows()) == 50
    f = fork("a?_step=49")
    assert rows(f.history()) == [(i, i) for i in range(50)]
    assert dict(f.summary) == {"x": 49} and f.step == 50
    # the source keeps running and logging; the fork does not see its later rows
    assert src.state == "running"
    src.log({"x": 50})
    f.log({"x": -1})
    assert rows(f.history())[-2:] == [(49, 49), (50, -1)]
    assert rows(src.history())[-1] == (50, 50)
    f.finish()
    src.finish()
    assert rows(nbrun.Api(where(run_dir)).run(f"p/{f.id}").history())[-2:] == [(49, 49), (50, -1)]


def test_live_history_has_every_logged_row_while_the_writer_flushes(run_dir: Path) -> None:
    # rows the writer has taken but not yet committed were missing from run.history()
    src = make("a", range(3))
    for t in range(60):
        run = fork("a?_step=2", settings={"flush_interval": 0.05, "flush_rows": 3})
        for i in range(3 + t % 4):
            run.log({"x": i})
            got = steps(run.history())
            assert got == list(range(4 + i)), (t, i, got)
        run.finish()
    assert src.state == "finished"


def test_fork_does_not_change_the_current_run_semantics_of_its_source(run_dir: Path) -> None:
    src = make("a", range(5), finish=False)
    f = nbrun.init(project="p", fork_from="a?_step=2", reinit="create_new", settings=FAST)
    assert nbrun.run is src  # create_new leaves nbrun.run pointing at the first
    assert f.state == "running" and src.state == "running"


# -- rule 17: config, identity fields and summary of a fork -----------------------------------
def test_fork_config_is_inherited_and_overridden_with_a_diff(run_dir: Path) -> None:
    make("a", range(5), config={"lr": 0.1, "bs": 32, "opt": "adam", "nested": {"k": 1}})
    f = fork("a?_step=2", config={"lr": 0.2, "bs": 32, "extra": True, "nested": {"k": 2}})
    assert dict(f.config) == {
        "lr": 0.2,
        "bs": 32,
        "opt": "adam",
        "extra": True,
        "nested": {"k": 2},
    }
    assert f.config_diff == {
        "extra": {"from": None, "to": True},
        "lr": {"from": 0.1, "to": 0.2},
        "nested": {"from": {"k": 1}, "to": {"k": 2}},
    }
    f.finish()
    stored = nbrun.Api(where(run_dir)).run(f"p/{f.id}")
    assert stored.config_diff == f.config_diff
    assert dict(stored.config) == dict(f.config)
    assert dict(nbrun.Api(where(run_dir)).run("p/a").config)["lr"] == 0.1
    plain = fork("a?_step=2")
    assert dict(plain.config) == {"lr": 0.1, "bs": 32, "opt": "adam", "nested": {"k": 1}}
    assert plain.config_diff == {}


def test_fork_does_not_inherit_tags_notes_name_group_job_type(run_dir: Path) -> None:
    make(
        "a",
        range(3),
        tags=("t1", "t2"),
        notes="n",
        name="parent-name",
        group="grp",
        job_type="jt",
    )
    f = fork("a?_step=1")
    assert f.tags == () and f.notes is None and f.group is None and f.job_type is None
    assert f.name and f.name != "parent-name"
    f.finish()
    stored = nbrun.Api(where(run_dir)).run(f"p/{f.id}")
    assert (stored.tags, stored.notes, stored.group, stored.job_type) == ((), None, None, None)
    assert stored.name == f.name
    g = fork("a?_step=1", tags=("mine",), name="child", group="g2")
    assert g.tags == ("mine",) and g.name == "child" and g.group == "g2"


def _agg(values: list[float]) -> dict[str, Any]:
    return {"min": min(values), "max": max(values), "mean": sum(values) / len(values)}


@pytest.mark.parametrize("flush_rows", [1, 3, 1000])
def test_fork_summary_is_recomputed_over_inherited_rows_only(
    run_dir: Path, flush_rows: int
) -> None:
    losses = [5.0, 3.0, 4.0, 1.0, 2.5, 0.5, 7.0, 0.25, 3.5, 6.0, 0.1]
    src = nbrun.init(
        project="p",
        id="a",
        settings={"flush_interval": 0.05, "flush_rows": flush_rows},
    )
    for i, loss in enumerate(losses[:4]):
        src.log({"loss": loss, "acc": i / 10, "tag": f"s{i}"})
        src.flush()  # one chunk per flush: fork steps fall inside and at ends of chunks
    src.define_metric("loss", summary="min,max,mean")  # covers rows logged before the call
    src.define_metric("acc", summary="max,first")
    for i, loss in enumerate(losses[4:], start=4):
        src.log({"loss": loss, "acc": i / 10, "tag": f"s{i}"})
        if i % 2:
            src.flush()
    src.finish()
    assert dict(src.summary)["loss"] == _agg(losses)
    api = nbrun.Api(where(run_dir))
    for n in range(len(losses)):
        f = fork(f"a?_step={n}")
        want = {
            "loss": _agg(losses[: n + 1]),
            "acc": {"max": n / 10, "first": 0.0},
            "tag": f"s{n}",
        }
        assert dict(f.summary) == want, n
        f.log({"loss": -1.0})  # then updates as usual
        got = dict(f.summary)["loss"]
        assert got == _agg([*losses[: n + 1], -1.0]), n
        f.finish()
        assert dict(api.run(f"p/{f.id}").summary)["loss"] == got
        # a fork of the fork, inside the inherited region: the same recomputation
        if n >= 2:
            g = fork(f"{f.id}?_step={n - 2}")
            assert dict(g.summary)["loss"] == _agg(losses[: n - 1]), n
            g.finish()
    # the source summary was never touched
    assert dict(api.run("p/a").summary)["loss"] == _agg(losses)


def test_fork_summary_and_metric_defs_after_a_deep_chain(run_dir: Path) -> None:
    a = nbrun.init(project="p", id="a", settings={"flush_interval": 0.05, "flush_rows": 2})
    a.define_metric("v", summary="min,max")
    for v in [3, 1, 4, 1, 5]:
        a.log({"v": v})
    a.finish()
    b = fork("a?_step=3", id="b", settings={"flush_interval": 0.05, "flush_rows": 2})
    for v in [9, 2, 6]:  # steps 4..6
        b.log({"v": v})
    b.finish()
    c = fork("b?_step=5", id="c")  # a0..3 + b4..5
    assert dict(c.summary) == {"v": {"min": 1, "max": 9}}
    c.log({"v": 0})
    assert dict(c.summary) == {"v": {"min": 0, "max": 9}}
    d = fork("b?_step=2", id="d")  # b's inherited region: a0..2
    assert dict(d.summary) == {"v": {"min": 1, "max": 4}}


# -- rule 18: lineage API ------------------------------------------------------------------
def test_forked_from_on_live_and_stored_runs_survives_resume(run_dir: Path) -> None:
    root = make("a", range(5))
    assert root.forked_from is None
    f = fork("a?_step=3", id="f")
    assert f.forked_from is not None
    assert (f.forked_from.run_id, f.forked_from.step) == ("a", 3)
    f.log({"x": 10})
    f.finish()
    api = nbrun.Api(where(run_dir))
    assert api.run("p/f").forked_from == nbrun.ForkPoint("a", 3)
    assert api.run("p/a").forked_from is None
    again = nbrun.init(project="p", id="f", resume="allow", settings=FAST)
    assert again.resumed and again.forked_from == nbrun.ForkPoint("a", 3)
    assert again.step == 5
    again.log({"x": 11})
    again.finish()
    assert api.run("p/f").forked_from == nbrun.ForkPoint("a", 3)
    assert rows(api.run("p/f").history()) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 10), (5, 11)]
    # a rewind inside its own rows keeps the fork point too
    r = rewind("f?_step=4")
    assert r.forked_from == nbrun.ForkPoint("a", 3)
    r.finish()
    assert api.run("p/f").forked_from == nbrun.ForkPoint("a", 3)


def test_children_and_runs_table(run_dir: Path) -> None:
    make("a", range(5))
    make("other", range(2))
    fork("a?_step=1", id="c1").finish()
    fork("a?_step=4", id="c2").finish()
    fork("c1?_step=0", id="gc").finish()
    api = nbrun.Api(where(run_dir))
    kids = api.run("p/a").children()
    assert [k.id for k in kids] == ["c1", "c2"]
    assert [k.forked_from.step for k in kids] == [1, 4]
    assert [k.id for k in api.run("p/c1").children()] == ["gc"]
    assert api.run("p/other").children() == []
    live = make("a2", range(2), finish=False)
    fork("a2?_step=1", id="c3").finish()
    assert [k.id for k in live.children()] == ["c3"]

    df = nbrun.runs("p").set_index("id")
    assert df.loc["c1", "forked_from"] == "a" and df.loc["c1", "fork_step"] == 1
    assert df.loc["c2", "fork_step"] == 4
    assert df.loc["gc", "forked_from"] == "c1" and df.loc["gc", "fork_step"] == 0
    assert pd.isna(df.loc["a", "fork_step"]) and pd.isna(df.loc["a", "forked_from"])
    assert str(df["fork_step"].dtype) == "Int64"


# -- rule 19: rewind -------------------------------------------------------------------------
def test_rewind_of_a_running_run_is_refused(run_dir: Path) -> None:
    run = make("a", range(5), finish=False)
    with pytest.raises(nbrun.UsageError, match="finish it first"):
        rewind("a?_step=2")
    assert run.state == "running" and nbrun.Api(where(run_dir)).run("p/a").archives() == []
    run.log({"x": 5})
    run.finish()
    assert rows(nbrun.Api(where(run_dir)).run("p/a").history()) == [(i, i) for i in range(6)]


def test_rewind_archives_later_rows_and_continues_with_same_id(run_dir: Path) -> None:
    make("a", range(10), config={"lr": 0.1, "bs": 8}, settings={"flush_rows": 3, **FAST})
    counts = db_counts(run_dir)
    r = rewind("a?_step=4", config={"lr": 0.3, "new": 1})
    assert r.id == "a" and r.resumed
    assert dict(r.config) == {"lr": 0.3, "bs": 8, "new": 1}
    assert dict(r.summary) == {"x": 4}
    assert rows(r.history()) == [(i, i) for i in range(5)]
    arch = r.archives()
    assert len(arch) == 1
    a0 = arch[0]
    assert (a0.index, a0.from_step, a0.to_step, a0.rows, a0.reason) == (1, 5, 9, 5, "rewind")
    assert str(os.getpid()) in a0.actor and a0.forked_from is None
    assert rows(a0.history()) == [(i, i) for i in range(5, 10)]
    assert db_counts(run_dir)[1:] == counts[1:]  # nothing deleted: same rows, same runs
    for i in range(5, 8):
        r.log({"x": 50 + i})
    assert dict(r.summary) == {"x": 57}
    r.finish()
    view = nbrun.Api(where(run_dir)).run("p/a")
    assert rows(view.history()) == [(i, i) for i in range(5)] + [(5, 55), (6, 56), (7, 57)]
    assert dict(view.summary) == {"x": 57} and dict(view.config)["lr"] == 0.3

    # a second rewind chains: its segment holds the original rows 3..4 and the new 5..7
    r2 = rewind("a?_step=2")
    assert dict(r2.summary) == {"x": 2}
    r2.finish()
    arch = nbrun.Api(where(run_dir)).run("p/a").archives()
    assert [a.index for a in arch] == [1, 2]
    assert rows(arch[0].history()) == [(i, i) for i in range(5, 10)]
    assert rows(arch[1].history()) == [(3, 3), (4, 4), (5, 55), (6, 56), (7, 57)]
    assert (arch[1].from_step, arch[1].to_step, arch[1].rows) == (3, 7, 5)
    assert arch[0].created <= arch[1].created
    assert db_counts(run_dir)[1] == counts[1] + 3  # only the 3 new rows were added


def test_rewind_summary_recomputes_aggregates(run_dir: Path) -> None:
    run = nbrun.init(project="p", id="a", settings={"flush_rows": 2, **FAST})
    run.define_metric("loss", summary="min,max,mean,last")
    vals = [4.0, 2.0, 8.0, 1.0, 6.0, 0.5]
    for v in vals:
        run.log({"loss": v})
    run.finish()
    r = rewind("a?_step=2")
    assert dict(r.summary) == {"loss": {**_agg(vals[:3]), "last": 8.0}}
    r.log({"loss": 3.0})
    assert dict(r.summary) == {"loss": {**_agg([*vals[:3], 3.0]), "last": 3.0}}
    r.finish()
    assert dict(nbrun.Api(where(run_dir)).run("p/a").summary) == dict(r.summary)


def test_rewind_to_the_last_step_archives_nothing(run_dir: Path) -> None:
    make("a", range(5))
    counts = db_counts(run_dir)
    r = rewind("a?_step=4")
    assert r.step == 5 and r.archives() == []
    assert db_counts(run_dir) == counts


def test_rewind_a_fork_into_its_inherited_region(run_dir: Path) -> None:
    make("a", range(10))
    api = nbrun.Api(where(run_dir))
    before = snapshot(api.run("p/a"))
    f = fork("a?_step=7", id="f")
    for i in range(8, 12):
        f.log({"x": 100 + i})
    f.finish()
    counts = db_counts(run_dir)
    r = rewind("f?_step=4")
    assert r.id == "f" and r.step == 5
    assert rows(r.history()) == [(i, i) for i in range(5)]
    assert r.history(lineage=False).empty
    assert dict(r.summary) == {"x": 4}
    assert r.forked_from is not None and r.forked_from.run_id == "a"
    assert r.forked_from.step == 4  # it now inherits up to step 4 only
    arch = r.archives()
    assert len(arch) == 1
    assert rows(arch[0].history()) == [(i, 100 + i) for i in range(8, 12)]
    assert arch[0].forked_from == nbrun.ForkPoint("a", 7)  # the lineage it had then
    assert db_counts(run_dir) == counts  # nothing deleted, nothing copied
    r.log({"x": -5})
    r.finish()
    view = api.run("p/f")
    assert rows(view.history()) == [(i, i) for i in range(5)] + [(5, -5)]
    assert rows(view.history(lineage=False)) == [(5, -5)]
    assert view.forked_from == nbrun.ForkPoint("a", 4)
    assert snapshot(api.run("p/a")) == before  # the source is untouched
    # a fork with no own rows rewound into its inherited region
    g = fork("a?_step=6", id="g")
    g.finish()
    g2 = rewind("g?_step=2")
    assert rows(g2.history()) == [(0, 0), (1, 1), (2, 2)]
    assert g2.forked_from == nbrun.ForkPoint("a", 2)
    assert [a.rows for a in g2.archives()] == [0]  # an empty segment records the change


def test_rewind_then_fork_sees_the_kept_rows(run_dir: Path) -> None:
    make("a", range(10))
    r = rewind("a?_step=3")
    for i in range(4, 7):
        r.log({"x": -i})
    r.finish()
    f = fork("a?_step=5")
    assert rows(f.history()) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, -4), (5, -5)]
    assert dict(f.summary) == {"x": -5}


# -- rule 11 where it touches archives ------------------------------------------------------
def test_resume_none_with_an_existing_id_archives_with_a_warning(run_dir: Path) -> None:
    make("a", range(6), config={"old": 1}, tags=("t",))
    counts = db_counts(run_dir)
    with pytest.warns(UserWarning, match="'a' already exists.*archived"):
        run = nbrun.init(project="p", id="a", config={"new": 2}, settings=FAST)
    assert run.step == 0 and run.starting_step == 0 and not run.resumed
    assert run.history().empty and dict(run.summary) == {}
    assert dict(run.config) == {"new": 2}
    arch = run.archives()
    assert len(arch) == 1
    assert (arch[0].reason, arch[0].from_step, arch[0].to_step, arch[0].rows) == (
        "replaced",
        0,
        5,
        6,
    )
    assert rows(arch[0].history()) == [(i, i) for i in range(6)]
    assert db_counts(run_dir)[1:] == counts[1:]
    run.log({"x": 100})
    run.finish()
    assert rows(nbrun.Api(where(run_dir)).run("p/a").history()) == [(0, 100)]


def test_resume_none_on_a_fork_drops_its_lineage_but_archives_it(run_dir: Path) -> None:
    make("a", range(6))
    f = fork("a?_step=3", id="f")
    f.log({"x": 40})
    f.finish()
    with pytest.warns(UserWarning, match="archived"):
        run = nbrun.init(project="p", id="f", settings=FAST)
    assert run.forked_from is None and run.history().empty and run.step == 0
    arch = run.archives()
    assert arch[0].forked_from == nbrun.ForkPoint("a", 3)
    assert rows(arch[0].history()) == [(4, 40)]
    run.finish()
    assert nbrun.Api(where(run_dir)).run("p/f").forked_from is None
    assert nbrun.Api(where(run_dir)).run("p/a").children() == []


def test_resume_none_on_a_running_id_is_refused(run_dir: Path) -> None:
    make("a", range(3), finish=False)
    with pytest.raises(nbrun.UsageError, match="finish it first"):
        nbrun.init(project="p", id="a", reinit="create_new")
    assert nbrun.Api(where(run_dir)).run("p/a").archives() == []


# -- across processes ------------------------------------------------------------------------
def _python(run_dir: Path, code: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=run_dir,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kw,
    )


def test_fork_made_in_another_process_is_visible_with_its_stitched_history(
    run_dir: Path,
) -> None:
    make("a", range(10), config={"lr": 0.1})
    proc = _python(
        run_dir,
        """
        import nbrun
        f = nbrun.init(project="p", id="sub", fork_from="a?_step=5", config={"lr": 0.2})
        assert f.step == 6, f.step
        f.log({"x": 60})
        f.log({"x": 70})
        f.finish()
        g = nbrun.init(project="p", id="subroot")
        g.log({"x": -1})
        g.log({"x": -2})
        g.finish()
        """,
    )
    assert proc.returncode == 0, proc.stderr
    api = nbrun.Api(where(run_dir))
    sub = api.run("p/sub")
    assert rows(sub.history()) == [(i, i) for i in range(6)] + [(6, 60), (7, 70)]
    assert rows(sub.history(lineage=False)) == [(6, 60), (7, 70)]
    assert sub.forked_from == nbrun.ForkPoint("a", 5)
    assert dict(sub.config) == {"lr": 0.2} and dict(sub.summary) == {"x": 70}
    assert [c.id for c in api.run("p/a").children()] == ["sub"]
    # and forking it here, then reading here, stitches rows of both processes
    here = fork("sub?_step=6")
    here.log({"x": 600})
    assert rows(here.history()) == [(i, i) for i in range(6)] + [(6, 60), (7, 600)]
    here.finish()
    r = rewind("subroot?_step=0")  # rewinding a run made in the other process
    assert rows(r.history()) == [(0, -1)] and rows(r.archives()[0].history()) == [(1, -2)]


def test_fork_made_here_is_visible_from_another_process(run_dir: Path) -> None:
    make("a", range(10))
    f = fork("a?_step=3", id="mine")
    f.log({"x": 40})
    f.finish()
    r = rewind("a?_step=7")
    r.log({"x": 80})
    r.finish()
    proc = _python(
        run_dir,
        """
        import nbrun
        api = nbrun.Api()
        v = api.run("p/mine")
        print(v.history()["x"].tolist(), v.forked_from, v.step)
        a = api.run("p/a")
        print(a.history()["x"].tolist(), [x.history()["x"].tolist() for x in a.archives()])
        print([c.id for c in a.children()])
        g = nbrun.init(project="p", id="theirs", fork_from="mine?_step=4")
        g.log({"x": 50})
        g.finish()
        """,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "[0, 1, 2, 3, 40] a?_step=3 5"
    assert out[1] == "[0, 1, 2, 3, 4, 5, 6, 7, 80] [[8, 9]]"
    assert out[2] == "['mine']"
    view = nbrun.Api(where(run_dir)).run("p/theirs")
    assert rows(view.history()) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 40), (5, 50)]


def test_rewind_of_a_run_running_in_another_process_is_refused(run_dir: Path) -> None:
    code = textwrap.dedent(
        """
        import sys, nbrun
        run = nbrun.init(project="p", id="busy", settings={"flush_interval": 0.05})
        for i in range(5):
            run.log({"x": i})
        run.flush()
        print("ready", flush=True)
        sys.stdin.readline()
        run.finish()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=run_dir,
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(nbrun.UsageError, match="finish it first"):
            rewind("busy?_step=2")
        # forking a run that runs elsewhere is fine: its durable rows are inherited
        f = fork("busy?_step=4")
        assert rows(f.history()) == [(i, i) for i in range(5)]
        f.finish()
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    wait_for(lambda: nbrun.Api(where(run_dir)).run("p/busy").state == "finished")
    r = rewind("busy?_step=2")
    assert rows(r.history()) == [(0, 0), (1, 1), (2, 2)]


def test_no_warnings_on_plain_fork_and_rewind(run_dir: Path) -> None:
    make("a", range(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fork("a?_step=1").finish()
        rewind("a?_step=1").finish()


def test_rewind_and_fork_of_a_crashed_run_are_allowed(run_dir: Path) -> None:
    proc = _python(
        run_dir,
        """
        import os, nbrun
        run = nbrun.init(project="p", id="dead", settings={"flush_interval": 0.05})
        for i in range(6):
            run.log({"x": i})
        run.flush()
        os._exit(3)  # dies without finishing
        """,
    )
    assert proc.returncode == 3, proc.stderr
    api = nbrun.Api(where(run_dir))
    wait_for(lambda: api.run("p/dead").state == "crashed")
    f = fork("dead?_step=5")
    assert rows(f.history()) == [(i, i) for i in range(6)]
    f.finish()
    r = rewind("dead?_step=3")  # only a running run is refused
    assert r.step == 4 and rows(r.archives()[0].history()) == [(4, 4), (5, 5)]
    r.finish()
    assert api.run("p/dead").state == "finished"


def test_rewinding_a_source_does_not_change_its_forks(run_dir: Path) -> None:
    """A fork reads its parent as it was at fork time, even after the parent is rewound or
    its id re-created: the rows it inherited are read from the archive they moved to."""
    a = nbrun.init(project="p", id="a")
    a.define_metric("x", summary="min,max")
    for i in range(10):
        a.log({"x": i})
    a.finish()
    f = nbrun.init(project="p", id="f", fork_from="a?_step=6")
    f.log({"x": 100})
    f.finish()
    g = nbrun.init(project="p", id="g", fork_from="f?_step=7")
    g.finish()
    before_f, before_g = f.history(), g.history()
    again = nbrun.init(project="p", resume_from="a?_step=2")
    for v in (0, -1, -2, -3, -4, -5, -6, -7):
        again.log({"x": v})
    again.finish()
    api = nbrun.Api(where(run_dir))
    assert api.run("p/a").history()["x"].tolist() == [0, 1, 2, 0, -1, -2, -3, -4, -5, -6, -7]
    assert api.run("p/f").history()["x"].tolist() == [0, 1, 2, 3, 4, 5, 6, 100]
    assert api.run("p/f").history().equals(before_f)
    assert api.run("p/g").history().equals(before_g)
    # forks made now see the parent's new rows; the old fork's summary agrees with its history
    h = nbrun.init(project="p", id="h", fork_from="a?_step=5")
    assert h.history()["x"].tolist() == [0, 1, 2, 0, -1, -2]
    assert h.summary["x"] == {"min": -2, "max": 2}
    h.finish()
    k = nbrun.init(project="p", id="k", fork_from="f?_step=4")
    assert k.summary["x"] == {"min": 0, "max": 4}
    assert k.history()["x"].tolist() == [0, 1, 2, 3, 4]
    k.finish()
    # re-creating the source's id does not move the forks either
    with pytest.warns(UserWarning, match="archived"):
        nbrun.init(project="p", id="a").finish()
    assert api.run("p/a").history().empty
    assert api.run("p/f").history().equals(before_f)
    assert api.run("p/h").history()["x"].tolist() == [0, 1, 2, 0, -1, -2]


def test_rewinding_a_middle_run_into_its_parent_keeps_grandchildren(run_dir: Path) -> None:
    a = nbrun.init(project="p", id="a")
    for i in range(10):
        a.log({"x": i})
    a.finish()
    b = nbrun.init(project="p", id="b", fork_from="a?_step=5")
    for i in range(6, 12):
        b.log({"x": i * 10})
    b.finish()
    c = nbrun.init(project="p", id="c", fork_from="b?_step=9")
    c.finish()
    want = c.history()["x"].tolist()
    assert want == [0, 1, 2, 3, 4, 5, 60, 70, 80, 90]
    rb = nbrun.init(project="p", resume_from="b?_step=2")  # into a's region
    rb.log({"x": -3})
    rb.finish()
    assert nbrun.Api(where(run_dir)).run("p/b").forked_from == nbrun.ForkPoint("a", 2)
    assert nbrun.Api(where(run_dir)).run("p/b").history()["x"].tolist() == [0, 1, 2, -3]
    assert nbrun.Api(where(run_dir)).run("p/c").history()["x"].tolist() == want
    assert nbrun.Api(where(run_dir)).run("p/c").forked_from == nbrun.ForkPoint("b", 9)


def test_a_logged_none_is_a_missing_value_in_summary_everywhere(run_dir: Path) -> None:
    run = nbrun.init(project="p", id="n")
    run.log({"x": 1})
    run.log({"x": None, "y": 2})
    assert run.summary["x"] == 1
    run.finish()
    assert nbrun.Api(where(run_dir)).run("p/n").summary["x"] == 1
    fork = nbrun.init(project="p", fork_from="n?_step=1")
    assert fork.summary["x"] == 1
    assert fork.history()["x"].isna().tolist() == [False, True]
    fork.finish()
