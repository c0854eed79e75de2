"""The cumulative history state stored with every chunk (last, first and aggregates per key):
the summary at any step without reading the history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .values import SYSTEM_KEYS


# -- cumulative state ------------------------------------------------------------------------
def empty_state() -> dict[str, Any]:
    """The cumulative state of an empty history."""
    return {"last": {}, "first": {}, "agg": {}}


_NUMBER = frozenset({int, float})


def advance_state(state: Mapping[str, Any], cols: Mapping[str, list[Any]]) -> dict[str, Any]:
    """The cumulative state after more rows (columns in step order): per key the last and
    first non-None value, and ``[min, max, sum, count, has_nan]`` over its numbers. Stored with
    every history chunk, it gives the summary at any step without reading the history."""
    last = dict(state.get("last", {}))
    first = dict(state.get("first", {}))
    agg = dict(state.get("agg", {}))
    for key, col in cols.items():
        if key in SYSTEM_KEYS:
            continue
        value = col[-1]
        if value is None:
            value = next((v for v in reversed(col) if v is not None), None)
            if value is None:
                continue
        last[key] = value
        if key not in first:
            first[key] = next(v for v in col if v is not None)
        types = set(map(type, col))
        if types <= _NUMBER:
            nums = col
        elif types & _NUMBER:
            nums = [v for v in col if type(v) is float or type(v) is int]
        else:
            continue
        total = sum(nums)
        nan = False
        if total != total:
            clean = [v for v in nums if v == v]
            nan = len(clean) < len(nums)
        else:
            clean = nums
        lo = min(clean) if clean else None
        hi = max(clean) if clean else None
        prev = agg.get(key)
        if prev is not None:
            lo = prev[0] if lo is None else lo if prev[0] is None else min(prev[0], lo)
            hi = prev[1] if hi is None else hi if prev[1] is None else max(prev[1], hi)
            agg[key] = [lo, hi, prev[2] + total, prev[3] + len(nums), prev[4] or nan]
        else:
            agg[key] = [lo, hi, total, len(nums), nan]
    return {"last": last, "first": first, "agg": agg}
