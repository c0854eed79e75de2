"""A family compared (issue 25, rules 66-67): where a fork is drawn from when its parent (or
an ancestor covering those steps) is drawn too, the initial x-range that makes the part after
the fork readable, and a fork's difference from its parent at the same step.

Pure helpers of plain lists, used by the project overlay (``_project``) and the static
snapshots (``_snapshot``); the dashboard's front end applies the same rules to the rows it
already has (``js/lib/compare.js``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence

#: the initial x-range starts this fraction of the span after the earliest fork step before
#: that step, so the branch point and a little of the shared history stay in view (rule 66)
FOCUS_LEAD = 0.1


def compared_ancestor(
    run_id: str,
    drawn: Mapping[str, int],
    parent_of: Callable[[str], tuple[str, int] | None],
    limit: int = 100,
) -> tuple[int, int] | None:
    """The drawn run a fork is compared with and the step it is drawn from (rule 66):
    ``(index in drawn, step)`` of its nearest drawn ancestor, the step being where its line of
    descent leaves that ancestor (the fork step of the ancestor's child on the way); None when
    no ancestor is drawn. ``drawn``: run id -> index of the runs drawn; ``parent_of(id)``:
    ``(parent id, fork step)`` of a fork, None for a root (or a parent that is gone)."""
    seen = {run_id}
    here = run_id
    for _ in range(limit):
        link = parent_of(here)
        if link is None:
            return None
        parent, step = link
        if parent in drawn:
            return drawn[parent], int(step)
        if parent in seen:
            return None
        seen.add(parent)
        here = parent
    return None


def value_at(steps: Sequence[float], values: Sequence[float], step: float) -> float | None:
    """``values`` at ``step`` (``steps`` ascending): the value logged there, else linearly
    interpolated between its neighbours; None outside ``steps``' range."""
    if not steps or step < steps[0] or step > steps[-1]:
        return None
    i = bisect.bisect_left(steps, step)
    if steps[i] == step:
        return values[i]
    s0, s1 = steps[i - 1], steps[i]
    v0, v1 = values[i - 1], values[i]
    return v0 + (v1 - v0) * (step - s0) / (s1 - s0)


def difference(
    fork: Sequence[tuple[float, float]], parent: Sequence[tuple[float, float]], start: float
) -> list[tuple[float, float]]:
    """A fork's difference from its parent (rule 67): ``(step, fork - parent)`` at each of the
    fork's steps from ``start`` on that the parent's line covers (the parent's value there, or
    interpolated between its neighbouring points when it has none at that step). Points are
    ``(step, value)``, ascending by step."""
    psteps = [float(s) for s, _ in parent]
    pvals = [float(v) for _, v in parent]
    out: list[tuple[float, float]] = []
    for s, v in fork:
        if s < start:
            continue
        p = value_at(psteps, pvals, float(s))
        if p is not None and math.isfinite(p) and math.isfinite(v):
            out.append((s, v - p))
    return out


def focus_range(x0: float, x1: float, fork_xs: Sequence[float]) -> tuple[float, float] | None:
    """The initial x-range of a chart of ``[x0, x1]`` where forks start at ``fork_xs`` (rule
    66): from the earliest fork less :data:`FOCUS_LEAD` of the span after it, to ``x1``; None
    (the whole run) without forks or when that would be the whole range anyway."""
    inside = [x for x in fork_xs if x0 < x < x1]
    if not inside:
        return None
    first = min(inside)
    lo = max(x0, first - FOCUS_LEAD * (x1 - first))
    return (lo, x1) if lo > x0 else None
