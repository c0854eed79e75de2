"""PBT exploits and recoveries by rewind as marks on the dashboard's charts (rule 70): the
``events`` of the chart snapshot, on the fork's and the donor's lines at the exploit step and
on the recovered run's line at the checkpoint it went back to, with hover text saying what
happened; the Vega spec draws them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nbrun
from nbrun._training import RECOVERED as TRAINING_RECOVERED
from nbrun.widgets._charts import dashboard_spec
from nbrun.widgets._feed import ChartFeed
from nbrun.widgets._marks import RECOVERED, perturbation_text, recover_events


def _pbt_train(run: nbrun.Run) -> None:
    state = run.restore() or {"w": 5.0}
    for _ in range(run.step, run.total or 15):
        state["w"] -= run.config["lr"] * state["w"]
        run.log({"loss": state["w"] ** 2})
        run.checkpoint(state)


def _diverging(run: nbrun.Run) -> None:
    state = run.restore() or {"w": 1.0}
    w = state["w"]
    with np.errstate(all="ignore"):
        for step in range(run.step, 40):
            w = w * (1 + run.config["lr"]) if run.config["lr"] > 1 else w * 0.9
            run.log({"loss": float(np.float32(w) ** 2)})
            if step % 5 == 4:
                run.checkpoint({"w": w})


def _feed(view: nbrun.StoredRun) -> ChartFeed:
    feed = ChartFeed(view)
    feed.rebuild(view)
    return feed


def test_rule70_recovered_title_is_the_training_alerts() -> None:
    assert RECOVERED == TRAINING_RECOVERED
    alerts = [
        {"title": "other", "text": "rewound to the checkpoint at step 3"},
        {"title": RECOVERED, "text": "loss=nan at step 17: rewound to the checkpoint at step 14"},
    ]
    assert recover_events("r1", alerts) == [
        ("r1", 14, "recovered by rewind: loss=nan at step 17: rewound to the checkpoint at step 14")
    ]
    notes = {"lr": {"from": 0.1, "to": 0.125, "factor": 1.25}, "opt": {"from": "a", "to": "b"}}
    assert perturbation_text(notes) == "lr 0.1→0.125 (x1.25), opt a→b"


def test_rule70_pbt_exploits_mark_the_fork_and_the_donor(run_dir: Path) -> None:
    final = nbrun.pbt(
        _pbt_train,
        [{"lr": lr} for lr in (0.01, 0.05, 0.2, 0.4)],
        metric="loss",
        interval=5,
        total=15,
        perturb={"lr": (0.8, 1.25)},
        seed=0,
        project="pbt",
    )
    api = nbrun.Api(run_dir)
    fork = next(api.run(f"pbt/{r.id}") for r in final if r.forked_from is not None)
    exploit = fork.metadata["pbt"]["exploit"]
    donor = exploit["donor"]
    assert fork.forked_from is not None and fork.forked_from.run_id == donor
    events = _feed(fork).snapshot()["events"]["loss"]
    by_run = {e[5]: e for e in events if e[6] == "PBT" and f"at step {exploit['step']}" in e[3]}
    assert set(by_run) >= {fork.id, donor}
    mine, theirs = by_run[fork.id], by_run[donor]
    assert mine[4] == exploit["step"] and theirs[4] == exploit["step"]
    assert f"copied {exploit['donor_name']} ({donor})" in mine[3]
    assert "lr " in mine[3] and "→" in mine[3] and "(x" in mine[3]  # the perturbation
    assert f"{fork.name} ({fork.id}) copied this run" in theirs[3]
    # drawn at the line's point of that step (the value the fork started from)
    rows = fork.history(keys=["loss"])
    at = rows[rows["_step"] == exploit["step"]]["loss"].iloc[0]
    assert mine[1] == at
    # the donor's own dashboard shows the same exploit on its line
    donor_events = _feed(api.run(f"pbt/{donor}")).snapshot()["events"]["loss"]
    assert any(e[5] == donor and e[3] == theirs[3] for e in donor_events)


def test_rule70_recoveries_mark_the_run_at_the_checkpoint(run_dir: Path) -> None:
    run = nbrun.launch(
        _diverging,
        project="rec",
        config={"lr": 4.0},
        recover=nbrun.Recover(metric="loss", update={"lr": 0.2}, retries=3),
    )
    assert run.wait(60) and run.error is None
    view = nbrun.Api(run_dir).run(f"rec/{run.id}")
    alerts = [a for a in view.alerts if a["title"] == RECOVERED]
    assert alerts
    events = [e for e in _feed(view).snapshot()["events"]["loss"] if e[6] == "R"]
    assert [e[3] for e in events] == [f"recovered by rewind: {a['text']}" for a in alerts]
    first = events[0]
    assert first[5] == view.id and "lr 4.0 -> 0.8" in first[3] and "loss=" in first[3]
    rows = view.history(keys=["loss"])
    assert first[1] == rows[rows["_step"] == first[4]]["loss"].iloc[0]  # on the run's line


def test_rule70_the_spec_draws_the_events_with_their_hover_text() -> None:
    layers = {layer["name"]: layer for layer in dashboard_spec("loss", "step")["layer"]}
    marks, tags = layers["eventmarks"], layers["eventtags"]
    assert marks["data"] == {"name": "events"} and tags["data"] == {"name": "events"}
    assert marks["encoding"]["tooltip"][0]["field"] == "label"
    assert tags["encoding"]["text"]["field"] == "tag"
