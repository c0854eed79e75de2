"""Recovery by rewind (issue 23, item 3): ``nbrun.launch(train, recover=nbrun.Recover(...))``
rewinds a run whose metric goes NaN/inf or spikes to its last checkpoint before the bad step,
lowers the config's learning rate and trains on; after ``retries`` it fails with the alert."""

from __future__ import annotations

import argparse
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbrun
from nbrun._training import RECOVERED
from tests.conftest import BACKENDS

STEPS = 150


def regression() -> tuple[np.ndarray, np.ndarray]:
    """A float32 least-squares problem whose largest curvature (of the mean squared error) is
    10: gradient descent diverges for lr > 0.2 (lr=0.5 grows the error 4x a step, until the
    float32 loss overflows to inf and then NaN) and converges for lr=0.125."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    hess = 2 / len(x) * x.T @ x
    x *= math.sqrt(10 / np.linalg.eigvalsh(hess).max())
    y = x @ np.array([1.0, -2.0, 0.5, 3.0])
    return x.astype(np.float32), y.astype(np.float32)


def toy(run: nbrun.Run) -> None:
    """Gradient descent on :func:`regression`; the weights are checkpointed every 5 steps."""
    x, y = regression()
    state = run.restore() or {"w": np.zeros(4, np.float32)}
    w = state["w"]
    lr = np.float32(run.config["lr"])
    with np.errstate(all="ignore"):
        for step in range(run.step, run.config.get("steps", STEPS)):
            err = x @ w - y
            run.log({"loss": float(np.mean(err * err)), "lr": float(lr)})
            w = w - lr * np.float32(2 / len(x)) * (x.T @ err)
            if step % 5 == 4:
                run.checkpoint({"w": w})


def spiky(run: nbrun.Run) -> None:
    """A finite loss curve that spikes 40x at step 30 while lr > 0.3 (a bad batch)."""
    start = run.restore() or {"n": 0}
    for step in range(run.step, 60):
        loss = 1.0 / (1 + step)
        if step == 30 and run.config["lr"] > 0.3:
            loss *= 40
        run.log({"loss": loss, "acc": step})
        if step % 10 == 9:
            run.checkpoint({"n": start["n"] + 1})


def stored(run: Any) -> nbrun.StoredRun:
    return nbrun.Api(run.root).run(f"{run.project}/{run.id}")


# -- rule 60 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule60_nan_rewinds_lowers_lr_and_finishes_with_a_finite_loss(run_dir: Path) -> None:
    run = nbrun.launch(
        toy,
        project="rec",
        config={"lr": 0.5, "momentum": 0.9},
        recover=nbrun.Recover(metric="loss", update={"lr": 0.5}, retries=3),
    )
    assert isinstance(run, nbrun.Run)
    assert run.wait(60)
    assert run.error is None
    view = stored(run)
    assert view.state == "finished" and view.step == STEPS
    assert view.config["lr"] == 0.125 and view.config["momentum"] == 0.9
    final = view.summary["loss"]
    assert math.isfinite(final) and final < 1e-3
    # the history the run stands on is finite: each diverged stretch went to an archive
    losses = view.history(keys=["loss", "lr"])
    assert np.isfinite(losses["loss"]).all()
    assert list(losses["_step"]) == list(range(STEPS))
    # every recovery is an alert naming the metric, the value and the step
    alerts = [a for a in view.alerts if a["title"] == RECOVERED]
    assert len(alerts) == 2
    for alert in alerts:
        assert alert["level"] == "WARN"
        assert "loss=" in alert["text"] and " at step " in alert["text"]
    assert "lr 0.5 -> 0.25" in alerts[0]["text"] and "lr 0.25 -> 0.125" in alerts[1]["text"]
    note = view.metadata["recovered"]
    assert note["recovery"] == 2 and note["metric"] == "loss"
    assert note["config"] == {"lr": [0.25, 0.125]}
    assert view.metadata["training"]["recover"]["update"] == {"lr": 0.5}


def test_rule60_the_archives_hold_the_diverged_rows_and_lineage_shows_the_rewinds(
    run_dir: Path,
) -> None:
    run = nbrun.launch(
        toy, project="rec", config={"lr": 0.5}, recover=nbrun.Recover(update={"lr": 0.5})
    )
    assert run.wait(60)
    view = stored(run)
    archives = view.archives()
    assert [a.reason for a in archives] == ["rewind", "rewind"]
    alerts = [a for a in view.alerts if a["title"] == RECOVERED]
    for archive, alert, lr in zip(archives, alerts, (0.5, 0.25), strict=True):
        rows = archive.history(keys=["loss", "lr"])
        assert not math.isfinite(rows["loss"].iloc[-1])  # the diverged row is kept, last
        assert rows["lr"].iloc[-1] == lr  # logged with the config of its attempt
        assert np.isfinite(rows["loss"].iloc[:-1]).all()
        bad_step = int(rows["_step"].iloc[-1])
        assert f"at step {bad_step}" in alert["text"]
        assert archive.from_step is not None and archive.from_step <= bad_step
        ck_step = archive.from_step - 1  # rewound to a checkpoint (every 5 steps) before it
        assert ck_step % 5 == 4
        assert f"rewound to the checkpoint at step {ck_step}" in alert["text"]
    # the second attempt diverged at its first row after the restore: the checkpoint itself
    # held a diverged state, so the second recovery went one checkpoint further back
    assert archives[1].from_step == archives[0].from_step - 5


def test_rule60_spike_rewinds_before_the_spike(run_dir: Path) -> None:
    run = nbrun.launch(
        spiky,
        project="rec",
        config={"lr": 0.4},
        recover=nbrun.Recover(nan=False, spike=5.0, update={"lr": 0.5}, window=10),
    )
    assert run.wait(30)
    view = stored(run)
    assert view.state == "finished" and view.config["lr"] == 0.2
    [alert] = [a for a in view.alerts if a["title"] == RECOVERED]
    assert "loss=" in alert["text"] and "at step 30" in alert["text"]
    assert "times its recent median" in alert["text"]
    [archive] = view.archives()
    assert archive.from_step == 30  # the checkpoint at step 29 is the last one before it
    assert max(view.history(keys=["loss"])["loss"]) == 1.0  # no spike left in the history
    assert view.metadata["recovered"]["why"] == "spike"


def test_rule60_a_divergence_logged_from_another_thread_stops_the_training_thread(
    run_dir: Path,
) -> None:
    def helper_logs(run: nbrun.Run) -> None:
        start = run.restore() or {"n": 0}
        for step in range(run.step, 30):
            if step == 12 and run.config["lr"] > 0.3:  # e.g. a data-loader thread's metric
                side = threading.Thread(target=run.log, args=({"loss": float("nan")},))
                side.start()
                side.join()
            else:
                run.log({"loss": 1.0 / (1 + step)})
            if step % 5 == 4:
                run.checkpoint({"n": start["n"] + 1})

    run = nbrun.launch(
        helper_logs, project="rec", config={"lr": 0.4}, recover=nbrun.Recover(update={"lr": 0.5})
    )
    assert run.wait(30)
    view = stored(run)
    assert view.state == "finished" and view.config["lr"] == 0.2 and view.step == 30
    [alert] = [a for a in view.alerts if a["title"] == RECOVERED]
    assert "loss=nan at step 12" in alert["text"]
    [archive] = view.archives()
    assert archive.from_step == 10 and archive.to_step == 13  # raised at the next row, 13


def test_rule60_forks_of_a_recovering_run_carry_the_policy(run_dir: Path) -> None:
    run = nbrun.launch(
        toy,
        project="rec",
        config={"lr": 0.1, "steps": 40},
        recover=nbrun.Recover(update={"lr": 0.5}),
    )
    assert run.wait(60) and run.state == "finished"
    child = run.fork(20, {"lr": 0.5, "steps": 200})
    assert child.wait(60)
    view = stored(child)
    assert view.state == "finished" and view.config["lr"] < 0.2
    assert math.isfinite(view.summary["loss"])
    assert [a.reason for a in view.archives()] and all(
        a.reason == "rewind" for a in view.archives()
    )


# -- rule 61 ------------------------------------------------------------------------------------
def test_rule61_retries_exhausted_fails_with_the_alert(run_dir: Path) -> None:
    run = nbrun.launch(
        toy,
        project="rec",
        config={"lr": 0.5},
        recover=nbrun.Recover(update={"lr": 0.9}, retries=1),
    )
    assert run.wait(60)
    view = stored(run)
    assert view.state == "failed"
    assert len([a for a in view.alerts if a["title"] == RECOVERED]) == 1
    assert view.error is not None
    assert "training diverged: loss=" in view.error and "gave up after 1 recoveries" in view.error
    assert run.error == view.error
    assert view.config["lr"] == pytest.approx(0.45)
    assert not math.isfinite(view.history(keys=["loss"])["loss"].iloc[-1])  # rows kept


def test_rule61_retries_zero_fails_at_the_first_divergence(run_dir: Path) -> None:
    run = nbrun.launch(toy, project="rec", config={"lr": 0.5}, recover=nbrun.Recover(retries=0))
    assert run.wait(60)
    view = stored(run)
    assert view.state == "failed" and view.archives() == []
    assert view.error is not None and "gave up after 0 recoveries" in view.error


def test_rule61_a_run_without_recover_is_not_watched(run_dir: Path) -> None:
    run = nbrun.launch(toy, project="rec", config={"lr": 0.5, "steps": 80})
    assert run.wait(60)
    view = stored(run)
    assert view.state == "finished" and view.archives() == []
    assert not math.isfinite(view.summary["loss"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": 3}, r"metric=3.*non-empty str"),
        ({"metric": ""}, r"metric=''"),
        ({"retries": -1}, r"retries=-1.*int >= 0"),
        ({"retries": 1.5}, r"retries=1\.5"),
        ({"spike": 1}, r"spike=1.*number > 1"),
        ({"spike": 0.5}, r"spike=0\.5"),
        ({"spike": "2"}, r"spike='2'"),
        ({"update": {"lr": "half"}}, r"'lr': 'half'.*positive number"),
        ({"update": {"lr": 0}}, r"'lr': 0.*positive number"),
        ({"update": {"lr": True}}, r"'lr': True"),
        ({"update": ["lr"]}, r"update=\['lr'\].*dict"),
        ({"nan": False}, r"watches for nothing"),
        ({"window": 2}, r"window=2.*>= 3"),
    ],
)
def test_rule61_bad_recover_arguments_are_typed_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(nbrun.UsageError, match=match):
        nbrun.Recover(**kwargs)


def test_rule61_update_keys_are_checked_at_launch(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match=r"key 'lr' is not in the run's config"):
        nbrun.launch(
            toy, project="rec", config={"rate": 0.5}, recover=nbrun.Recover(update={"lr": 0.5})
        )
    with pytest.raises(nbrun.UsageError, match=r"key 'lr'.*'fast' is not a number"):
        nbrun.launch(
            toy, project="rec", config={"lr": "fast"}, recover=nbrun.Recover(update={"lr": 0.5})
        )
    with pytest.raises(nbrun.UsageError, match=r"recover=.*must be nbrun.Recover"):
        nbrun.launch(toy, project="rec", config={"lr": 0.5}, recover={"metric": "loss"})
    assert nbrun.runs("rec").empty  # refused before any run was created


def test_rule61_a_config_object_is_checked_on_the_new_run(run_dir: Path) -> None:
    config = argparse.Namespace(rate=0.5)
    with pytest.raises(nbrun.UsageError, match=r"key 'lr' is not in the run's config"):
        nbrun.launch(toy, project="rec", config=config, recover=nbrun.Recover(update={"lr": 0.5}))
    with pytest.raises(nbrun.UsageError, match=r"key 'lr' is not in the run's config"):
        nbrun.launch(toy, project="rec", recover=nbrun.Recover(update={"lr": 0.5}))  # no config
    views = nbrun.Api(run_dir).runs("rec")
    assert len(views) == 2
    for view in views:
        assert view.state == "failed" and "key 'lr' is not in the run's config" in str(view.error)


def test_rule60_a_training_loop_catching_exception_does_not_swallow_the_recovery(
    run_dir: Path,
) -> None:
    def careful(run: nbrun.Run) -> None:
        try:
            toy(run)
        except Exception:  # a loop that catches its own errors
            run.log({"caught": 1.0})

    run = nbrun.launch(
        careful, project="rec", config={"lr": 0.5}, recover=nbrun.Recover(update={"lr": 0.5})
    )
    assert run.wait(60)
    view = stored(run)
    assert view.state == "finished" and view.config["lr"] == 0.125
    assert "caught" not in view.history().columns


def test_recover_is_public_frozen_and_documented() -> None:
    rec = nbrun.Recover(update={"lr": np.float32(0.5)}, spike=np.float64(3))
    assert "Recover" in nbrun.__all__ and rec.update == {"lr": 0.5} and rec.spike == 3.0
    assert type(rec.update["lr"]) is float and type(rec.spike) is float  # JSON in metadata
    with pytest.raises(AttributeError):
        rec.retries = 5  # type: ignore[misc]
    assert nbrun.Recover.__doc__ is not None and "Example" in nbrun.Recover.__doc__
