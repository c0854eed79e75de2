"""notebooks/sweeps.ipynb in a real JupyterLab + headless Chromium, offline, light and dark:
the project view groups the sweep's runs (rule 69: header, parallel coordinates, best-so-far,
trials; collapse and open again), and the dashboards mark PBT exploits and recoveries by
rewind on their charts with hover text saying what happened (rule 70)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import nbrun

from .conftest import Lab
from .test_dashboard_browser import REPO, _no_external, _open_and_run_all, _shot, _wait_cells_done

pytestmark = pytest.mark.browser

SWEEP = ".nbrun-project section.nb-sweep"
EVENTS = "g.mark-symbol.role-mark.eventmarks_marks path"


def _chart_ready(page: Any, chart: Any) -> None:
    page.wait_for_function(
        "div => { const v = div.__nbrunView; return !!v && v.data('rows').length > 0"
        " && v.data('events').length > 0; }",
        arg=chart.element_handle(),
        timeout=120_000,
    )


def _hover_text(page: Any, chart: Any, word: str) -> str:
    """Hover the event mark whose data label holds ``word``; the tooltip's text."""
    events = chart.evaluate("div => div.__nbrunView.data('events').map(e => e.label)")
    index = next(i for i, label in enumerate(events) if word in label)
    mark = chart.locator(EVENTS).nth(index)
    tip = page.locator("#vg-tooltip-element.visible")
    for attempt in range(6):  # a live chart may redraw under the pointer: hover again
        mark.scroll_into_view_if_needed()
        mark.hover(force=True)
        try:
            tip.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == 5:
                raise
            page.mouse.move(2, 2)
    text = tip.text_content() or ""
    page.mouse.move(2, 2)
    return text


def _check_sweep_section(page: Any, sweep_id: str) -> None:
    sec = page.locator(f"{SWEEP}[data-sweep='sweeps-demo/{sweep_id}']")
    sec.wait_for(timeout=120_000)
    head = sec.locator("button[data-action='toggle-sweep']").text_content() or ""
    assert "lr-and-batch · random · " in head and "8 run(s)" in head, head
    assert "best val_loss " in head and "(minimize, " in head, head
    # parallel coordinates: the swept parameters, then the metric; one line per run
    axes = sec.locator("svg.nb-parallel .nb-axis").evaluate_all("gs => gs.map(g => g.dataset.axis)")
    assert sorted(axes[:-1]) == ["batch", "lr"] and axes[-1] == "val_loss", axes
    assert sec.locator("svg.nb-parallel polyline.nb-pline").count() == 8
    # best so far: a dot per trial and the step line
    assert sec.locator("svg.nb-sweep-best circle.nb-trialdot").count() == 8
    assert sec.locator("svg.nb-sweep-best polyline.nb-bestline").count() == 1
    assert sec.locator("svg.nb-sweep-best").get_attribute("data-log") == "1"  # 0.0097-0.25
    assert sec.locator("table.nb-sweep-trials tr[data-best='1']").count() == 1


def test_sweeps_notebook_in_the_browser(page: Any, lab: Lab) -> None:
    shutil.copy(REPO / "notebooks" / "sweeps.ipynb", lab.root / "sweeps.ipynb")
    _open_and_run_all(page, lab, "sweeps.ipynb")
    _wait_cells_done(page, timeout=240_000)
    api = nbrun.Api(lab.root)
    sweep_id = api.runs("sweeps-demo")[0].sweep_id
    assert sweep_id
    _check_sweep_section(page, sweep_id)
    sec = page.locator(f"{SWEEP}[data-sweep='sweeps-demo/{sweep_id}']")
    best = api.sweep(f"sweeps-demo/{sweep_id}").best_run()
    best_row = sec.locator("table.nb-sweep-trials tr[data-best='1']")
    assert best_row.get_attribute("data-key") == f"sweeps-demo/{best.id}"
    sec.scroll_into_view_if_needed()
    _shot(page, "sweeps-project-light.png")

    # collapse: the charts go, the header stays; open again: they come back
    toggle = sec.locator("button[data-action='toggle-sweep']")
    toggle.click()
    page.wait_for_function(
        "s => document.querySelector(s).dataset.collapsed === '1'",
        arg=f"{SWEEP}[data-sweep='sweeps-demo/{sweep_id}']",
    )
    assert sec.locator("svg").count() == 0 and toggle.text_content().startswith("▸")
    toggle.click()
    sec.locator("svg.nb-sweep-best").wait_for()

    # PBT: the best member's dashboard marks each exploit on the donor's and the forks' lines
    dashes = page.locator(".nbrun-dash[data-ready='1']")
    dashes.nth(1).wait_for(timeout=120_000)
    pbt_chart = dashes.nth(0).locator(".nb-chart[data-metric='loss']")
    _chart_ready(page, pbt_chart)
    labels = pbt_chart.evaluate("div => div.__nbrunView.data('events').map(e => e.label)")
    forks = [r for r in api.runs("pbt-demo") if r.forked_from is not None]
    for fork in forks:
        exploit = fork.metadata["pbt"]["exploit"]
        assert any(f"copied {exploit['donor_name']} ({exploit['donor']})" in s for s in labels)
    assert pbt_chart.locator(EVENTS).count() == len(labels)
    tip = _hover_text(page, pbt_chart, "PBT exploit")
    assert "PBT exploit at step " in tip and "lr " in tip and "→" in tip, tip
    pbt_chart.scroll_into_view_if_needed()
    _shot(page, "sweeps-pbt-marks-light.png")

    # recovery: an R mark at the checkpoint it went back to, the alert as its hover text
    rec_chart = dashes.nth(1).locator(".nb-chart[data-metric='loss']")
    _chart_ready(page, rec_chart)
    (alert,) = api.runs("recover-demo")[0].alerts
    tip = _hover_text(page, rec_chart, "recovered by rewind")
    assert alert["text"] in tip and "lr 0.15 -> 0.075" in tip, tip
    tags = rec_chart.evaluate("div => div.__nbrunView.data('events').map(e => e.tag)")
    assert tags == ["R"]
    rec_chart.scroll_into_view_if_needed()
    _shot(page, "sweeps-recover-marks-light.png")

    # JupyterLab's dark theme: the sweep section follows its colours, marks are drawn again
    page.click(".lm-MenuBar-itemLabel:text-is('Settings')")
    page.click(".lm-Menu-itemLabel:text-is('Theme')")
    page.click(".lm-Menu-itemLabel:text-is('JupyterLab Dark')")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=60_000)
    _check_sweep_section(page, sweep_id)
    light = sec.locator("button[data-action='toggle-sweep']").evaluate(
        "el => getComputedStyle(el).color.match(/\\d+/g).slice(0, 3).map(Number)"
    )
    assert sum(light) / 3 > 150, f"the sweep header is dark on the dark theme: rgb{light}"
    _chart_ready(page, rec_chart)
    assert "recovered by rewind" in _hover_text(page, rec_chart, "recovered by rewind")
    sec.scroll_into_view_if_needed()
    _shot(page, "sweeps-project-dark.png")
    pbt_chart.scroll_into_view_if_needed()
    _shot(page, "sweeps-pbt-marks-dark.png")
    _no_external(page)
