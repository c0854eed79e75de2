"""Defaults that show the curve, a click that says what it does and a quiet console, in a real
JupyterLab 4 + headless Chromium (issue 25, items 2, 3 and 6), on the quickstart's kind of data:
a loss from 25 to 0.002 with checkpoints between the steps, a fork at a checkpoint with another
lr, images and a histogram, and the project view of both runs; light and dark."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Lab
from .test_dashboard_browser import DASH, _no_external, _notebook, _open_and_run_all, _shot
from .test_dashboard_browser import _wait_cells_done as _cells_done

pytestmark = pytest.mark.browser

CELLS = [
    "import numpy as np\nimport nbrun\nfrom nbrun.widgets import display_project\n\n"
    "run = nbrun.init(project='qs', dir='.', name='parent', config={'lr': 0.05, 'bs': 32})\n"
    "for i in range(300):\n"
    "    row = {'loss': 25 / (1 + i) ** 1.6}\n"
    "    if i % 50 == 0:\n"
    "        row['sample'] = nbrun.Image(np.full((8, 8), i % 256, dtype=np.uint8))\n"
    "        row['weights'] = nbrun.Histogram(np.random.default_rng(i).normal(0, 1, 300))\n"
    "    run.log(row)\n"
    "    if i % 50 == 39:\n"
    "        run.checkpoint({'i': i})\n"
    "run.finish()\n"
    "fork = nbrun.init(project='qs', dir='.', name='fork', fork_from=f'{run.id}?_step=139',\n"
    "                  config={'lr': 0.3, 'bs': 32})\n"
    "for i in range(140, 300):\n"
    "    fork.log({'loss': 60 / (1 + i) ** 1.6})\n"
    "fork.finish()\n"
    "run.display()",
    "display_project('qs', dir='.')",
]

# where a step of this run is drawn on the loss chart (client coordinates), and the domains
_AT_STEP = """([div, step]) => {
    const v = div.__nbrunView;
    if (!v) return null;
    const t = v.data('rows').find(t => t.k && t.p && t.step === step);
    if (!t) return null;
    const r = div.querySelector('.nb-vega svg').getBoundingClientRect();
    const o = v.origin();
    return {x: r.left + o[0] + v.scale('x')(t.x), y: r.top + o[1] + v.scale('y')(t.y),
            ydom: v.scale('y').domain(), ytype: v.scale('y').type};
}"""


def _vega_warnings(page: Any) -> list[str]:
    """Console messages from Vega / Vega-Lite (their logger prints "WARN ..."), or about a
    spec's version."""
    pat = re.compile(r"\bWARN\b|Infinite extent|Vega-Lite v\d|vega-lite", re.I)
    return [m for m in page.nbrun_log.console if pat.search(m)]


def test_defaults_show_the_curve_clicks_say_what_they_select_console_quiet(
    page: Any, lab: Lab
) -> None:
    _notebook(lab.root / "qs.ipynb", CELLS)
    _open_and_run_all(page, lab, "qs.ipynb")
    dash = page.locator(f"{DASH}[data-ready='1']").first
    dash.wait_for(timeout=240_000)
    _cells_done(page, timeout=240_000)
    page.locator(".nbrun-project table").first.wait_for(timeout=120_000)
    chart = dash.locator(".nb-chart[data-metric='loss']")

    # item 2: outliers shown, the loss (4 decades) starts on log y, and the y range holds the
    # first steps (W&B hides nothing by default) once the whole run is shown (the chart starts
    # on the steps after the fork, rule 66)
    assert not dash.locator("input[data-action='outliers']").is_checked()
    whole = chart.locator("button[data-action='whole-run']")
    whole.wait_for()
    whole.click()
    at = page.wait_for_function(
        f"a => {{ const r = ({_AT_STEP})(a); return r && r.ytype === 'log' ? r : null; }}",
        arg=[chart.element_handle(), 200],
        timeout=60_000,
    ).json_value()
    assert chart.get_attribute("data-log") == "1"
    assert chart.locator("input[data-action='log-y']").is_checked()
    assert at["ydom"][1] >= 25 and at["ydom"][0] <= 25 / 300**1.6, at["ydom"]
    title = chart.locator("g.role-axis-title text").first.text_content()
    assert title == "step", title

    # item 3: a click on step 200 selects the checkpoint at 189, and says so
    page.mouse.click(at["x"], at["y"])
    sel = dash.locator(".nb-selected")
    page.wait_for_function(
        "el => el.getAttribute('data-selected-step') === '189'", arg=sel.element_handle()
    )
    # points 1.4 px apart: the one under the pointer may be a neighbour of 200
    clicked = int(sel.get_attribute("data-clicked-step"))
    assert 195 <= clicked <= 205, clicked
    said = f"step {clicked} → continues from the checkpoint at step 189"
    assert sel.text_content() == said
    dash.locator("button[data-action='fork']").click()
    assert dash.locator(".nb-panel .nb-snap-note").text_content() == said
    dash.locator(".nb-panel button[data-action='cancel']").click()
    # the checkpoint marks are named: on hover and for screen readers
    marks = chart.locator("g.ckptmarks_marks path")
    labels = marks.evaluate_all("ps => ps.map(p => p.getAttribute('aria-label') || '')")
    assert any("checkpoint at step 189" in a for a in labels), labels
    assert "checkpoint" in dash.locator(".nb-ckpt-key").text_content()
    box = marks.nth(1).bounding_box()  # 89: the selection rule is over 189's
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator("#vg-tooltip-element")
    page.wait_for_function(
        "() => /checkpoint at step 89/.test("
        "document.getElementById('vg-tooltip-element')?.textContent || '')"
    )
    assert tip.is_visible()
    page.mouse.move(5, 5)
    # one step vocabulary: the dashboard and the project table both say 299
    assert dash.locator(".nb-step").text_content().startswith("last step 299")
    proj = page.locator(".nbrun-project").first
    assert "last step" in proj.locator("th").all_text_contents()
    cells = proj.locator("td").all_text_contents()
    assert "299" in cells and "300" not in cells, cells

    # item 6: the histogram panel does not overflow; parallel-coordinate labels are drawn
    # above the lines (the last layer), beside their axis
    dash.locator("[data-role='histogram'] svg").first.wait_for(timeout=60_000)
    over = dash.locator(".nb-mbody").evaluate_all(
        "bs => bs.filter(b => b.scrollWidth > b.clientWidth + 1).length"
    )
    assert over == 0
    pc = proj.locator("svg.nb-parallel")
    pc.wait_for()
    assert pc.evaluate("s => s.lastElementChild.getAttribute('class')") == "nb-axis-labels"
    _shot(page, "defaults-light.png")

    # the dark theme: drawn again, still no warning
    page.click(".lm-MenuBar-itemLabel:text-is('Settings')")
    page.hover(".lm-Menu-itemLabel:text-is('Theme')")
    page.click(".lm-Menu-itemLabel:text-is('JupyterLab Dark')")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.wait_for_function(
        f"a => {{ const r = ({_AT_STEP})(a); return r && r.ytype === 'log'; }}",
        arg=[chart.element_handle(), 200],
        timeout=60_000,
    )
    # the media panels' charts are drawn again in the dark theme's colours too
    page.wait_for_function(
        """() => {
            const t = document.querySelector(
                ".nbrun-dash [data-role='histogram'] svg g.role-axis-label text");
            if (!t) return false;
            const [r, g, b] = getComputedStyle(t).fill.match(/[\\d.]+/g).map(Number);
            return r + g + b > 3 * 128;
        }"""
    )
    _shot(page, "defaults-dark.png")
    assert not _vega_warnings(page), sorted(set(_vega_warnings(page)))
    _no_external(page)
