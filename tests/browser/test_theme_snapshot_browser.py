"""Themes and static snapshots in a real JupyterLab 4 + headless Chromium, offline (issue 15).

* light and dark: the dashboard, ``run.chart`` (drawn by the bundled Vega, no CDN) and the
  project view follow JupyterLab's theme; switching the theme from the Settings menu re-draws
  the Vega charts in the theme's colours (text vs background contrast is measured);
* a notebook executed with ``jupyter execute`` and reopened without a kernel, its
  ``nbconvert --to html`` export and ``run.to_html()`` all show the run's curves as it ended.

Screenshots go to test-artifacts/ (looked at while writing these tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import ARTIFACTS, Lab
from .test_dashboard_browser import _dashboard, _notebook, _open_and_run_all, _wait_cells_done

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]

# WCAG contrast of an element's text colour against the first opaque background behind it
# (for SVG text, its fill); returns [ratio, colour, background].
CONTRAST_JS = """(el) => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g) || []; return m.map(Number); };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const cs = getComputedStyle(el);
  const own = el.getAttribute('fill');
  const fg = el instanceof SVGElement && own && own !== 'currentColor' ? cs.fill : cs.color;
  let n = el, bg = null;
  while (n && n.nodeType === 1) {
    const b = getComputedStyle(n).backgroundColor;
    const p = parse(b);
    if (p.length >= 3 && (p.length < 4 || p[3] > 0.5)) { bg = b; break; }
    n = n.parentElement;
  }
  bg = bg || 'rgb(255, 255, 255)';
  const a = lum(parse(fg)), b = lum(parse(bg));
  return [(Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), fg, bg];
}"""

LIVE_CELLS = [
    """import nbrun
from nbrun.widgets import display_project
run = nbrun.init(project="theme", config={"lr": 0.1})
for i in range(80):
    run.log({"loss": 1 / (i + 1), "acc": i / 80})
run.finish()
run.display()""",
    'run.chart("loss")',
    'display_project("theme")',
]

# what the dashboard, the chart and the project view must keep readable in both themes
READABLE = {
    "run name": ".nbrun-dash .nb-name",
    "overview cell": ".nbrun-dash .nb-overview td",
    "button": ".nbrun-dash button[data-action]",
    "dashboard axis label": ".nbrun-dash .nb-vega svg g.role-axis-label text",
    "dashboard title": ".nbrun-dash .nb-vega svg g.role-title-text text",
    "run.chart axis label": ".nbrun-chart svg g.role-axis-label text",
    "project table": ".nbrun-project td",
}


def _contrast(page: Any) -> dict[str, list[Any]]:
    out = {}
    for name, sel in READABLE.items():
        loc = page.locator(sel).first
        loc.wait_for(state="attached")
        out[name] = loc.evaluate(CONTRAST_JS)
    return out


def _assert_readable(page: Any, theme: str) -> dict[str, list[Any]]:
    found = _contrast(page)
    bad = {k: v for k, v in found.items() if v[0] < 4.5}
    assert not bad, f"{theme}: text hard to read (contrast < 4.5): {bad}"
    return found


def _switch_theme(page: Any, name: str) -> None:
    page.click(".lm-MenuBar-itemLabel:text-is('Settings')")
    page.hover(".lm-Menu-itemLabel:text-is('Theme')")
    page.click(f".lm-Menu-itemLabel:text-is('{name}')")


def _no_external(page: Any) -> None:
    assert not page.nbrun_log.external, page.nbrun_log.external[:5]


def test_light_and_dark_themes(page: Any, lab: Lab) -> None:
    _notebook(lab.root / "theme.ipynb", LIVE_CELLS)
    _open_and_run_all(page, lab, "theme.ipynb")
    dash = _dashboard(page)
    page.locator(".nbrun-chart[data-ready='1']").wait_for()
    page.locator(".nbrun-project td").first.wait_for()
    _wait_cells_done(page)
    assert dash.get_attribute("data-charts") == "2"
    # the static snapshots the kernel displayed beside the widgets hide while the widgets show
    snaps = page.locator(".nbrun-snapshot")
    assert snaps.count() == 2  # the dashboard's and the project view's
    debug = page.evaluate(
        "() => [[...document.querySelectorAll('style[data-nbrun-hide]')].map(s => s.textContent),"
        " [...document.querySelectorAll('.nbrun-snapshot')].map(s => s.dataset.nbrunSnapshot)]"
    )
    for i in range(2):
        assert not snaps.nth(i).is_visible(), debug
    assert page.evaluate("document.body.dataset.jpThemeLight") == "true"
    light = _assert_readable(page, "light")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "theme-light.png"), full_page=True)

    _switch_theme(page, "JupyterLab Dark")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    # the Vega charts are embedded again with the dark theme's colours
    page.wait_for_function(
        """([sel, before]) => { const t = document.querySelector(sel);
            return t && t.getAttribute('fill') && getComputedStyle(t).fill !== before; }""",
        arg=[READABLE["dashboard axis label"], light["dashboard axis label"][1]],
    )
    page.locator(".nbrun-chart[data-ready='1'] svg g.role-axis-label text").first.wait_for()
    dark = _assert_readable(page, "dark")
    page.screenshot(path=str(ARTIFACTS / "theme-dark.png"), full_page=True)
    # the colours really changed with the theme (none fixed), and charts stay transparent
    for name in READABLE:
        assert light[name][1] != dark[name][1], (name, light[name], dark[name])
    for sel in (".nbrun-dash .nb-vega svg", ".nbrun-chart svg"):
        bg = page.locator(sel).first.evaluate("(s) => getComputedStyle(s).backgroundColor")
        assert bg in ("rgba(0, 0, 0, 0)", "transparent"), (sel, bg)
    _no_external(page)


def _execute(root: Path, name: str, out: str) -> dict[str, Any]:
    env = dict(os.environ, NBRUN_DIR=str(root))
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    jupyter = [sys.executable, "-m", "jupyter"]
    subprocess.run(
        [*jupyter, "execute", f"--output={out}", name], cwd=root, env=env, check=True, timeout=300
    )
    return json.loads((root / f"{out}.ipynb").read_text())


SAVED_CELLS = [
    """import nbrun
run = nbrun.init(project="saved", config={"lr": 0.1}, name="saved-run")
run.log({"loss": 1.0, "acc": 0.0})
run.display()""",
    """for i in range(1, 150):
    run.log({"loss": 1 / (i + 1), "acc": i / 150})
run.finish()
print(run.to_html("run.html"))""",
]


@pytest.mark.slow
def test_saved_notebook_without_kernel_nbconvert_and_to_html(
    page: Any, lab: Lab, browser: Any
) -> None:
    root = lab.root
    _notebook(root / "saved.ipynb", SAVED_CELLS)
    nb = _execute(root, "saved.ipynb", "saved-executed")
    # the display cell carries the snapshot as the run ended (updated after the next cell)
    snap = [o for o in nb["cells"][0]["outputs"] if "text/html" in o.get("data", {})]
    assert len(snap) == 1
    text = "".join(snap[0]["data"]["text/plain"])
    assert "finished, last step 149" in text, text
    assert "object at 0x" not in json.dumps(nb["cells"][0]["outputs"])

    # 1. reopened in JupyterLab without a kernel
    nb["metadata"].pop("kernelspec", None)  # else JupyterLab starts its kernel
    nb["metadata"].pop("language_info", None)
    (root / "nokernel.ipynb").write_text(json.dumps(nb))
    page.goto(lab.open_url("nokernel.ipynb"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
    no_kernel = page.locator(".jp-Dialog button:has-text('No Kernel')")
    try:
        no_kernel.wait_for(timeout=15_000)
        no_kernel.click()
    except Exception:  # no dialog: nothing to dismiss
        pass
    # (executed by nbclient, the notebook is not trusted: JupyterLab sanitises its HTML, and
    # the charts are images of SVG, which it keeps)
    shown = page.locator(".jp-OutputArea-output .nbrun-snapshot img.nbrun-snap-chart")
    shown.first.wait_for(state="visible")
    assert shown.count() == 2  # loss and acc
    assert all(shown.nth(i).evaluate("(i) => i.complete && i.naturalWidth > 100") for i in (0, 1))
    assert page.locator(".nbrun-snapshot").first.is_visible()
    assert "finished" in page.locator(".nbrun-snapshot").first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "saved-no-kernel.png"), full_page=True)
    sessions = json.loads(
        page.evaluate(
            "async (u) => JSON.stringify(await (await fetch(u)).json())",
            f"{lab.url}/api/sessions?token={lab.token}",
        )
    )
    assert sessions == [], "a kernel was started"

    # 2. nbconvert --to html and 3. run.to_html(), opened offline
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "saved-executed.ipynb"],
        cwd=root,
        env=env,
        check=True,
        timeout=120,
    )
    context = browser.new_context(viewport={"width": 1200, "height": 1400})
    try:
        other = context.new_page()
        tried: list[str] = []
        other.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("file://")
                else (tried.append(route.request.url), route.abort())
            ),
        )
        for name, sel in (
            ("saved-executed.html", ".nbrun-snapshot img.nbrun-snap-chart"),
            ("run.html", ".nbrun-snapshot svg polyline"),
        ):
            tried.clear()
            other.goto((root / name).as_uri())
            charts = other.locator(sel)
            charts.first.wait_for(state="visible")
            assert charts.count() == 2, name
            assert "finished" in other.locator(".nbrun-snapshot").first.inner_text()
            other.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            if name == "run.html":
                assert tried == [], f"run.to_html() page asked the network: {tried}"
    finally:
        context.close()
