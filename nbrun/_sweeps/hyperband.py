"""Hyperband early termination, as W&B's sweeps engine decides it (rule 49).

A pure function over the runs' metric histories: :func:`to_stop` says which runs to stop;
the agent asks them to stop (they end ``killed``, their rows kept).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from .config import Hyperband, SweepConfig

__all__ = ["Hyperband", "bands", "thresholds", "to_stop"]


def bands(cfg: SweepConfig | Hyperband) -> list[int]:
    """The band iterations of a sweep's hyperband (ascending; empty without hyperband):
    ``int(min_iter * eta**k)`` for k = 0, 1, ... (W&B makes 100; nbrun stops below 2**53),
    or, given ``max_iter``, ``int(max_iter / eta**i)`` for i = 1..s while at least 1."""
    hb = cfg if isinstance(cfg, Hyperband) else cfg.early_terminate
    return [] if hb is None else hb.bands()


def _clean(values: Sequence[float], goal: str) -> list[float]:
    """The finite values in logged order, negated for ``maximize`` (so lower is better)."""
    sign = -1.0 if goal == "maximize" else 1.0
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            continue
        out.append(sign * float(v))
    return out


def thresholds(
    hb: Hyperband, goal: str, histories: Mapping[str, Sequence[float]]
) -> list[tuple[int, float]]:
    """Each band with the value a run must not be worse than there (in minimising terms:
    negated for ``maximize``): of the runs whose history reaches the band, the value at
    sorted position ``int(n / eta)`` of their values at that band, as W&B computes it;
    ``inf`` when no run reached it."""
    clean = [h for h in (_clean(v, goal) for v in histories.values()) if h]
    out = []
    for band in hb.bands():
        at = sorted(h[band - 1] for h in clean if len(h) >= band)
        out.append((band, at[int(len(at) / hb.eta)] if at else math.inf))
    return out


def to_stop(
    hb: Hyperband,
    goal: str,
    histories: Mapping[str, Sequence[float]],
    running: Collection[str] | None = None,
) -> set[str]:
    """The runs hyperband stops (rule 49). ``histories``: run id -> that run's values of the
    sweep's metric in logged order, for every run of the sweep (finished ones too: they set
    the thresholds); non-finite values are skipped, as W&B skips them. A run is judged at
    the highest band its history reached: stopped when its value there (``strict``, the
    default) or its best value so far (``strict: false``) is worse than that band's
    threshold (:func:`thresholds`). Only ids in ``running`` are returned when it is given
    (W&B judges running runs only)."""
    if goal not in ("minimize", "maximize"):
        raise ValueError(f"goal {goal!r} is not minimize or maximize")
    limits = thresholds(hb, goal, histories)
    out: set[str] = set()
    for run_id, values in histories.items():
        if running is not None and run_id not in running:
            continue
        history = _clean(values, goal)
        reached = [(band, limit) for band, limit in limits if band <= len(history)]
        if not reached:
            continue
        band, limit = reached[-1]
        value = history[band - 1] if hb.strict else min(history)
        if value > limit:
            out.add(run_id)
    return out
