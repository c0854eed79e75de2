"""A fork's difference visible at a glance (issue 25 item 1; rules 66-67), in a real JupyterLab 4
+ headless Chromium, light then dark, on the quickstart's data (loss 25 -> 0.002, a fork at step
150 with lr 0.05 -> 0.2): the dashboard and the project overlay start on the steps after the fork
with y fitted to them, parent and fork apart by a visible margin at the last step without touching
a control, the parent's line drawn in its colour; "whole run" restores the full range; "fork -
parent" draws the fork's difference from its parent. Coordinates are read from the drawn lines."""

from __future__ import annotations

from typing import Any

import pytest

import nbrun

from .conftest import ARTIFACTS, Lab
from .test_dashboard_browser import DASH, _no_external, _notebook, _open_and_run_all, _shot
from .test_dashboard_browser import _wait_cells_done as _cells_done

pytestmark = pytest.mark.browser

#: the quickstart notebook's training loop and fork (notebooks/quickstart.ipynb), no delay
CELLS = [
    "import numpy as np\nimport nbrun\nfrom nbrun.widgets import display_project\n\n"
    "def train(run):\n"
    "    cfg = run.config\n"
    "    state = run.restore() or {'w': np.array([4.0, -3.0]),\n"
    "                              'rng': np.random.default_rng(cfg.seed)}\n"
    "    for _ in range(run.step, cfg.steps):\n"
    "        grad = 2 * state['w'] + state['rng'].normal(0, cfg.noise, 2)\n"
    "        state['w'] = state['w'] - cfg.lr * grad\n"
    "        run.log({'loss': float(state['w'] @ state['w']), 'w0': float(state['w'][0])})\n"
    "        if run.step % 10 == 0:\n"
    "            run.checkpoint(state)\n\n"
    "run = nbrun.launch(train, project='quickstart', dir='.', total=300,\n"
    "                   config={'lr': 0.05, 'steps': 300, 'noise': 0.5, 'seed': 0})\n"
    "run.wait()\n"
    "fork = run.fork(150, {'lr': 0.2})\n"
    "fork.wait()",
    "run.display()",
    "display_project('quickstart', dir='.')",
]
#: the smallest vertical distance, in pixels, between parent and fork at the last step
MARGIN_PX = 8
LAST = 299

# the loss chart of the dashboard as drawn: per run id its row at `step` (client coordinates),
# the domains, and the strokes of the drawn lines
_DASH_AT = """([div, step]) => {
    const v = div.__nbrunView;
    if (!v || div.getAttribute('data-drawn') !== '1') return null;
    const box = div.querySelector('.nb-vega svg').getBoundingClientRect();
    const o = v.origin();
    const at = {};
    for (const t of v.data('rows')) {
        if (t.step !== step || String(t.d).endsWith('~raw')) continue;
        at[t.r] = {y: box.top + o[1] + v.scale('y')(t.y), value: t.y, color: t.c};
    }
    const xdom = v.scale('x').domain();
    const shown = {};
    for (const t of v.data('rows'))
        if (t.x >= xdom[0] && t.x <= xdom[1]) shown[t.r] = (shown[t.r] || 0) + 1;
    const strokes = [...div.querySelectorAll('.nb-vega g.mark-line path')]
        .map(p => (p.getAttribute('stroke') || '').toLowerCase());
    return {at, xdom, ydom: v.scale('y').domain(), ytype: v.scale('y').type, strokes, shown,
            focus: div.getAttribute('data-focus')};
}"""

# the project overlay's loss chart as drawn: per run key its polyline's points (SVG px)
_OVERLAY = """() => {
    const svg = document.querySelector(
        ".nbrun-project [data-role='overlay'][data-ready='1'] .nb-chart[data-metric='loss'] svg");
    if (!svg) return null;
    const lines = {};
    for (const p of svg.querySelectorAll('polyline.nb-oline')) {
        const pts = p.getAttribute('points').trim().split(' ').map(s => s.split(',').map(Number));
        lines[p.dataset.key] = {pts, stroke: p.getAttribute('stroke').toLowerCase()};
    }
    const titles = [...svg.querySelectorAll('circle title')].map(t => t.textContent);
    return {lines, titles, xdom: JSON.parse(svg.dataset.xdom), ydom: JSON.parse(svg.dataset.ydom),
            log: svg.dataset.log, focus: svg.dataset.focus, whole: svg.dataset.whole,
            title: svg.querySelector('.nb-ctitle').textContent};
}"""


def _part(proj: Any, name: str) -> None:
    """A screenshot of the project view's overlay charts."""
    ARTIFACTS.mkdir(exist_ok=True)
    proj.locator("[data-role='overlay']").screenshot(path=str(ARTIFACTS / name))


def _runs(lab: Lab) -> tuple[Any, Any]:
    """The parent and the fork, read from the store on disk."""
    runs = nbrun.Api(lab.root).runs("quickstart")
    (parent,) = [r for r in runs if r.forked_from is None]
    (fork,) = [r for r in runs if r.forked_from is not None]
    return parent, fork


def _loss_at(run: Any, step: int) -> float:
    df = run.history(keys=["loss"])
    return float(df.loc[df["_step"] == step, "loss"].iloc[0])


def _dash(page: Any, chart: Any, cond: str) -> Any:
    """The dashboard's loss chart once ``cond`` (JS, of ``r``) holds."""
    return page.wait_for_function(
        f"a => {{ const r = ({_DASH_AT})(a); return r && ({cond}) ? r : null; }}",
        arg=[chart.element_handle(), LAST],
        timeout=60_000,
    ).json_value()


def _overlay(page: Any, cond: str) -> Any:
    return page.wait_for_function(
        f"() => {{ const r = ({_OVERLAY})(); return r && ({cond}) ? r : null; }}", timeout=60_000
    ).json_value()


def _check_dashboard(page: Any, dash: Any, parent: Any, fork: Any, fork_step: int) -> Any:
    """The dashboard's first view (rule 66): x from just before the fork, parent and fork apart
    at the last step, the parent's line drawn in its colour."""
    chart = dash.locator(".nb-chart[data-metric='loss']")
    r = _dash(page, chart, f"r.focus === '1' && r.at['{parent.id}'] && r.at['{fork.id}']")
    assert fork_step - 0.1 * (LAST - fork_step) - 1 <= r["xdom"][0] < fork_step, r["xdom"]
    assert r["xdom"][1] == LAST
    gap = abs(r["at"][parent.id]["y"] - r["at"][fork.id]["y"])
    assert gap >= MARGIN_PX, (gap, r["at"])
    pcolor = r["at"][parent.id]["color"].lower()
    assert pcolor in r["strokes"] and r["shown"][parent.id] > 100, (pcolor, r["strokes"])
    assert r["at"][fork.id]["color"].lower() != pcolor
    return chart


def test_rule66_rule67_a_fork_and_its_parent_apart_at_a_glance(page: Any, lab: Lab) -> None:
    _notebook(lab.root / "compare.ipynb", CELLS)
    _open_and_run_all(page, lab, "compare.ipynb")
    dash = page.locator(f"{DASH}[data-ready='1']").first
    dash.wait_for(timeout=240_000)
    _cells_done(page, timeout=240_000)
    parent, fork = _runs(lab)
    fork_step = int(fork.forked_from.step)
    assert 140 <= fork_step <= 150
    want = _loss_at(fork, LAST) - _loss_at(parent, LAST)

    # -- the dashboard: the first view, then "whole run", then fork - parent
    chart = _check_dashboard(page, dash, parent, fork, fork_step)
    proj = page.locator(".nbrun-project").first
    proj.locator("input[data-role='select-all']").check()
    ov = _overlay(page, "Object.keys(r.lines).length === 2")
    _shot(page, "compare-light.png")

    chart.locator("button[data-action='whole-run']").click()
    r = _dash(page, chart, "r.focus === '0' && r.xdom[0] === 0")
    assert r["xdom"] == [0, LAST] and r["ydom"][1] >= 20  # the first steps' loss in range
    assert chart.locator("button[data-action='whole-run']").text_content() == "after the fork"
    # -- rule 67: fork - parent
    dash.locator("input[data-action='diff']").check()
    r = _dash(page, chart, f"r.ytype === 'linear' && r.at['{parent.id}']?.value === 0")
    assert r["at"][fork.id]["value"] == pytest.approx(want, rel=1e-9)
    chart.screenshot(path=str(ARTIFACTS / "compare-dash-diff.png"))
    dash.locator("input[data-action='diff']").uncheck()
    chart.locator("button[data-action='whole-run']").click()
    _check_dashboard(page, dash, parent, fork, fork_step)

    # -- the project overlay: the fork drawn from its fork step, the same first view
    keys = {f"quickstart/{parent.id}": "parent", f"quickstart/{fork.id}": "fork"}
    lines = {keys[k]: v for k, v in ov["lines"].items()}
    assert ov["focus"] == "1" and ov["whole"] == "0" and ov["log"] == "1"
    assert fork_step - 0.1 * (LAST - fork_step) - 1 <= ov["xdom"][0] < fork_step
    assert len(lines["fork"]["pts"]) == LAST - fork_step + 1  # from its fork step on
    assert lines["parent"]["pts"][-1][0] == lines["fork"]["pts"][-1][0]  # both end at 299
    gap = abs(lines["parent"]["pts"][-1][1] - lines["fork"]["pts"][-1][1])
    assert gap >= MARGIN_PX, gap
    left = 50  # the plot's left edge (overlaychart.js): the parent's points in view
    assert sum(1 for x, _ in lines["parent"]["pts"] if x >= left) > 100
    assert lines["parent"]["stroke"] != lines["fork"]["stroke"]
    # every point can be read: a hover names both lines' values at the nearest step
    svg = proj.locator(".nb-chart[data-metric='loss'] svg")
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    page.mouse.move(box["x"] + lines["fork"]["pts"][-1][0], box["y"] + 60)
    page.wait_for_function(
        "el => el.getAttribute('data-hover-step') === '299' && "
        "el.querySelectorAll('.nb-ohover circle').length === 2",
        arg=svg.element_handle(),
    )
    page.mouse.move(5, 5)
    # "whole run": the full range; then fork - parent, the kernel's difference
    _part(proj, "compare-overlay-light.png")
    proj.locator(".nb-chart[data-metric='loss'] button[data-action='whole-run']").click()
    whole = _overlay(page, "r.whole === '1'")
    assert whole["xdom"] == [0, LAST] and whole["ydom"][1] >= 20
    proj.locator("input[data-action='diff']").check()
    diff = _overlay(page, "r.title.endsWith('fork \u2212 parent')")
    assert list(diff["lines"]) == [f"quickstart/{fork.id}"] and diff["log"] == "0"
    (last,) = [t for t in diff["titles"] if f" · step {LAST} · " in t]
    assert float(last.rsplit(" ", 1)[1]) == pytest.approx(want, rel=1e-3)
    _part(proj, "compare-overlay-diff.png")
    proj.locator("input[data-action='diff']").uncheck()
    proj.locator(".nb-chart[data-metric='loss'] button[data-action='whole-run']").click()
    _overlay(page, "r.whole === '0'")

    # -- dark: drawn again, the same margins
    page.click(".lm-MenuBar-itemLabel:text-is('Settings')")
    page.hover(".lm-Menu-itemLabel:text-is('Theme')")
    page.click(".lm-Menu-itemLabel:text-is('JupyterLab Dark')")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    _check_dashboard(page, dash, parent, fork, fork_step)
    dark = _overlay(page, "r.focus === '1'")
    pts = {keys[k]: v["pts"] for k, v in dark["lines"].items()}
    assert abs(pts["parent"][-1][1] - pts["fork"][-1][1]) >= MARGIN_PX
    _part(proj, "compare-overlay-dark.png")
    _shot(page, "compare-dark.png")
    _no_external(page)
