"""The project table reads a project's runs at once (issue 25 item 8): the same rows as one
view per run read attribute by attribute (archives, last steps, forks of forks, a deleted
parent), a number of store queries that does not grow with the runs, and no cache between
reads (a new fork shows in the next read). Speed only: no rule changes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun.widgets._charts import family_ids
from nbrun.widgets._colors import family_colors
from nbrun.widgets._data import MinMaxSeries, _num, _nums
from nbrun.widgets._project import _row, overlay_data, project_rows
from tests.conftest import BACKENDS, where


def _family(dir: str, project: str, n: int) -> list[str]:
    """``n`` small runs in threes: a root, its fork, a fork of that fork; the first rewound
    (an archive); then a run without rows and a fork without rows (its last step is its
    fork step)."""
    ids: list[str] = []
    for i in range(n):
        fork = f"{ids[-1]}?_step=3" if i % 3 else None
        run = nbrun.init(
            project=project, dir=dir, fork_from=fork, config={"lr": i / 10, "o": {"k": i}}
        )
        for step in range(run.step, 6):
            run.log({"loss": 1 / (step + 1) + i, "acc": step / 6})
        run.finish()
        ids.append(run.id)
    nbrun.Api(dir).run(f"{project}/{ids[0]}").rewind(4).finish()
    empty = nbrun.init(project=project, dir=dir)
    empty.finish()
    empty_fork = nbrun.init(project=project, dir=dir, fork_from=f"{ids[0]}?_step=2")
    empty_fork.finish()
    return [*ids, empty.id, empty_fork.id]


def _one_by_one(dir: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as a view per run reads them (every attribute from the store), with the
    depth and family colour the table gave them."""
    api = nbrun.Api(dir)
    return [_row(api.run(r["key"]), r["depth"]) | {"color": r["color"]} for r in rows]


@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_table_rows_read_at_once_equal_rows_read_per_run(run_dir: Path) -> None:
    dir = where(run_dir)
    ids = _family(dir, "p", 7)
    nbrun.init(project="q", dir=dir, config={"lr": 1}).finish()  # another project
    rows = project_rows("p", dir)
    assert [r["id"] for r in rows if r["depth"] == 2] == [ids[2], ids[5]]  # forks of forks
    assert rows == _one_by_one(dir, rows)
    first = next(r for r in rows if r["id"] == ids[0])
    assert first["archives"] == 1 and first["step"] == 4  # rewound at 4
    assert next(r for r in rows if r["id"] == ids[-2])["step"] is None  # no rows
    assert next(r for r in rows if r["id"] == ids[-1])["step"] == 2  # empty fork: its fork step
    every = project_rows(None, dir)
    assert {r["project"] for r in every} == {"p", "q"}
    assert every == _one_by_one(dir, every)
    # a deleted parent: its forks (detached) become roots, rows as before
    nbrun.Api(dir).run(f"p/{ids[4]}").delete(detach_forks=True)
    rows = project_rows("p", dir)
    detached = next(r for r in rows if r["id"] == ids[5])
    assert detached["depth"] == 0 and detached["detached_from"] == ids[4]
    assert rows == _one_by_one(dir, rows)


def test_store_reads_of_the_project_are_the_per_run_reads(run_dir: Path) -> None:
    ids = _family(str(run_dir), "p", 5)
    store = nbrun.Api(run_dir).store
    assert store is not None
    recs = store.list_runs("p")
    listed = store.list_runs_with_steps("p")
    assert [rec for rec, _ in listed] == recs
    assert [last for _, last in listed] == [store.segment_last_step(r.key, 0) for r in recs]
    archives = store.project_archives("p")
    assert {k: v for k, v in archives.items() if v} == {
        r.key: store.archives(r.key) for r in recs if store.archives(r.key)
    }
    assert set(archives) == {recs[[r.id for r in recs].index(ids[0])].key}
    assert store.project_archives("elsewhere") == {}


def _queries(dir: Path, project: str) -> int:
    store = nbrun.Api(dir).store
    assert store is not None
    seen: list[str] = []
    store.trace(seen.append)
    try:
        project_rows(project, dir)
    finally:
        store.trace(None)
    return len(seen)


def test_table_queries_do_not_grow_with_the_runs(run_dir: Path) -> None:
    _family(str(run_dir), "small", 4)
    _family(str(run_dir), "big", 30)
    small, big = _queries(run_dir, "small"), _queries(run_dir, "big")
    assert small == big
    assert big <= 5  # the runs with their last steps, the project's archives


def test_a_new_fork_shows_in_the_next_read(run_dir: Path) -> None:
    ids = _family(str(run_dir), "p", 3)
    before = project_rows("p", run_dir)
    fork = nbrun.init(project="p", fork_from=f"{ids[2]}?_step=4")
    fork.log({"loss": 0.0})
    fork.finish()
    after = project_rows("p", run_dir)
    assert len(after) == len(before) + 1
    row = next(r for r in after if r["id"] == fork.id)
    parent = next(r for r in after if r["id"] == ids[2])
    assert row["depth"] == parent["depth"] + 1 == 3 and row["step"] == 5
    assert after == _one_by_one(str(run_dir), after)


def test_overlay_reads_each_family_once_with_its_colours(run_dir: Path) -> None:
    ids = _family(str(run_dir), "p", 6)
    keys = [f"p/{i}" for i in ids]
    data = overlay_data(keys, run_dir, samples=20)
    api = nbrun.Api(run_dir)
    alone = [family_colors(family_ids(api.run(k)))[k.split("/")[1]] for k in keys]
    assert [r["color"] for r in data["runs"]] == alone  # as each run's family read alone
    rows = {r["key"]: r["color"] for r in project_rows("p", run_dir)}
    assert [rows[k] for k in keys] == alone
    for family in (keys[:3], keys[3:6]):  # a family's runs never share a colour
        assert len({rows[k] for k in family}) == 3


def test_columns_convert_as_point_by_point() -> None:
    """``_nums`` (a column at a time) gives what ``_num`` gives each value: ints where whole
    and exact, the value itself otherwise (NaN, inf, fractions, ints past 2**53)."""
    odd = [0, 1.0, -0.0, 2.5, math.nan, math.inf, -math.inf, 2**60, float(2**60), 3, -7.0, 0.1]
    values = odd * 3 + [i / 4 for i in range(40)]
    got, want = _nums(values), [_num(v) for v in values]
    assert [type(v) for v in got] == [type(v) for v in want]
    assert [repr(v) for v in got] == [repr(v) for v in want]
    mm = MinMaxSeries(64)
    mm.extend([i / 3 for i in range(500)], [float(i % 7) for i in range(500)], list(range(500)))
    assert mm.xy() == [(p[1], p[2]) for p in mm.points()]
    assert [type(p[2]) for p in mm.points()] == [int] * len(mm.points())  # whole y: ints


def test_a_snapshot_acts_on_the_run_as_it_is_now(run_dir: Path) -> None:
    """Attributes are as read; an action (delete) decides on the run as it is now: a run
    resumed since the read is running, so deleting it is refused."""
    run = nbrun.init(project="p", name="first")
    run.log({"loss": 1.0})
    run.finish()
    (snap,) = nbrun.Api(run_dir).runs("p", snapshot=True)
    again = nbrun.init(project="p", id=run.id, resume="allow")
    again.name = "second"
    assert snap.state == "finished" and snap.name == "first"  # as read
    with pytest.raises(nbrun.UsageError, match="running"):
        snap.delete()
    assert snap.state == "running" and snap.name == "second"  # read now, from then on
    again.finish()
    snap.delete()
    assert nbrun.Api(run_dir).runs("p") == []
