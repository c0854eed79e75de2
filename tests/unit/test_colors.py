"""The run colours (issue 25, item 1): every run of a family has a colour told apart from the
others at a glance, also at 10+ forks, on light and dark pages."""

from __future__ import annotations

import itertools

import pytest

from nbrun.widgets._colors import PALETTE, delta_e, delta_e_lab, family_colors, run_color, to_lab

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula": test pairs 1, 7, 17, 25
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA)
def test_delta_e_matches_the_published_pairs(
    lab1: tuple[float, float, float], lab2: tuple[float, float, float], expected: float
) -> None:
    assert delta_e_lab(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert delta_e_lab(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def _luminance(color: str) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(int(color[i : i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_colour_reads_on_light_and_dark_pages_and_none_is_grey() -> None:
    for color in PALETTE:
        assert _contrast(color, "#ffffff") >= 2.2, color  # JupyterLab light
        assert _contrast(color, "#111111") >= 3.0, color  # JupyterLab dark
        _, a, b = to_lab(color)
        assert (a * a + b * b) ** 0.5 >= 28, color  # greys are the archive's and selection's


def _closest_pair(colors: list[str]) -> float:
    return min(delta_e(a, b) for a, b in itertools.combinations(colors, 2))


@pytest.mark.parametrize(("size", "least"), [(6, 21), (12, 17), (20, 14)])
def test_a_family_of_any_root_gets_colours_far_apart(size: int, least: float) -> None:
    """Whatever colour the root's id picks, the first ``size`` runs of its family are at least
    ``least`` CIEDE2000 units apart (2-3 is just noticeable)."""
    for slot in range(len(PALETTE)):
        root = next(f"root{n}" for n in range(10_000) if run_color(f"root{n}") == PALETTE[slot])
        ids = [root, *(f"{root}-fork{k}" for k in range(size - 1))]
        colors = list(family_colors(ids).values())
        assert len(set(colors)) == size
        assert _closest_pair(colors) >= least, (root, colors)


def test_the_old_palette_had_the_look_alikes_this_one_avoids() -> None:
    """The issue's two greens (and two teals) of the old palette: close enough to confuse;
    every pair of the new palette is farther apart than they were."""
    old_greens = ("#54a24b", "#3a7d44")
    old_teals = ("#72b7b2", "#2a9d8f")
    worst_new = _closest_pair(list(PALETTE))
    assert worst_new > delta_e(*old_greens)
    assert worst_new > delta_e(*old_teals)


def test_family_colours_do_not_depend_on_later_runs() -> None:
    ids = [f"x{n}" for n in range(30)]
    full = family_colors(ids)
    for cut in range(1, 30):
        part = family_colors(ids[:cut])
        assert all(part[i] == full[i] for i in ids[:cut])
    assert [full[i] for i in ids[20:30]] == [full[i] for i in ids[:10]]  # the cycle repeats
