"""Sweep configurations (rules 46 and 47): W&B's forms parsed, every bad input a
``SweepConfigError`` naming the key path, the value and what is allowed; every distribution's
draws in range, of the right type and quantised."""

from __future__ import annotations

import math
import pickle
import random
from typing import Any

import numpy as np
import pytest

from nbrun._sweeps import Param, Trial, grid_point, grid_size, parse_sweep_config, suggest
from nbrun._sweeps.space import draw, encode, quantise
from nbrun.errors import SweepConfigError, UsageError


def _cfg(params: dict[str, Any], method: str = "random", **top: Any) -> dict[str, Any]:
    return {"method": method, "parameters": params, **top}


def _param(spec: dict[str, Any]) -> Param:
    (p,) = parse_sweep_config(_cfg({"x": spec})).parameters
    return p


# -- rule 46: what parses, and how


def test_rule46_inferred_distributions_follow_wandb() -> None:
    cfg = parse_sweep_config(
        _cfg(
            {
                "c": {"value": [1, 2]},
                "v": {"values": ["a", "b"]},
                "p": {"values": [1, 2], "probabilities": [0.25, 0.75]},
                "i": {"min": 1, "max": 5},
                "f": {"min": 1, "max": 5.0},
                "g": {"min": 0.0, "max": 1.0},
            }
        )
    )
    kinds = {p.path[0]: p.distribution for p in cfg.parameters}
    assert kinds == {
        "c": "constant",
        "v": "categorical",
        "p": "categorical_w_probabilities",
        "i": "int_uniform",
        "f": "uniform",
        "g": "uniform",
    }
    # W&B's order: names sorted
    assert [p.path for p in cfg.parameters] == [(k,) for k in "cfgipv"]


def test_rule46_top_level_keys_are_kept_and_raw_is_json_safe() -> None:
    src = {
        "method": "bayes",
        "name": "s1",
        "description": "d",
        "program": "train.py",
        "command": ["${env}", "${interpreter}", "${program}", "${args}"],
        "entity": "me",
        "project": "p",
        "run_cap": 7,
        "metric": {"name": "val/loss", "goal": "maximize", "target": 0.9},
        "early_terminate": {"type": "hyperband", "min_iter": 2},
        "parameters": {"x": {"values": (1, 2)}},
    }
    cfg = parse_sweep_config(src)
    assert (cfg.method, cfg.name, cfg.description, cfg.program) == ("bayes", "s1", "d", "train.py")
    assert cfg.command == ["${env}", "${interpreter}", "${program}", "${args}"]
    assert (cfg.entity, cfg.project, cfg.run_cap) == ("me", "p", 7)
    assert cfg.metric is not None and (cfg.metric.name, cfg.metric.goal) == ("val/loss", "maximize")
    assert cfg.metric.target == 0.9 and cfg.metric.impute == "worst"
    hb = cfg.early_terminate
    assert hb is not None and (hb.min_iter, hb.eta, hb.strict) == (2, 3.0, True)
    assert cfg.raw["parameters"]["x"]["values"] == [1, 2]  # tuples stored as lists
    assert cfg.raw["metric"] == src["metric"]


def test_rule46_numpy_numbers_are_python_numbers() -> None:
    cfg = parse_sweep_config(
        _cfg(
            {
                "i": {"min": np.int64(1), "max": np.int64(4)},
                "v": {"values": np.linspace(0.0, 1.0, 3)},
            }
        )
    )
    i, v = cfg.parameters
    assert i.distribution == "int_uniform" and type(i.min) is int
    assert v.values == (0.0, 0.5, 1.0) and cfg.raw["parameters"]["v"]["values"] == [0.0, 0.5, 1.0]


def test_rule46_nested_parameters_give_nested_params() -> None:
    cfg = parse_sweep_config(
        _cfg(
            {
                "optimizer": {
                    "parameters": {
                        "name": {"value": "adam"},
                        "lr": {"values": [0.1, 0.01]},
                        "betas": {"parameters": {"b1": {"value": 0.9}}},
                    }
                },
                "epochs": {"value": 3},
            },
            method="grid",
        )
    )
    assert [p.key for p in cfg.parameters] == [
        "parameters.epochs",
        "parameters.optimizer.parameters.betas.parameters.b1",
        "parameters.optimizer.parameters.lr",
        "parameters.optimizer.parameters.name",
    ]
    s = suggest(cfg, [], seed=0)
    assert s is not None
    assert s.params == {"epochs": 3, "optimizer": {"betas": {"b1": 0.9}, "lr": 0.1, "name": "adam"}}


def test_rule46_wandb_keys_without_offline_meaning_warn() -> None:
    with pytest.warns(UserWarning, match="'controller' is W&B's .* ignored"):
        parse_sweep_config(_cfg({"x": {"value": 1}}, controller={"type": "cloud"}))
    with pytest.warns(UserWarning, match="'job' is W&B's .* ignored"):
        parse_sweep_config(_cfg({"x": {"value": 1}}, job="me/p/job:v0"))
    # W&B's local controller is what an nbrun sweep is: accepted without a word
    cfg = parse_sweep_config(_cfg({"x": {"value": 1}}, controller={"type": "local"}))
    assert cfg.raw["controller"] == {"type": "local"}


def test_rule46_exponent_bounds_that_look_like_values_warn() -> None:
    spec = {"distribution": "log_uniform", "min": 0.0001, "max": 0.1}
    with pytest.warns(UserWarning, match="parameters.x uses log_uniform, where min and max are"):
        _param(spec)
    quiet = parse_sweep_config(_cfg({"x": spec}, controller={"type": "cloud"}), warn=False)
    assert quiet.parameters[0].min == 0.0001  # no warning (pytest makes nbrun's errors)
    p = _param({"distribution": "log_uniform", "min": -9.2, "max": -2.3})  # no warning
    assert p.distribution == "log_uniform"


BAD: list[tuple[dict[str, Any], str, str]] = [
    # (config, path, words the message must hold)
    ({"parameters": {"x": {"value": 1}}}, "method", "no method"),
    (_cfg({"x": {"value": 1}}, method="hyperopt"), "method", "'hyperopt'"),
    ({"method": "grid"}, "parameters", "no parameters"),
    (_cfg({}), "parameters", "non-empty mapping"),
    (_cfg({"x": {"value": 1}}, colour="red"), "colour", "allowed keys: method"),
    (_cfg({"x": {"values": []}}), "parameters.x.values", "empty"),
    (_cfg({"x": {"values": 3}}), "parameters.x.values", "not a list"),
    (_cfg({"x": {"min": 5, "max": 1}}), "parameters.x.min", "min 5 is not below max 1"),
    (_cfg({"x": {"min": 1.0, "max": 1.0}}), "parameters.x.min", "not below max"),
    (_cfg({"x": {"min": "a", "max": 1}}), "parameters.x.min", "'a' is not a finite number"),
    (_cfg({"x": {"min": "1e-4", "max": 0.1}}), "parameters.x.min", "YAML reads 1e-4 as text"),
    (_cfg({"x": {"min": 1}}), "parameters.x", "is not a parameter"),
    (_cfg({"x": {"distribution": "poisson"}}), "parameters.x.distribution", "'poisson'"),
    (_cfg({"x": {"distribution": "uniform", "max": 1}}), "parameters.x.min", "needs 'min'"),
    (
        _cfg({"x": {"distribution": "int_uniform", "min": 0.5, "max": 3}}),
        "parameters.x.min",
        "not an integer",
    ),
    (
        _cfg({"x": {"distribution": "normal", "min": 0, "max": 1}}),
        "parameters.x.min",
        "unknown key 'min'",
    ),
    (_cfg({"x": {"values": [1], "step": 2}}), "parameters.x.step", "unknown key 'step'"),
    (
        _cfg({"x": {"values": [1, 2], "probabilities": [0.5, 0.6]}}),
        "parameters.x.probabilities",
        "sums to 1.1",
    ),
    (
        _cfg({"x": {"values": [1, 2], "probabilities": [1.0]}}),
        "parameters.x.probabilities",
        "one probability per value (2 values)",
    ),
    (
        _cfg({"x": {"values": [1, 2], "probabilities": [1.5, -0.5]}}),
        "parameters.x.probabilities",
        "negative",
    ),
    (
        _cfg({"x": {"distribution": "log_uniform_values", "min": 0, "max": 1}}),
        "parameters.x.min",
        "not positive",
    ),
    (
        _cfg({"x": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}}),
        "parameters.x.q",
        "q is > 0",
    ),
    (_cfg({"x": {"distribution": "normal", "sigma": -1}}), "parameters.x.sigma", "negative"),
    (_cfg({"x": {"distribution": "beta", "a": 0}}), "parameters.x.a", "not positive"),
    (_cfg({"x": 0.1}), "parameters.x", "not a mapping"),
    (_cfg({"1x": {"value": 1}}), "parameters.1x", "name '1x' is not allowed"),
    (_cfg({"x": {"value": object()}}), "parameters.x.value", "cannot be stored"),
    (
        _cfg({"o": {"parameters": {"lr": {"min": 1, "max": 0}}}}),
        "parameters.o.parameters.lr.min",
        "not below max",
    ),
    (
        _cfg({"o": {"parameters": {"lr": {"value": 1}}, "value": 2}}),
        "parameters.o.value",
        "unknown key 'value'",
    ),
    (_cfg({"x": {"min": 0.0, "max": 1.0}}, method="grid"), "parameters.x", "grid cannot"),
    (
        _cfg({"x": {"values": [1, 2], "probabilities": [0.5, 0.5]}}, method="grid"),
        "parameters.x",
        "no probabilities",
    ),
    (
        _cfg(
            {"x": {"distribution": "categorical", "values": [1, 2], "probabilities": [0.5, 0.5]}},
            method="grid",
        ),
        "parameters.x",
        "no probabilities",
    ),
    (_cfg({"x": {"value": 1}}, description=5), "description", "not a non-empty string"),
    (_cfg({"x": {"value": 1}}, name=""), "name", "not a non-empty string"),
    (
        _cfg({"x": {"value": 1}}, metric={"name": "l", "impute": "mean"}),
        "metric.impute",
        "allowed: worst, best, latest",
    ),
    (_cfg({"x": {"min": 0.0, "max": 1.0}}, method="bayes"), "metric", "bayes needs a metric"),
    (
        _cfg({"x": {"value": 1}}, method="bayes", metric={"name": "l"}),
        "parameters",
        "nothing to search",
    ),
    (_cfg({"x": {"value": 1}}, metric={"goal": "minimize"}), "metric.name", "no name"),
    (_cfg({"x": {"value": 1}}, metric={"name": "l", "goal": "min"}), "metric.goal", "'min'"),
    (_cfg({"x": {"value": 1}}, metric={"name": "l", "weight": 1}), "metric.weight", "unknown key"),
    (_cfg({"x": {"value": 1}}, metric="loss"), "metric", "not a mapping"),
    (_cfg({"x": {"value": 1}}, run_cap=0), "run_cap", "below 1"),
    (_cfg({"x": {"value": 1}}, run_cap=2.5), "run_cap", "not an integer"),
    (_cfg({"x": {"value": 1}}, command="python train.py"), "command", "not a list of strings"),
    (
        _cfg({"x": {"value": 1}}, early_terminate={"type": "hyperband", "min_iter": 3}),
        "metric",
        "hyperband needs a metric",
    ),
    (
        _cfg({"x": {"value": 1}}, metric={"name": "l"}, early_terminate={"type": "hyperband"}),
        "early_terminate",
        "min_iter, or max_iter with s",
    ),
    (
        _cfg(
            {"x": {"value": 1}},
            metric={"name": "l"},
            early_terminate={"type": "hyperband", "max_iter": 27},
        ),
        "early_terminate.s",
        "max_iter needs s",
    ),
    (
        _cfg({"x": {"value": 1}}, metric={"name": "l"}, early_terminate={"type": "envelope"}),
        "early_terminate.type",
        "allowed: hyperband",
    ),
    (
        _cfg(
            {"x": {"value": 1}},
            metric={"name": "l"},
            early_terminate={"type": "hyperband", "min_iter": 3, "eta": 1},
        ),
        "early_terminate.eta",
        "eta is > 1",
    ),
    (
        _cfg(
            {"x": {"value": 1}},
            metric={"name": "l"},
            early_terminate={"type": "hyperband", "min_iter": 0},
        ),
        "early_terminate.min_iter",
        "below 1",
    ),
    (
        _cfg(
            {"x": {"value": 1}},
            metric={"name": "l"},
            early_terminate={"type": "hyperband", "max_iter": 2, "s": 1, "eta": 3},
        ),
        "early_terminate.max_iter",
        "no band",
    ),
]


@pytest.mark.parametrize(("config", "path", "words"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_rule46_bad_configs_name_the_key(config: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(SweepConfigError) as info:
        parse_sweep_config(config)
    err = info.value
    assert isinstance(err, UsageError) and err.path == path
    assert str(err).startswith(f"sweep config {path}: ")
    assert words in str(err)


def test_rule46_error_names_what_is_allowed_and_survives_pickle() -> None:
    with pytest.raises(SweepConfigError) as info:
        parse_sweep_config(_cfg({"x": {"distribution": "gamma"}}))
    text = str(info.value)
    assert "'gamma'" in text and "log_uniform_values" in text and "q_beta" in text
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == text and again.path == "parameters.x.distribution"


def test_rule46_not_a_mapping() -> None:
    with pytest.raises(SweepConfigError, match="is not a mapping"):
        parse_sweep_config(["method", "grid"])  # type: ignore[arg-type]


# -- rule 47: each distribution's range, type and quantisation


def _draws(spec: dict[str, Any], n: int = 400) -> list[Any]:
    p = _param(spec)
    rng = random.Random(7)
    return [draw(p, rng) for _ in range(n)]


def test_rule47_uniform_and_int_uniform() -> None:
    ints = _draws({"min": -2, "max": 3})
    assert all(type(v) is int for v in ints) and set(ints) == {-2, -1, 0, 1, 2, 3}
    floats = _draws({"min": -2, "max": 3.0})
    assert all(type(v) is float and -2 <= v <= 3 for v in floats)
    assert min(floats) < -1.5 and max(floats) > 2.5  # spread over the range


def test_rule47_q_uniform_quantised_inside_bounds() -> None:
    vals = _draws({"distribution": "q_uniform", "min": 0.05, "max": 0.95, "q": 0.1})
    assert all(type(v) is float and 0.05 <= v <= 0.95 for v in vals)
    assert all(math.isclose(v * 10, round(v * 10)) and v == round(v, 1) for v in vals)
    assert {0.1, 0.5, 0.9} <= set(vals)
    ints = _draws({"distribution": "q_uniform", "min": 0, "max": 100, "q": 25})
    assert all(type(v) is int for v in ints) and set(ints) == {0, 25, 50, 75, 100}
    default_q = _draws({"distribution": "q_uniform", "min": 0, "max": 3})
    assert all(type(v) is float for v in default_q) and set(default_q) == {0.0, 1.0, 2.0, 3.0}


def test_rule47_log_uniform_values_and_exponents() -> None:
    vals = _draws({"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}, 2000)
    assert all(1e-4 <= v <= 1e-1 for v in vals)
    decades = [sum(1 for v in vals if 10**k <= v < 10 ** (k + 1)) for k in (-4, -3, -2)]
    assert all(500 < d < 830 for d in decades)  # a third in each decade: log scale
    exps = _draws({"distribution": "log_uniform", "min": math.log(1e-4), "max": math.log(0.1)})
    assert all(1e-4 * 0.999 <= v <= 0.1 * 1.001 for v in exps)
    q = _draws({"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 1})
    assert all(type(v) is int and 1 <= v <= 1000 for v in q)
    qe = _draws({"distribution": "q_log_uniform", "min": 0, "max": math.log(50), "q": 2})
    assert all(type(v) is int and v % 2 == 0 and 2 <= v <= 50 for v in qe)


def test_rule47_inv_log_uniform() -> None:
    vals = _draws({"distribution": "inv_log_uniform_values", "min": 0.01, "max": 10.0})
    assert all(0.01 <= v <= 10.0 for v in vals)
    exps = _draws({"distribution": "inv_log_uniform", "min": 0.0, "max": 2.0})
    assert all(math.exp(-2.0) <= v <= 1.0 for v in exps)  # e^-max .. e^-min


def test_rule47_normal_log_normal_beta() -> None:
    normal = _draws({"distribution": "normal", "mu": 10.0, "sigma": 2.0}, 2000)
    mean = sum(normal) / len(normal)
    assert 9.7 < mean < 10.3 and min(normal) < 7 and max(normal) > 13
    qn = _draws({"distribution": "q_normal", "mu": 0, "sigma": 5, "q": 2})
    assert all(type(v) is int and v % 2 == 0 for v in qn)
    logn = _draws({"distribution": "log_normal", "mu": 0.0, "sigma": 1.0})
    assert all(v > 0 for v in logn)
    qln = _draws({"distribution": "q_log_normal", "mu": 2.0, "sigma": 0.5, "q": 0.5})
    assert all(type(v) is float and v * 2 == round(v * 2) for v in qln)
    beta = _draws({"distribution": "beta", "a": 2.0, "b": 5.0}, 2000)
    assert all(0 <= v <= 1 for v in beta) and 0.25 < sum(beta) / len(beta) < 0.32
    qb = _draws({"distribution": "q_beta", "a": 1, "b": 1, "q": 0.25})
    assert set(qb) <= {0.0, 0.25, 0.5, 0.75, 1.0} and len(set(qb)) == 5


def test_rule47_categorical_and_probabilities() -> None:
    vals = _draws({"values": ["a", {"b": 1}, [2]]}, 900)
    assert all(v in ("a", {"b": 1}, [2]) for v in vals) and all(vals.count(x) > 240 for x in ("a",))
    weighted = _draws({"values": ["x", "y", "z"], "probabilities": [0.0, 0.2, 0.8]}, 2000)
    assert "x" not in weighted and 300 < weighted.count("y") < 500
    assert _draws({"value": {"k": [1]}}, 3) == [{"k": [1]}] * 3


def test_rule47_quantise_keeps_q_decimals() -> None:
    assert quantise(0.3000001, 0.1) == 0.3
    assert quantise(7.4, 2) == 8 and type(quantise(7.4, 2)) is int
    assert quantise(1.04, 0.1, 0.0, 1.0) == 1.0
    assert quantise(0.96, 0.25, 0.1, 0.9) == 0.75  # rounded past max: one q back inside


def test_rule47_grid_axes_sizes() -> None:
    cfg = parse_sweep_config(
        _cfg(
            {
                "a": {"values": [1, 1.0, 2, "2"]},  # 1 and 1.0 are one value
                "b": {"min": 3, "max": 7},
                "c": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},  # max left out
                "d": {"value": 5},
            },
            method="grid",
        )
    )
    assert grid_size(cfg) == 3 * 5 * 4 * 1
    half = parse_sweep_config(
        _cfg({"h": {"distribution": "q_uniform", "min": 0.5, "max": 3, "q": 1}}, method="grid")
    )
    assert grid_size(half) == 3
    assert [grid_point(half, i)["h"] for i in range(3)] == [0.5, 1.5, 2.5]
    tenth = parse_sweep_config(
        _cfg({"t": {"distribution": "q_uniform", "min": 0.05, "max": 0.4, "q": 0.1}}, method="grid")
    )
    assert [grid_point(tenth, i)["t"] for i in range(4)] == [0.05, 0.15, 0.25, 0.35]
    assert grid_size(parse_sweep_config(_cfg({"a": {"value": 1}}))) is None


def test_rule48_encode_scales_to_unit_interval() -> None:
    log = _param({"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0})
    assert math.isclose(encode(log, 1e-2), 0.5)
    cat = _param({"values": ["a", "b", "c"]})
    assert [encode(cat, v) for v in "abc"] == [0.0, 0.5, 1.0] and encode(cat, "z") == 0.5
    normal = _param({"distribution": "normal", "mu": 1.0, "sigma": 2.0})
    assert math.isclose(encode(normal, 1.0), 0.5)
    uni = _param({"min": 0, "max": 10})
    assert encode(uni, 2) == 0.2 and encode(uni, 20) == 1.0 and encode(uni, "x") == 0.5


def test_rule47_target_ends_the_sweep() -> None:
    cfg = parse_sweep_config(
        _cfg(
            {"x": {"min": 0.0, "max": 1.0}},
            metric={"name": "acc", "goal": "maximize", "target": 0.9},
        )
    )
    assert suggest(cfg, [Trial(0, {"x": 0.1}, 0.89, "finished")], 0) is not None
    assert suggest(cfg, [Trial(0, {"x": 0.1}, 0.95, "running")], 0) is not None
    assert suggest(cfg, [Trial(0, {"x": 0.1}, 0.95, "finished")], 0) is None


def test_rule47_boolean_grid_keeps_bools() -> None:
    """W&B's boolean-parameters example: flags stay bools (True is not 1) in every point."""
    cfg = parse_sweep_config(
        {
            "program": "train-bool.py",
            "method": "grid",
            "parameters": {
                "optimizer": {"values": ["sgd", "adam"]},
                "flag1": {"values": [False, True]},
                "flag2": {"values": [False, True, 1]},  # 1 is another value than True
            },
        }
    )
    assert grid_size(cfg) == 2 * 3 * 2
    points = [grid_point(cfg, i) for i in range(12)]
    assert {type(p["flag1"]) for p in points} == {bool}
    assert [p["flag2"] for p in points[:6]] == [False, False, True, True, 1, 1]


def test_rule46_raw_parses_back_to_the_same_config() -> None:
    """What the store keeps (``raw``) parses to the same config: a sweep read back suggests
    as the one made."""
    srcs = [
        _cfg({"x": {"values": (1, 2.5, "a")}, "n": {"parameters": {"y": {"min": 1, "max": 3}}}}),
        _cfg(
            {"lr": {"distribution": "q_log_uniform_values", "min": 1e-4, "max": 1.0, "q": 1e-4}},
            method="bayes",
            metric={"name": "loss", "goal": "maximize", "target": 3},
            early_terminate={"type": "hyperband", "max_iter": 27, "s": 2, "strict": False},
            run_cap=5,
            command=["${program}"],
        ),
    ]
    for src in srcs:
        cfg = parse_sweep_config(src)
        assert parse_sweep_config(cfg.raw) == cfg
        assert suggest(parse_sweep_config(cfg.raw), [], 9) == suggest(cfg, [], 9)


def test_rule47_suggestions_share_nothing_with_the_config() -> None:
    for method in ("grid", "random"):
        cfg = parse_sweep_config(
            _cfg({"layers": {"values": [[64, 32]]}, "o": {"value": {"k": [1]}}}, method)
        )
        s = suggest(cfg, [], 0)
        assert s is not None and s.params == {"layers": [64, 32], "o": {"k": [1]}}
        s.params["layers"].append(16)
        s.params["o"]["k"].append(2)
        again = suggest(cfg, [], 0)
        assert again is not None and again.params == {"layers": [64, 32], "o": {"k": [1]}}
