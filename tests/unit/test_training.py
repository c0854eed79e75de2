"""Background training, checkpoints and forks that continue training (issue 5)."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbrun
from nbrun import _checkpoints
from tests.conftest import wait_for


def make_train(steps: int = 60, every: int = 10, gate: threading.Event | None = None) -> Any:
    """A deterministic noisy descent whose RNG lives in the checkpointed state."""

    def train(run: nbrun.Run) -> None:
        cfg = run.config
        state = run.restore() or {"w": 5.0, "rng": np.random.default_rng(cfg.get("seed", 0))}
        for _ in range(run.step, cfg.get("steps", steps)):
            if gate is not None:
                gate.wait(10)
            state["w"] -= cfg.lr * state["w"] + state["rng"].normal() * 0.1
            run.log({"loss": state["w"] ** 2, "w": state["w"]})
            if run.step % every == 0:
                run.checkpoint(state)

    return train


def test_launch_returns_at_once_and_trains_in_background(run_dir: Path) -> None:
    gate = threading.Event()
    run = nbrun.launch(make_train(gate=gate), project="t", config={"lr": 0.1}, total=60)
    assert run.state == "running" and run.training and run.total == 60
    assert run.step == 0  # nothing logged yet: train() waits on the gate in its thread
    gate.set()
    assert run.wait(30)
    assert run.state == "finished" and run.step == 60
    assert nbrun.Api(run_dir).run(f"t/{run.id}").state == "finished"
    assert run.metadata["training"]["total"] == 60


def test_checkpoint_round_trip_belongs_to_last_written_step(run_dir: Path) -> None:
    run = nbrun.init(project="t")
    with pytest.raises(nbrun.UsageError, match="no row yet"):
        run.checkpoint({"x": 1})
    run.log({"a": 1})
    run.log({"a": 2})
    assert run.step == 2
    ck = run.checkpoint({"w": np.arange(3), "note": "two rows"})
    assert ck.step == 1
    assert Path(ck.path).parent == Path(run.dir) / "checkpoints"
    loaded = ck.load()
    assert loaded["note"] == "two rows" and np.array_equal(loaded["w"], np.arange(3))
    assert [c.step for c in run.checkpoints()] == [1]
    # no temp files left behind by the atomic write; plain state is saved without pickle and
    # signed (rule 45)
    assert sorted(p.name for p in (Path(run.dir) / "checkpoints").iterdir()) == [
        "step-0000000001.npz",
        "step-0000000001.npz.sig",
    ]


def test_checkpoint_pluggable_serializer(run_dir: Path) -> None:
    class JsonLines:
        name = "jsonl"
        suffix = "pkl"  # stored under a known suffix; the object decides the format

        def __init__(self) -> None:
            self.dumped = 0

        def dump(self, obj: Any, f: Any) -> None:
            self.dumped += 1
            pickle.dump(("custom", obj), f)

        def load(self, f: Any) -> Any:
            return pickle.load(f)

    ser = JsonLines()
    run = nbrun.init(project="t")
    run.log({"a": 1})
    ck = run.checkpoint([1, 2], serializer=ser)
    assert ser.dumped == 1
    with open(ck.path, "rb") as f:
        assert pickle.load(f) == ("custom", [1, 2])
    with pytest.raises(nbrun.UsageError, match="serializer 'yaml'"):
        run.checkpoint(1, serializer="yaml")


def test_torch_serializer_is_chosen_only_for_torch_objects() -> None:
    assert _checkpoints.choose_serializer({"w": [1.0]}).name == "plain"  # rule 45
    assert _checkpoints.choose_serializer({"w": {1.0}}).name == "pickle"


def test_fork_continues_from_checkpoint_and_snaps_to_it(run_dir: Path) -> None:
    parent = nbrun.launch(make_train(), project="t", config={"lr": 0.1})
    assert parent.wait(30)
    assert [c.step for c in parent.checkpoints()] == [9, 19, 29, 39, 49, 59]
    child = parent.fork(25, {"lr": 0.3})
    assert child.forked_from == nbrun.ForkPoint(parent.id, 19)  # snapped to the checkpoint
    assert child.wait(30)
    hist = child.history()
    assert hist["_step"].tolist() == list(range(60))
    parent_hist = parent.history()
    assert hist["loss"][:20].tolist() == parent_hist["loss"][:20].tolist()
    assert hist["loss"][20:].tolist() != parent_hist["loss"][20:].tolist()  # lr changed
    note = child.metadata["restore"]
    assert note["requested_step"] == 25 and note["checkpoint_step"] == 19
    assert note["changed"] == ["lr"] and "step 19" in note["warning"]
    # the fork restored from the parent's file; it copied none of the parent's checkpoints
    assert note["checkpoint"].startswith(parent.dir)
    assert all(c.step >= 19 for c in child.checkpoints(lineage=False))


def test_fork_at_a_checkpoint_step_has_no_warning(run_dir: Path) -> None:
    parent = nbrun.launch(make_train(), project="t", config={"lr": 0.1})
    parent.wait(30)
    child = parent.fork(39)
    child.wait(30)
    assert child.metadata["restore"]["warning"] is None


def test_determinism_unchanged_config_reproduces_parent(run_dir: Path) -> None:
    parent = nbrun.launch(make_train(), project="t", config={"lr": 0.1, "seed": 7})
    parent.wait(30)
    same = parent.fork(29)
    same.wait(30)
    a = parent.history()[["_step", "loss", "w"]]
    b = same.history()[["_step", "loss", "w"]]
    assert a.equals(b)


def test_forks_of_forks_continue(run_dir: Path) -> None:
    root = nbrun.launch(make_train(), project="t", config={"lr": 0.1})
    root.wait(30)
    child = root.fork(29, {"lr": 0.2})
    child.wait(30)
    grandchild = child.fork(49, {"lr": 0.05})  # checkpoint 49 is the child's own
    grandchild.wait(30)
    assert grandchild.forked_from == nbrun.ForkPoint(child.id, 49)
    h = grandchild.history()
    assert h["_step"].tolist() == list(range(60))
    assert h["loss"][:30].tolist() == root.history()["loss"][:30].tolist()
    assert h["loss"][30:50].tolist() == child.history()["loss"][30:50].tolist()


def test_rewind_restarts_same_run_from_checkpoint(run_dir: Path) -> None:
    run = nbrun.launch(make_train(), project="t", config={"lr": 0.1})
    run.wait(30)
    before = run.history()
    again = run.rewind(35, {"lr": 0.2})
    assert again.id == run.id and again.starting_step == 30  # snapped to checkpoint 29
    again.wait(30)
    assert again.state == "finished" and again.step == 60
    archived = again.archives()[-1]
    assert (archived.from_step, archived.to_step) == (30, 59)
    assert archived.history()["loss"].tolist() == before["loss"][30:].tolist()
    assert again.config["lr"] == 0.2
    # checkpoints past the rewind step were archived, then written again by the new training
    ck_dir = Path(again.dir) / "checkpoints"
    assert (ck_dir / "archive-1" / "step-0000000039.pkl").exists()
    assert (ck_dir / "step-0000000039.pkl").exists()


def test_fork_without_checkpoint_is_a_clear_error(run_dir: Path) -> None:
    def no_checkpoints(run: nbrun.Run) -> None:
        for i in range(5):
            run.log({"x": i})

    run = nbrun.launch(no_checkpoints, project="t")
    run.wait(30)
    with pytest.raises(nbrun.UsageError, match="no checkpoint at or before step 3"):
        run.fork(3)


def test_failure_is_isolated_and_recorded(run_dir: Path) -> None:
    gate = threading.Event()
    good = nbrun.launch(make_train(gate=gate), project="t", config={"lr": 0.1})

    def bad(run: nbrun.Run) -> None:
        run.log({"x": 1})
        raise ValueError("exploding gradient")

    failing = nbrun.launch(bad, project="t")
    assert failing.wait(30)
    assert failing.state == "failed" and failing.exit_code == 1
    assert "ValueError: exploding gradient" in failing.error
    assert failing.alerts[-1]["level"] == "ERROR"
    assert "exploding gradient" in failing.alerts[-1]["text"]
    assert nbrun.Api(run_dir).run(f"t/{failing.id}").state == "failed"
    gate.set()
    assert good.wait(30) and good.state == "finished"


def test_stop_each_of_several_background_runs(run_dir: Path) -> None:
    gate = threading.Event()
    # the runs train until stopped: with a fixed length (it was 10,000 steps) a fast log path
    # or a slow test thread let a run finish before its stop came
    runs = [
        nbrun.launch(make_train(steps=10**9, gate=gate), project="t", config={"lr": lr})
        for lr in (0.1, 0.2, 0.3)
    ]
    try:
        gate.set()
        wait_for(lambda: all(r.step > 20 for r in runs))
        runs[1].stop()
        assert runs[1].wait(60) and runs[1].state == "killed"
        assert all(r.training for r in (runs[0], runs[2]))
        nbrun.Api(run_dir).run(f"t/{runs[0].id}").stop()  # from a stored view too
        assert runs[0].wait(60) and runs[0].state == "killed"
        runs[2].stop()
        runs[2].wait(60)
        assert [r.state for r in runs] == ["killed"] * 3
    finally:
        for r in runs:  # none goes on training past a failed assertion
            r.stop()
            r.wait(60)
    # each run's history is intact and its steps unique
    for r in runs:
        steps = r.history()["_step"]
        assert steps.is_unique and steps.tolist() == list(range(len(steps)))


def test_fork_many_and_ranking(run_dir: Path) -> None:
    parent = nbrun.launch(make_train(), project="t", config={"lr": 0.1})
    parent.wait(30)
    forks = parent.fork_many(30, [{"lr": 0.5}, {"lr": 0.01}, {"lr": 0.2}])
    for f in forks:
        assert f.wait(30)
    assert {f.forked_from.step for f in forks} == {29}
    assert sorted(f.config.lr for f in forks) == [0.01, 0.2, 0.5]
    table = nbrun.ranking([parent, *forks], "loss")
    losses = table["loss"].tolist()
    assert losses == sorted(losses)
    assert set(table["id"]) == {parent.id, *(f.id for f in forks)}
    with pytest.raises(nbrun.UsageError):
        parent.fork_many(30, [])


def test_plain_fork_of_unlaunched_run_is_history_only(run_dir: Path) -> None:
    run = nbrun.init(project="t")
    for i in range(10):
        run.log({"x": i})
    run.finish()
    child = run.fork(4, {"k": 1})
    assert child.forked_from == nbrun.ForkPoint(run.id, 4) and child.step == 5
    assert not child.training
    assert nbrun.run is None or nbrun.run is not child  # forks are not made current
    child.finish()


def test_restore_after_plain_fork_finds_inherited_checkpoint(run_dir: Path) -> None:
    run = nbrun.init(project="t")
    for i in range(10):
        run.log({"x": i})
        if i == 5:
            run.checkpoint({"at": i})
    run.finish()
    child = nbrun.init(project="t", fork_from=f"{run.id}?_step=8")
    assert child.restore() == {"at": 5}
    assert child.restored_step == 5
    fresh = nbrun.init(project="t", reinit="create_new")
    assert fresh.restore() is None
