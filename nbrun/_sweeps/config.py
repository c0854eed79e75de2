"""Sweep configurations: W&B's format, parsed and checked once (rule 46).

:func:`parse_sweep_config` takes the mapping ``wandb.sweep(config)`` gets (or a sweep YAML file
loaded) and returns a frozen :class:`SweepConfig`, or raises :class:`SweepConfigError` naming
the key path (``parameters.lr.min``), the bad value and what is allowed. Everything a sweep can
get wrong is found here, before any run starts: the searches (:mod:`.search`) and hyperband
(:mod:`.hyperband`) trust what this module returns.

The parameter forms are W&B's (its "Define sweep configuration" docs and the JSON schema of
the public ``wandb/sweeps`` engine): ``value`` (constant), ``values`` (categorical, with
``probabilities`` optional), ``min``/``max`` (``int_uniform`` when both bounds are ints, else
``uniform``), an explicit ``distribution`` with its own keys, and nested ``parameters``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SweepConfigError

__all__ = [
    "DISTRIBUTIONS",
    "METHODS",
    "TRIAL_STATES",
    "Hyperband",
    "Metric",
    "Param",
    "Suggestion",
    "SweepConfig",
    "Trial",
    "parse_sweep_config",
]

#: The search methods nbrun runs (W&B's three; its ``custom`` needs W&B's server).
METHODS = ("grid", "random", "bayes")

#: Each distribution and the keys it takes besides ``distribution`` (required ones first).
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "constant": (("value",), ()),
    "categorical": (("values",), ("probabilities",)),
    "categorical_w_probabilities": (("values", "probabilities"), ()),
    "int_uniform": (("min", "max"), ()),
    "uniform": (("min", "max"), ()),
    "q_uniform": (("min", "max"), ("q",)),
    "log_uniform": (("min", "max"), ()),
    "log_uniform_values": (("min", "max"), ()),
    "q_log_uniform": (("min", "max"), ("q",)),
    "q_log_uniform_values": (("min", "max"), ("q",)),
    "inv_log_uniform": (("min", "max"), ()),
    "inv_log_uniform_values": (("min", "max"), ()),
    "normal": ((), ("mu", "sigma")),
    "q_normal": ((), ("mu", "sigma", "q")),
    "log_normal": ((), ("mu", "sigma")),
    "q_log_normal": ((), ("mu", "sigma", "q")),
    "beta": ((), ("a", "b")),
    "q_beta": ((), ("a", "b", "q")),
}

#: Every distribution name W&B documents (``categorical_w_probabilities`` is its schema's
#: name for ``values`` with ``probabilities``).
DISTRIBUTIONS = tuple(_KEYS)

#: Distributions whose ``min``/``max`` are values that must be positive (their logs are used).
_POSITIVE_BOUNDS = ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values")

#: Top-level keys nbrun reads.
_TOP_KEYS = (
    "method",
    "parameters",
    "metric",
    "run_cap",
    "early_terminate",
    "program",
    "command",
    "name",
    "description",
    "entity",
    "project",
)
#: Top-level keys W&B's schema accepts that mean nothing offline: accepted with a warning.
_IGNORED_KEYS = ("apiVersion", "kind", "controller", "job", "image_uri", "scheduler")

_METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
_HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: Bands above this are never reached (no history is longer, rule 43).
_MAX_BAND = 2**53 - 1


@dataclass(frozen=True, slots=True)
class Metric:
    """The metric a sweep optimises: ``name`` (a summary key of each run), ``goal``
    (``"minimize"`` or ``"maximize"``), ``target`` (no new trials once a finished run
    reaches it), ``impute`` (the value ``bayes`` gives failed, crashed and killed runs:
    ``"worst"``, ``"best"`` or ``"latest"``) and ``impute_while_running`` (``"false"``: running
    runs are pending points; otherwise their current value counts)."""

    name: str
    goal: str = "minimize"
    target: float | None = None
    impute: str = "worst"
    impute_while_running: str = "false"

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` for this goal."""
        return a > b if self.goal == "maximize" else a < b

    def reached(self, value: float) -> bool:
        """Whether ``value`` reaches ``target`` (never when there is no target)."""
        if self.target is None:
            return False
        return value >= self.target if self.goal == "maximize" else value <= self.target


@dataclass(frozen=True, slots=True)
class Hyperband:
    """``early_terminate: {type: hyperband, ...}`` (rule 49). Bands come from ``min_iter``
    (``min_iter * eta**k``) or, when ``max_iter`` is given, from ``max_iter / eta**i`` for
    ``i = 1..s``; ``strict`` (W&B's engine defaults it to true) compares a run's value at
    the band instead of its best so far."""

    eta: float = 3.0
    min_iter: int | None = None
    max_iter: int | None = None
    s: int | None = None
    strict: bool = True

    def bands(self) -> list[int]:
        """The iteration counts at which runs are compared, ascending (W&B's arithmetic:
        each band truncated to an int)."""
        out: list[int] = []
        if self.max_iter is not None:
            band = float(self.max_iter)
            for _ in range(self.s or 0):
                band /= self.eta
                if band < 1:
                    break
                out.append(int(band))
            return sorted(out)
        band = float(self.min_iter or 1)
        for _ in range(100):
            if band > _MAX_BAND:
                break
            out.append(int(band))
            band *= self.eta
        return out


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a sweep. ``path`` is its place in the nested config (``("lr",)``,
    or ``("optimizer", "beta")`` under nested ``parameters``); ``distribution`` is one of
    :data:`DISTRIBUTIONS` (inferred as W&B does when not given); ``values`` holds a
    categorical's values (``(value,)`` for a constant); the other fields are the
    distribution's numbers, defaults filled in (``q`` 1.0, ``mu`` 0, ``sigma`` 1, ``a``/``b``
    1)."""

    path: tuple[str, ...]
    distribution: str
    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] | None = None
    min: int | float | None = None
    max: int | float | None = None
    q: int | float = 1.0
    mu: float = 0.0
    sigma: float = 1.0
    a: float = 1.0
    b: float = 1.0

    @property
    def key(self) -> str:
        """The key path in the sweep config (``parameters.optimizer.parameters.beta``)."""
        return "parameters." + ".parameters.".join(self.path)

    @property
    def searched(self) -> bool:
        """False for a constant (W&B leaves constants out of the search space)."""
        return self.distribution != "constant"


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """A checked sweep configuration (rule 46). ``parameters`` is the parameter tree
    flattened in W&B's order (keys sorted at every level, nested groups depth first: the
    order grid points are counted in); ``raw`` is the mapping as given (JSON-safe, tuples
    as lists), what the store keeps and ``Sweep.config`` returns."""

    method: str
    parameters: tuple[Param, ...]
    metric: Metric | None
    run_cap: int | None
    early_terminate: Hyperband | None
    program: str | None
    command: list[str] | None
    name: str | None
    description: str | None
    entity: str | None
    project: str | None
    raw: dict[str, Any]


#: The states a trial's run can be in (a run's states, rule 29).
TRIAL_STATES = ("running", "finished", "failed", "crashed", "killed")


@dataclass(frozen=True, slots=True)
class Trial:
    """One run of a sweep as the search sees it: ``index`` (the grid point for ``grid``,
    the sequence number for ``random`` and ``bayes``), ``params`` (the suggestion, nested as
    the sweep's ``parameters``), ``value`` (the run's ``summary[metric.name]`` when it is a
    finite number, else None) and ``state`` (one of :data:`TRIAL_STATES`)."""

    index: int
    params: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    state: str = "running"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The next trial: its ``index`` and ``params`` (the run's config, nested)."""

    index: int
    params: dict[str, Any]


def _fail(path: str, problem: str, allowed: str) -> SweepConfigError:
    return SweepConfigError(f"sweep config {path}: {problem}; {allowed}", path=path)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_copy(value: Any, path: str) -> Any:
    """A JSON-safe copy of ``value`` (tuples become lists, numpy scalars and arrays Python
    numbers and lists), or an error naming ``path``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _json_copy(value.tolist(), path)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(
                    path or "(top level)", f"key {_show(k)} is not a string", "keys are strings"
                )
            out[k] = _json_copy(v, f"{path}.{k}" if path else k)
        return out
    if isinstance(value, list | tuple):
        return [_json_copy(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise _fail(
        path,
        f"{_show(value)} ({type(value).__name__}) cannot be stored",
        "allowed: None, bool, int, float, str, lists and mappings of them",
    )


def _number(value: Any, path: str, *, integer: bool = False) -> int | float:
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"{_show(value)} is not an integer", "give a whole number such as 3")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        hint = "give a number such as 0.1"
        if isinstance(value, str) and _is_float(value):
            hint += f" (YAML reads {value} as text: write it with a dot, e.g. 1.0e-4)"
        raise _fail(path, f"{_show(value)} is not a finite number", hint)
    return value


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, f"{_show(value)} is not a non-empty string", "give a string")
    return value


def _check_keys(obj: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in obj:
        if key not in allowed:
            raise _fail(
                f"{path}.{key}" if path else str(key),
                f"unknown key {key!r}",
                f"allowed keys: {', '.join(allowed)}",
            )


def _infer(spec: Mapping[str, Any]) -> str | None:
    """W&B's distribution for a parameter without ``distribution`` (None: cannot tell)."""
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "value" in spec:
        return "constant"
    if "min" in spec and "max" in spec:
        ints = all(
            isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("min", "max")
        )
        return "int_uniform" if ints else "uniform"
    return None


def _distribution(spec: Mapping[str, Any], path: str) -> str:
    if "distribution" in spec:
        dist = spec["distribution"]
        if dist not in _KEYS:
            raise _fail(
                f"{path}.distribution",
                f"unknown distribution {_show(dist)}",
                f"allowed: {', '.join(DISTRIBUTIONS)}",
            )
        return str(dist)
    dist = _infer(spec)
    if dist is None:
        raise _fail(
            path,
            f"{_show(dict(spec))} is not a parameter",
            "give value, values, min and max, a distribution with its keys, or nested parameters",
        )
    return dist


def _values(spec: Mapping[str, Any], path: str) -> tuple[Any, ...]:
    values = spec["values"]
    if not isinstance(values, list | tuple):
        raise _fail(f"{path}.values", f"{_show(values)} is not a list", "give a list of values")
    if not values:
        raise _fail(f"{path}.values", "the list is empty", "give at least one value")
    return tuple(_json_copy(v, f"{path}.values[{i}]") for i, v in enumerate(values))


def _probabilities(spec: Mapping[str, Any], path: str, count: int) -> tuple[float, ...]:
    probs = spec["probabilities"]
    where = f"{path}.probabilities"
    if not isinstance(probs, list | tuple) or len(probs) != count:
        raise _fail(
            where,
            f"{_show(probs)} does not give one probability per value ({count} values)",
            f"give a list of {count} numbers summing to 1",
        )
    out = tuple(float(_number(p, f"{where}[{i}]")) for i, p in enumerate(probs))
    if any(p < 0 for p in out):
        raise _fail(where, f"{_show(probs)} has a negative probability", "each is >= 0")
    if not math.isclose(sum(out), 1.0, rel_tol=1e-8, abs_tol=1e-8):
        raise _fail(where, f"{_show(probs)} sums to {sum(out):g}", "probabilities sum to 1")
    return out


def _bounds(
    spec: Mapping[str, Any], path: str, dist: str, notes: list[str]
) -> tuple[int | float, int | float]:
    integer = dist == "int_uniform"
    lo = _number(spec["min"], f"{path}.min", integer=integer)
    hi = _number(spec["max"], f"{path}.max", integer=integer)
    if lo >= hi:
        raise _fail(
            f"{path}.min",
            f"min {_show(lo)} is not below max {_show(hi)}",
            "min must be less than max",
        )
    if dist in _POSITIVE_BOUNDS and lo <= 0:
        raise _fail(
            f"{path}.min",
            f"{_show(lo)} is not positive",
            f"{dist} takes the values themselves (min > 0); for natural-log exponents use "
            f"{dist.removesuffix('_values')}",
        )
    if dist in ("log_uniform", "q_log_uniform", "inv_log_uniform") and 0 < lo and hi <= 1:
        notes.append(
            f"nbrun: sweep config {path} uses {dist}, where min and max are natural-log "
            f"exponents (values e^{lo:g} .. e^{hi:g}); to give the values themselves use "
            f"{dist}_values"
        )
    return lo, hi


def _param(spec: Any, path: tuple[str, ...], notes: list[str]) -> Param:
    where = "parameters." + ".parameters.".join(path)
    dist = _distribution(spec, where)
    if dist == "categorical" and "probabilities" in spec:
        dist = "categorical_w_probabilities"  # one name for values drawn with probabilities
    required, optional = _KEYS[dist]
    _check_keys(spec, where, ("distribution", *required, *optional))
    for key in required:
        if key not in spec:
            raise _fail(f"{where}.{key}", f"{dist} needs {key!r}", f"give {' and '.join(required)}")
    fields: dict[str, Any] = {}
    if dist == "constant":
        fields["values"] = (_json_copy(spec["value"], f"{where}.value"),)
    if "values" in spec:
        fields["values"] = _values(spec, where)
    if "probabilities" in spec:
        fields["probabilities"] = _probabilities(spec, where, len(fields["values"]))
    if "min" in required:
        fields["min"], fields["max"] = _bounds(spec, where, dist, notes)
    if "q" in spec:
        q = _number(spec["q"], f"{where}.q")
        if q <= 0:
            raise _fail(f"{where}.q", f"{_show(q)} is not positive", "q is > 0")
        fields["q"] = q
    for key in ("mu", "sigma", "a", "b"):
        if key in spec:
            fields[key] = float(_number(spec[key], f"{where}.{key}"))
    if fields.get("sigma", 1.0) < 0:
        raise _fail(f"{where}.sigma", f"{_show(spec['sigma'])} is negative", "sigma is >= 0")
    for key in ("a", "b"):
        if fields.get(key, 1.0) <= 0:
            raise _fail(f"{where}.{key}", f"{_show(spec[key])} is not positive", f"{key} is > 0")
    return Param(path=path, distribution=dist, **fields)


def _parameters(obj: Any, prefix: tuple[str, ...], notes: list[str]) -> list[Param]:
    """The parameters under ``obj`` (a ``parameters`` mapping), in W&B's order."""
    where = (
        "parameters" if not prefix else "parameters." + ".parameters.".join(prefix) + ".parameters"
    )
    if not isinstance(obj, Mapping) or not obj:
        raise _fail(
            where,
            f"{_show(obj)} is not a non-empty mapping",
            "give a mapping of parameter names to their specs",
        )
    out: list[Param] = []
    for name in sorted(obj):
        if not isinstance(name, str) or not _NAME.match(name):
            raise _fail(
                f"{where}.{name}",
                f"parameter name {_show(name)} is not allowed",
                "a name starts with a letter or _ and has letters, digits, _ . -",
            )
        spec = obj[name]
        path = (*prefix, name)
        if not isinstance(spec, Mapping):
            raise _fail(
                f"{where}.{name}",
                f"{_show(spec)} is not a mapping",
                "give e.g. {'values': [...]}, {'value': x} or {'min': a, 'max': b}",
            )
        if "parameters" in spec:
            _check_keys(spec, f"{where}.{name}", ("parameters",))
            out.extend(_parameters(spec["parameters"], path, notes))
        else:
            out.append(_param(spec, path, notes))
    return out


def _metric(obj: Any) -> Metric:
    if not isinstance(obj, Mapping):
        raise _fail("metric", f"{_show(obj)} is not a mapping", "give {name: ..., goal: ...}")
    _check_keys(obj, "metric", _METRIC_KEYS)
    if "name" not in obj:
        raise _fail("metric.name", "the metric has no name", "give the logged key to optimise")
    name = _string(obj["name"], "metric.name")
    goal = obj.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise _fail("metric.goal", f"{_show(goal)} is not a goal", "allowed: minimize, maximize")
    target = obj.get("target")
    if target is not None:
        target = float(_number(target, "metric.target"))
    impute = obj.get("impute", "worst")
    if impute not in ("worst", "best", "latest"):
        raise _fail(
            "metric.impute", f"{_show(impute)} is not allowed", "allowed: worst, best, latest"
        )
    imputing = obj.get("impute_while_running", "false")
    if imputing not in ("false", "worst", "best", "latest"):
        raise _fail(
            "metric.impute_while_running",
            f"{_show(imputing)} is not allowed",
            "allowed: false, worst, best, latest",
        )
    return Metric(
        name=name,
        goal=str(goal),
        target=target,
        impute=str(impute),
        impute_while_running=str(imputing),
    )


def _hyperband(obj: Any) -> Hyperband:
    where = "early_terminate"
    if not isinstance(obj, Mapping):
        raise _fail(where, f"{_show(obj)} is not a mapping", "give {type: hyperband, min_iter: 3}")
    kind = obj.get("type")
    if kind != "hyperband":
        raise _fail(
            f"{where}.type", f"{_show(kind)} is not a stopping method", "allowed: hyperband"
        )
    _check_keys(obj, where, _HYPERBAND_KEYS)
    eta = float(_number(obj.get("eta", 3), f"{where}.eta"))
    if eta <= 1:
        raise _fail(f"{where}.eta", f"{_show(obj['eta'])} is not above 1", "eta is > 1 (default 3)")
    strict = obj.get("strict", True)
    if not isinstance(strict, bool):
        raise _fail(f"{where}.strict", f"{_show(strict)} is not a bool", "give true or false")
    fields: dict[str, int] = {}
    for key in ("min_iter", "max_iter", "s"):
        if key in obj:
            fields[key] = int(_number(obj[key], f"{where}.{key}", integer=True))
            if fields[key] < 1:
                raise _fail(f"{where}.{key}", f"{fields[key]} is below 1", f"{key} is >= 1")
    if "max_iter" in fields and "s" not in fields:
        raise _fail(f"{where}.s", "max_iter needs s (the number of bands)", "give s, e.g. 2")
    if "max_iter" not in fields and "min_iter" not in fields:
        raise _fail(
            where,
            "hyperband needs min_iter, or max_iter with s",
            "give min_iter (the first band) or max_iter and s",
        )
    hb = Hyperband(eta=eta, strict=strict, **fields)
    if not hb.bands():
        raise _fail(
            f"{where}.max_iter",
            f"max_iter {hb.max_iter} with eta {eta:g} gives no band of at least 1 iteration",
            "increase max_iter or s, or decrease eta",
        )
    return hb


def _check_top(obj: Mapping[str, Any], notes: list[str]) -> None:
    for key in obj:
        if key == "controller" and obj[key] == {"type": "local"}:
            continue  # W&B's local controller: what every nbrun sweep is
        if key in _IGNORED_KEYS:
            notes.append(
                f"nbrun: sweep config key {key!r} is W&B's and means nothing to an offline "
                "sweep: ignored"
            )
        elif key not in _TOP_KEYS:
            raise _fail(
                str(key),
                f"unknown key {key!r}",
                f"allowed keys: {', '.join(_TOP_KEYS)} (and W&B's {', '.join(_IGNORED_KEYS)}, "
                "ignored)",
            )
    if "method" not in obj:
        raise _fail("method", "the sweep has no method", f"give one of: {', '.join(METHODS)}")
    if obj["method"] not in METHODS:
        raise _fail(
            "method", f"unknown method {_show(obj['method'])}", f"allowed: {', '.join(METHODS)}"
        )
    if "parameters" not in obj:
        raise _fail("parameters", "the sweep has no parameters", "give the parameters to search")


def _check_method(method: str, params: list[Param], metric: Metric | None) -> None:
    if method == "bayes":
        if metric is None:
            raise _fail("metric", "bayes needs a metric", "give metric: {name: ..., goal: ...}")
        if not any(p.searched for p in params):
            raise _fail(
                "parameters",
                "bayes has nothing to search (every parameter is a constant)",
                "give at least one parameter with values or a distribution",
            )
    if method == "grid":
        for p in params:
            if p.distribution not in ("constant", "categorical", "int_uniform", "q_uniform"):
                raise _fail(
                    p.key,
                    f"grid cannot enumerate {p.distribution}",
                    "grid takes value, values (no probabilities), int_uniform or q_uniform; "
                    "use method random or bayes for continuous distributions",
                )


def _optional_string(obj: Mapping[str, Any], key: str, *, empty: bool = False) -> str | None:
    if obj.get(key) is None or (empty and obj[key] == ""):
        return None if obj.get(key) is None else ""
    return _string(obj[key], key)


def parse_sweep_config(obj: Mapping[str, Any], *, warn: bool = True) -> SweepConfig:
    """Check a W&B sweep configuration and return it typed (rule 46).

    Raises :class:`~nbrun.errors.SweepConfigError` naming the key path, the bad value and
    what is allowed. Warns (``UserWarning``, once the whole config is checked) for W&B keys
    that mean nothing offline (``controller``, ``job``, ...), which are ignored, and for
    exponent bounds that look like values; ``warn=False`` keeps quiet (a config read back
    from the store, already warned about when the sweep was made)."""
    if not isinstance(obj, Mapping):
        raise _fail("(top level)", f"{_show(obj)} is not a mapping", "give a dict or YAML mapping")
    notes: list[str] = []
    cfg = _parse(obj, notes)
    if warn:
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
    return cfg


def _parse(obj: Mapping[str, Any], notes: list[str]) -> SweepConfig:
    _check_top(obj, notes)
    raw = _json_copy(obj, "")
    obj = raw  # checked from here on: numpy numbers are Python numbers, tuples are lists
    metric = None if obj.get("metric") is None else _metric(obj["metric"])
    params = _parameters(obj["parameters"], (), notes)
    _check_method(str(obj["method"]), params, metric)
    run_cap = obj.get("run_cap")
    if run_cap is not None:
        run_cap = int(_number(run_cap, "run_cap", integer=True))
        if run_cap < 1:
            raise _fail("run_cap", f"{run_cap} is below 1", "run_cap is >= 1")
    hb = None if obj.get("early_terminate") is None else _hyperband(obj["early_terminate"])
    if hb is not None and metric is None:
        raise _fail("metric", "hyperband needs a metric", "give metric: {name: ..., goal: ...}")
    command = obj.get("command")
    if command is not None:
        if not isinstance(command, list | tuple) or not all(isinstance(c, str) for c in command):
            raise _fail("command", f"{_show(command)} is not a list of strings", "give a list")
        command = list(command)
    return SweepConfig(
        method=str(obj["method"]),
        parameters=tuple(params),
        metric=metric,
        run_cap=run_cap,
        early_terminate=hb,
        program=_optional_string(obj, "program"),
        command=command,
        name=_optional_string(obj, "name"),
        description=_optional_string(obj, "description", empty=True),
        entity=_optional_string(obj, "entity"),
        project=_optional_string(obj, "project"),
        raw=raw,
    )
