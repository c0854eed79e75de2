"""The project view grouped by sweep (rule 69): a group per sweep with its name, method,
state, number of runs and best value per its goal; the best-so-far values in trial order; the
parallel-coordinate axes (swept parameters, then the metric); the static snapshot's sweep
section, escaped; and the live view following an agent adding runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import nbrun
from nbrun.widgets import ProjectView, project_to_html
from nbrun.widgets import _sweeps as sweeps_module
from nbrun.widgets._colors import delta_e
from nbrun.widgets._feed import ChartFeed
from nbrun.widgets._project import project_rows
from nbrun.widgets._sweeps import (
    best_so_far,
    best_svg,
    param_axes,
    row_value,
    sweep_group,
    sweep_groups,
    sweeps_html,
)

HOSTILE = "<img src=x onerror=alert(1)>"


def _sweep(run_dir: Path, goal: str = "minimize", name: str = "lr-search") -> str:
    config = {
        "name": name,
        "method": "grid",
        "metric": {"name": "loss", "goal": goal},
        "parameters": {
            "lr": {"values": [0.5, 0.1, 0.01]},
            "opt": {"parameters": {"kind": {"values": ["sgd"]}}},
            "seed": {"value": 3},
        },
    }
    return nbrun.sweep(config, project="sw", dir=run_dir, seed=0)


def _train(wait: threading.Event | None = None) -> None:
    run = nbrun.init()
    lr = run.config["lr"]
    for step in range(5):
        run.log({"loss": abs(lr - 0.1) + 1.0 / (step + 1)})
        if wait is not None:
            wait.wait(30)  # the trial's run stays running until the test lets it go


def test_rule69_best_so_far_per_goal() -> None:
    values = [3.0, None, 1.0, 2.0, 0.5]
    assert best_so_far(values, "minimize") == [3.0, 3.0, 1.0, 1.0, 0.5]
    assert best_so_far(values, "maximize") == [3.0, 3.0, 3.0, 3.0, 3.0]
    assert best_so_far([None, 2.0], "maximize") == [None, 2.0]


def test_rule69_row_value_reads_define_metric_summaries_by_goal() -> None:
    cell = {"v": 0.3, "parts": [["min", 0.1], ["max", 0.9], ["last", 0.3]]}
    assert row_value(cell, "minimize") == 0.1
    assert row_value(cell, "maximize") == 0.9
    assert row_value({"v": 0.3, "parts": [["last", 0.3]]}, "minimize") == 0.3
    assert row_value(float("nan"), "minimize") is None
    assert row_value("text", "minimize") is None and row_value(True, "minimize") is None


def test_rule69_parallel_axes_are_the_swept_parameters() -> None:
    params = {
        "lr": {"min": 0.001, "max": 0.1},
        "opt": {"parameters": {"kind": {"values": ["sgd", "adam"]}, "beta": {"value": 0.9}}},
        "seed": {"value": 3},
    }
    assert param_axes(params) == ["lr", "opt.kind"]
    assert param_axes(None) == []


def test_rule69_group_from_rows_orders_trials_and_picks_the_best() -> None:
    def row(i: int, created: float, loss: float | None, lr: float) -> dict[str, object]:
        return {
            "key": f"p/r{i}",
            "id": f"r{i}",
            "name": f"run-{i}",
            "color": "#123456",
            "state": "finished",
            "created": created,
            "config": {"lr": lr},
            "summary": {} if loss is None else {"loss": loss},
        }

    rows = [row(1, 3.0, 0.2, 0.1), row(2, 1.0, 0.9, 0.5), row(3, 2.0, None, 0.3)]
    meta = {
        "project": "p",
        "id": "abc",
        "name": "s",
        "method": "random",
        "state": "RUNNING",
        "config": {"metric": {"name": "loss"}, "parameters": {"lr": {"min": 0.0, "max": 1.0}}},
    }
    g = sweep_group(meta, rows)
    assert [t["key"] for t in g["trials"]] == ["p/r2", "p/r3", "p/r1"]  # oldest first
    assert [t["value"] for t in g["trials"]] == [0.9, None, 0.2]
    assert [t["best"] for t in g["trials"]] == [0.9, 0.9, 0.2]
    assert g["goal"] == "minimize" and g["count"] == 3 and g["axes"] == ["lr"]
    assert g["best"]["key"] == "p/r1" and g["trials"][0]["params"] == {"lr": 0.5}
    meta["config"] = {"metric": {"name": "loss", "goal": "maximize"}, "parameters": {}}
    assert sweep_group(meta, rows)["best"]["key"] == "p/r2"


def test_rule69_project_rows_group_by_sweep(run_dir: Path) -> None:
    sweep_id = _sweep(run_dir)
    nbrun.agent(sweep_id, function=_train, project="sw", dir=run_dir)
    loose = nbrun.init(project="sw", dir=run_dir, name="not-in-a-sweep")
    loose.finish()
    rows = project_rows("sw", run_dir)
    assert {r["sweep"] for r in rows} == {sweep_id, None}
    (g,) = sweep_groups(rows, run_dir)
    assert g["key"] == f"sw/{sweep_id}" and g["name"] == "lr-search"
    assert g["method"] == "grid" and g["state"] == "FINISHED" and g["count"] == 3
    assert g["axes"] == ["lr", "opt.kind"] and g["metric"] == "loss"
    # grid order: lr 0.5, 0.1, 0.01; the final loss is |lr - 0.1| + 0.2
    assert [t["params"]["lr"] for t in g["trials"]] == [0.5, 0.1, 0.01]
    assert [round(t["value"], 6) for t in g["trials"]] == [0.6, 0.2, 0.29]
    assert [round(t["best"], 6) for t in g["trials"]] == [0.6, 0.2, 0.2]
    assert g["best"]["params"]["lr"] == 0.1
    best = nbrun.Api(run_dir).sweep(f"sw/{sweep_id}").best_run()
    assert g["best"]["key"] == f"sw/{best.id}"  # the same best run as Api().sweep's


def test_rule69_a_sweeps_trials_are_coloured_apart_alike_in_table_and_dashboard(
    run_dir: Path,
) -> None:
    """Trials are independent runs, so their ids' colour picks could repeat or look alike; a
    sweep's trials that have no forks take colours as one family (oldest first), and each
    trial's own dashboard draws it in the colour the project view gives it."""
    sweep_id = nbrun.sweep(
        {"method": "grid", "parameters": {"lr": {"values": [0.1 * k for k in range(1, 9)]}}},
        project="colours",
        dir=run_dir,
    )

    def train() -> None:
        nbrun.init().log({"loss": 1.0})

    nbrun.agent(sweep_id, function=train, project="colours", dir=run_dir)
    rows = project_rows("colours", run_dir)
    assert len(rows) == 8
    colours = [r["color"] for r in rows]
    assert len(set(colours)) == 8
    closest = min(delta_e(a, b) for i, a in enumerate(colours) for b in colours[i + 1 :])
    assert closest >= 17  # any 12 of a family are at least 17 CIEDE2000 units apart
    for r in rows:
        feed = ChartFeed(nbrun.Api(run_dir).run(r["key"]))
        feed.rebuild(feed.view)
        assert feed.colors[r["id"]] == r["color"], r["name"]


def test_rule69_static_snapshot_shows_the_sweep_escaped(run_dir: Path) -> None:
    sweep_id = _sweep(run_dir, name=HOSTILE)
    nbrun.agent(sweep_id, function=_train, project="sw", dir=run_dir)
    text = project_to_html("sw", dir=run_dir)
    assert f'data-sweep="sw/{sweep_id}"' in text
    assert "nbrun-sweep-parallel" in text and "nbrun-sweep-best" in text
    assert HOSTILE not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    # three trials: three lines in the parallel coordinates, three dots on best-so-far
    assert text.count('<polyline fill="none" stroke="#') >= 3
    assert text.count("<circle ") == 3
    groups = sweep_groups(project_rows("sw", run_dir), run_dir)
    assert "<img " in sweeps_html(groups)  # not inline: data: images for sanitising pages


def test_rule69_live_view_follows_an_agent_adding_runs(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeps_module, "QUIET_LOOKS", 2)
    sweep_id = _sweep(run_dir)
    view = ProjectView("sw", run_dir)
    try:
        assert view.table.sweeps == []
        go = threading.Event()

        def slow_train() -> None:
            _train(go)

        agent = threading.Thread(
            target=nbrun.agent,
            args=(sweep_id,),
            kwargs={"function": slow_train, "project": "sw", "dir": run_dir},
        )
        agent.start()
        deadline = time.monotonic() + 30
        while not any(r.get("sweep") for r in nbrun.runs("sw", dir=run_dir).to_dict("records")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        view.refresh()  # a refresh (button, cell) sees the sweep running; the watch follows
        assert view.table.sweeps[0]["state"] == "RUNNING"
        assert view.table.sweeps[0]["trials"][0]["state"] == "running"
        go.set()
        agent.join(60)
        while not (
            view.table.sweeps
            and view.table.sweeps[0]["count"] == 3
            and view.table.sweeps[0]["state"] == "FINISHED"
            and all(t["state"] == "finished" for t in view.table.sweeps[0]["trials"])
        ):
            assert time.monotonic() < deadline, view.table.sweeps
            time.sleep(0.05)
        # with no sweep run running, the watch ends by itself (a refresh starts it again)
        while view.sweep_watch.watching():
            assert time.monotonic() < deadline + 30
            time.sleep(0.05)
    finally:
        view.close()


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_rule69_best_follows_the_goal(run_dir: Path, goal: str) -> None:
    sweep_id = _sweep(run_dir, goal=goal)
    nbrun.agent(sweep_id, function=_train, project="sw", dir=run_dir)
    (g,) = sweep_groups(project_rows("sw", run_dir), run_dir)
    values = [t["value"] for t in g["trials"]]
    assert g["best"]["value"] == (min(values) if goal == "minimize" else max(values))


def test_rule69_best_so_far_turns_log_over_a_decade() -> None:
    def group(values: list[float | None]) -> dict[str, object]:
        bests = best_so_far(values, "minimize")
        trials: list[dict[str, object]] = [
            {
                "n": i + 1,
                "key": f"p/{i}",
                "name": f"r{i}",
                "color": "#123456",
                "state": "finished",
                "params": {},
                "value": v,
                "best": b,
            }
            for i, (v, b) in enumerate(zip(values, bests, strict=True))
        ]
        return {"name": "s", "metric": "loss", "goal": "minimize", "trials": trials}

    assert "log y" in best_svg(group([0.25, 0.01, 0.02]))
    assert "log y" not in best_svg(group([0.25, 0.1, 0.2]))
