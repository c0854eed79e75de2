"""Grid, random and bayes search (rules 47 and 48), as properties: the grid covers every
combination exactly once whatever the order trials are claimed and end in; random stays in
bounds and repeats for a seed; bayes beats random on a simple 1-D quadratic."""

from __future__ import annotations

import itertools
import math
import random
import statistics
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbrun._sweeps import SweepConfig, Trial, grid_point, grid_size, parse_sweep_config, suggest
from nbrun._sweeps import bayes as bayes_module
from nbrun._sweeps.space import grid_axis, lookup, nest
from nbrun.errors import UsageError
from tests.conftest import examples

_value = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([0.5, 1.5, "a", "b", None, True]),
    st.lists(st.integers(0, 2), max_size=2),
)


@st.composite
def grid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A grid of 1-3 parameters (some nested): values lists, int ranges, q_uniform, constants."""
    params: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=3, unique=True)):
        kind = draw(st.sampled_from(["values", "int", "q", "const", "nested"]))
        if kind == "values":
            params[name] = {"values": draw(st.lists(_value, min_size=1, max_size=4))}
        elif kind == "int":
            lo = draw(st.integers(-3, 3))
            params[name] = {"min": lo, "max": lo + draw(st.integers(1, 3))}
        elif kind == "q":
            params[name] = {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}
        elif kind == "const":
            params[name] = {"value": draw(_value)}
        else:
            params[name] = {"parameters": {"x": {"values": [1, 2]}, "y": {"value": "k"}}}
    return {"method": "grid", "parameters": params}


def _key(params: dict[str, Any]) -> str:
    return repr(sorted(params.items(), key=lambda kv: kv[0]))


def _expected_points(cfg: SweepConfig) -> list[str]:
    """Every combination, computed independently of ``grid_point``: itertools.product over
    the distinct values of each axis in W&B's order."""
    axes = [list(grid_axis(p)) for p in cfg.parameters]
    return [
        _key(nest(zip([p.path for p in cfg.parameters], combo, strict=True)))
        for combo in itertools.product(*axes)
    ]


# -- rule 47


@settings(max_examples=examples(1.0), deadline=None)
@given(grid_configs(), st.randoms(use_true_random=False), st.data())
def test_rule47_grid_covers_every_point_exactly_once(
    config: dict[str, Any], rnd: random.Random, data: st.DataObject
) -> None:
    """Claims interleave with runs ending in any order and any state; a crashed point is
    claimed again; at the end every point has exactly one non-crashed trial."""
    cfg = parse_sweep_config(config)
    size = grid_size(cfg)
    expected = _expected_points(cfg)
    assert size == len(expected) == len(set(expected))
    trials: list[Trial] = []
    for _ in range(4 * size + 10):
        running = [i for i, t in enumerate(trials) if t.state == "running"]
        if running and data.draw(st.booleans()):
            i = rnd.choice(running)
            state = data.draw(st.sampled_from(["finished", "failed", "killed", "crashed"]))
            t = trials[i]
            trials[i] = Trial(t.index, t.params, 1.0 if state == "finished" else None, state)
            continue
        s = suggest(cfg, trials, seed=0)
        if s is None:
            if not running:
                break
            continue
        assert s.params == grid_point(cfg, s.index)
        trials.append(Trial(s.index, s.params, None, "running"))
    live = [t for t in trials if t.state != "crashed"]
    if any(t.state == "running" for t in trials) or len(live) < size:
        # finish whatever is left, then drain the grid
        trials = [
            Trial(t.index, t.params, 1.0, "finished") if t.state == "running" else t for t in trials
        ]
        while (s := suggest(cfg, trials, seed=0)) is not None:
            trials.append(Trial(s.index, s.params, 1.0, "finished"))
        live = [t for t in trials if t.state != "crashed"]
    assert sorted(t.index for t in live) == list(range(size))
    assert sorted(_key(t.params) for t in live) == sorted(expected)


def test_rule47_grid_order_is_wandbs() -> None:
    """W&B's order: names sorted, last parameter fastest, values as listed, constants in
    every point."""
    cfg = parse_sweep_config(
        {
            "method": "grid",
            "parameters": {
                "lr": {"values": [0.1, 0.01]},
                "batch": {"values": [64, 32]},
                "epochs": {"value": 3},
                "opt": {"parameters": {"m": {"min": 1, "max": 2}}},
            },
        }
    )
    points = [grid_point(cfg, i) for i in range(grid_size(cfg) or 0)]
    assert [(p["batch"], p["lr"], p["opt"]["m"]) for p in points] == [
        (64, 0.1, 1),
        (64, 0.1, 2),
        (64, 0.01, 1),
        (64, 0.01, 2),
        (32, 0.1, 1),
        (32, 0.1, 2),
        (32, 0.01, 1),
        (32, 0.01, 2),
    ]
    assert all(p["epochs"] == 3 for p in points)
    with pytest.raises(IndexError):
        grid_point(cfg, 8)


_SPACE = {
    "i": {"min": -3, "max": 4},
    "u": {"min": 0.5, "max": 2.0},
    "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.1},
    "l": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
    "ql": {"distribution": "q_log_uniform_values", "min": 16, "max": 512, "q": 16},
    "c": {"values": ["sgd", "adam"], "probabilities": [0.3, 0.7]},
    "n": {"distribution": "normal", "mu": 0, "sigma": 1},
    "b": {"distribution": "beta", "a": 2, "b": 2},
    "nest": {"parameters": {"k": {"values": [1, 2, 3]}}},
}


@settings(max_examples=examples(1.0), deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 50))
def test_rule47_random_in_bounds_and_reproducible(seed: int, done: int) -> None:
    cfg = parse_sweep_config({"method": "random", "parameters": _SPACE})
    trials = [Trial(i, {}, None, "finished") for i in range(done)]
    s = suggest(cfg, trials, seed)
    assert s is not None and s.index == done
    again = suggest(cfg, [Trial(i, {"other": i}, 5.0, "crashed") for i in range(done)], seed)
    assert again == s  # the same (seed, index): the same params, whatever the trials hold
    p = s.params
    assert type(p["i"]) is int and -3 <= p["i"] <= 4
    assert type(p["u"]) is float and 0.5 <= p["u"] <= 2.0
    assert 0 <= p["q"] <= 1 and p["q"] == round(p["q"], 1)
    assert 1e-5 <= p["l"] <= 1e-2
    assert type(p["ql"]) is int and p["ql"] % 16 == 0 and 16 <= p["ql"] <= 512
    assert p["c"] in ("sgd", "adam") and math.isfinite(p["n"]) and 0 <= p["b"] <= 1
    assert p["nest"]["k"] in (1, 2, 3)
    other = [suggest(cfg, trials, seed + k) for k in range(1, 4)]
    assert any(o is not None and o.params != p for o in other)  # the seed matters


def test_rule47_random_sequence_differs_per_index() -> None:
    cfg = parse_sweep_config({"method": "random", "parameters": {"u": {"min": 0.0, "max": 1.0}}})
    seen = []
    trials: list[Trial] = []
    for _ in range(50):
        s = suggest(cfg, trials, 123)
        assert s is not None
        seen.append(s.params["u"])
        trials.append(Trial(s.index, s.params, None, "finished"))
    assert len(set(seen)) == 50
    assert 0.35 < statistics.mean(seen) < 0.65


# -- rule 48


def _quadratic(x: float) -> float:
    return (x - 0.3) ** 2


_BAYES = {
    "method": "bayes",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": -2.0, "max": 2.0}},
}


def _run(cfg: SweepConfig, seed: int, n: int, f: Any = _quadratic) -> list[float]:
    trials: list[Trial] = []
    for _ in range(n):
        s = suggest(cfg, trials, seed)
        assert s is not None
        trials.append(Trial(s.index, s.params, f(lookup(s.params, ("x",))), "finished"))
    return [t.value for t in trials if t.value is not None]


def test_rule48_bayes_beats_random_on_a_quadratic() -> None:
    """Over 5 seeds, the best of 20 bayes trials is below the median of 20 random draws of the
    same function every time, and below the best random value in most seeds."""
    bayes = parse_sweep_config(_BAYES)
    rand = parse_sweep_config({**_BAYES, "method": "random"})
    wins = 0
    for seed in range(5):
        b = _run(bayes, seed, 20)
        r = _run(rand, seed + 100, 20)
        assert min(b) < statistics.median(r)
        assert min(b) < 0.01  # within 0.1 of the optimum
        wins += min(b) < min(r)
    assert wins >= 3


def test_rule48_bayes_maximize_and_categorical() -> None:
    cfg = parse_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "acc", "goal": "maximize"},
            "parameters": {
                "x": {"min": -2.0, "max": 2.0},
                "opt": {"values": ["bad", "good", "ugly"]},
            },
        }
    )
    trials: list[Trial] = []
    for _ in range(16):
        s = suggest(cfg, trials, 7)
        assert s is not None
        p = s.params
        acc = -((p["x"] - 1.0) ** 2) + (1.0 if p["opt"] == "good" else 0.0)
        trials.append(Trial(s.index, p, acc, "finished"))
    late = [t.params["opt"] for t in trials[8:]]
    assert late.count("good") >= 5
    assert max(t.value for t in trials if t.value is not None) > 0.9


def test_rule48_first_trials_random_and_failed_trials_imputed() -> None:
    cfg = parse_sweep_config(_BAYES)
    rand = parse_sweep_config({**_BAYES, "method": "random"})
    one = [Trial(0, {"x": 0.0}, 1.0, "finished"), Trial(1, {"x": 1.0}, None, "failed")]
    assert suggest(cfg, one, 5) == suggest(rand, one, 5)  # one value: still random
    two = [*one, Trial(2, {"x": 0.5}, 0.04, "finished"), Trial(3, {"x": 1.9}, None, "running")]
    s = suggest(cfg, two, 5)
    assert s is not None and s.index == 4 and -2.0 <= s.params["x"] <= 2.0
    assert s == suggest(cfg, two, 5)  # deterministic for the seed


def test_rule48_bayes_cost_with_100_finished_trials() -> None:
    """A suggestion with 100 finished trials (and 4 running) costs well under 100 ms
    (issue 23's budget). Measured as this process's CPU time (BLAS runs on one thread during
    a suggestion), which other processes on the shared machine do not inflate; median of 5."""
    cfg = parse_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "loss"},
            "parameters": {
                "x": {"min": -2.0, "max": 2.0},
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
                "opt": {"values": ["a", "b", "c"]},
            },
        }
    )
    rnd = random.Random(0)
    trials = []
    for i in range(104):
        p = {"x": rnd.uniform(-2, 2), "lr": 10 ** rnd.uniform(-5, -1), "opt": rnd.choice("abc")}
        loss = (p["x"] - 0.3) ** 2 + abs(math.log10(p["lr"]) + 3) + (p["opt"] == "b")
        trials.append(Trial(i, p, loss if i < 100 else None, "finished" if i < 100 else "running"))
    suggest(cfg, trials, 0)  # warm: scikit-learn imported
    times = []
    for seed in range(5):
        t0 = time.process_time()
        suggest(cfg, trials, seed)
        times.append(time.process_time() - t0)
    assert statistics.median(times) < 0.1, times


def test_rule48_nested_constants_kept_and_long_sweeps_thinned() -> None:
    """Constants and nesting survive a bayes suggestion; a sweep of more trials than the model
    takes (150 > MAX_POINTS) still suggests, from the best and the latest."""
    cfg = parse_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "loss"},
            "parameters": {
                "model": {"parameters": {"x": {"min": -2.0, "max": 2.0}, "kind": {"value": "mlp"}}},
                "epochs": {"value": 3},
            },
        }
    )
    rnd = random.Random(1)
    trials = []
    for i in range(150):
        x = rnd.uniform(-2, 2)
        trials.append(
            Trial(i, {"model": {"x": x, "kind": "mlp"}, "epochs": 3}, (x - 1) ** 2, "finished")
        )
    model = bayes_module.Model(cfg, trials, random.Random(0))
    assert len(model.observed) == bayes_module.MAX_POINTS
    kept = {t.index for t, _ in model.observed}
    assert set(range(100, 150)) <= kept  # the latest half
    best = sorted(trials, key=lambda t: t.value or 0.0)[:50]
    assert {t.index for t in best} <= kept  # the best half
    s = suggest(cfg, trials, 3)
    assert s is not None and s.params["epochs"] == 3 and s.params["model"]["kind"] == "mlp"
    assert abs(s.params["model"]["x"] - 1.0) < 0.5


def test_rule48_impute_while_running_counts_running_values() -> None:
    base = {**_BAYES, "metric": {"name": "loss", "impute_while_running": "latest"}}
    cfg = parse_sweep_config(base)
    trials = [
        Trial(0, {"x": -1.0}, 1.69, "finished"),
        Trial(1, {"x": 1.0}, 0.49, "finished"),
        Trial(2, {"x": 0.3}, 0.0, "running"),
        Trial(3, {"x": 1.5}, None, "running"),
    ]
    model = bayes_module.Model(cfg, trials, random.Random(0))
    assert [t.index for t, _ in model.observed] == [0, 1, 2]
    assert [t.index for t in model.pending] == [3]
    plain = bayes_module.Model(parse_sweep_config(_BAYES), trials, random.Random(0))
    assert [t.index for t in plain.pending] == [2, 3]


def test_rule48_failed_trials_count_as_the_worst_value() -> None:
    cfg = parse_sweep_config(_BAYES)
    trials = [
        Trial(0, {"x": -1.0}, 1.69, "finished"),
        Trial(1, {"x": 1.0}, 0.49, "finished"),
        Trial(2, {"x": 2.0}, None, "crashed"),
        Trial(3, {"x": -2.0}, 0.1, "killed"),
    ]
    model = bayes_module.Model(cfg, trials, random.Random(0))
    assert [(t.index, v) for t, v in model.observed] == [(0, 1.69), (1, 0.49), (2, 1.69), (3, 1.69)]
    best = {**_BAYES, "metric": {"name": "loss", "impute": "best"}}
    model = bayes_module.Model(parse_sweep_config(best), trials, random.Random(0))
    assert [v for _, v in model.observed][2:] == [0.49, 0.49]


def test_rule48_without_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_sweep_config(_BAYES)
    trials = [Trial(0, {"x": -1.0}, 1.69, "finished"), Trial(1, {"x": 1.0}, 0.49, "finished")]
    assert suggest(cfg, trials[:1], 0) is not None  # random until two values: no model needed
    monkeypatch.setitem(sys.modules, "sklearn", None)  # what an uninstalled package looks like
    with pytest.raises(UsageError, match=r"needs scikit-learn.*pip install 'nbrun\[sweeps\]'"):
        suggest(cfg, trials, 0)


def test_rule48_discrete_space_tries_untried_points_first() -> None:
    """On a space of 6 points, bayes suggests a point no trial holds while there is one."""
    cfg = parse_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "loss"},
            "parameters": {"n": {"values": [1, 2, 3]}, "k": {"values": ["a", "b"]}},
        }
    )
    trials: list[Trial] = []
    for _ in range(8):
        s = suggest(cfg, trials, 11)
        assert s is not None
        point = (s.params["n"], s.params["k"])
        tried = {(t.params["n"], t.params["k"]) for t in trials}
        if len(trials) >= 2 and len(tried) < 6:  # the model is used: something new
            assert point not in tried
        loss = s.params["n"] + (s.params["k"] == "b")
        state = "running" if len(trials) == 3 else "finished"  # a running point counts as held
        trials.append(Trial(s.index, s.params, loss if state == "finished" else None, state))
    assert len({(t.params["n"], t.params["k"]) for t in trials}) == 6


_BAYES_SPACE = {
    "method": "bayes",
    "metric": {"name": "m", "goal": "maximize"},
    "parameters": {
        "u": {"min": -1.0, "max": 1.0},
        "i": {"min": 1, "max": 4},
        "l": {"distribution": "log_uniform_values", "min": 1e-3, "max": 10.0},
        "c": {"values": ["x", "y"]},
    },
}


@settings(max_examples=examples(0.5), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["finished", "failed", "crashed", "killed", "running"]),
            st.one_of(st.none(), st.floats(-1e12, 1e12), st.sampled_from([0.0, 1.0])),
            st.integers(0, 10**6),
        ),
        min_size=2,
        max_size=25,
    ),
    st.integers(0, 2**31),
)
def test_rule48_bayes_suggestions_stay_in_the_space(
    rows: list[tuple[str, float | None, int]], seed: int
) -> None:
    """Whatever the observations (equal values, huge ones, only failures, repeated points),
    a bayes suggestion is a point of the space, the same for the same trials and seed."""
    cfg = parse_sweep_config(_BAYES_SPACE)
    trials = []
    for i, (state, value, draw_seed) in enumerate(rows):
        rnd = random.Random(draw_seed % 7)  # few distinct points: repeats happen
        params = {
            "u": rnd.uniform(-1, 1),
            "i": rnd.randint(1, 4),
            "l": 10 ** rnd.uniform(-3, 1),
            "c": rnd.choice("xy"),
        }
        trials.append(Trial(i, params, value, state))
    s = suggest(cfg, trials, seed)
    assert s is not None and s.index == len(trials)
    p = s.params
    assert -1.0 <= p["u"] <= 1.0 and p["i"] in (1, 2, 3, 4) and type(p["i"]) is int
    assert 1e-3 <= p["l"] <= 10.0 and p["c"] in ("x", "y")
    assert suggest(cfg, trials, seed) == s
