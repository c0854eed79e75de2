"""One colour per run, the same in every view (dashboard legend and lines, ranking, project
table): derived from the run's id alone, so a fork is the same colour in its parent's dashboard
and in its own. Roles (this run, parent, fork, archived) are shown by dash and width, not colour.
"""

from __future__ import annotations

import zlib

# readable on light and dark backgrounds (Tableau 10 without its grey, which is the archive's)
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
)


def run_color(run_id: str) -> str:
    """The run's colour: a stable pick from :data:`PALETTE` keyed by its id."""
    return PALETTE[zlib.crc32(run_id.encode()) % len(PALETTE)]
