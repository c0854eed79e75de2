"""``nbrun.ranking``: runs ranked by a summary metric, with the config keys each changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from .._run import Run
from .._views import StoredRun
from ..errors import UsageError

if TYPE_CHECKING:
    import pandas as pd


def ranking(runs: Iterable[Run | StoredRun], metric: str, goal: str = "minimize") -> pd.DataFrame:
    """A table of runs ranked by a summary metric (best first): id, name, state, step,
    the config keys each changed, and the metric's value."""
    import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

    if goal not in ("minimize", "maximize"):
        raise UsageError(f"ranking: goal {goal!r}; allowed: 'minimize', 'maximize'")
    rows = []
    for r in runs:
        value = r.summary.get(metric)
        if isinstance(value, dict):
            value = value.get("best", value.get("last", value.get("min")))
        rows.append(
            {
                "id": r.id,
                "name": r.name,
                "state": r.state,
                "step": r.step,
                "changed": ", ".join(f"{k}={v['to']!r}" for k, v in r.config_diff.items()),
                metric: value,
            }
        )
    df = pd.DataFrame(rows, columns=["id", "name", "state", "step", "changed", metric])
    df = df.sort_values(metric, ascending=goal == "minimize", na_position="last")
    return cast("pd.DataFrame", df.reset_index(drop=True))
