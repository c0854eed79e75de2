"""One colour per run, the same in every view (dashboard legend and lines, ranking, project
table), and colours that tell the runs of one family apart (issue 25, item 1).

:func:`run_color` is the pick from the id alone. :func:`family_colors` gives the runs of one
lineage (a root run and every fork below it, oldest first) distinct colours: the root keeps
its own pick, and each later run takes the free colour farthest (CIEDE2000) from every colour
the family already uses. Since a new fork is always the newest, it never changes an older
run's colour, and every view of the family (the parent's dashboard, the fork's) computes the
same colours. Roles (this run, parent, fork, archived) are shown by dash and width.

The palette was chosen for this: 20 hues of CIELAB lightness 48-69 and chroma 30-68 (none of
them grey, which the archive's and the selection's neutrals use), each with a contrast of at
least 2.2:1 on a white page and 3:1 on a near-black one, picked greedily so that each is as far
as possible from those before it. Any 12 runs of one family are at least 17 CIEDE2000 units
apart (about six times a just-noticeable difference), all 20 at least 14
(tests/unit/test_colors.py).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from functools import cache

PALETTE = (
    "#4c78a8",
    "#b1ad27",
    "#f96c58",
    "#e484ee",
    "#19815c",
    "#9f650e",
    "#31b9c7",
    "#cf3174",
    "#4bbe60",
    "#72762e",
    "#8c5db7",
    "#d39e6f",
    "#9aa5e4",
    "#e690a3",
    "#2ba8f9",
    "#a5604c",
    "#3ab398",
    "#b474a2",
    "#b68a02",
    "#469223",
)


def _slot(run_id: str) -> int:
    return zlib.crc32(run_id.encode()) % len(PALETTE)


def run_color(run_id: str) -> str:
    """The run's colour: a stable pick from :data:`PALETTE` keyed by its id."""
    return PALETTE[_slot(run_id)]


def to_lab(color: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a ``#rrggbb`` colour."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(color[i : i + 2], 16) / 255) for i in (1, 3, 5))
    xyz = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    fx, fy, fz = (t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e(c1: str, c2: str) -> float:
    """The CIEDE2000 colour difference of two ``#rrggbb`` colours (about 2-3: just noticeable)."""
    return delta_e_lab(to_lab(c1), to_lab(c2))


def delta_e_lab(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """CIEDE2000 of two CIELAB colours (Sharma, Wu and Dalal, 2005)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    cb = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cb**7 / (cb**7 + 25**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1, b1), math.hypot(a2, b2)
    h1, h2 = math.degrees(math.atan2(b1, a1)) % 360, math.degrees(math.atan2(b2, a2)) % 360
    dh = 0.0 if c1p * c2p == 0 else (h2 - h1 + 180) % 360 - 180
    dhp = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbar, cbar = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbar = h1 + h2
    elif abs(h1 - h2) <= 180:
        hbar = (h1 + h2) / 2
    else:
        hbar = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(hbar - 30))
        + 0.24 * math.cos(math.radians(2 * hbar))
        + 0.32 * math.cos(math.radians(3 * hbar + 6))
        - 0.20 * math.cos(math.radians(4 * hbar - 63))
    )
    sl = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbar, 1 + 0.015 * cbar * t
    rc = 2 * math.sqrt(cbar**7 / (cbar**7 + 25**7))
    rt = -math.sin(math.radians(60 * math.exp(-(((hbar - 275) / 25) ** 2)))) * rc
    dl, dc, dhh = (l2 - l1) / sl, (c2p - c1p) / sc, dhp / sh
    return math.sqrt(dl**2 + dc**2 + dhh**2 + rt * dc * dhh)


@cache
def _distances() -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(delta_e(a, b) for b in PALETTE) for a in PALETTE)


def family_colors(run_ids: Iterable[str]) -> dict[str, str]:
    """Distinct colours for the runs of one family, given oldest first: the first keeps
    :func:`run_color`; each later run takes the unused colour whose nearest used colour is
    farthest away (ties: the earlier in :data:`PALETTE`). Past 20 runs the same sequence of
    colours repeats."""
    dist = _distances()
    out: dict[str, str] = {}
    used: list[int] = []
    for rid in run_ids:
        if rid in out:
            continue
        n = len(PALETTE)
        if not used:
            slot = _slot(rid)
        elif len(used) % n == 0:  # every colour is taken: the sequence starts again
            slot = used[len(used) - n]
        else:
            cycle = used[len(used) - len(used) % n :]
            free = [i for i in range(n) if i not in cycle]
            slot = max(free, key=lambda i: (min(dist[i][u] for u in cycle), -i))
        used.append(slot)
        out[rid] = PALETTE[slot]
    return out
