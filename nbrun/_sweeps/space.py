"""The search space of a sweep: drawing a parameter's value, its grid axis, and its place in
the unit interval for ``bayes`` (rules 47 and 48).

Pure functions over :class:`~nbrun._sweeps.config.Param`; randomness comes from the
``random.Random`` the caller passes, so a sweep's draws are reproducible.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from statistics import NormalDist
from typing import Any, overload

from .config import Param

__all__ = ["draw", "encode", "encoder", "grid_axis", "lookup", "nest", "quantise"]


def _decimals(q: float) -> int | None:
    """Decimal places of ``q`` as written (0.25 -> 2, 1e-05 -> 5); None for an int."""
    if isinstance(q, int):
        return None
    exponent = Decimal(repr(q)).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantise(
    x: float, q: int | float, lo: float | None = None, hi: float | None = None
) -> int | float:
    """``round(x / q) * q`` (W&B's quantisation): an ``int`` when ``q`` is an int, else a
    float rounded to ``q``'s decimals (0.1 * 3 is 0.3, not 0.30000000000000004). Given
    bounds, a result that rounding pushed past one is moved one ``q`` back inside when that
    stays within the other."""
    v = round(x / q) * q
    if lo is not None and hi is not None:
        if v > hi and v - q >= lo:
            v -= q
        elif v < lo and v + q <= hi:
            v += q
    places = _decimals(q)
    if places is None:
        return int(v)
    return round(float(v), places)


def _uniform(rng: random.Random, lo: float, hi: float) -> float:
    return lo + (hi - lo) * rng.random()


def _log_bounds(p: Param) -> tuple[float, float]:
    """The natural-log interval a log distribution draws its exponent from."""
    assert p.min is not None and p.max is not None
    if p.distribution.endswith("_values"):
        return math.log(p.min), math.log(p.max)
    return float(p.min), float(p.max)


def _categorical(p: Param, rng: random.Random) -> Any:
    if p.probabilities is None:
        return p.values[rng.randrange(len(p.values))]
    u = rng.random()
    total = 0.0
    for value, prob in zip(p.values, p.probabilities, strict=True):
        total += prob
        if u < total:
            return value
    return next(v for v, pr in zip(p.values[::-1], p.probabilities[::-1], strict=True) if pr > 0)


def draw(p: Param, rng: random.Random) -> Any:
    """One value of ``p`` drawn from its distribution (W&B's definitions; rule 47)."""
    d = p.distribution
    if d == "constant":
        return p.values[0]
    if d.startswith("categorical"):
        return _categorical(p, rng)
    if d == "int_uniform":
        assert isinstance(p.min, int) and isinstance(p.max, int)
        return rng.randint(p.min, p.max)
    if d in ("uniform", "q_uniform"):
        assert p.min is not None and p.max is not None
        x = _uniform(rng, p.min, p.max)
        return x if d == "uniform" else quantise(x, p.q, p.min, p.max)
    if "log_uniform" in d:
        lo, hi = _log_bounds(p)
        if d.startswith("inv_"):  # 1/X log-uniform: x = e^-u, u in [lo, hi] (or the values)
            lo, hi = (lo, hi) if d == "inv_log_uniform" else (-hi, -lo)
            return math.exp(-_uniform(rng, lo, hi))
        x = math.exp(_uniform(rng, lo, hi))
        return x if d.startswith("log") else quantise(x, p.q, math.exp(lo), math.exp(hi))
    if d in ("normal", "q_normal"):
        x = rng.gauss(p.mu, p.sigma)
        return x if d == "normal" else quantise(x, p.q)
    if d in ("log_normal", "q_log_normal"):
        x = math.exp(rng.gauss(p.mu, p.sigma))
        return x if d == "log_normal" else quantise(x, p.q)
    x = rng.betavariate(p.a, p.b)
    return x if d == "beta" else quantise(x, p.q, 0.0, 1.0)


def _canonical(value: Any) -> str:
    """One text per value as W&B's grid tells values apart (3.0 and 3 are one value)."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, Mapping):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True)


class _QAxis(Sequence[Any]):
    """``q_uniform``'s grid: ``min + k * q`` for ``k`` in ``range(ceil((max - min) / q))``
    (numpy's ``arange(min, max, q)``, as W&B's grid; ``max`` itself is not a point)."""

    def __init__(self, lo: float, hi: float, q: int | float) -> None:
        self.lo, self.q = lo, q
        self.size = max(0, math.ceil((hi - lo) / q))

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self.size))]
        if not 0 <= i < self.size:
            raise IndexError(i)
        value = self.lo + i * self.q
        places = _decimals(self.q)
        if places is None:  # an int step: ints from an int min, floats otherwise
            return value if isinstance(self.lo, int) else float(value)
        return round(float(value), max(places, _decimals(float(self.lo)) or 0))


def grid_axis(p: Param) -> Sequence[Any]:
    """The values grid search takes for ``p`` (rule 47): a constant's one value, a
    categorical's distinct values in the order given (3 and 3.0 count once), every int of
    an ``int_uniform``, ``q_uniform``'s ``arange(min, max, q)``."""
    if p.distribution == "int_uniform":
        assert isinstance(p.min, int) and isinstance(p.max, int)
        return range(p.min, p.max + 1)
    if p.distribution == "q_uniform":
        assert p.min is not None and p.max is not None
        return _QAxis(p.min, p.max, p.q)
    seen: dict[str, Any] = {}
    for v in p.values:
        seen.setdefault(_canonical(v), v)
    return tuple(seen.values())


def _index(p: Param, value: Any) -> int | None:
    for i, v in enumerate(p.values):  # a drawn value is one of the values themselves
        if v is value:
            return i
    key = _canonical(value)
    for i, v in enumerate(p.values):
        if _canonical(v) == key:
            return i
    return None


def _scale(p: Param) -> Callable[[float], float]:
    """The map of a number drawn from ``p`` onto [0, 1], its constants computed once."""
    d = p.distribution
    if d in ("int_uniform", "uniform", "q_uniform"):
        assert p.min is not None and p.max is not None
        lo, span = float(p.min), float(p.max - p.min)
        return lambda x: (x - lo) / span
    if "log_uniform" in d:
        lo, hi = _log_bounds(p)
        sign = -1.0 if d == "inv_log_uniform" else 1.0  # x = e^-u with u in [min, max]
        return lambda x: (sign * math.log(x) - lo) / (hi - lo)
    if d in ("normal", "q_normal", "log_normal", "q_log_normal"):
        if p.sigma <= 0:
            return lambda x: 0.5
        cdf = NormalDist(p.mu, p.sigma).cdf
        return (lambda x: cdf(math.log(x))) if "log" in d else cdf
    return lambda x: x  # beta: already in [0, 1]


def encoder(p: Param) -> Callable[[Any], float]:
    """:func:`encode` for one parameter, its constants computed once (for many values)."""
    if p.distribution.startswith("categorical"):
        last = max(1, len(p.values) - 1)

        def categorical(value: Any) -> float:
            i = _index(p, value)
            return 0.5 if i is None or len(p.values) == 1 else i / last

        return categorical
    scale = _scale(p)

    def number(value: Any) -> float:
        try:
            u = scale(float(value))
        except (TypeError, ValueError, OverflowError):
            return 0.5
        return min(1.0, max(0.0, u)) if math.isfinite(u) else 0.5

    return number


def encode(p: Param, value: Any) -> float:
    """``value``'s place in [0, 1] for ``p``'s range (rule 48): linear for uniform and int
    bounds, on the log scale for log distributions, the normal CDF for (log-)normal ones,
    the value itself for beta, the index for categoricals; 0.5 for a value it cannot place."""
    return encoder(p)(value)


def nest(pairs: Iterable[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """A nested dict from ``(path, value)`` pairs, as W&B nests a sweep's ``parameters``."""
    out: dict[str, Any] = {}
    for path, value in pairs:
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def lookup(params: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` in nested ``params`` (KeyError when missing)."""
    node: Any = params
    for key in path:
        if not isinstance(node, Mapping):
            raise KeyError(key)
        node = node[key]
    return node
