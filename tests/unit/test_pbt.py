"""Population-based training on forks (issue 23, item 2; rules 58-59), members on threads.

The toy: least squares on a fixed NumPy problem, trained by gradient descent with the config's
``lr``; a too large ``lr`` diverges (the loss grows to inf / NaN) and PBT replaces it by a fork
of a better member with a perturbed ``lr``."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbrun
from nbrun._pbt import boundaries, first_after, quantile_count
from tests.conftest import wait_for

_RNG = np.random.default_rng(0)
X = _RNG.normal(size=(64, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.01 * _RNG.normal(size=64)
LRS = (0.02, 0.1, 0.4, 3.0)  # 3.0 diverges on this problem


def train(run: Any) -> None:
    """The launch contract: restore, loop to ``run.total``, log, checkpoint every step."""
    state = run.restore() or {"w": np.zeros(3)}
    w = state["w"]
    with np.errstate(all="ignore"):
        for _ in range(run.step, run.total):
            w = w - run.config.lr * (X.T @ (X @ w - Y)) / len(Y)
            loss = float(np.mean((X @ w - Y) ** 2))
            run.log({"loss": loss, "score": -loss})
            run.checkpoint({"w": w})


def population(run_dir: Path, project: str = "p", **kw: Any) -> list[Any]:
    args: dict[str, Any] = {
        "metric": "loss",
        "interval": 10,
        "total": 40,
        "perturb": {"lr": (0.8, 1.25)},
        "seed": 7,
        "dir": str(run_dir),
        "project": project,
    }
    args.update(kw)
    return nbrun.pbt(train, [{"lr": lr} for lr in LRS], **args)


def every_run(run_dir: Path, project: str = "p") -> dict[str, Any]:
    return {r.id: r for r in nbrun.Api(str(run_dir)).runs(project)}


def loss_at(view: Any, step: int) -> float:
    df = view.history()
    return float(df.loc[df["_step"] == step, "loss"].iloc[0])


def lineage(run_dir: Path, project: str = "p") -> list[tuple[Any, ...]]:
    """Every run of the population as data that does not depend on random run ids."""
    runs = every_run(run_dir, project)
    out = []
    for r in runs.values():
        fp = r.forked_from
        parent = (runs[fp.run_id].name, fp.step) if fp is not None else None
        out.append((r.name, r.state, r.step, dict(r.config), parent, r.summary.get("loss")))
    return sorted(out, key=repr)


def test_rule58_boundaries_and_quantile_follow_ray_tune() -> None:
    assert boundaries(10, 40) == [10, 20, 30, 40]
    assert boundaries(10, 35) == [10, 20, 30, 35]
    assert boundaries(40, 40) == [40]
    assert first_after([10, 20, 30], 0) == 0
    assert first_after([10, 20, 30], 10) == 1  # a fork at the checkpoint of step 9
    assert first_after([10, 20, 30], 25) == 2
    # ceil(n * q), at most half of the population
    assert [quantile_count(n, 0.25) for n in (1, 2, 3, 4, 8, 9)] == [0, 1, 1, 1, 2, 3]
    assert quantile_count(3, 0.5) == 1 and quantile_count(4, 0.5) == 2


def test_rule58_a_diverging_lr_is_replaced_by_a_fork_of_a_top_member(run_dir: Path) -> None:
    final = population(run_dir)
    runs = every_run(run_dir)
    members = {r.name: r for r in runs.values()}
    # the diverging member met the others at step 10 and was stopped there, not later
    bad = members["pbt-3"]
    assert bad.config["lr"] == 3.0 and not loss_at(bad, 9) < 1e3  # diverged: huge, inf or NaN
    assert bad.state == "killed" and bad.step == 10
    child = runs[bad.metadata["pbt"]["replaced_by"]]
    assert child.name == "pbt-3-10" and child.state == "finished" and child.step == 40
    # the fork starts at the checkpoint its donor saved at the boundary
    donor = runs[child.forked_from.run_id]
    assert child.forked_from.step == 9 and 9 in [c.step for c in donor.checkpoints()]
    # the donor was the best member at that boundary (n=4, quantile 0.25: one donor)
    initial = [members[f"pbt-{i}"] for i in range(4)]
    assert loss_at(donor, 9) == min(loss_at(m, 9) for m in initial)
    # its lr is the donor's times one of the factors: in the config diff and the metadata
    factor = child.config["lr"] / donor.config["lr"]
    assert min(abs(factor - f) for f in (0.8, 1.25)) < 1e-12
    assert child.config_diff["lr"]["to"] == child.config["lr"]
    exploit = child.metadata["pbt"]["exploit"]
    assert exploit["donor"] == donor.id and exploit["step"] == 9 and exploit["replaced"] == bad.id
    assert exploit["perturbations"]["lr"]["to"] == child.config["lr"]
    # the final population: one per slot, all trained to total, best first, no diverged lr
    assert len(final) == 4 and {r.state for r in final} == {"finished"}
    assert {r.step for r in final} == {40}
    losses = [r.summary["loss"] for r in final]
    assert losses == sorted(losses) and all(math.isfinite(x) for x in losses)
    assert all(r.config["lr"] < 3.0 for r in final)
    assert sorted(r.metadata["pbt"]["slot"] for r in final) == [0, 1, 2, 3]


def test_rule58_the_family_tree_is_the_pbt_history(run_dir: Path) -> None:
    final = population(run_dir)
    runs = every_run(run_dir)
    forks = [r for r in runs.values() if r.forked_from is not None]
    replaced = [r for r in runs.values() if r.state == "killed"]
    assert forks, "no exploit happened"
    # every exploit is one fork that replaced one member, at a boundary, from a checkpoint
    assert len(forks) == len(replaced) == len(runs) - 4
    by_replaced = {r.metadata["pbt"]["exploit"]["replaced"]: r for r in forks}
    for gone in replaced:
        child = by_replaced[gone.id]
        assert gone.metadata["pbt"]["replaced_by"] == child.id
        assert (
            gone.step == child.forked_from.step + 1 == child.metadata["pbt"]["exploit"]["boundary"]
        )
        assert (child.forked_from.step + 1) % 10 == 0
        assert child.metadata["pbt"]["slot"] == gone.metadata["pbt"]["slot"]
    # every final member goes back through its forks to one of the launched configs
    for r in final:
        node = runs[r.id]
        while node.forked_from is not None:
            node = runs[node.forked_from.run_id]
        assert node.name in {f"pbt-{i}" for i in range(4)} and node.config["lr"] in LRS
    assert len({r.metadata["pbt"]["population"] for r in runs.values()}) == 1


def test_rule58_same_seed_same_configs_and_lineage(tmp_path: Path) -> None:
    population(tmp_path / "a")
    population(tmp_path / "b")
    first, second = lineage(tmp_path / "a"), lineage(tmp_path / "b")
    assert first == second
    assert any(parent is not None for _, _, _, _, parent, _ in first)


def test_rule58_goal_maximize_ranks_the_other_way(tmp_path: Path) -> None:
    population(tmp_path / "min")
    population(tmp_path / "max", metric="score", goal="maximize")
    strip = [(n, s, st, c, p) for n, s, st, c, p, _ in lineage(tmp_path / "min")]
    assert strip == [(n, s, st, c, p) for n, s, st, c, p, _ in lineage(tmp_path / "max")]


def test_rule58_a_list_is_resampled_and_ints_stay_ints(run_dir: Path) -> None:
    def train2(run: Any) -> None:
        state = run.restore() or {"x": 0.0}
        for _ in range(run.step, run.total):
            state["x"] += run.config.gain * (1 if run.config.sign == "up" else -1)
            run.log({"x": state["x"]})
            run.checkpoint(state)

    configs = [{"gain": g, "sign": s} for g, s in ((1, "down"), (2, "up"), (4, "up"), (8, "down"))]
    final = nbrun.pbt(
        train2,
        configs,
        metric="x",
        goal="maximize",
        interval=5,
        total=20,
        perturb={"gain": (0.5, 2.0), "sign": ["up", "down"]},
        seed=1,
        project="q",
    )
    assert len(final) == 4
    for r in every_run(run_dir, "q").values():
        assert type(r.config["gain"]) is int and r.config["sign"] in ("up", "down")
        if r.forked_from is not None:
            notes = r.metadata["pbt"]["exploit"]["perturbations"]
            assert notes["sign"]["choice"] is True and notes["gain"]["factor"] in (0.5, 2.0)


def test_rule58_a_member_that_ends_early_leaves_the_population(run_dir: Path) -> None:
    def short(run: Any) -> None:
        if run.config.lr == 0.1:  # this one's loop stops after 15 steps
            for _ in range(run.step, 15):
                run.log({"loss": 1.0 / (1 + run.step)})
                run.checkpoint({})
            return
        train(run)

    final = nbrun.pbt(
        short,
        [{"lr": lr} for lr in (0.02, 0.1, 0.4)],
        metric="loss",
        interval=10,
        total=30,
        perturb={"lr": (0.9, 1.1)},
        seed=3,
        project="e",
    )
    runs = every_run(run_dir, "e")
    early = next(r for r in runs.values() if r.name == "pbt-1")
    assert early.state == "finished" and early.step == 15
    assert all(r.step == 30 for r in final) and early.id not in {r.id for r in final}


def test_rule59_metric_never_logged_is_an_error_and_stops_every_member(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match=r"metric 'acc' was never logged.*'loss'"):
        population(run_dir, metric="acc")
    runs = every_run(run_dir)
    assert len(runs) == 4
    assert all(r.state == "killed" for r in runs.values())


def _bad(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "metric": "loss",
        "interval": 10,
        "total": 40,
        "perturb": {"lr": (0.8, 1.25)},
        "project": "bad",
    }
    args.update(kw)
    return args


@pytest.mark.parametrize(
    ("configs", "kw", "match"),
    [
        (
            [{"lr": 0.1}],
            {"perturb": {"momentum": (0.8, 1.25)}},
            r"perturb key 'momentum'.*configs\[0\]",
        ),
        ([{"lr": 0.1}], {"interval": 50}, r"interval=50 is longer than total=40"),
        ([{"lr": 0.1}], {"interval": 0}, r"interval=0 must be a positive int"),
        ([{"lr": 0.1}], {"interval": -5}, r"interval=-5"),
        ([{"lr": 0.1}], {"total": 2.5}, r"total=2.5"),
        ([{"lr": 0.1}], {"quantile": 0.0}, r"quantile=0.0 is outside \(0, 0.5\]"),
        ([{"lr": 0.1}], {"quantile": 0.75}, r"quantile=0.75 is outside"),
        ([{"lr": 0.1}], {"quantile": "x"}, r"quantile='x'"),
        ([], {}, r"configs is empty"),
        ({"lr": 0.1}, {}, r"must be a list of config dicts"),
        ([{"lr": 0.1}, 3], {}, r"configs\[1\]=3 must be a dict"),
        ([{"lr": 0.1}], {"perturb": {"lr": (0.8, -1.0)}}, r"factor -1.0 is not a positive"),
        ([{"lr": 0.1}], {"perturb": {"lr": (0.0,)}}, r"factor 0.0 is not a positive"),
        ([{"lr": 0.1}], {"perturb": {"lr": (True,)}}, r"factor True is not a positive"),
        ([{"lr": 0.1}], {"perturb": {"lr": ()}}, r"empty tuple"),
        ([{"lr": 0.1}], {"perturb": {"lr": []}}, r"empty list"),
        ([{"lr": 0.1}], {"perturb": {"lr": 1.2}}, r"perturb\['lr'\]=1.2: give a tuple"),
        ([{"lr": 0.1}], {"perturb": {}}, r"perturb=\{\} must be a non-empty dict"),
        ([{"lr": "fast"}], {}, r"configs\[0\]\['lr'\] = 'fast' is not a number"),
        ([{"lr": 0.1}], {"goal": "up"}, r"goal='up'"),
        ([{"lr": 0.1}], {"metric": ""}, r"metric=''"),
        ([{"lr": 0.1}], {"seed": 1.5}, r"seed=1.5"),
        ([{"lr": 0.1}], {"executor": "pool"}, r"executor='pool'"),
        ([{"lr": 0.1}], {"name": "x"}, r"name cannot be passed"),
    ],
)
def test_rule59_bad_input_is_a_usage_error_naming_it(
    run_dir: Path, configs: Any, kw: dict[str, Any], match: str
) -> None:
    with pytest.raises(nbrun.UsageError, match=match):
        nbrun.pbt(train, configs, **_bad(**kw))
    assert list(nbrun.Api(str(run_dir)).runs("bad")) == []  # refused before any run starts


def test_rule59_train_must_be_callable(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match="train 'nope' must be callable"):
        nbrun.pbt("nope", [{"lr": 0.1}], **_bad())  # type: ignore[arg-type]


def test_rule58_a_member_stopped_while_it_waits_at_a_boundary_leaves(run_dir: Path) -> None:
    gate = threading.Event()

    def gated(run: Any) -> None:
        if run.config.lr == 0.4 and run.forked_from is None:
            gate.wait(30)  # the slowest member holds the others at the first boundary
        train(run)

    out: dict[str, Any] = {}

    def body() -> None:
        try:
            out["final"] = nbrun.pbt(
                gated,
                [{"lr": lr} for lr in (0.02, 0.1, 0.4)],
                metric="loss",
                interval=10,
                total=20,
                perturb={"lr": (0.9, 1.1)},
                seed=5,
                project="s",
            )
        except BaseException as exc:  # pragma: no cover - reported by the assert below
            out["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    api = nbrun.Api(str(run_dir))

    def paused() -> bool:
        runs = {r.name: r for r in api.runs("s")}
        return "pbt-1" in runs and runs["pbt-1"].step == 10

    wait_for(paused)
    waiting = next(r for r in api.runs("s") if r.name == "pbt-1")
    api.run(f"s/{waiting.id}").stop()  # from the store, as the dashboard's Stop button does
    wait_for(lambda: api.run(f"s/{waiting.id}").state == "killed")
    gate.set()
    thread.join(60)
    assert "error" not in out and not thread.is_alive()
    assert waiting.id not in {r.id for r in out["final"]}
    assert api.run(f"s/{waiting.id}").step == 10  # it never ran past the boundary
    assert all(r.step == 20 and r.state == "finished" for r in out["final"])


def test_rule58_checkpoints_sparser_than_the_interval_meet_at_each_boundary_passed(
    run_dir: Path,
) -> None:
    def sparse(run: Any) -> None:
        state = run.restore() or {"w": np.zeros(3)}
        w = state["w"]
        with np.errstate(all="ignore"):
            for _ in range(run.step, run.total):
                w = w - run.config.lr * (X.T @ (X @ w - Y)) / len(Y)
                run.log({"loss": float(np.mean((X @ w - Y) ** 2))})
                if run.step % 15 == 0:  # steps 15 and 30: never at total (40)
                    run.checkpoint({"w": w})

    final = nbrun.pbt(
        sparse,
        [{"lr": lr} for lr in LRS],
        metric="loss",
        interval=10,
        total=40,
        perturb={"lr": (0.8, 1.25)},
        seed=2,
        project="sparse",
    )
    runs = every_run(run_dir, "sparse")
    bad = next(r for r in runs.values() if r.name == "pbt-3")
    assert bad.state == "killed" and bad.step == 15  # met the others at 15 for boundary 10
    forks = [r for r in runs.values() if r.forked_from is not None]
    assert forks and {r.forked_from.step for r in forks} <= {14, 29}
    # a member that trains to total with no checkpoint there ends finished, in the population
    assert len(final) == 4 and all(r.state == "finished" and r.step == 40 for r in final)
    losses = [r.summary["loss"] for r in final]
    assert losses == sorted(losses)


def test_rule58_a_member_whose_train_raises_fails_and_leaves(run_dir: Path) -> None:
    def flaky(run: Any) -> None:
        if run.config.lr == 0.1 and run.forked_from is None:
            for _ in range(12):
                run.log({"loss": 1.0})
                run.checkpoint({})
            raise RuntimeError("out of memory")
        train(run)

    final = nbrun.pbt(
        flaky,
        [{"lr": lr} for lr in (0.02, 0.1, 0.4)],
        metric="loss",
        interval=10,
        total=30,
        perturb={"lr": (0.9, 1.1)},
        seed=4,
        project="f",
    )
    runs = every_run(run_dir, "f")
    failed = next(r for r in runs.values() if r.name == "pbt-1")
    assert failed.state == "failed" and failed.step == 12 and "out of memory" in failed.error
    assert failed.id not in {r.id for r in final}
    assert final and all(r.state == "finished" and r.step == 30 for r in final)


def test_rule58_a_member_launched_with_recover_is_rewound_and_stays_a_member(
    run_dir: Path,
) -> None:
    # rule 60: the diverging member is rewound with lr * 0.1 and meets the others as before
    final = population(
        run_dir,
        project="r",
        interval=20,
        recover=nbrun.Recover(metric="loss", spike=4.0, update={"lr": 0.1}),
    )
    runs = every_run(run_dir, "r")
    rescued = next(r for r in runs.values() if r.name == "pbt-3")
    assert [a["title"] for a in rescued.alerts] == ["recovered by rewind"]
    assert rescued.archives() and abs(rescued.config["lr"] - 0.3) < 1e-12
    assert rescued.metadata["pbt"]["slot"] == 3  # its PBT record survives the rewind
    assert rescued.state == "finished" and rescued.step == 40
    assert rescued.id in {r.id for r in final}
    assert len(final) == 4 and all(r.state == "finished" and r.step == 40 for r in final)
    # forks inherit recover= from their donor's launch (rule 60), not as an init keyword
    assert any(r.forked_from is not None for r in runs.values())
