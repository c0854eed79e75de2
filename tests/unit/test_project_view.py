"""The project view as a comparison table (issue 15): config and summary cells, define_metric
summaries shown readably, overlay chart data in each run's colour, delete and move (rule 40)
from the table's messages."""

from __future__ import annotations

from pathlib import Path

import nbrun
from nbrun.widgets import ProjectView
from nbrun.widgets._colors import run_color
from nbrun.widgets._compare import difference, focus_range, value_at
from nbrun.widgets._feed import ChartFeed
from nbrun.widgets._project import overlay_data, project_rows, summary_cell
from tests.unit.test_widgets import from_browser, make_lineage


def test_summary_cell_shows_define_metric_summaries() -> None:
    assert summary_cell(0.5) == 0.5
    assert summary_cell(True) is None
    assert summary_cell({"_type": "image-file", "path": "x"}) is None
    cell = summary_cell({"min": 0.23, "last": 0.25}, ["last", "min"])
    assert cell == {"v": 0.25, "parts": [["min", 0.23], ["last", 0.25]]}
    assert summary_cell({"max": 1, "note": "x"}) == {"v": 1.0, "parts": [["max", 1.0]]}


def test_rows_carry_config_summary_group_and_colour(run_dir: Path) -> None:
    run = nbrun.init(
        project="cmp", config={"lr": 0.1, "opt": {"name": "adam"}}, group="g1", tags=["a"]
    )
    run.define_metric("val/loss", summary="min,last")
    for i in range(4):
        run.log({"val/loss": 1 / (i + 1), "acc": i / 4})
    run.finish()
    other = nbrun.init(project="other", config={"lr": 0.2})
    other.finish()
    rows = project_rows("cmp", run_dir)
    (row,) = rows
    assert row["config"] == {"lr": 0.1, "opt.name": "adam"}
    assert row["summary"]["val/loss"] == {"v": 0.25, "parts": [["min", 0.25], ["last", 0.25]]}
    assert row["summary"]["acc"] == 0.75
    assert row["group"] == "g1" and row["key"] == f"cmp/{run.id}"
    assert row["color"] == run_color(run.id)
    assert {r["project"] for r in project_rows(None, run_dir)} == {"cmp", "other"}


def test_overlay_data_gives_each_run_its_colour(run_dir: Path) -> None:
    parent_id, fork_id, _ = make_lineage(run_dir)
    data = overlay_data([f"p/{parent_id}", f"p/{fork_id}"], run_dir, samples=50)
    # each run in the colour its dashboard gives it (one colour per run everywhere)
    feed = ChartFeed(nbrun.Api(run_dir).run(f"p/{fork_id}"))
    feed.rebuild(feed.view)
    want = [feed.colors[parent_id], feed.colors[fork_id]]
    assert [r["color"] for r in data["runs"]] == want
    rows = {r["id"]: r["color"] for r in project_rows("p", run_dir)}
    assert rows == {rid: feed.colors[rid] for rid in rows}
    assert len(set(rows.values())) == len(rows)  # a family's runs never share a colour
    assert data["metrics"][:2] == ["loss", "acc"]  # the order they were logged, not a-z
    assert len([p for p in data["points"]["loss"] if p[0] == 0]) <= 50
    # the fork alone: its whole stitched history, inherited rows too (no parent to compare)
    alone = overlay_data([f"p/{fork_id}"], run_dir, samples=50)
    fork_loss = [p for p in alone["points"]["loss"] if p[0] == 0]
    assert fork_loss[0][1] == 0 and fork_loss[-1][1] == 18
    assert alone["runs"][0]["base"] is None and alone["diff"] == {}


def test_rule66_overlay_draws_a_fork_from_its_fork_step_when_its_parent_is_drawn(
    run_dir: Path,
) -> None:
    parent_id, fork_id, sib_id = make_lineage(run_dir)
    data = overlay_data([f"p/{parent_id}", f"p/{fork_id}", f"p/{sib_id}"], run_dir)
    fork_steps = [p[1] for p in data["points"]["loss"] if p[0] == 1]
    sib_steps = [p[1] for p in data["points"]["loss"] if p[0] == 2]
    # from the fork step on: the parent's line below it stays visible
    assert fork_steps == list(range(10, 19)) and sib_steps == [20, 21]
    assert [(r["base"], r["start"]) for r in data["runs"]] == [(None, None), (0, 10), (0, 20)]
    # the parent (drawn first) keeps its whole history
    assert next(p[1] for p in data["points"]["loss"] if p[0] == 0) == 0
    # acc: logged by the parent only: a fork has only the fork step's point, on the parent's
    assert sorted((p[0], p[1]) for p in data["points"]["acc"] if p[0]) == [(1, 10), (2, 20)]
    assert {(i, v) for i, _, v in data["diff"]["acc"]} == {(1, 0.0), (2, 0.0)}


def test_rule66_an_ancestor_covering_the_steps_counts_when_the_parent_is_not_drawn(
    run_dir: Path,
) -> None:
    root = nbrun.init(project="g", dir=run_dir, name="root")
    for i in range(10):
        root.log({"loss": 10.0 - i})
    root.finish()
    mid = nbrun.init(project="g", dir=run_dir, fork_from=f"{root.id}?_step=4", name="mid")
    for _ in range(5, 10):
        mid.log({"loss": 1.0})
    mid.finish()
    leaf = nbrun.init(project="g", dir=run_dir, fork_from=f"{mid.id}?_step=7", name="leaf")
    for _ in range(8, 12):
        leaf.log({"loss": 3.0})
    leaf.finish()
    data = overlay_data([f"g/{leaf.id}", f"g/{root.id}"], run_dir)
    # the leaf leaves the root at step 4 (where mid forked): drawn from there, compared with it
    assert data["runs"][0]["base"] == 1 and data["runs"][0]["start"] == 4
    assert [p[1] for p in data["points"]["loss"] if p[0] == 0] == list(range(4, 12))
    # the difference: mid's 1.0 (steps 5-7) and the leaf's 3.0 (8, 9) minus root's 10 - step;
    # the root ends at 9, so steps 10 and 11 have no difference
    diff = [(s, v) for i, s, v in data["diff"]["loss"] if i == 0]
    assert diff == [(4, 0.0), (5, -4.0), (6, -3.0), (7, -2.0), (8, 1.0), (9, 2.0)]


def test_rule67_difference_is_fork_minus_parent_at_the_same_step() -> None:
    parent = [(0.0, 1.0), (2.0, 3.0), (4.0, 5.0)]
    fork = [(1.0, 0.0), (2.0, 10.0), (3.0, 4.0), (5.0, 7.0)]
    # step 1: before start; 2: logged by both; 3: the parent interpolated (4.0); 5: past it
    assert difference(fork, parent, 2) == [(2.0, 7.0), (3.0, 0.0)]
    assert difference(fork, [], 0) == []
    assert value_at([0, 10], [0.0, 1.0], 2.5) == 0.25
    assert value_at([0, 10], [0.0, 1.0], 11) is None


def test_rule66_focus_range_starts_before_the_earliest_fork() -> None:
    assert focus_range(0, 300, [150, 200]) == (135.0, 300)
    assert focus_range(0, 300, []) is None
    assert focus_range(0, 300, [0, 300]) is None  # no fork inside: the whole run
    assert focus_range(0, 300, [5]) is None  # the lead reaches the start: the whole run


def test_table_messages_select_delete_and_move(run_dir: Path) -> None:
    parent_id, fork_id, sib_id = make_lineage(run_dir)
    pv = ProjectView("p", run_dir)
    from_browser(pv.table, {"action": "select", "keys": [f"p/{parent_id}", f"p/{fork_id}"]})
    assert [r["key"] for r in pv.table.overlay["runs"]] == [f"p/{parent_id}", f"p/{fork_id}"]
    assert "left_out" not in pv.table.overlay
    from_browser(pv.table, {"action": "delete", "keys": [f"p/{parent_id}"], "detach": False})
    assert "LineageError" in pv.table.message and f"p/{fork_id}" in pv.table.message
    assert len(pv.table.runs) == 3
    # a selection or refresh arriving after the refusal leaves its error in place
    refused = pv.table.message
    from_browser(pv.table, {"action": "select", "keys": [f"p/{parent_id}", f"p/{fork_id}"]})
    from_browser(pv.table, {"action": "refresh"})
    assert pv.table.message == refused
    from_browser(pv.table, {"action": "delete", "keys": [f"p/{parent_id}"], "detach": True})
    assert pv.table.message == "" and "deleted 1 run" in pv.table.notice
    assert {r["id"] for r in pv.table.runs} == {fork_id, sib_id}
    assert all(r["depth"] == 0 and r["detached_from"] == parent_id for r in pv.table.runs)
    assert [r["key"] for r in pv.table.overlay["runs"]] == [f"p/{fork_id}"]
    from_browser(pv.table, {"action": "move", "keys": [f"p/{sib_id}"], "to": "bad/name"})
    assert "UsageError" in pv.table.message and "'bad/name'" in pv.table.message
    from_browser(pv.table, {"action": "move", "keys": [f"p/{sib_id}"], "to": "q"})
    assert pv.table.message == "" and [r["id"] for r in pv.table.runs] == [fork_id]
    assert nbrun.Api(run_dir).run(f"q/{sib_id}").id == sib_id
