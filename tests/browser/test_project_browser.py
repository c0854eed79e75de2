"""The project view in a real JupyterLab + headless Chromium, offline: sort by a summary
column, filter, groups, overlay checkboxes (each run in its colour), the parallel-coordinates
chart, and delete with confirmation (checked in the store on disk). Run names are text."""

from __future__ import annotations

from typing import Any

import pytest

import nbrun
from nbrun.widgets._colors import run_color

from .conftest import Lab
from .test_dashboard_browser import _no_external, _notebook, _open_and_run_all, _shot

pytestmark = pytest.mark.browser

HOSTILE = "<b>bold</b><img src=x onerror=alert(1)>"
SETUP = f"""
import nbrun
specs = [("base", 0.1, "g1", 8), ("hot", 0.3, "g1", 4), ("cold", 0.01, "g2", 12)]
for rid, lr, group, n in specs:
    run = nbrun.init(project="cmp", id=rid, config={{"lr": lr, "opt": "adam"}}, group=group,
                     name={HOSTILE!r} if rid == "hot" else rid)
    run.define_metric("val/loss", summary="min,last")
    for i in range(n):
        run.log({{"loss": 1.0 / (i + 1) + lr, "val/loss": 2.0 / (i + 1) + lr}})
    run.finish()
kid = nbrun.init(project="cmp", id="kid", fork_from="base?_step=5", config={{"lr": 0.05}})
for i in range(3):
    kid.log({{"loss": 0.05}})
kid.finish()
"""
ROW = ".nbrun-project tr[data-key]"


def _keys(page: Any) -> list[str]:
    return page.eval_on_selector_all(ROW, "rs => rs.map(r => r.dataset.key)")


def _wait_overlay(page: Any, keys: list[str]) -> None:
    """Wait until the overlay charts show exactly the runs ``keys``: each checkbox sends the
    selection on its own timer, so an overlay of only the first run checked can be ready
    (``data-ready='1'``) before the one of both arrives from the kernel."""
    page.wait_for_function(
        """keys => {
            const ov = document.querySelector("[data-role='overlay'][data-ready='1']");
            if (!ov) return false;
            const shown = [...ov.querySelectorAll('.nb-legend-item')].map(i => i.dataset.key);
            return JSON.stringify(shown.sort()) === JSON.stringify(keys);
        }""",
        arg=sorted(keys),
        timeout=120_000,
    )


def test_project_view_compare_and_delete(page: Any, lab: Lab) -> None:
    _notebook(lab.root / "proj.ipynb", [SETUP, "nbrun.display_project('cmp')"])
    _open_and_run_all(page, lab, "proj.ipynb")
    page.wait_for_function(f"document.querySelectorAll('{ROW}').length === 4", timeout=120_000)
    view = page.locator(".nbrun-project")

    # run names are text, never markup
    hot = view.locator("tr[data-key='cmp/hot'] td.nb-name")
    assert hot.text_content() == HOSTILE
    assert hot.locator("b, img").count() == 0
    # a define_metric summary is readable
    cell = view.locator("tr[data-key='cmp/cold'] td[data-col='s:val/loss']").text_content()
    assert cell.startswith("min ") and " · last " in cell

    # sort by the final loss (ascending, then descending)
    head = view.locator("th[data-sort='s:loss']")
    head.click()
    page.wait_for_function(
        "document.querySelector(\"th[data-sort='s:loss']\").textContent.endsWith('▲')"
    )
    assert _keys(page) == ["cmp/kid", "cmp/cold", "cmp/base", "cmp/hot"]
    head.click()
    assert _keys(page) == ["cmp/hot", "cmp/base", "cmp/cold", "cmp/kid"]
    # sort by a config column
    view.locator("th[data-sort='c:lr']").click()
    assert _keys(page) == ["cmp/cold", "cmp/kid", "cmp/base", "cmp/hot"]

    # filter by config text, then by group; groups collapse
    view.locator("input[data-role='filter']").fill("lr=0.3")
    assert _keys(page) == ["cmp/hot"]
    view.locator("input[data-role='filter']").fill("")
    view.locator("input[data-role='group-toggle']").check()
    assert view.locator("tr.nb-group").count() == 3  # g1, g2, no group
    view.locator("tr.nb-group[data-group='g1'] button").click()
    assert "cmp/base" not in _keys(page) and "cmp/cold" in _keys(page)
    view.locator("input[data-role='group-toggle']").uncheck()

    # overlay: two runs on one set of charts, each in its colour
    for key in ("cmp/base", "cmp/cold"):
        view.locator(f"tr[data-key='{key}'] input[data-role='select']").check()
    _wait_overlay(page, ["cmp/base", "cmp/cold"])
    overlay = view.locator("[data-role='overlay'][data-ready='1']")
    assert overlay.get_attribute("data-charts") == "2"
    strokes = page.eval_on_selector_all(
        ".nb-chart[data-metric='loss'] polyline.nb-oline",
        "ps => ps.map(p => p.getAttribute('stroke'))",
    )
    assert sorted(strokes) == sorted([run_color("base"), run_color("cold")])
    # parallel coordinates of the selected runs: one line each, config axes then the metric
    lines = page.eval_on_selector_all(
        "svg.nb-parallel polyline", "ls => ls.map(l => [l.dataset.key, l.getAttribute('stroke')])"
    )
    assert sorted(lines) == [["cmp/base", run_color("base")], ["cmp/cold", run_color("cold")]]
    axes = page.eval_on_selector_all(
        "svg.nb-parallel g.nb-axis", "gs => gs.map(g => g.dataset.axis)"
    )
    assert axes == ["lr", "loss"]
    view.locator("select[data-role='pc-metric']").select_option("val/loss")
    page.wait_for_function(
        "[...document.querySelectorAll('svg.nb-parallel g.nb-axis')].pop()?.dataset.axis"
        " === 'val/loss'"
    )
    _shot(page, "project-view-compare.png")

    # delete with confirmation: refused while a fork reads the run, then with detach
    view.locator("tr[data-key='cmp/cold'] input[data-role='select']").uncheck()
    view.locator("button[data-action='delete']").click()
    confirm = view.locator("[data-role='confirm']")
    assert "base" in confirm.text_content()
    view.locator("button[data-action='confirm-delete']").click()
    msg = view.locator("[data-role='message']")
    page.wait_for_function(
        "el => el.textContent.includes('LineageError')", arg=msg.element_handle(), timeout=60_000
    )
    assert "cmp/kid" in msg.text_content()
    assert nbrun.Api(lab.root).run("cmp/base").id == "base"
    view.locator("button[data-action='delete']").click()
    view.locator("input[data-role='confirm-option']").check()
    view.locator("button[data-action='confirm-delete']").click()
    page.wait_for_function(f"document.querySelectorAll('{ROW}').length === 3", timeout=60_000)
    assert "cmp/base" not in _keys(page)
    with pytest.raises(nbrun.RunNotFoundError):
        nbrun.Api(lab.root).run("cmp/base")
    kid = nbrun.Api(lab.root).run("cmp/kid")
    assert kid.forked_from is None and len(kid.history()) == 9  # 6 inherited + 3 own
    _shot(page, "project-view-after-delete.png")

    # JupyterLab's dark theme: the table follows its colours (light text), charts redraw
    page.click(".lm-MenuBar-itemLabel:text-is('Settings')")
    page.click(".lm-Menu-itemLabel:text-is('Theme')")
    page.click(".lm-Menu-itemLabel:text-is('JupyterLab Dark')")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=60_000)
    for key in ("cmp/cold", "cmp/kid"):
        view.locator(f"tr[data-key='{key}'] input[data-role='select']").check()
    _wait_overlay(page, ["cmp/cold", "cmp/kid"])
    assert page.locator(".nb-chart[data-metric='loss'] polyline.nb-oline").count() == 2
    light = page.eval_on_selector(
        ".nbrun-project th",
        "el => getComputedStyle(el).color.match(/\\d+/g).slice(0, 3).map(Number)",
    )
    assert sum(light) / 3 > 150, f"table text is dark on the dark theme: rgb{tuple(light)}"
    _shot(page, "project-view-dark.png")
    _no_external(page)
