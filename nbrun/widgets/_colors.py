"""One colour per run, the same in every view (dashboard legend and lines, ranking, project
table): derived from the run's id, so a fork is the same colour in its parent's dashboard and
in its own. Roles (this run, parent, fork, archived) are shown by dash and width, not colour.

:func:`run_color` is the pick from the id alone. :func:`family_colors` gives the runs of one
lineage (a root run and every fork below it, oldest first) distinct colours: each run keeps
its own pick unless an older run of the family has it, then takes the next free one. Since a
new fork is always the newest, it never changes an older run's colour, and every view of the
family (the parent's dashboard, the fork's) computes the same colours.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

# readable on light and dark backgrounds, none of them grey (the archive's hue is its run's,
# dotted) nor the neutral of the selection marker; Tableau 10 first, then eight more hues
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#2a9d8f",
    "#8c6bb1",
    "#d4a017",
    "#17becf",
    "#bcbd22",
    "#e377c2",
    "#3a7d44",
)


def _slot(run_id: str) -> int:
    return zlib.crc32(run_id.encode()) % len(PALETTE)


def run_color(run_id: str) -> str:
    """The run's colour: a stable pick from :data:`PALETTE` keyed by its id."""
    return PALETTE[_slot(run_id)]


def family_colors(run_ids: Iterable[str]) -> dict[str, str]:
    """Distinct colours for the runs of one family, given oldest first: a run keeps
    :func:`run_color` unless an older one took it, then the next free colour of the palette
    (once the palette is used up, colours repeat)."""
    out: dict[str, str] = {}
    used: set[int] = set()
    for rid in run_ids:
        if rid in out:
            continue
        slot = _slot(rid)
        if len(used) < len(PALETTE):
            while slot in used:
                slot = (slot + 1) % len(PALETTE)
        used.add(slot)
        out[rid] = PALETTE[slot]
    return out
