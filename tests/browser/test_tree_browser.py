"""The family tree in a real JupyterLab 4 + headless Chromium, offline (rules 62-63): the
dashboard's Tree panel and ``run.tree()`` draw a family of forks and a rewind, a click on a
node highlights that run's lines on the dashboard's charts and opens its dashboard from the
tree widget, a fork made by another process appears by itself, and the tree reads in light and
dark themes. Screenshots go to test-artifacts/ (looked at while writing this test)."""

from __future__ import annotations

from typing import Any

import pytest

import nbrun

from .conftest import ARTIFACTS, Lab
from .test_dashboard_browser import _dashboard, _notebook, _open_and_run_all, _wait_cells_done
from .test_theme_snapshot_browser import CONTRAST_JS, _switch_theme

pytestmark = pytest.mark.browser

CELLS = [
    """import nbrun
root = nbrun.init(project="tree", name="root", config={"lr": 0.1})
for i in range(300):
    root.log({"loss": 25 / (i + 1), "acc": i / 300})
root.finish()
def fork(parent, step, name, lr, until, scale):
    run = nbrun.init(project="tree", name=name, fork_from=f"{parent}?_step={step}",
                     config={"lr": lr}, reinit="create_new")
    for i in range(step + 1, until):
        run.log({"loss": scale / (i + 1)})
    run.finish()
    return run
a = fork(root.id, 150, "lr-0.01 <b>bold?</b>", 0.01, 400, 8)
b = fork(root.id, 100, "lr-0.5", 0.5, 350, 60)
a1 = fork(a.id, 250, "lr-0.001", 0.001, 450, 2)
rw = nbrun.init(project="tree", id=root.id, resume_from=f"{root.id}?_step=200")
for i in range(201, 280):
    rw.log({"loss": 30 / (i + 1)})
rw.finish()
rw.display()""",
    "tree = rw.tree()\ntree",
]

TREE = ".nbrun-tree"
PANEL = ".nbrun-dash .nb-tree-panel"


def _node(scope: Any, run_id: str) -> Any:
    return scope.locator(f":scope > .nb-tree-box .nb-tree-node[data-key='{run_id}']")


def _label_contrast(page: Any, scope: str) -> float:
    label = page.locator(f"{scope} .nb-tree-box .nb-tree-label").first
    return float(label.evaluate(CONTRAST_JS)[0])


@pytest.mark.slow
def test_rule62_tree_renders_highlights_opens_and_follows(page: Any, lab: Lab) -> None:
    _notebook(lab.root / "tree.ipynb", CELLS)
    _open_and_run_all(page, lab, "tree.ipynb")
    dash = _dashboard(page)
    _wait_cells_done(page)
    runs = {r.name: r.id for r in nbrun.Api(lab.root).runs("tree")}
    root, a, a1 = runs["root"], runs["lr-0.01 <b>bold?</b>"], runs["lr-0.001"]
    # the dashboard's Tree panel: 4 runs and the archived segment of the rewind
    panel = dash.locator(".nb-tree-panel[data-nodes='5']")
    panel.wait_for(timeout=60_000)
    assert panel.locator(".nb-tree-node").count() == 5
    assert _node(panel, f"{root}#1").get_attribute("data-kind") == "archive"
    assert panel.locator(".nb-tree-edge[data-kind='rewind'][data-step='200']").count() == 1
    assert panel.locator(".nb-tree-edge[data-kind='fork'][data-step='250']").count() == 1
    # a name with markup shows as text, no element made of it
    assert "<b>bold?</b>" in _node(panel, a).locator(".nb-tree-label").text_content()
    assert panel.locator(".nb-tree-svg b").count() == 0
    # the legend: the metric and its scale
    assert "colour: loss" in panel.locator(".nb-tree-legend").text_content()

    # click a node: selected, described, its run's lines highlighted on the charts
    dash.locator(".nb-chart[data-drawn='1']").first.wait_for(timeout=60_000)
    _node(panel, a).locator(".nb-tree-label").click()
    page.wait_for_function(
        "([el, id]) => el.getAttribute('data-selected') === id",
        arg=[panel.locator(".nb-tree-info").element_handle(), a],
    )
    assert _node(panel, a).get_attribute("data-selected") == "1"
    assert a in panel.locator(".nb-tree-info").text_content()
    chart = dash.locator(".nb-chart[data-metric='loss']")
    page.wait_for_function(
        "([div, id]) => div.__nbrunView && div.__nbrunView.signal('hl') === id",
        arg=[chart.element_handle(), a],
    )
    assert dash.locator(".nb-legend").get_attribute("data-highlight") == a
    # the other runs' lines fade: the drawn lines of the highlighted run stay opaque
    faded = chart.evaluate(
        """(div) => [...div.querySelectorAll('g.mark-line path')].map(
            p => { const o = p.getAttribute('opacity'); return o === null ? 1 : Number(o); })"""
    )
    assert faded and min(faded) < 0.2 < max(faded), faded
    # ... and so do the other runs' clickable points
    page.wait_for_function(
        """(div) => [...div.querySelectorAll('g.picks_marks path')].some(
            p => Number(p.getAttribute('opacity')) < 0.1)""",
        arg=chart.element_handle(),
    )
    ARTIFACTS.mkdir(exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / "tree-highlight-light.png"))

    # the tree widget: click the archived segment, then open its run's dashboard below
    page.locator(f"{TREE}[data-ready='1']").wait_for()
    tree = page.locator(f"{TREE} > .nb-tree-panel")
    tree.locator(".nb-tree-node").nth(4).wait_for()
    assert tree.get_attribute("data-nodes") == "5"
    _node(tree, f"{root}#1").locator(".nb-tree-label").click()
    info = tree.locator(":scope > .nb-tree-info")
    assert "archived segment" in info.text_content()
    info.locator("button[data-action='open-dashboard']").click()
    opened = tree.locator(":scope > .nb-tree-opened .nbrun-dash[data-ready='1']")
    opened.wait_for(timeout=60_000)
    assert root in opened.locator(".nb-id").first.text_content()
    assert info.locator(".nb-tree-status").get_attribute("data-status") == "ok"

    tree.locator(":scope > .nb-tree-box").screenshot(path=str(ARTIFACTS / "tree-light.png"))
    panel.screenshot(path=str(ARTIFACTS / "tree-dashboard-light.png"))
    assert _label_contrast(page, TREE) >= 4.5

    # a fork made by another process (this one) joins both trees by itself
    new = nbrun.init(project="tree", dir=str(lab.root), name="late", fork_from=f"{a1}?_step=300")
    new.log({"loss": 0.001}, step=301)
    new.finish()
    page.wait_for_function(
        "(el) => el.getAttribute('data-nodes') === '6'", arg=tree.element_handle(), timeout=30_000
    )
    dash.locator(".nb-tree-panel[data-nodes='6']").wait_for(timeout=30_000)
    assert _node(tree, new.id).locator(".nb-tree-label").text_content().startswith("late")

    _switch_theme(page, "JupyterLab Dark")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_function(
        "(el) => getComputedStyle(el).fill !== 'rgb(0, 0, 0)' && getComputedStyle(el).fill !== "
        "'rgb(34, 34, 34)'",
        arg=tree.locator(".nb-tree-label").first.element_handle(),
    )
    assert _label_contrast(page, TREE) >= 4.5
    assert _label_contrast(page, PANEL) >= 4.5
    # the selected row's band lets the theme's background through (its label stays readable)
    alpha = (
        _node(tree, f"{root}#1")
        .locator(".nb-tree-hit")
        .evaluate(
            """(r) => { const f = getComputedStyle(r).fill;
            const m = f.match(/\\/\\s*([\\d.]+)\\)$/) || f.match(/rgba\\(.*,\\s*([\\d.]+)\\)$/);
            return m ? Number(m[1]) : 1; }"""
        )
    )
    assert alpha < 0.5, alpha
    tree.locator(":scope > .nb-tree-box").screenshot(path=str(ARTIFACTS / "tree-dark.png"))
    dash.locator(".nb-tree-panel").screenshot(path=str(ARTIFACTS / "tree-dashboard-dark.png"))
    log = page.nbrun_log
    assert not log.external, log.external[:5]
    assert not [e for e in log.errors if "nbrun" in e or "tree" in e.lower()], log.errors
