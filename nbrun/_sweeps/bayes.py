"""``method: bayes``: a Gaussian process over the sweep's finished trials and expected
improvement over candidates drawn from the parameters' own distributions (rule 48).

The model is scikit-learn's ``GaussianProcessRegressor``, as W&B's sweeps engine uses (a
Matern kernel on inputs scaled to [0, 1]: linear for uniform bounds, log scale for log
distributions, the normal CDF for normal ones, the index for categoricals). scikit-learn is
the optional extra ``nbrun[sweeps]``, imported on first use.
"""

from __future__ import annotations

import math
import random
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from .config import Metric, Param, SweepConfig, Trial
from .space import draw, encoder, lookup, nest

__all__ = [
    "ARD_LIMIT",
    "CANDIDATES",
    "FIT_ITERATIONS",
    "FIT_POINTS",
    "MAX_POINTS",
    "MIN_FINISHED",
    "Model",
]

#: Candidates drawn from the prior per suggestion; the one of highest expected improvement wins.
CANDIDATES = 1000
#: Iterations of the kernel's fit (L-BFGS-B) per suggestion.
FIT_ITERATIONS = 15
#: Trials with a value needed before the model is used (until then: random, as W&B).
MIN_FINISHED = 2
#: At most this many observed trials fit the model (the best half and the latest half; W&B
#: samples 100), which bounds a suggestion's cost on long sweeps.
MAX_POINTS = 100
#: The kernel's hyperparameters are fitted on at most this many observations (the best half
#: and the latest half); the model then takes all of them (up to :data:`MAX_POINTS`).
FIT_POINTS = 50
#: Up to this many searched parameters each get their own length scale.
ARD_LIMIT = 4
_DONE_BADLY = ("failed", "crashed", "killed")


def _sklearn() -> Any:
    try:
        from sklearn import gaussian_process  # noqa: PLC0415 - optional extra, on first use
    except ImportError as exc:
        raise UsageError(
            "sweep method 'bayes' needs scikit-learn, which is not installed; install the "
            "extra: pip install 'nbrun[sweeps]' (or use method 'random' or 'grid')"
        ) from exc
    return gaussian_process


_controller: list[Any] = []
#: One bayes suggestion at a time per process: the BLAS thread limit is process-wide, and
#: two overlapping limits could restore each other's value (leaving BLAS on one thread).
_LOCK = threading.Lock()


def _blas() -> Any:
    """threadpoolctl's controller (scikit-learn's dependency), made once: finding the BLAS
    libraries costs milliseconds, limiting them afterwards microseconds."""
    if not _controller:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415 - on first use

        _controller.append(ThreadpoolController())
    return _controller[0]


def _impute(metric: Metric, values: list[float]) -> float | None:
    """The value a failed, crashed or killed trial counts as (``metric.impute``)."""
    if not values:
        return None
    worst = max(values) if metric.goal == "minimize" else min(values)
    best = min(values) if metric.goal == "minimize" else max(values)
    return best if metric.impute == "best" else worst


class Model:
    """The observations of one sweep, scaled; :meth:`best` fits the GP and picks the next
    params. ``ready`` is False until :data:`MIN_FINISHED` trials finished with a value."""

    def __init__(self, cfg: SweepConfig, trials: Sequence[Trial], rng: random.Random) -> None:
        assert cfg.metric is not None  # parse_sweep_config refuses bayes without a metric
        self.metric = cfg.metric
        self.rng = rng
        self.params = cfg.parameters
        self.searched: list[Param] = [p for p in cfg.parameters if p.searched]
        self.encoders = [encoder(p) for p in self.searched]
        finished = [t for t in trials if t.state == "finished" and _finite(t.value)]
        self.ready = len(finished) >= MIN_FINISHED
        values = [float(t.value) for t in finished if t.value is not None]
        fill = _impute(self.metric, values)
        observed: list[tuple[Trial, float]] = [
            (t, float(t.value)) for t in finished if t.value is not None
        ]
        for t in trials:
            if t.state in _DONE_BADLY and fill is not None:
                latest = t.value if self.metric.impute == "latest" and _finite(t.value) else None
                observed.append((t, fill if latest is None else float(latest)))
        self.pending: list[Trial] = []
        for t in trials:
            if t.state != "running":
                continue
            if self.metric.impute_while_running != "false" and t.value is not None:
                if _finite(t.value):
                    observed.append((t, float(t.value)))
                    continue
            self.pending.append(t)
        self.observed = self._thin(sorted(observed, key=lambda o: o[0].index), MAX_POINTS)

    def _thin(self, observed: list[tuple[Trial, float]], limit: int) -> list[tuple[Trial, float]]:
        """At most ``limit`` observations: the best half and the latest (highest index) half."""
        if len(observed) <= limit:
            return observed
        sign = -1.0 if self.metric.goal == "maximize" else 1.0
        by_value = sorted(range(len(observed)), key=lambda i: sign * observed[i][1])
        keep = set(by_value[: limit // 2])
        for i in reversed(range(len(observed))):
            if len(keep) >= limit:
                break
            keep.add(i)
        return [observed[i] for i in sorted(keep)]

    def _x(self, params: dict[str, Any]) -> list[float]:
        out = []
        for p, enc in zip(self.searched, self.encoders, strict=True):
            try:
                out.append(enc(lookup(params, p.path)))
            except KeyError:
                out.append(0.5)
        return out

    def _candidates(self) -> tuple[list[list[Any]], list[list[float]]]:
        """:data:`CANDIDATES` draws of every searched parameter (parameter by parameter, from
        the trial's generator) and their scaled columns."""
        values = [[draw(p, self.rng) for _ in range(CANDIDATES)] for p in self.searched]
        columns = [list(map(enc, col)) for enc, col in zip(self.encoders, values, strict=True)]
        return values, columns

    def best(self) -> dict[str, Any]:
        """The candidate (of :data:`CANDIDATES` drawn from the parameters' distributions) of
        highest expected
        improvement under the GP fitted to the observations (minimising; a ``maximize``
        metric is negated), with running trials added at the GP's own prediction (W&B's
        "kriging believer")."""
        gp_module = _sklearn()
        # matrices of a hundred rows: BLAS threads only fight over a busy machine's cores
        # (several times slower with other processes running)
        with _LOCK, _blas().limit(limits=1, user_api="blas"):
            return self._best(gp_module)

    def _best(self, gp_module: Any) -> dict[str, Any]:
        import numpy as np  # noqa: PLC0415 - heavy library on first use
        from scipy.special import ndtr  # noqa: PLC0415 - scikit-learn's own dependency

        sign = -1.0 if self.metric.goal == "maximize" else 1.0
        x = np.array([self._x(t.params) for t, _ in self.observed], dtype=float)
        y = np.array([sign * v for _, v in self.observed], dtype=float)
        mean, std = float(y.mean()), float(y.std()) or 1.0
        y = (y - mean) / std
        # the kernel's hyperparameters from at most FIT_POINTS of them (the fit's cost grows
        # with the square of the points and more), then the model on all of them
        few = self._thin(self.observed, FIT_POINTS)
        gp = self._fit(
            gp_module,
            np.array([self._x(t.params) for t, _ in few], dtype=float),
            (np.array([sign * v for _, v in few], dtype=float) - mean) / std,
        )
        if len(few) < len(self.observed):
            gp = self._refit(gp_module, gp, x, y)
        if self.pending:
            xp = np.array([self._x(t.params) for t in self.pending], dtype=float)
            x = np.vstack([x, xp])
            y = np.concatenate([y, gp.predict(xp)])
            gp = self._refit(gp_module, gp, x, y)
        values, columns = self._candidates()
        xc = np.array(columns, dtype=float).T
        mu, sd = gp.predict(xc, return_std=True)
        best = float(np.min(y[: len(self.observed)]))
        z = (best - mu) / np.maximum(sd, 1e-9)
        cdf = ndtr(z)
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        ei = (best - mu) * cdf + sd * pdf
        tried = {tuple(row) for row in x.tolist()}  # observed and running points
        repeat = np.array([tuple(row) in tried for row in xc.tolist()], dtype=bool)
        if not repeat.all():  # a discrete space: an untried point before any repeat
            ei[repeat] = -np.inf
        pick = int(np.argmax(ei))
        chosen = {p.path: col[pick] for p, col in zip(self.searched, values, strict=True)}
        return nest((p.path, chosen[p.path] if p.searched else p.values[0]) for p in self.params)

    def _fit(self, gp_module: Any, x: Any, y: Any) -> Any:
        """The GP on standardised ``y``: a Matern kernel (nu 2.5) with one length scale per
        parameter (one shared beyond :data:`ARD_LIMIT` parameters) plus white noise, its
        hyperparameters fitted by :func:`_lbfgs`."""
        kernels = gp_module.kernels
        scale: Any = [0.3] * x.shape[1] if x.shape[1] <= ARD_LIMIT else 0.3
        kernel = kernels.Matern(
            length_scale=scale, length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + kernels.WhiteKernel(1e-4, (1e-8, 1e-1))
        gp = gp_module.GaussianProcessRegressor(
            kernel=kernel, optimizer=_lbfgs, alpha=1e-8, random_state=self.rng.randrange(2**31)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's ConvergenceWarning: a rough fit still ranks
            gp.fit(x, y)
        return gp

    def _refit(self, gp_module: Any, gp: Any, x: Any, y: Any) -> Any:
        """The same kernel (hyperparameters kept) on more points: one Cholesky, no search."""
        again = gp_module.GaussianProcessRegressor(kernel=gp.kernel_, alpha=1e-8, optimizer=None)
        again.fit(x, y)
        return again


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def _lbfgs(objective: Any, theta: Any, bounds: Any) -> tuple[Any, float]:
    """scikit-learn's own optimizer (L-BFGS-B on the log marginal likelihood) with at most
    :data:`FIT_ITERATIONS` iterations: the kernel's fit converges near there, and the cost of
    a suggestion stays bounded."""
    from scipy.optimize import minimize  # noqa: PLC0415 - scikit-learn's own dependency

    result = minimize(
        objective,
        theta,
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
        options={"maxiter": FIT_ITERATIONS},
    )
    return result.x, float(result.fun)
